package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/examples/internal/extest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tables: one for the large load, one for the failures.
const (
	table    = extest.Keyspace + ".bulkload_rows"
	badTable = extest.Keyspace + ".bulkload_failures"
)

var columns = []string{"id", "name", "score", "active", "created", "tag", "data", "note"}

// row is what the test writes for id, and expects to read back. The run
// tag makes rows of an earlier run of the test look different.
type row struct {
	ID      int
	Name    string
	Score   float64
	Active  bool
	Created time.Time
	Tag     gocql.UUID
	Data    []byte
	Note    string // empty for every tenth row: left unset, read back as ""
}

func rowFor(run string, id int) row {
	r := row{
		ID:      id,
		Name:    fmt.Sprintf(`%s, "user" %d — ü`, run, id),
		Score:   float64(id) / 8,
		Active:  id%3 == 0,
		Created: time.UnixMilli(1_700_000_000_000 + int64(id)*1001).UTC(),
		Data:    []byte{byte(id >> 8), byte(id)},
	}
	// A UUID made of id, the same every time.
	binary.BigEndian.PutUint64(r.Tag[8:], uint64(id))
	r.Tag[6], r.Tag[8] = 0x40, 0x80 // version 4, RFC 4122 variant
	if id%10 != 0 {
		r.Note = "note " + strconv.Itoa(id)
	}
	return r
}

func (r row) record() []string {
	return []string{
		strconv.Itoa(r.ID), r.Name, strconv.FormatFloat(r.Score, 'g', -1, 64), strconv.FormatBool(r.Active),
		r.Created.Format("2006-01-02T15:04:05.000Z07:00"), r.Tag.String(), "0x" + hex.EncodeToString(r.Data), r.Note,
	}
}

// writeCSV writes the header and n rows to a new file in dir.
func writeCSV(t *testing.T, dir, run string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "rows.csv")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	buf := bufio.NewWriter(f)
	w := csv.NewWriter(buf)
	require.NoError(t, w.Write(columns))
	for id := range n {
		require.NoError(t, w.Write(rowFor(run, id).record()))
	}
	w.Flush()
	require.NoError(t, errors.Join(w.Error(), buf.Flush()))
	return path
}

func createTable(t *testing.T, table string) {
	s := extest.Connect(t)
	extest.Exec(t, s, `CREATE TABLE IF NOT EXISTS `+table+` (id int PRIMARY KEY, name text, score double,
		active boolean, created timestamp, tag uuid, data blob, note text)`)
}

// runLoad runs the loader and returns its standard output (or error output,
// if it failed) and exit code.
func runLoad(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
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

// 50,000 rows of a generated CSV file are loaded, and every one reads back
// with the values of its fields.
func TestBulkloadLoadsEveryRow(t *testing.T) {
	const n = 50_000
	createTable(t, table)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	path := writeCSV(t, t.TempDir(), run, n)
	bin := extest.Build(t)

	out, code := runLoad(t, bin, "-table", table, "-in", path)
	require.Equal(t, 0, code, out)
	assert.Equal(t, strconv.Itoa(n), out)

	s := extest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream := s.Stream(ctx, `SELECT id, name, score, active, created, tag, data, note FROM `+table)
	seen := make([]bool, n)
	var got row
	for stream.Next() {
		require.NoError(t, stream.Scan(&got.ID, &got.Name, &got.Score, &got.Active, &got.Created, &got.Tag, &got.Data, &got.Note))
		require.True(t, got.ID >= 0 && got.ID < n, "id %d", got.ID)
		require.False(t, seen[got.ID], "id %d twice", got.ID)
		seen[got.ID] = true
		want := rowFor(run, got.ID)
		got.Created = got.Created.UTC()
		require.Equal(t, want, got)
	}
	require.NoError(t, stream.Err())
	for id, ok := range seen {
		require.True(t, ok, "id %d not read back", id)
	}
}

// A row the node refuses stops the load and is named; with -keep-going the
// other rows are loaded and the failure is listed.
func TestBulkloadReportsTheFailingRecord(t *testing.T) {
	createTable(t, badTable)
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.csv")
	run := "bad-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	content := "id,name\n" + "1000001," + run + "\n" + "not-a-number," + run + "\n" + "1000003," + run + "\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	bin := extest.Build(t)

	msg, code := runLoad(t, bin, "-table", badTable, "-in", path, "-in-flight", "1")
	require.Equal(t, 1, code, msg)
	assert.Contains(t, msg, "record 2:", "the second record after the header is the bad one")
	assert.Contains(t, msg, "-keep-going")

	msg, code = runLoad(t, bin, "-table", badTable, "-in", path, "-keep-going")
	require.Equal(t, 1, code, msg)
	assert.Contains(t, msg, "record 2:")
	assert.Contains(t, msg, "2 rows loaded, 1 failed")

	s := extest.Connect(t)
	for _, id := range []int{1000001, 1000003} {
		var name string
		require.NoError(t, extest.Exec(t, s, `SELECT name FROM `+badTable+` WHERE id = ?`, id).One(&name))
		assert.Equal(t, run, name, "row %d loaded", id)
	}
}
