package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
)

// A known workload through a session with the in-memory collector: the
// snapshot holds exactly what was executed, request by request, row by
// row, page by page and statement by statement.
func TestInMemoryCollectorSeesTheWorkload(t *testing.T) {
	const (
		writes     = 40  // N
		reads      = 15  // M
		streamRows = 250 // K
		pageSize   = 100
		pages      = 3 // P: 100, 100 and 50 rows
	)
	const (
		insert = `INSERT INTO inmemory_kv (k, v) VALUES (?, ?)`
		read   = `SELECT v FROM inmemory_kv WHERE k = ?`
		broken = `SELEC v FROM inmemory_kv` // a syntax error
		scan   = `SELECT c FROM inmemory_stream WHERE p = 0`
	)

	// The schema and the stream's rows come from a session without the
	// collector, so that only the workload is counted.
	setup := connect(t)
	exec(t, setup, `CREATE TABLE IF NOT EXISTS inmemory_kv (k int PRIMARY KEY, v text)`)
	exec(t, setup, `CREATE TABLE IF NOT EXISTS inmemory_stream (p int, c int, PRIMARY KEY (p, c))`)
	exec(t, setup, `DELETE FROM inmemory_stream WHERE p = 0`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], streamRows)
	for i := range futs {
		futs[i] = setup.Execute(ctx, `INSERT INTO inmemory_stream (p, c) VALUES (0, ?)`, i)
	}
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)

	c := inmemory.New()
	s := connect(t, cassandra.WithCollector(c))

	futs = futs[:writes]
	for i := range futs {
		futs[i] = s.Execute(ctx, insert, i, fmt.Sprintf("value %d", i))
	}
	_, err = cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	for i := range reads {
		rs, err := s.Execute(ctx, read, i).Await(ctx)
		require.NoError(t, err)
		var v string
		require.NoError(t, rs.One(&v))
		require.Equal(t, fmt.Sprintf("value %d", i), v)
	}
	_, err = s.Execute(ctx, broken).Await(ctx)
	require.Error(t, err)
	require.Equal(t, "syntax", cassandra.ErrorKind(err))

	st := s.Query(scan).PageSize(pageSize).Stream(ctx)
	n := 0
	for _, err := range st.Rows() {
		require.NoError(t, err)
		n++
	}
	require.NoError(t, st.Close())
	require.Equal(t, streamRows, n)

	snap := c.Snapshot()
	t.Log("\n" + snap.String())

	// Requests: one per Execute; the stream's pages are counted apart.
	assert.Equal(t, uint64(writes+reads+1), snap.RequestCount)
	assert.Equal(t, uint64(writes+reads), snap.SuccessCount)
	assert.Equal(t, uint64(1), snap.ErrorCount)
	assert.Equal(t, map[string]uint64{"syntax": 1}, snap.ErrorsByKind)
	assert.Equal(t, uint64(reads), snap.RowCount, "one row per read, none per write")
	assert.Equal(t, uint64(writes+reads+1), snap.PageCount, "one page each, the failed request's included")

	// Attempts: one per request (the failing statement has no bound
	// values, so it is sent as it is, not prepared) and one per stream
	// page, with no retry: the statements are not idempotent.
	assert.Equal(t, uint64(writes+reads+1+pages), snap.AttemptCount)
	assert.Zero(t, snap.RetryCount)
	assert.Equal(t, uint64(1), snap.AttemptErrorCount)

	assert.Equal(t, uint64(pages), snap.StreamPageCount)
	assert.Equal(t, uint64(streamRows), snap.StreamRowCount)
	assert.Zero(t, snap.StreamErrorCount)

	// The window holds every request of the test.
	assert.Equal(t, snap.RequestCount, snap.Window.RequestCount)
	assert.Equal(t, uint64(1), snap.Window.ErrorCount)
	assert.Equal(t, snap.RequestCount, snap.Window.Latency.Count)
	assert.Positive(t, snap.Window.RequestsPerSecond)
	assert.Positive(t, snap.Window.Latency.P50)
	assert.LessOrEqual(t, snap.Window.Latency.P50, snap.Window.Latency.P99)
	assert.LessOrEqual(t, snap.Window.Latency.P999, snap.Window.Latency.Max)

	// Statements: the three that were executed, by their normal form.
	want := []inmemory.StatementStats{
		{Statement: cassandra.Statement{Text: "INSERT INTO inmemory_kv (k, v) VALUES (?, ?)", Kind: cassandra.KindInsert, Keyspace: keyspace, Table: "inmemory_kv"},
			RequestCount: writes},
		{Statement: cassandra.Statement{Text: "SELECT v FROM inmemory_kv WHERE k = ?", Kind: cassandra.KindSelect, Keyspace: keyspace, Table: "inmemory_kv"},
			RequestCount: reads, RowCount: reads},
		{Statement: cassandra.Statement{Text: cassandra.NormalizeStatement(broken), Kind: cassandra.KindOther},
			RequestCount: 1, ErrorCount: 1},
	}
	require.Len(t, snap.Statements, len(want))
	for i, got := range snap.Statements {
		assert.Positive(t, got.TotalDuration)
		assert.LessOrEqual(t, got.MaxDuration, got.TotalDuration)
		got.TotalDuration, got.MaxDuration = 0, 0
		assert.Equal(t, want[i], got)
	}

	// The session's pool: every request and every page fetch went through it.
	require.Len(t, snap.Sessions, 1)
	assert.Equal(t, uint64(writes+reads+1+pages), snap.Sessions[0].SubmitCount)
}
