package integration

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

// The scan table has a composite partition key, so the scan's token
// condition is token(p, b), and partitions of many rows, so pages end
// inside partitions and a page state resumes in the middle of one.
const (
	scanPartitions = 1000
	scanPerPart    = 100
	scanTotal      = scanPartitions * scanPerPart
)

var scanTableOnce sync.Once

// scanTable fills scan_rows with 100,000 rows once per test run.
func scanTable(t *testing.T, s *cassandra.AsyncSession) {
	t.Helper()
	scanTableOnce.Do(func() {
		fillScanTable(t, s, "scan_rows", scanPartitions, scanPerPart)
	})
}

// fillScanTable creates table (p, b, c, v) with parts partitions of perPart
// rows each, unless it already holds them all. Each partition is written in
// one unlogged batch.
func fillScanTable(t *testing.T, s *cassandra.AsyncSession, table string, parts, perPart int) {
	t.Helper()
	exec(t, s, `CREATE TABLE IF NOT EXISTS `+table+` (p int, b int, c int, v text, PRIMARY KEY ((p, b), c))`)
	var n int64
	require.NoError(t, exec(t, s, `SELECT count(*) FROM `+table).One(&n))
	if n == int64(parts*perPart) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, 64)
	for p := range parts {
		b := s.Batch(gocql.UnloggedBatch)
		for c := range perPart {
			b.Query(`INSERT INTO `+table+` (p, b, c, v) VALUES (?, ?, ?, ?)`, p, p%7, c, fmt.Sprintf("v-%d-%d", p, c))
		}
		futs = append(futs, b.Execute(ctx))
		if len(futs) == cap(futs) || p == parts-1 {
			_, err := cassandra.AwaitAll(ctx, futs...)
			require.NoError(t, err)
			futs = futs[:0]
		}
	}
}

type scanKey struct{ p, c int }

// readScanKeys reads the scan to its end, checking each row's columns.
func readScanKeys(t *testing.T, sc *cassandra.TableScan) []scanKey {
	t.Helper()
	var keys []scanKey
	for row, err := range sc.Rows() {
		require.NoError(t, err)
		var p, b, c int
		var v string
		require.NoError(t, row.Scan(&p, &b, &c, &v))
		require.Equal(t, p%7, b)
		require.Equal(t, fmt.Sprintf("v-%d-%d", p, c), v)
		keys = append(keys, scanKey{p, c})
	}
	return keys
}

// requireEveryKeyOnce fails unless keys holds every row of the scan table once.
func requireEveryKeyOnce(t *testing.T, keys []scanKey, parts, perPart int) {
	t.Helper()
	seen := make(map[scanKey]int, len(keys))
	for _, k := range keys {
		seen[k]++
	}
	for p := range parts {
		for c := range perPart {
			if n := seen[scanKey{p, c}]; n != 1 {
				require.Failf(t, "not every row read exactly once", "row (%d, %d) read %d times", p, c, n)
			}
		}
	}
	require.Len(t, keys, parts*perPart, "no row outside the table")
}

func scanColumns() cassandra.ScanOption { return cassandra.ScanColumns("p", "b", "c", "v") }

func TestScanReadsEveryRowOnceFromTheNode(t *testing.T) {
	s := connect(t)
	scanTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc := s.Scan(ctx, "scan_rows", scanColumns(), cassandra.ScanPageSize(1000), cassandra.ScanParallelism(8))
	keys := readScanKeys(t, sc)
	requireEveryKeyOnce(t, keys, scanPartitions, scanPerPart)

	p := sc.Progress()
	assert.Equal(t, p.RangesTotal, p.RangesDone)
	assert.GreaterOrEqual(t, p.RangesTotal, 32, "4 × parallelism ranges at least")
	assert.Equal(t, int64(scanTotal), p.Rows)
	assert.InDelta(t, 1.0, p.Fraction, 1e-9)
	cp := sc.Checkpoint()
	assert.True(t, cp.Complete())
	assert.Equal(t, `SELECT p, b, c, v FROM "async_cassandra_it"."scan_rows" WHERE token("p", "b") > ? AND token("p", "b") <= ?`,
		cp.Statement, "the partition key comes from the schema")
}

// A scan stopped mid-way, as by a crash, and resumed from the last
// checkpoint it delivered reads every row exactly once in all, counting
// the rows read up to that checkpoint.
func TestScanResumesFromCheckpointOnTheNode(t *testing.T) {
	s := connect(t)
	scanTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := []cassandra.ScanOption{scanColumns(), cassandra.ScanPageSize(700), cassandra.ScanParallelism(6)}

	var saved []byte
	var kept, keys []scanKey
	inProgress := 0
	sc := s.Scan(ctx, "scan_rows", append(opts, cassandra.ScanCheckpoints(func(cp cassandra.ScanCheckpoint) error {
		b, err := json.Marshal(cp)
		saved, kept = b, slices.Clone(keys)
		inProgress = max(inProgress, len(cp.InProgress))
		return err
	}))...)
	const crashAt = 37_123
	for row, err := range sc.Rows() {
		require.NoError(t, err)
		var p, b, c int
		var v string
		require.NoError(t, row.Scan(&p, &b, &c, &v))
		keys = append(keys, scanKey{p, c})
		if len(keys) == crashAt {
			break
		}
	}
	require.NotNil(t, saved)
	assert.Positive(t, inProgress, "checkpoints held ranges in progress, with page states")

	var cp cassandra.ScanCheckpoint
	require.NoError(t, json.Unmarshal(saved, &cp))
	assert.Equal(t, int64(len(kept)), cp.Rows)
	assert.False(t, cp.Complete())
	rest := readScanKeys(t, s.Scan(ctx, "scan_rows", append(opts, cassandra.ScanResume(&cp))...))
	requireEveryKeyOnce(t, append(kept, rest...), scanPartitions, scanPerPart)
}

// A filter on a regular column, with ALLOW FILTERING, keeps only the rows
// that match.
func TestScanWithFilterOnTheNode(t *testing.T) {
	s := connect(t)
	scanTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc := s.Scan(ctx, "scan_rows", cassandra.ScanColumns("p", "c"), cassandra.ScanWhere("c < ?", 3),
		cassandra.ScanAllowFiltering(), cassandra.ScanConsistency(gocql.One))
	n := 0
	for sc.Next() {
		var p, c int
		require.NoError(t, sc.Scan(&p, &c))
		require.Less(t, c, 3)
		n++
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, scanPartitions*3, n)

	_, err := cassandra.CollectRows(s.Scan(ctx, "scan_rows", cassandra.ScanWhere("v = ?", "x")), cassandra.RowToMap)
	var invalid *gocql.RequestErrInvalid
	require.ErrorAs(t, err, &invalid, "without ALLOW FILTERING the node refuses the filter")
	var se *cassandra.ScanError
	require.ErrorAs(t, err, &se)
	assert.NotNil(t, se.Range)
}

func TestScanMissingTable(t *testing.T) {
	s := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := s.Scan(ctx, "no_such_table")
	assert.False(t, sc.Next())
	require.ErrorContains(t, sc.Err(), "async_cassandra_it.no_such_table not found")
}

// The example exports a table to CSV; stopped abruptly half-way and run
// again, it resumes from its checkpoint file, and the CSV file holds every
// row exactly once.
func TestScanExampleExportsAndResumes(t *testing.T) {
	s := connect(t)
	const parts, perPart = 200, 50
	fillScanTable(t, s, "scan_example", parts, perPart)

	dir := t.TempDir()
	bin := filepath.Join(dir, "scan")
	// The examples are a module of their own (examples/go.mod).
	build := osexec.Command("go", "build", "-o", bin, "./scan")
	build.Dir = filepath.Join("..", "..", "examples")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	csvPath := filepath.Join(dir, "rows.csv")
	run := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := osexec.CommandContext(ctx, bin, append([]string{"-table", keyspace + ".scan_example", "-out", csvPath,
			"-page", "300", "-columns", "p,b,c,v"}, args...)...)
		cmd.Env = append(os.Environ(), "CASSANDRA_HOSTS="+strings.Join(node.Hosts(), ","))
		var stdout strings.Builder
		cmd.Stdout = &stdout
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *osexec.ExitError
		if errors.As(err, &exit) {
			return stderr.String(), exit.ExitCode()
		}
		require.NoError(t, err, stderr.String())
		return stdout.String(), 0
	}

	msg, code := run("-stop-after", "4321")
	require.Equal(t, 3, code, "the first run stops abruptly: %s", msg)
	_, err = os.Stat(csvPath + ".checkpoint.json")
	require.NoError(t, err, "the first run left a checkpoint")

	count, code := run()
	require.Equal(t, 0, code)
	assert.Equal(t, strconv.Itoa(parts*perPart), strings.TrimSpace(count), "the count covers both runs")

	f, err := os.Open(csvPath)
	require.NoError(t, err)
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, records)
	assert.Equal(t, []string{"p", "b", "c", "v"}, records[0], "one header")
	keys := make([]scanKey, 0, len(records)-1)
	for _, r := range records[1:] {
		p, err1 := strconv.Atoi(r[0])
		c, err2 := strconv.Atoi(r[2])
		require.NoError(t, errors.Join(err1, err2), "record %v", r)
		require.Equal(t, fmt.Sprintf("v-%d-%d", p, c), r[3])
		keys = append(keys, scanKey{p, c})
	}
	requireEveryKeyOnce(t, keys, parts, perPart)

	// A third run finds the checkpoint complete and reads nothing.
	count, code = run()
	require.Equal(t, 0, code)
	assert.Equal(t, strconv.Itoa(parts*perPart), strings.TrimSpace(count))
}
