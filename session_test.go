package cassandra

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// Session semantics against the in-process CQL server, where a query can be
// held at the server for as long as a test needs: "slow" is a channel here,
// never a sleep.

const (
	slowQuery = "SELECT id FROM ks.slow"
	fastQuery = "SELECT id FROM ks.fast"
)

// sessionServer serves slowQuery (held back until the returned release is
// closed) and fastQuery, and connects a session with opts.
func sessionServer(t *testing.T, opts ...Option) (*AsyncSession, *cqltest.Server, func()) {
	t.Helper()
	return sessionServerConfig(t, nil, opts...)
}

// sessionServerConfig is sessionServer with the driver's configuration
// changed by configure first, if it is not nil.
func sessionServerConfig(t *testing.T, configure func(*gocql.ClusterConfig), opts ...Option) (*AsyncSession, *cqltest.Server, func()) {
	t.Helper()
	srv := cqltest.NewServer(t)
	srv.SetRows(slowQuery, cqltest.Cols("id", cqltest.Int), [][]any{{1}})
	srv.SetRows(fastQuery, cqltest.Cols("id", cqltest.Int), [][]any{{2}})
	hold := make(chan struct{})
	srv.DelayPage(slowQuery, 1, hold)
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }

	cfg := srv.ClusterConfig()
	if configure != nil {
		configure(cfg)
	}
	cluster, err := NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		release()
		require.NoError(t, cluster.Close())
		srv.Close()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	})
	return s, srv, release
}

// fastQueryRuns asserts that fastQuery runs to its one row now: the place
// it needs is free (why says which).
func fastQueryRuns(t *testing.T, s *AsyncSession, why string) {
	t.Helper()
	rs, err := s.Execute(context.Background(), fastQuery).Await(context.Background())
	require.NoError(t, err, why)
	var id int
	require.NoError(t, rs.One(&id))
	assert.Equal(t, 2, id)
}

// running waits until the server has received n requests for stmt.
func running(t *testing.T, srv *cqltest.Server, stmt string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return srv.Requests(stmt) >= n }, 10*time.Second, time.Millisecond)
}

func TestNewAsyncClusterValidates(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	for name, opts := range map[string][]Option{
		"workers":  {WithWorkers(0)},
		"queue":    {WithQueue(-1)},
		"policy":   {WithQueueFullPolicy(QueueFullPolicy(7))},
		"pagesize": {WithPageSize(0)},
		"prefetch": {WithPrefetch(-1)},
		"clock":    {WithClock(nil)},
		"nil":      {nil},
	} {
		_, err := NewAsyncCluster(cfg, opts...)
		assert.Error(t, err, name)
	}
	_, err := NewAsyncCluster(nil)
	assert.Error(t, err)
	_, err = NewAsyncCluster(&gocql.ClusterConfig{})
	assert.Error(t, err, "no hosts")
}

// Connect returns when its context ends, even though gocql's set-up takes
// no context; the late session is closed and Close leaves nothing behind.
func TestConnectHonoursContext(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	cfg := gocql.NewCluster("127.0.0.1")
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	cfg.ConnectTimeout = 500 * time.Millisecond
	cfg.Timeout = 500 * time.Millisecond
	cluster, err := NewAsyncCluster(cfg)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = cluster.Connect(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, cluster.Close(), "waits for the abandoned set-up")
	_, err = cluster.Connect(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
	ln.Close()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
}

func TestDeadlineWhileQueued(t *testing.T) {
	s, srv, release := sessionServer(t, WithWorkers(1))
	slow := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Execute(ctx, fastQuery).Await(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the time spent queued counts against the deadline")
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 0, qe.Attempts)
	assert.Equal(t, uint64(1), s.Stats().ExpiredCount)
	assert.Equal(t, 0, srv.Requests(fastQuery), "a query that expired in the queue is never sent")

	release()
	_, err = slow.Await(context.Background())
	assert.NoError(t, err)
}

func TestDeadlineWhileExecuting(t *testing.T) {
	s, srv, _ := sessionServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Execute(ctx, slowQuery).Await(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, srv.Requests(slowQuery))
	require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond,
		"the worker is freed although the server never answered")
}

func TestCancelRunningQuery(t *testing.T) {
	s, srv, _ := sessionServer(t, WithWorkers(1))
	f := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	f.Cancel()
	_, err := f.Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
	fastQueryRuns(t, s, "the single worker was freed")
}

func TestFailFastWhenFull(t *testing.T) {
	s, srv, release := sessionServer(t, WithWorkers(1), WithQueue(1), WithQueueFullPolicy(QueueFailFast))
	slow := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	queued := s.Execute(context.Background(), fastQuery)
	_, err := s.Execute(context.Background(), fastQuery).Await(context.Background())
	assert.ErrorIs(t, err, ErrOverloaded)
	assert.Equal(t, uint64(1), s.Stats().RejectedCount)
	release()
	_, err = AwaitAll(context.Background(), slow, queued)
	assert.NoError(t, err)
}

func TestWaitWhenFullUntilContextEnds(t *testing.T) {
	s, srv, release := sessionServer(t, WithWorkers(1), WithQueue(0))
	slow := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Execute(ctx, fastQuery).Await(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	release()
	_, err = slow.Await(context.Background())
	assert.NoError(t, err)
}

// Shutdown lets accepted work finish; new work is refused.
func TestShutdownDrains(t *testing.T) {
	s, srv, release := sessionServer(t, WithWorkers(1))
	slow := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	queued := s.Execute(context.Background(), fastQuery)

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// A query with an ended context is refused before it reaches the
	// queue: with ErrClosed once Shutdown has started.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	require.Eventually(t, func() bool { return errors.Is(s.Execute(ended, fastQuery).Err(), ErrClosed) },
		10*time.Second, time.Millisecond)
	_, err := s.Execute(context.Background(), fastQuery).Await(context.Background())
	assert.ErrorIs(t, err, ErrClosed, "new work is refused once Shutdown started")
	release()
	require.NoError(t, <-done)
	_, err = AwaitAll(context.Background(), slow, queued)
	assert.NoError(t, err, "accepted work ran to completion")
}

// Shutdown that runs out of time says so; Close then stops what is left.
func TestShutdownTimeoutThenClose(t *testing.T) {
	s, srv, _ := sessionServer(t, WithWorkers(1))
	slow := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	queued := s.Execute(context.Background(), fastQuery)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
	require.NoError(t, s.Close())
	_, err := queued.Await(context.Background())
	assert.ErrorIs(t, err, ErrClosed, "queued work fails with ErrClosed")
	_, err = slow.Await(context.Background())
	assert.ErrorIs(t, err, ErrClosed, "running work fails promptly, matching ErrClosed")
	assert.Equal(t, 0, srv.Requests(fastQuery))
}

func TestCloseIsIdempotentAndConcurrent(t *testing.T) {
	s, _, _ := sessionServer(t)
	var wg sync.WaitGroup
	futs := make([]*Future[*ResultSet], 100)
	for i := range futs {
		futs[i] = s.Execute(context.Background(), fastQuery)
	}
	for range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); assert.NoError(t, s.Close()) }()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
		}()
	}
	wg.Wait()
	for _, f := range futs {
		select {
		case <-f.Done():
		default:
			t.Fatal("a future was left pending after Close")
		}
		if _, err := f.Await(context.Background()); err != nil {
			assert.ErrorIs(t, err, ErrClosed)
		}
	}
	_, err := s.Execute(context.Background(), fastQuery).Await(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
	_, err = s.Batch(gocql.LoggedBatch).Query("INSERT INTO ks.t (id) VALUES (1)").Execute(context.Background()).Await(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
}

func TestEmptyBatch(t *testing.T) {
	s, _, _ := sessionServer(t)
	_, err := s.Batch(gocql.UnloggedBatch).Execute(context.Background()).Await(context.Background())
	var qe *QueryError
	assert.ErrorAs(t, err, &qe)
}

func TestResultMetadata(t *testing.T) {
	s, _, _ := sessionServer(t, WithClock(func() time.Time { return time.Unix(0, 0) }))
	rs, err := s.Execute(context.Background(), fastQuery).Await(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rs.Attempts())
	assert.NotNil(t, rs.Host())
	assert.Equal(t, time.Duration(0), rs.Latency(), "latency comes from the session's clock")
	assert.Equal(t, 1, rs.RowCount())
	require.Len(t, rs.Columns(), 1)
	assert.Equal(t, "id", rs.Columns()[0].Name)
	assert.False(t, rs.Applied())
	assert.Nil(t, rs.PageState())
	assert.ErrorIs(t, rs.Scan(new(int)), errNoRow, "Scan needs Next first")
	row := map[string]any{}
	require.True(t, rs.Next())
	require.NoError(t, rs.MapScan(row))
	assert.Equal(t, map[string]any{"id": 2}, row)
	assert.False(t, rs.Next())
	assert.NoError(t, rs.Err())
	assert.NoError(t, rs.Close())
}

// A result without columns (a write) has no rows to read, and says so the
// same way an empty SELECT does.
func TestResultWithoutColumns(t *testing.T) {
	s, _, _ := sessionServer(t)
	ctx := context.Background()
	rs, err := s.Execute(ctx, "INSERT INTO ks.t (id) VALUES (1)").Await(ctx)
	require.NoError(t, err)
	assert.Nil(t, rs.Columns())
	assert.Zero(t, rs.RowCount())
	assert.False(t, rs.Applied())
	assert.ErrorIs(t, rs.Scan(new(int)), errNoRow)
	assert.False(t, rs.Next())
	assert.NoError(t, rs.Err())
	assert.ErrorIs(t, rs.Scan(new(int)), errNoRow)
	assert.NoError(t, rs.Close())

	rs, err = s.Execute(ctx, "INSERT INTO ks.t (id) VALUES (2)").Await(ctx)
	require.NoError(t, err)
	assert.ErrorIs(t, rs.One(new(int)), ErrNotFound)
	rows, err := CollectRows(rs, RowTo[int])
	require.NoError(t, err)
	assert.Empty(t, rows)
}

// A panic in a Configure function, which runs on the caller's goroutine
// when Execute is called, completes the future with an error wrapping a
// *PanicError; nothing is submitted.
func TestPanicInConfigureBecomesError(t *testing.T) {
	s, _, _ := sessionServer(t, WithWorkers(1))
	_, err := s.Query(fastQuery).Configure(func(*gocql.Query) *gocql.Query { panic("boom") }).
		Execute(context.Background()).Await(context.Background())
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "TestPanicInConfigureBecomesError")
	assert.Zero(t, s.Stats().SubmitCount)
}

// panicObserver panics inside the driver, on the worker that runs the query.
type panicObserver struct{}

func (panicObserver) ObserveQuery(context.Context, gocql.ObservedQuery) { panic("observer") }

// A panic on a worker completes the future with an error wrapping a
// *PanicError; the worker and the session go on.
func TestPanicOnWorkerBecomesError(t *testing.T) {
	s, _, _ := sessionServer(t, WithWorkers(1))
	_, err := s.Query(fastQuery).Configure(func(q *gocql.Query) *gocql.Query { return q.Observer(panicObserver{}) }).
		Execute(context.Background()).Await(context.Background())
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "observer", pe.Value)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, fastQuery, qe.Statement)
	fastQueryRuns(t, s, "the only worker survived")
}

// Sessions batch the driver's writes unless told not to; either way the
// caller's configuration is left as it was.
func TestWriteBatchingIsTheDefault(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "default", false: "off"}[on], func(t *testing.T) {
			var opts []Option
			if !on {
				opts = append(opts, WithWriteBatching(false))
			}
			var cfg *gocql.ClusterConfig
			s, _, _ := sessionServerConfig(t, func(c *gocql.ClusterConfig) { cfg = c }, opts...)
			fastQueryRuns(t, s, "a query through the session's connections")
			assert.Nil(t, cfg.HostDialer, "the caller's configuration is left alone")
			if !on {
				assert.Nil(t, s.wire)
				return
			}
			require.NotNil(t, s.wire)
			assert.Positive(t, s.wire.Stats().FrameCount, "frames went through the batching writer")
		})
	}
}
