package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// loadRead reads every row of table (one partition per row) as id -> v with
// a full scan.
func loadRead(t *testing.T, ctx context.Context, s *cassandra.AsyncSession, table string) map[int]string {
	t.Helper()
	rs, err := s.Query(`SELECT id, v FROM ` + table).PageSize(3000).Execute(ctx).Await(ctx)
	require.NoError(t, err)
	got := make(map[int]string, rs.RowCount())
	var id int
	var v string
	require.NoError(t, cassandra.ForEachRow(rs, []any{&id, &v}, func() error {
		if _, dup := got[id]; dup {
			return fmt.Errorf("id %d read twice", id)
		}
		got[id] = v
		return nil
	}))
	return got
}

func loadValue(i int) string { return fmt.Sprintf("value-%05d", i) }

func TestLoadConcurrentInserts(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS load_rows (id int PRIMARY KEY, v text)`)
	exec(t, s, `TRUNCATE load_rows`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := s.Stats()

	const n = 10_000
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	for i := range n {
		futs[i] = s.Execute(ctx, `INSERT INTO load_rows (id, v) VALUES (?, ?)`, i, loadValue(i))
	}
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	for i, f := range futs {
		_, ok, err := f.TryResult()
		require.True(t, ok, "future %d is complete after AwaitAll", i)
		require.NoError(t, err, "future %d", i)
	}

	got := loadRead(t, ctx, s, "load_rows")
	require.Len(t, got, n)
	for i := range n {
		require.Equal(t, loadValue(i), got[i], "id %d", i)
	}

	// Futures and stream pages complete after their place in the pool is
	// given back and counted, so the counters are exact already; Shutdown
	// also shows that the pool drains.
	require.NoError(t, s.Shutdown(ctx))
	st := s.Stats()
	assert.GreaterOrEqual(t, st.SubmitCount-before.SubmitCount, uint64(n))
	assert.Equal(t, st.SubmitCount, st.CompletedCount)
	assert.Zero(t, st.BusyWorkers)
	assert.Zero(t, st.QueueDepth)
	assert.Zero(t, st.RejectedCount)
	assert.Zero(t, st.ExpiredCount)
	assert.Zero(t, st.DroppedCount)
}

func TestLoadFailFast(t *testing.T) {
	s := connect(t, cassandra.WithWorkers(2), cassandra.WithQueue(8), cassandra.WithQueueFullPolicy(cassandra.QueueFailFast))
	exec(t, s, `CREATE TABLE IF NOT EXISTS load_failfast (id int PRIMARY KEY, v text)`)
	exec(t, s, `TRUNCATE load_failfast`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := s.Stats()

	const n = 2_000
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	for i := range n {
		futs[i] = s.Execute(ctx, `INSERT INTO load_failfast (id, v) VALUES (?, ?)`, i, loadValue(i))
	}
	// Some fail: AwaitAll reports the first failure, and still waits for all.
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.ErrorIs(t, err, cassandra.ErrOverloaded)

	succeeded := map[int]bool{}
	rejected := 0
	for i, f := range futs {
		_, ok, err := f.TryResult()
		require.True(t, ok, "future %d is complete after AwaitAll", i)
		switch {
		case err == nil:
			succeeded[i] = true
		case errors.Is(err, cassandra.ErrOverloaded):
			rejected++
			var qe *cassandra.QueryError
			require.ErrorAs(t, err, &qe, "future %d", i)
			assert.Zero(t, qe.Attempts, "a rejected query was never sent")
		default:
			t.Fatalf("future %d: unexpected error %v", i, err)
		}
	}
	t.Logf("%d succeeded, %d rejected", len(succeeded), rejected)
	assert.Positive(t, rejected)
	assert.NotEmpty(t, succeeded)
	assert.Equal(t, n, len(succeeded)+rejected)

	// Exactly the acknowledged rows are there: no acknowledged write
	// missing, no rejected write applied.
	got := loadRead(t, ctx, s, "load_failfast")
	for id, v := range got {
		assert.True(t, succeeded[id], "id %d is in the table but its future failed", id)
		assert.Equal(t, loadValue(id), v)
	}
	for id := range succeeded {
		_, ok := got[id]
		assert.True(t, ok, "id %d was acknowledged but is not in the table", id)
	}
	assert.Len(t, got, len(succeeded))

	require.NoError(t, s.Shutdown(ctx))
	st := s.Stats()
	assert.Equal(t, uint64(rejected), st.RejectedCount-before.RejectedCount)
	// Accepted: the successful inserts and the read.
	assert.Equal(t, uint64(len(succeeded)+1), st.SubmitCount-before.SubmitCount)
	assert.Equal(t, st.SubmitCount, st.CompletedCount)
	assert.Zero(t, st.BusyWorkers)
	assert.Zero(t, st.QueueDepth)
	assert.Equal(t, 2, st.Workers)
	assert.Equal(t, 8, st.QueueCapacity)
}

// TestLoadFailFastSequentialCaller: a caller that awaits each query before
// sending the next never has more than one query outstanding, so a session
// with one worker and no queue always has an idle worker for it ("Zero means
// a request is accepted only when a worker is idle"). It must never be
// rejected. It is: the future completes inside the task, before the pool
// takes the worker back and frees its place (pool.next runs after f.run
// returns), so the next Submit can find the pool still full.
func TestLoadFailFastSequentialCaller(t *testing.T) {
	s := connect(t, cassandra.WithWorkers(1), cassandra.WithQueue(0), cassandra.WithQueueFullPolicy(cassandra.QueueFailFast))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 1000
	overloaded := 0
	for range n {
		_, err := s.Execute(ctx, `SELECT release_version FROM system.local`).Await(ctx)
		if errors.Is(err, cassandra.ErrOverloaded) {
			overloaded++
			continue
		}
		require.NoError(t, err)
	}
	assert.Zero(t, overloaded, "%d of %d sequential queries were rejected with ErrOverloaded although none was outstanding", overloaded, n)
}
