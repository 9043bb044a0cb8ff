package cassandra

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cancelContexts are the contexts a query may be started with: one that
// never ends, one that can be cancelled, and one with a deadline.
var cancelContexts = []struct {
	name string
	ctx  func(t *testing.T) context.Context
}{
	{"background", func(*testing.T) context.Context { return context.Background() }},
	{"cancellable", func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return ctx
	}},
	{"deadline", func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		t.Cleanup(cancel)
		return ctx
	}},
}

// placeFree waits until the session's only worker is free again. The pool
// gives no signal for that when a cancelled future has already completed,
// so this polls.
func placeFree(t *testing.T, s *AsyncSession) {
	t.Helper()
	require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond,
		"the cancelled query's place came back although the server never answered")
}

// One rule, whatever the timing: Cancel completes the future at once with
// an error matching context.Canceled, the query (held by the server, which
// never answers it) is stopped, and its place comes back. Await before
// Cancel, Await after Cancel, and Await from the goroutine that started the
// query all see the same.
func TestCancelStopsARunningQuery(t *testing.T) {
	for _, c := range cancelContexts {
		for _, order := range []string{"await then cancel", "cancel then await"} {
			t.Run(c.name+"/"+order, func(t *testing.T) {
				s, srv, _ := sessionServer(t, WithWorkers(1), WithQueue(0), WithQueueFullPolicy(QueueFailFast))
				ctx := c.ctx(t)
				f := s.Execute(ctx, slowQuery)
				running(t, srv, slowQuery, 1)
				errs := make(chan error, 1)
				if order == "await then cancel" {
					awaiting := make(chan struct{})
					go func() {
						close(awaiting)
						_, err := f.Await(ctx)
						errs <- err
					}()
					<-awaiting
					f.Cancel()
				} else {
					f.Cancel()
					_, err := f.Await(ctx)
					errs <- err
				}
				err := <-errs
				assert.ErrorIs(t, err, context.Canceled)
				var qe *QueryError
				require.ErrorAs(t, err, &qe)
				assert.Equal(t, slowQuery, qe.Statement)
				placeFree(t, s)
				fastQueryRuns(t, s, "the only place is free again")
				assert.Equal(t, 1, srv.Requests(slowQuery), "sent once, never retried")
			})
		}
	}
}

// A queued query that is cancelled, or whose context ends, leaves the queue
// without being sent and frees its place.
func TestCancelAndContextEndDropQueuedQueries(t *testing.T) {
	for _, c := range cancelContexts {
		t.Run(c.name, func(t *testing.T) {
			s, srv, release := sessionServer(t, WithWorkers(1), WithQueue(1), WithQueueFullPolicy(QueueFailFast))
			slow := s.Execute(context.Background(), slowQuery)
			running(t, srv, slowQuery, 1)

			queued := s.Execute(c.ctx(t), fastQuery)
			require.Equal(t, 1, s.Stats().QueueDepth)
			queued.Cancel()
			_, err := queued.Await(context.Background())
			assert.ErrorIs(t, err, context.Canceled)

			ctx, cancel := context.WithCancel(context.Background())
			require.Eventually(t, func() bool { return s.Stats().QueueDepth == 0 }, 10*time.Second, time.Millisecond)
			second := s.Execute(ctx, fastQuery)
			require.NoError(t, second.Err(), "the cancelled query's place in the queue is free")
			cancel()
			_, err = second.Await(context.Background())
			assert.ErrorIs(t, err, context.Canceled)
			require.Eventually(t, func() bool { return s.Stats().QueueDepth == 0 }, 10*time.Second, time.Millisecond)

			release()
			_, err = slow.Await(context.Background())
			require.NoError(t, err)
			fastQueryRuns(t, s, "after the slow query")
			assert.Equal(t, 1, srv.Requests(fastQuery), "neither dropped query was sent")
			assert.Equal(t, uint64(2), s.Stats().ExpiredCount)
		})
	}
}

// A query whose context ended after it got a place, before it started, is
// never sent.
func TestCancelledBeforeItStartsIsNeverSent(t *testing.T) {
	s, srv, _ := sessionServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	e := &execution{s: s, stmt: fastQuery, query: s.gs.Query(fastQuery), start: s.now()}
	e.fut.done = make(chan struct{})
	e.ctx, e.stop = ctx, cancel
	e.fut.op = e
	e.fut.Cancel()
	e.Run() // as a worker would, having taken it from the queue
	e.Finish()
	_, err := e.fut.Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, srv.Requests(fastQuery))
}

// ctxObserver keeps the context gocql hands to query observers.
type ctxObserver struct {
	mu   sync.Mutex
	ctxs []context.Context
}

func (o *ctxObserver) ObserveQuery(ctx context.Context, _ gocql.ObservedQuery) {
	o.mu.Lock()
	o.ctxs = append(o.ctxs, ctx)
	o.mu.Unlock()
}

type ctxKey struct{}

// The context a request runs with, which gocql hands to user observers, is
// one of the context package's own, derived from the caller's: it carries
// the caller's values and deadline, keeps its Done channel for ever, ends
// when the request is over, and can be built on without leaking.
func TestQueriesRunWithTheContextPackagesContexts(t *testing.T) {
	obs := &ctxObserver{}
	s, _, _ := sessionServerConfig(t, func(cfg *gocql.ClusterConfig) { cfg.QueryObserver = obs })
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), ctxKey{}, "v"), deadline)
	defer cancel()
	for _, ctx := range []context.Context{parent, context.WithValue(context.Background(), ctxKey{}, "v")} {
		_, err := s.Execute(ctx, fastQuery).Await(ctx)
		require.NoError(t, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Len(t, obs.ctxs, 2)
	for i, ctx := range obs.ctxs {
		assert.Equal(t, "context", reflect.TypeOf(ctx).Elem().PkgPath(), "a %T", ctx)
		assert.Equal(t, "v", ctx.Value(ctxKey{}))
		d, ok := ctx.Deadline()
		assert.Equal(t, i == 0, ok)
		if ok {
			assert.Equal(t, deadline, d)
		}
		done := ctx.Done()
		<-done // ended when the request was over
		assert.ErrorIs(t, ctx.Err(), context.Canceled)
		assert.Equal(t, done, ctx.Done(), "the same channel for ever")
		child, stop := context.WithCancel(ctx)
		<-child.Done()
		stop()
	}
	assert.NoError(t, parent.Err(), "the caller's context is left alone")
}

// Await returns the same *ResultSet to every awaiter. Its metadata may be
// read from any goroutine while one reads the rows; reading the rows from
// several at once is safe too (each row goes to one Next).
func TestResultSetSharedByAwaiters(t *testing.T) {
	_, s := streamServer(t, 250, WithPageSize(100))
	f := s.Execute(context.Background(), streamQuery)
	const awaiters = 4
	got := make(chan *ResultSet, awaiters)
	for range awaiters {
		go func() {
			rs, err := f.Await(context.Background())
			assert.NoError(t, err)
			got <- rs
		}()
	}
	rs := <-got
	require.NotNil(t, rs)
	for range awaiters - 1 {
		assert.Same(t, rs, <-got)
	}
	assert.Equal(t, 250, rs.RowCount())

	var wg sync.WaitGroup
	var mu sync.Mutex
	rows := 0
	for range awaiters {
		wg.Add(2)
		go func() { // metadata, while rows are read
			defer wg.Done()
			for range 100 {
				assert.Equal(t, 250, rs.RowCount())
				assert.Len(t, rs.Columns(), 1)
				assert.Positive(t, rs.Attempts())
				_ = rs.Latency()
				_ = rs.PageState()
			}
		}()
		go func() { // rows, each to whichever Next gets it
			defer wg.Done()
			n := 0
			for rs.Next() {
				n++
			}
			mu.Lock()
			rows += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, 250, rows, "every row read exactly once")
	assert.NoError(t, rs.Err())
}
