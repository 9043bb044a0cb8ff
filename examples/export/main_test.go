package main

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/examples/internal/extest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	table            = extest.Keyspace + ".export_rows"
	parts, perPart   = 200, 50
	rowsInTable      = parts * perPart
	exportPageSize   = 300
	rowsBeforeCrash  = 4321
	pagesBeforeCrash = rowsBeforeCrash / exportPageSize
)

// fill writes the table the tests export: parts partitions of perPart rows.
func fill(t *testing.T) {
	s := extest.Connect(t)
	extest.Exec(t, s, `CREATE TABLE IF NOT EXISTS `+table+` (p int, c int, v text, b blob, PRIMARY KEY (p, c))`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows := func(yield func([]any) bool) {
		for p := range parts {
			for c := range perPart {
				if !yield([]any{p, c, value(p, c), []byte{byte(p), byte(c)}}) {
					return
				}
			}
		}
	}
	_, err := s.Query(`INSERT INTO `+table+` (p, c, v, b) VALUES (?, ?, ?, ?)`).Idempotent(true).
		ExecuteConcurrent(ctx, iter.Seq[[]any](rows))
	require.NoError(t, err)
}

func value(p, c int) string { return fmt.Sprintf("v-%d-%d, \"quoted\"", p, c) }

// runExport runs the export binary and returns its standard output (or error
// output, if it failed) and exit code.
func runExport(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := extest.Command(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return stderr.String(), exit.ExitCode()
	}
	require.NoError(t, err, stderr.String())
	return strings.TrimSpace(string(out)), 0
}

// Stopped abruptly part-way and run again, the export resumes from its
// checkpoint; the CSV file holds every row exactly once, and a third run
// finds the export complete.
func TestExportResumesAfterACrash(t *testing.T) {
	fill(t)
	bin := extest.Build(t)
	out := filepath.Join(t.TempDir(), "rows.csv")
	args := []string{"-table", table, "-columns", "p,c,v,b", "-out", out, "-page", strconv.Itoa(exportPageSize)}

	msg, code := runExport(t, bin, append(args, "-stop-after", strconv.Itoa(rowsBeforeCrash))...)
	require.Equal(t, 3, code, "the first run stops abruptly: %s", msg)
	b, err := os.ReadFile(out + ".checkpoint.json")
	require.NoError(t, err, "the first run left a checkpoint")
	var cp checkpoint
	require.NoError(t, json.Unmarshal(b, &cp))
	assert.False(t, cp.Done)
	assert.NotEmpty(t, cp.PageState)
	assert.Equal(t, int64(pagesBeforeCrash*exportPageSize), cp.Rows, "a checkpoint after each whole page")
	st, err := os.Stat(out)
	require.NoError(t, err)
	require.Greater(t, st.Size(), cp.CSVBytes, "rows written after the checkpoint, to be cut on resuming")

	count, code := runExport(t, bin, args...)
	require.Equal(t, 0, code, count)
	assert.Equal(t, strconv.Itoa(rowsInTable), count, "the count covers both runs")
	requireEveryRowOnce(t, out)

	st, err = os.Stat(out)
	require.NoError(t, err)
	count, code = runExport(t, bin, args...)
	require.Equal(t, 0, code, count)
	assert.Equal(t, strconv.Itoa(rowsInTable), count, "complete already")
	st2, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), st2.Size(), "the file is left as it is")
}

// requireEveryRowOnce reads the CSV file: one header, then every row of the
// table exactly once, with its values.
func requireEveryRowOnce(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, records)
	assert.Equal(t, []string{"p", "c", "v", "b"}, records[0], "one header")
	seen := make(map[[2]int]int, rowsInTable)
	for _, r := range records[1:] {
		p, err1 := strconv.Atoi(r[0])
		c, err2 := strconv.Atoi(r[1])
		require.NoError(t, errors.Join(err1, err2), "record %v", r)
		require.Equal(t, value(p, c), r[2])
		require.Equal(t, hex.EncodeToString([]byte{byte(p), byte(c)}), r[3])
		seen[[2]int{p, c}]++
	}
	assert.Len(t, records, rowsInTable+1)
	for p := range parts {
		for c := range perPart {
			require.Equal(t, 1, seen[[2]int{p, c}], "row (%d, %d)", p, c)
		}
	}
}

// -query exports any SELECT, here one partition, in its clustering order.
func TestExportQuery(t *testing.T) {
	fill(t)
	bin := extest.Build(t)
	out := filepath.Join(t.TempDir(), "p7.csv")
	count, code := runExport(t, bin, "-query", "SELECT c, v FROM "+table+" WHERE p = 7", "-out", out, "-page", "20")
	require.Equal(t, 0, code, count)
	assert.Equal(t, strconv.Itoa(perPart), count)

	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, perPart+1)
	assert.Equal(t, []string{"c", "v"}, records[0])
	for c, r := range records[1:] {
		assert.Equal(t, []string{strconv.Itoa(c), value(7, c)}, r)
	}
}
