package integration

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// ExecuteConcurrent against the real node: a bulk load read back row by
// row. The table lives in a keyspace of its own, so that no other test's
// TRUNCATE or count can meet it.

const (
	concKeyspace = "async_cassandra_conc"
	concTable    = concKeyspace + ".bulk_rows"
	concRows     = 200_000
	concInFlight = 256
)

func concValue(i int) string { return fmt.Sprintf("bulk-%07d", i) }

// concItems yields the values of row i for i in [0, n), made as they are
// taken: the input is never held in memory.
func concItems(n int) iter.Seq[[]any] {
	return func(yield func([]any) bool) {
		for i := range n {
			if !yield([]any{i, concValue(i)}) {
				return
			}
		}
	}
}

func TestExecuteConcurrentLoadAndReadBack(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE KEYSPACE IF NOT EXISTS `+concKeyspace+
		` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`)
	exec(t, s, `CREATE TABLE IF NOT EXISTS `+concTable+` (id int PRIMARY KEY, v text)`)
	exec(t, s, `TRUNCATE `+concTable)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	before := s.Stats()

	var reports int
	start := time.Now()
	st, err := s.Query(`INSERT INTO `+concTable+` (id, v) VALUES (?, ?)`).
		Idempotent(true).
		ExecuteConcurrent(ctx, concItems(concRows),
			cassandra.InFlight(concInFlight),
			cassandra.OnProgress(5*time.Second, func(p cassandra.ConcurrentStats) {
				reports++
				assert.LessOrEqual(t, p.InFlight, concInFlight+1, "in flight, plus one taken and waiting")
				t.Logf("progress: %d done, %d failed, %d in flight, %.0f rows/s", p.Succeeded, p.Failed, p.InFlight, p.Rate())
			}))
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, cassandra.ConcurrentStats{Items: concRows, Succeeded: concRows, Elapsed: st.Elapsed}, st)
	assert.Positive(t, reports, "the final report at least")
	t.Logf("loaded %d rows at %d in flight in %v: %.0f rows/s (GOMAXPROCS %d)",
		concRows, concInFlight, elapsed.Round(time.Millisecond), float64(concRows)/elapsed.Seconds(), runtime.GOMAXPROCS(0))

	ps := s.Stats()
	assert.Equal(t, uint64(concRows), ps.SubmitCount-before.SubmitCount, "one request per row; none refused or retried")
	assert.Zero(t, ps.BusyWorkers, "nothing of the call left in the pool")

	// Read every row back with a full-table stream and check each by key.
	readStart := time.Now()
	seen := make([]bool, concRows)
	stream := s.Query(`SELECT id, v FROM ` + concTable).PageSize(5000).Consistency(gocql.One).Stream(ctx)
	n := 0
	for row, err := range stream.Rows() {
		require.NoError(t, err)
		var id int
		var v string
		require.NoError(t, row.Scan(&id, &v))
		require.True(t, id >= 0 && id < concRows, "id %d out of range", id)
		require.False(t, seen[id], "id %d read twice", id)
		seen[id] = true
		require.Equal(t, concValue(id), v, "id %d", id)
		n++
	}
	require.NoError(t, stream.Err())
	require.Equal(t, concRows, n)
	for id, ok := range seen {
		require.True(t, ok, "id %d missing", id)
	}
	t.Logf("read back %d rows in %v", n, time.Since(readStart).Round(time.Millisecond))
}

// A failing item in the middle, refused by the node: by default the call
// stops there and names the item; with ContinueOnError every other row is
// written.
func TestExecuteConcurrentFailingItem(t *testing.T) {
	s := connect(t)
	const table = concKeyspace + ".fail_rows"
	exec(t, s, `CREATE KEYSPACE IF NOT EXISTS `+concKeyspace+
		` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`)
	exec(t, s, `CREATE TABLE IF NOT EXISTS `+table+` (k text PRIMARY KEY, v text)`)
	exec(t, s, `TRUNCATE `+table)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n, bad = 2000, 1000
	// The node refuses a partition key longer than 65,535 bytes; the
	// driver sends it.
	longKey := strings.Repeat("k", 70_000)
	in := func(yield func([]any) bool) {
		for i := range n {
			k := strconv.Itoa(i)
			if i == bad {
				k = longKey
			}
			if !yield([]any{k, concValue(i)}) {
				return
			}
		}
	}
	stmt := `INSERT INTO ` + table + ` (k, v) VALUES (?, ?)`

	st, err := s.ExecuteConcurrent(ctx, stmt, in, cassandra.InFlight(32))
	var ie *cassandra.ItemError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, bad, ie.Index)
	var invalid *gocql.RequestErrInvalid
	assert.ErrorAs(t, err, &invalid, "the node's typed error")
	assert.NotContains(t, err.Error(), longKey[:100], "no bound value in the message")
	assert.Equal(t, 1, st.Failed)
	assert.Less(t, st.Items, n, "stopped taking items")
	assert.Equal(t, st.Items, st.Succeeded+st.Failed+st.Canceled)

	exec(t, s, `TRUNCATE `+table)
	st, err = s.ExecuteConcurrent(ctx, stmt, in, cassandra.InFlight(32), cassandra.ContinueOnError(10))
	var ce *cassandra.ConcurrentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Failed)
	require.Len(t, ce.Errors, 1)
	assert.Equal(t, bad, ce.Errors[0].Index)
	assert.ErrorAs(t, err, &invalid)
	assert.Equal(t, cassandra.ConcurrentStats{Items: n, Succeeded: n - 1, Failed: 1, Elapsed: st.Elapsed}, st)
	rs := exec(t, s, `SELECT count(*) FROM `+table)
	var count int64
	require.NoError(t, rs.One(&count))
	assert.Equal(t, int64(n-1), count)
}
