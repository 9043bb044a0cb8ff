package cassandra

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// These tests run streams against the in-process CQL server, whose faults
// (an error on page N, a page held back, a dropped connection) are exact.
// The same behaviour against a real node is in test/integration.

const streamQuery = "SELECT id FROM ks.numbers"

// ignoreHeartbeatRace: see internal/cqltest; gocql v2.1.2 may leave its
// control connection's heartbeat goroutine behind when a session closes
// right after it opened.
var ignoreHeartbeatRace = goleak.IgnoreTopFunction(
	"github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat")

// streamServer serves streamQuery with rows 0..n-1 and connects a session.
// Everything is closed, and goroutine leaks checked, when the test ends.
func streamServer(t *testing.T, n int, opts ...Option) (*cqltest.Server, *AsyncSession) {
	t.Helper()
	srv := cqltest.NewServer(t)
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{i}
	}
	srv.SetRows(streamQuery, cqltest.Cols("id", cqltest.Int), rows)
	cluster, err := NewAsyncCluster(srv.ClusterConfig(), opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, cluster.Close())
		srv.Close()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	})
	return srv, s
}

// readInts reads the stream to its end.
func readInts(st *Stream) ([]int, error) {
	var got []int
	for st.Next() {
		var v int
		if err := st.Scan(&v); err != nil {
			return got, err
		}
		got = append(got, v)
	}
	return got, st.Err()
}

// settled reports the fetcher's state once no fetch is in flight.
func settled(t *testing.T, st *Stream) (buffered, fetched int) {
	t.Helper()
	require.Eventually(t, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		buffered, fetched = len(st.buffer), st.fetched
		return !st.fetching
	}, 10*time.Second, time.Millisecond)
	return buffered, fetched
}

func TestStreamReadsEveryPage(t *testing.T) {
	srv, s := streamServer(t, 10)
	var pages []PageInfo
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background(),
		OnPage(func(p PageInfo) { pages = append(pages, p) }))
	got, err := readInts(st)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, got)
	assert.Equal(t, 4, srv.Requests(streamQuery), "one request per page")
	assert.Equal(t, []PageInfo{{1, 3, 3}, {2, 3, 6}, {3, 3, 9}, {4, 1, 10}}, pages)
}

func TestStreamErrorOnFirstPage(t *testing.T) {
	srv, s := streamServer(t, 10)
	srv.FailPage(streamQuery, 1, cqltest.ReadTimeout())
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background())
	assert.False(t, st.Next(), "an error before the first row ends the stream at once")
	var rt *gocql.RequestErrReadTimeout
	assert.ErrorAs(t, st.Err(), &rt)
	var qe *QueryError
	require.ErrorAs(t, st.Err(), &qe)
	assert.Equal(t, streamQuery, qe.Statement)
}

func TestStreamErrorOnThirdPageComesAfterTheSecond(t *testing.T) {
	srv, s := streamServer(t, 10)
	srv.FailPage(streamQuery, 3, cqltest.Overloaded())
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background())
	got, err := readInts(st)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, got, "every row of pages 1 and 2 first")
	var ov *gocql.RequestErrOverloaded
	assert.ErrorAs(t, err, &ov)
}

func TestStreamDroppedConnection(t *testing.T) {
	srv, s := streamServer(t, 10)
	srv.DropConnectionOnPage(streamQuery, 2)
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background())
	got, err := readInts(st)
	assert.Equal(t, []int{0, 1, 2}, got)
	assert.Error(t, err)
}

// The reader waits only when its page is used up and the next has not
// arrived; the held-back page then arrives and reading goes on.
func TestStreamSlowPage(t *testing.T) {
	srv, s := streamServer(t, 10)
	release := make(chan struct{})
	srv.DelayPage(streamQuery, 2, release)
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background())

	rows := make(chan int)
	done := make(chan error, 1)
	go func() {
		for st.Next() {
			var v int
			if err := st.Scan(&v); err != nil {
				done <- err
				return
			}
			rows <- v
		}
		done <- st.Err()
	}()
	for want := range 3 {
		assert.Equal(t, want, <-rows)
	}
	select {
	case v := <-rows:
		t.Fatalf("row %d arrived while page 2 was held back", v)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for want := 3; want < 10; want++ {
		assert.Equal(t, want, <-rows)
	}
	assert.NoError(t, <-done)
}

// With prefetch 1, a reader that stops reading stops the fetching: one page
// is read, one is buffered, and no further page is requested.
func TestStreamBackpressure(t *testing.T) {
	srv, s := streamServer(t, 100)
	st := s.Query(streamQuery).PageSize(5).Stream(context.Background())
	require.True(t, st.Next())
	buffered, fetched := settled(t, st)
	assert.Equal(t, 1, buffered, "the next page is prefetched")
	assert.Equal(t, 2, fetched)
	assert.Equal(t, 2, srv.Requests(streamQuery), "page 3 is not requested while the reader is behind")

	// Deeper prefetch holds more pages, never more than 1 + prefetch.
	st2 := s.Query(streamQuery).PageSize(5).Stream(context.Background(), Prefetch(3))
	require.True(t, st2.Next())
	buffered, fetched = settled(t, st2)
	assert.Equal(t, 3, buffered)
	assert.Equal(t, 4, fetched)
	require.NoError(t, st.Close())
	require.NoError(t, st2.Close())
}

func TestStreamWithoutPrefetchFetchesOnDemand(t *testing.T) {
	srv, s := streamServer(t, 20)
	st := s.Query(streamQuery).PageSize(5).Stream(context.Background(), Prefetch(0))
	for range 5 {
		require.True(t, st.Next())
	}
	buffered, _ := settled(t, st)
	assert.Equal(t, 0, buffered)
	assert.Equal(t, 1, srv.Requests(streamQuery))
	require.True(t, st.Next(), "the sixth row needs page 2")
	assert.Equal(t, 2, srv.Requests(streamQuery))
	require.NoError(t, st.Close())
}

// A reader that abandons the stream halfway leaves nothing running.
func TestStreamAbandonedHalfway(t *testing.T) {
	_, s := streamServer(t, 100, WithWorkers(2))
	st := s.Query(streamQuery).PageSize(10).Stream(context.Background())
	for range 45 {
		require.True(t, st.Next())
	}
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close is idempotent")
	assert.False(t, st.Next())
	assert.NoError(t, st.Err())
	require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond)
}

// Close while a page is in flight abandons the request and frees its
// worker, though the server never answers.
func TestStreamCloseDuringFetch(t *testing.T) {
	srv, s := streamServer(t, 10, WithWorkers(1))
	release := make(chan struct{})
	defer close(release)
	srv.DelayPage(streamQuery, 2, release)
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background())
	for range 3 {
		require.True(t, st.Next())
	}
	waiting := make(chan bool)
	go func() { waiting <- st.Next() }()
	require.Eventually(t, func() bool { return srv.PageRequests(streamQuery, 2) == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, st.Close())
	assert.False(t, <-waiting)
	assert.NoError(t, st.Err(), "Close ends reading without an error")
	require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond,
		"the worker is free again")
	// The session still works on its single worker.
	_, err := s.Execute(context.Background(), "SELECT release_version FROM system.local").Await(context.Background())
	assert.NoError(t, err)
}

func TestStreamDeadlineWhileWaitingForAPage(t *testing.T) {
	srv, s := streamServer(t, 10)
	release := make(chan struct{})
	defer close(release)
	srv.DelayPage(streamQuery, 2, release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st := s.Query(streamQuery).PageSize(3).Stream(ctx)
	got, err := readInts(st)
	assert.Equal(t, []int{0, 1, 2}, got)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestStreamPageTimeout(t *testing.T) {
	srv, s := streamServer(t, 10)
	release := make(chan struct{})
	defer close(release)
	srv.DelayPage(streamQuery, 3, release)
	st := s.Query(streamQuery).PageSize(3).Stream(context.Background(), PageTimeout(time.Second))
	got, err := readInts(st)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, got)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// A page with no rows in the middle of a result (as a filtered scan can
// return) is passed over by Next and shown by Pages.
func TestStreamPageWithZeroRows(t *testing.T) {
	srv, s := streamServer(t, 9)
	srv.EmptyPage(streamQuery, 2)
	var pages []PageInfo
	got, err := readInts(s.Query(streamQuery).PageSize(3).Stream(context.Background(),
		OnPage(func(p PageInfo) { pages = append(pages, p) })))
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, got)
	assert.Equal(t, []PageInfo{{1, 3, 3}, {2, 0, 3}, {3, 3, 6}, {4, 3, 9}}, pages)

	var lens []int
	for p, err := range s.Query(streamQuery).PageSize(3).Stream(context.Background()).Pages() {
		require.NoError(t, err)
		lens = append(lens, p.Len())
	}
	assert.Equal(t, []int{3, 0, 3, 3}, lens)

	// Execute gathers the same rows across the empty page.
	rs, err := s.Query(streamQuery).PageSize(3).Execute(context.Background()).Await(context.Background())
	require.NoError(t, err)
	ints, err := CollectRows(rs, RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, got, ints)
}

func TestStreamEmptyResult(t *testing.T) {
	_, s := streamServer(t, 0)
	st := s.Stream(context.Background(), streamQuery)
	assert.False(t, st.Next())
	assert.NoError(t, st.Err())
	n := 0
	for _, err := range s.Stream(context.Background(), streamQuery).Pages() {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 1, n, "an empty result is one page with no rows")
}

func TestStreamRangeLoops(t *testing.T) {
	srv, s := streamServer(t, 25)
	srv.FailPage(streamQuery, 3, cqltest.ReadTimeout())
	var got []int
	var final error
	for row, err := range s.Query(streamQuery).PageSize(10).Stream(context.Background()).Rows() {
		if err != nil {
			final = err
			break
		}
		var v int
		require.NoError(t, row.Scan(&v))
		got = append(got, v)
	}
	assert.Len(t, got, 20)
	assert.Error(t, final, "the error ends the loop as its last pair")

	srv.ClearFaults(streamQuery)
	type num struct {
		ID int `cql:"id"`
	}
	sum := 0
	for n, err := range RowsAs(s.Query(streamQuery).PageSize(7).Stream(context.Background()), RowToStructByName[num]) {
		require.NoError(t, err)
		sum += n.ID
	}
	assert.Equal(t, 300, sum)
}

func TestStreamClosedSession(t *testing.T) {
	_, s := streamServer(t, 3)
	require.NoError(t, s.Close())
	st := s.Stream(context.Background(), streamQuery)
	assert.False(t, st.Next())
	assert.True(t, errors.Is(st.Err(), ErrClosed), "got %v", st.Err())
}

// A reader that has read a stream to its end finds the fetch's place in the
// pool free again, as a future's awaiter does: with one worker, no queue and
// fail-fast, the next request is never refused.
func TestStreamEndGivesItsPlaceBack(t *testing.T) {
	_, s := streamServer(t, 10, WithWorkers(1), WithQueue(0), WithQueueFullPolicy(QueueFailFast))
	ctx := context.Background()
	for i := range 200 {
		got, err := readInts(s.Query(streamQuery).PageSize(3).Stream(ctx, Prefetch(1)))
		require.NoError(t, err)
		require.Len(t, got, 10)
		require.Zero(t, s.Stats().BusyWorkers, "round %d", i)
		_, err = s.Execute(ctx, streamQuery).Await(ctx)
		require.NoError(t, err, "round %d", i)
	}
}

// panicOnPage is a query observer that panics when the driver reports the
// given page (counting from 1), on the worker that fetches it.
type panicOnPage struct {
	page  int
	calls atomic.Int32
}

func (o *panicOnPage) ObserveQuery(context.Context, gocql.ObservedQuery) {
	if int(o.calls.Add(1)) == o.page {
		panic("boom")
	}
}

// A panic while a page is fetched ends the stream with an error wrapping a
// *PanicError; the reader never hangs and the worker is freed.
func TestStreamPanicInFetch(t *testing.T) {
	_, s := streamServer(t, 10)
	obs := &panicOnPage{page: 2}
	st := s.Query(streamQuery).PageSize(3).Configure(func(q *gocql.Query) *gocql.Query { return q.Observer(obs) }).
		Stream(context.Background(), Prefetch(0))
	got, err := readInts(st)
	assert.Equal(t, []int{0, 1, 2}, got)
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, streamQuery, qe.Statement)
	require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond)
}

// A stream's Configure functions run once, on the caller, when Stream is
// called, as Execute's do: every page uses the query they built.
func TestStreamConfiguresOnce(t *testing.T) {
	_, s := streamServer(t, 10)
	var calls atomic.Int32
	st := s.Query(streamQuery).PageSize(3).Configure(func(q *gocql.Query) *gocql.Query {
		calls.Add(1)
		return q
	}).Stream(context.Background())
	assert.Equal(t, int32(1), calls.Load(), "ran when Stream was called")
	got, err := readInts(st)
	require.NoError(t, err)
	assert.Len(t, got, 10)
	assert.Equal(t, int32(1), calls.Load(), "not again for the pages")

	_, err = readInts(s.Query(streamQuery).Configure(nil).Stream(context.Background()))
	assert.ErrorContains(t, err, "Configure function 1 is nil")
}

// MaxRows holds whether the stream is read by row or by page: the last page
// is cut short.
func TestStreamMaxRowsByRowAndByPage(t *testing.T) {
	_, s := streamServer(t, 20)
	got, err := readInts(s.Query(streamQuery).PageSize(3).Stream(context.Background(), MaxRows(7)))
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, got)

	var lens []int
	var rows []int
	for p, err := range s.Query(streamQuery).PageSize(3).Stream(context.Background(), MaxRows(7)).Pages() {
		require.NoError(t, err)
		lens = append(lens, p.Len())
		ints, err := CollectRows(p, RowTo[int])
		require.NoError(t, err)
		rows = append(rows, ints...)
	}
	assert.Equal(t, []int{3, 3, 1}, lens)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, rows)
}

// A Row kept past its loop iteration gives an error instead of reading
// whatever row the stream has moved to.
func TestStreamRowUsedAfterItsIteration(t *testing.T) {
	_, s := streamServer(t, 5)
	var first Row
	n := 0
	for row, err := range s.Query(streamQuery).PageSize(2).Stream(context.Background()).Rows() {
		require.NoError(t, err)
		if n == 0 {
			first = row
			var v int
			require.NoError(t, first.Scan(&v))
			assert.Equal(t, 0, v)
		} else {
			assert.ErrorIs(t, first.Scan(new(int)), errStaleRow, "iteration %d", n)
			assert.ErrorIs(t, first.MapScan(map[string]any{}), errStaleRow)
			assert.Nil(t, first.Columns())
		}
		n++
	}
	assert.Equal(t, 5, n)
	assert.ErrorIs(t, first.Scan(new(int)), errStaleRow, "after the loop")
	assert.ErrorIs(t, Row{}.Scan(new(int)), errStaleRow)
}

// Stream returns at once even when the pool has no room: the first page is
// then requested when the reader needs it, waiting for room as Execute
// does.
func TestStreamReturnsAtOnceWhenThePoolIsFull(t *testing.T) {
	srv, s := streamServer(t, 6, WithWorkers(1), WithQueue(0))
	hold := make(chan struct{})
	srv.DelayPage(streamQuery, 1, hold)
	first := s.Query(streamQuery).PageSize(3).Stream(context.Background())
	defer first.Close()
	require.Eventually(t, func() bool { return srv.Requests(streamQuery) == 1 }, 10*time.Second, time.Millisecond)
	require.Equal(t, 1, s.Stats().BusyWorkers)

	// The pool is full: Stream must not wait for room (the test would
	// hang here if it did, since nothing releases the page yet).
	second := s.Query(streamQuery).PageSize(3).Stream(context.Background())
	defer second.Close()
	assert.Zero(t, s.Stats().WaitingSubmitters)

	close(hold)
	got, err := readInts(second)
	require.NoError(t, err)
	assert.Len(t, got, 6)
	got, err = readInts(first)
	require.NoError(t, err)
	assert.Len(t, got, 6)
}
