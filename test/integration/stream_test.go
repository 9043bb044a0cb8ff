package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

const (
	streamPartitions = 10
	streamPerPart    = 10_000
	streamTotal      = streamPartitions * streamPerPart
)

var streamTableOnce sync.Once

// streamTable fills stream_rows with 100,000 rows once per test run.
func streamTable(t *testing.T, s *cassandra.AsyncSession) {
	t.Helper()
	streamTableOnce.Do(func() {
		exec(t, s, `CREATE TABLE IF NOT EXISTS stream_rows (p int, c int, v text, PRIMARY KEY (p, c))`)
		rs := exec(t, s, `SELECT count(*) FROM stream_rows`)
		var n int64
		require.NoError(t, rs.One(&n))
		if n == streamTotal {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		value := fmt.Sprintf("%0100d", 0)
		futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, 1000)
		for p := range streamPartitions {
			for c := range streamPerPart {
				futs = append(futs, s.Execute(ctx, `INSERT INTO stream_rows (p, c, v) VALUES (?, ?, ?)`, p, c, value))
				if len(futs) == cap(futs) {
					_, err := cassandra.AwaitAll(ctx, futs...)
					require.NoError(t, err)
					futs = futs[:0]
				}
			}
		}
		_, err := cassandra.AwaitAll(ctx, futs...)
		require.NoError(t, err)
	})
}

type key struct{ p, c int }

func TestStreamMatchesRawIter(t *testing.T) {
	s := connect(t)
	streamTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var want []key
	it := s.Gocql().Query(`SELECT p, c FROM stream_rows`).PageSize(1000).IterContext(ctx)
	var k key
	for it.Scan(&k.p, &k.c) {
		want = append(want, k)
	}
	require.NoError(t, it.Close())
	require.Len(t, want, streamTotal)

	var pages []cassandra.PageInfo
	st := s.Query(`SELECT p, c FROM stream_rows`).PageSize(1000).Stream(ctx, cassandra.OnPage(func(pi cassandra.PageInfo) { pages = append(pages, pi) }))
	got := make([]key, 0, streamTotal)
	for row, err := range st.Rows() {
		require.NoError(t, err)
		require.NoError(t, row.Scan(&k.p, &k.c))
		got = append(got, k)
	}
	assert.Equal(t, want, got, "same rows in the same order as gocql's Iter")
	require.NotEmpty(t, pages)
	assert.Equal(t, 1, pages[0].Number)
	last := pages[len(pages)-1]
	assert.Equal(t, streamTotal, last.TotalRows, "the running total ends at the row count")
	sum := 0
	for i, pi := range pages {
		assert.Equal(t, i+1, pi.Number)
		sum += pi.Rows
		assert.Equal(t, sum, pi.TotalRows)
	}
}

func TestStreamBreakEarlyAndResume(t *testing.T) {
	s := connect(t)
	streamTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const stmt = `SELECT c FROM stream_rows WHERE p = 3`
	st := s.Query(stmt).PageSize(100).Stream(ctx)
	var first []int
	var cursor []byte
	for page, err := range st.Pages() {
		require.NoError(t, err)
		ints, err := cassandra.CollectRows(page, cassandra.RowTo[int])
		require.NoError(t, err)
		first = append(first, ints...)
		if page.Number() == 3 {
			cursor = page.PageState()
			break
		}
	}
	require.Len(t, first, 300)
	require.NotNil(t, cursor)
	assert.False(t, st.Next(), "breaking out closed the stream")
	assert.NoError(t, st.Err())

	rest, err := cassandra.CollectRows(s.Query(stmt).PageSize(1000).PageState(cursor).Stream(ctx), cassandra.RowTo[int])
	require.NoError(t, err)
	all := append(first, rest...)
	require.Len(t, all, streamPerPart)
	for i, c := range all {
		require.Equal(t, i, c)
	}

	// Breaking out of Rows early closes the stream too.
	st = s.Stream(ctx, stmt)
	n := 0
	for _, err := range st.Rows() {
		require.NoError(t, err)
		if n++; n == 10 {
			break
		}
	}
	assert.False(t, st.Next())
}

func TestStreamLimits(t *testing.T) {
	s := connect(t)
	streamTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const stmt = `SELECT c FROM stream_rows WHERE p = 1`

	ints, err := cassandra.CollectRows(s.Query(stmt).PageSize(100).Stream(ctx, cassandra.MaxRows(250)), cassandra.RowTo[int])
	require.NoError(t, err)
	assert.Len(t, ints, 250)

	ints, err = cassandra.CollectRows(s.Query(stmt).PageSize(100).Stream(ctx, cassandra.MaxPages(2)), cassandra.RowTo[int])
	require.NoError(t, err)
	assert.Len(t, ints, 200)

	ints, err = cassandra.CollectRows(s.Query(stmt).PageSize(700).Stream(ctx, cassandra.Prefetch(0)), cassandra.RowTo[int])
	require.NoError(t, err)
	assert.Len(t, ints, streamPerPart)

	// An empty result ends at once, without error.
	st := s.Stream(ctx, `SELECT c FROM stream_rows WHERE p = -1`)
	assert.False(t, st.Next())
	assert.NoError(t, st.Err())

	// An error before the first row ends the stream; it never hangs.
	st = s.Stream(ctx, `SELECT nope FROM stream_rows`)
	assert.False(t, st.Next())
	var qe *cassandra.QueryError
	require.ErrorAs(t, st.Err(), &qe)
	assert.Contains(t, qe.Statement, "SELECT nope")

	// Invalid options are reported, not panicked on.
	st = s.Query(stmt).Stream(ctx, cassandra.Prefetch(-1))
	assert.False(t, st.Next())
	assert.ErrorContains(t, st.Err(), "Prefetch")
}

// Two streams and 100 futures share a pool of two workers: page fetches
// queue behind the futures like any request, and nothing deadlocks.
func TestStreamsAndFuturesOnTwoWorkers(t *testing.T) {
	s := connect(t, cassandra.WithWorkers(2), cassandra.WithQueue(16))
	streamTable(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	counts := make([]int, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.Query(`SELECT c FROM stream_rows WHERE p = ?`, i).PageSize(500).Stream(ctx, cassandra.Prefetch(2))
			for _, err := range st.Rows() {
				if err != nil {
					errs[i] = err
					return
				}
				counts[i]++
			}
		}()
	}
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 100)
	for i := range futs {
		futs[i] = s.Execute(ctx, `SELECT c FROM stream_rows WHERE p = ? AND c = ?`, i%streamPartitions, i)
	}
	results, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	for i, rs := range results {
		var c int
		require.NoError(t, rs.One(&c))
		assert.Equal(t, i, c)
	}
	wg.Wait()
	for i := range 2 {
		require.NoError(t, errs[i])
		assert.Equal(t, streamPerPart, counts[i])
	}
	stats := s.Stats()
	assert.Equal(t, 0, stats.BusyWorkers)
	assert.Equal(t, 0, stats.QueueDepth)
}

func TestStreamContextCancel(t *testing.T) {
	s := connect(t)
	streamTable(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	st := s.Query(`SELECT c FROM stream_rows`).PageSize(100).Stream(ctx)
	require.True(t, st.Next())
	cancel()
	n := 0
	for st.Next() {
		n++
	}
	assert.Less(t, n, 100, "the stream stops at the end of the page being read")
	assert.ErrorIs(t, st.Err(), context.Canceled)

	// Close from another goroutine while the reader waits: reading ends
	// without an error.
	st = s.Query(`SELECT c FROM stream_rows`).PageSize(5000).Stream(context.Background(), cassandra.Prefetch(0))
	require.True(t, st.Next())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, st.Close())
	}()
	<-done
	assert.False(t, st.Next(), "no row after Close, even within a fetched page")
	assert.NoError(t, st.Err())
}
