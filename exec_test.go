package cassandra

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// The execution is the one allocation a write adds to raw gocql's, and its
// size class is what the collector sees: 256 bytes is a class, the next is
// 288. Growing it is a measured cost (docs/performance.md), so it is a
// decision, not an accident. Sizes are those of a 64-bit platform.
func TestExecutionSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are checked on 64-bit platforms")
	}
	assert.LessOrEqual(t, unsafe.Sizeof(execution{}), uintptr(256), "execution")
	assert.LessOrEqual(t, unsafe.Sizeof(pool.Task{}), uintptr(56), "pool.Task")
}

// oneProc runs the rest of the test with GOMAXPROCS 1, so that the worker
// woken by Execute cannot start the query before Await is called.
func oneProc(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// Await with the context the query was started with runs the query on the
// awaiting goroutine when no worker has started it.
func TestAwaitRunsTheQueryItself(t *testing.T) {
	s, _, _ := sessionServer(t)
	oneProc(t)
	deadline, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, ctx := range []context.Context{context.Background(), deadline} {
		rs, err := s.Execute(ctx, fastQuery).Await(ctx)
		require.NoError(t, err)
		var id int
		require.NoError(t, rs.One(&id))
		assert.Equal(t, 2, id)
		st := s.Stats()
		assert.Equal(t, uint64(i+1), st.HelpedCount)
		assert.Equal(t, uint64(i+1), st.CompletedCount)
		assert.Zero(t, st.BusyWorkers)
	}
}

// stackObserver records the functions on the stack of the goroutine that
// runs a query, from inside the driver.
type stackObserver struct{ funcs []string }

func (o *stackObserver) ObserveQuery(context.Context, gocql.ObservedQuery) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	for {
		f, more := frames.Next()
		o.funcs = append(o.funcs, f.Function)
		if !more {
			return
		}
	}
}

// A query run by its awaiter waits for the server under as few of the
// library's frames as it can (Await, runHere, Run): every garbage
// collection walks each frame of each waiting goroutine.
func TestAwaitRunsTheQueryUnderThreeFrames(t *testing.T) {
	s, _, _ := sessionServer(t)
	oneProc(t)
	obs := &stackObserver{}
	q := s.Query(fastQuery).Configure(func(q *gocql.Query) *gocql.Query { return q.Observer(obs) })
	_, err := q.Execute(context.Background()).Await(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(1), s.Stats().HelpedCount, "the awaiter ran the query")

	// The library's frames from the observer (called by the driver) down
	// to Await, which the test called.
	var ours []string
	for _, f := range obs.funcs {
		if name, ok := strings.CutPrefix(f, "github.com/async-cassandra/cassandra."); ok {
			ours = append(ours, name)
			if strings.HasSuffix(name, ".Await") {
				break
			}
		}
	}
	assert.Equal(t, []string{"(*stackObserver).ObserveQuery", "(*execution).run", "(*execution).runHere", "(*Future[...]).Await"}, ours, "%q", obs.funcs)
}

// An awaiter whose context may end before the query's must stay free to
// stop waiting, so it never runs the query itself.
func TestAwaitWithAShorterContextOnlyWaits(t *testing.T) {
	s, srv, release := sessionServer(t)
	oneProc(t)
	f := s.Execute(context.Background(), slowQuery)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.Await(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Await returned when its own context ended")
	running(t, srv, slowQuery, 1)
	release()
	_, err = f.Await(context.Background())
	require.NoError(t, err)
	assert.Zero(t, s.Stats().HelpedCount)
}

// A query that its awaiter runs is bound to the context it was started
// with, as a raw driver call is: Cancel from another goroutine completes
// the future at once, and the query keeps its place until that context
// ends or the server answers. Its awaiter then gets the result Cancel gave.
func TestCancelLeavesAQueryRunByItsAwaiterToItsContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end ends the query: cancels its context, or lets the server answer.
		end func(cancel context.CancelFunc, release func())
		ctx func() (context.Context, context.CancelFunc)
	}{
		{"cancellable", func(cancel context.CancelFunc, _ func()) { cancel() },
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"background", func(_ context.CancelFunc, release func()) { release() },
			func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv, release := sessionServer(t, WithWorkers(1))
			oneProc(t)
			ctx, cancel := tc.ctx()
			defer cancel()
			futs := make(chan *Future[*ResultSet], 1)
			errs := make(chan error, 1)
			go func() {
				f := s.Execute(ctx, slowQuery)
				futs <- f
				_, err := f.Await(ctx)
				errs <- err
			}()
			f := <-futs
			running(t, srv, slowQuery, 1)
			f.Cancel()
			_, err := f.Await(context.Background())
			assert.ErrorIs(t, err, context.Canceled, "other awaiters see Cancel at once")
			// Nothing signals that something did not happen: give the
			// awaiter time to return wrongly. It never may before end.
			select {
			case err := <-errs:
				t.Fatalf("the awaiter returned (%v) before the query's context ended or the server answered", err)
			case <-time.After(100 * time.Millisecond):
			}
			assert.Equal(t, 1, s.Stats().BusyWorkers, "the query still holds its place")

			tc.end(cancel, release)
			assert.ErrorIs(t, <-errs, context.Canceled, "the awaiter gets the result Cancel gave")
			st := s.Stats()
			assert.Zero(t, st.BusyWorkers, "the place was given back when the query ended")
			assert.Equal(t, uint64(1), st.HelpedCount, "the awaiter ran the query")
			fastQueryRuns(t, s, "the only place is free")
		})
	}
}

// A query that its awaiter runs with a context that never ends, cancelled
// from another goroutine while the server never answers, is ended by the
// driver's timeout: the awaiter is not held for ever, and the place is
// given back.
func TestCancelledQueryRunByItsAwaiterEndsAtTheDriversTimeout(t *testing.T) {
	s, srv, _ := sessionServerConfig(t, func(cfg *gocql.ClusterConfig) { cfg.Timeout = 100 * time.Millisecond }, WithWorkers(1))
	oneProc(t)
	futs := make(chan *Future[*ResultSet], 1)
	errs := make(chan error, 1)
	go func() {
		f := s.Execute(context.Background(), slowQuery)
		futs <- f
		_, err := f.Await(context.Background())
		errs <- err
	}()
	f := <-futs
	running(t, srv, slowQuery, 1)
	f.Cancel()
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, context.Canceled, "the awaiter gets the result Cancel gave")
	case <-time.After(10 * time.Second): // a bound on failing, not a timing assertion
		t.Fatal("the awaiter was still held long after the driver's timeout")
	}
	st := s.Stats()
	assert.Zero(t, st.BusyWorkers, "the place was given back")
	assert.Equal(t, uint64(1), st.HelpedCount, "the awaiter ran the query")
}

// cancelCases are the ways a request run by a worker gets its context: its
// own execCtx (a context that never ends, a statement that is not
// idempotent), or a cancellable child of the caller's context (a context
// that can end, or an idempotent statement, which gocql may execute
// speculatively).
var cancelCases = []struct {
	name  string
	ctx   func(t *testing.T) context.Context
	build func(s *AsyncSession, stmt string) *Query
}{
	{"background", func(*testing.T) context.Context { return context.Background() },
		func(s *AsyncSession, stmt string) *Query { return s.Query(stmt) }},
	{"cancellable", func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return ctx
	}, func(s *AsyncSession, stmt string) *Query { return s.Query(stmt) }},
	{"background idempotent", func(*testing.T) context.Context { return context.Background() },
		func(s *AsyncSession, stmt string) *Query { return s.Query(stmt).Idempotent(true) }},
}

func TestCancelRunningAndQueuedQueries(t *testing.T) {
	for _, tc := range cancelCases {
		t.Run(tc.name, func(t *testing.T) {
			s, srv, release := sessionServer(t, WithWorkers(1))
			ctx := tc.ctx(t)
			slow := tc.build(s, slowQuery).Execute(ctx)
			running(t, srv, slowQuery, 1)
			queued := tc.build(s, fastQuery).Execute(ctx)
			require.Equal(t, 1, s.Stats().QueueDepth)

			queued.Cancel()
			_, err := queued.Await(context.Background())
			assert.ErrorIs(t, err, context.Canceled)
			st := s.Stats()
			assert.Zero(t, st.QueueDepth, "a cancelled query leaves the queue at once")
			assert.Equal(t, uint64(1), st.CanceledCount)

			slow.Cancel()
			_, err = slow.Await(context.Background())
			assert.ErrorIs(t, err, context.Canceled)
			require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond,
				"a cancelled running query frees its worker although the server never answered")

			release()
			rs, err := tc.build(s, fastQuery).Execute(ctx).Await(ctx)
			require.NoError(t, err)
			var id int
			require.NoError(t, rs.One(&id))
			assert.Equal(t, 2, id)
			assert.Equal(t, 1, srv.Requests(fastQuery), "the cancelled queued query was never sent")
		})
	}
}

// A query that Cancel catches after it was given a place, before anyone
// started it, is never sent, whatever context it runs with.
func TestCancelledBeforeItStartsIsNeverSent(t *testing.T) {
	for _, tc := range cancelCases {
		t.Run(tc.name, func(t *testing.T) {
			s, srv, _ := sessionServer(t, WithWorkers(1))
			oneProc(t) // the worker Execute calls cannot start before Cancel
			f := tc.build(s, fastQuery).Execute(tc.ctx(t))
			f.Cancel()
			_, err := f.Await(context.Background())
			assert.ErrorIs(t, err, context.Canceled)
			require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond)
			assert.Zero(t, srv.Requests(fastQuery))
		})
	}
}

type ctxKey struct{}

// submittedExecution returns an execution whose task was submitted with
// ctx, as execCtx finds it while the request runs. Its handler does nothing.
func submittedExecution(t *testing.T, ctx context.Context) *execution {
	p, err := pool.New(pool.Config{Workers: 1})
	require.NoError(t, err)
	defer p.Close()
	e := new(execution)
	require.NoError(t, p.SubmitTask(ctx, &e.task, nopHandler{}))
	require.NoError(t, p.Shutdown(context.Background()))
	return e
}

type nopHandler struct{}

func (nopHandler) Run(context.Context) {}
func (nopHandler) Finish()             {}
func (nopHandler) Drop(error)          {}

func TestExecCtx(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	e := submittedExecution(t, parent)
	ctx := context.Context(execCtx{e})
	assert.Equal(t, "v", ctx.Value(ctxKey{}), "values come from the context submitted with")
	_, ok := ctx.Deadline()
	assert.False(t, ok)
	assert.NoError(t, ctx.Err())
	done := ctx.Done()
	assert.Equal(t, done, ctx.Done(), "the driver gets one channel")
	select {
	case <-done:
		t.Fatal("done before Cancel")
	default:
	}

	// What Future.Cancel does for a running request.
	e.fut.complete(nil, context.Canceled)
	e.interrupt()
	<-done
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
	e.ended() // the request returns: the closed channel is not given back
	e.interrupt()
}

// A request that ends without Cancel gives its Done channel back open, and
// a Cancel after that leaves the channel alone (another request may have it).
func TestExecCtxGivesItsChannelBack(t *testing.T) {
	e := &execution{}
	done := execCtx{e}.Done()
	e.ended()
	e.fut.complete(nil, nil)
	e.interrupt()
	select {
	case <-done:
		t.Fatal("a channel given back was closed")
	default:
	}
}

// Cancel before the driver asks for Done: Done is closed from the start.
func TestExecCtxCancelledBeforeDone(t *testing.T) {
	e := &execution{}
	e.fut.complete(nil, context.Canceled)
	e.interrupt()
	ctx := execCtx{e}
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	e.ended()
}

// Cancel racing with the end of the request never closes a channel that
// went back to signals, which would end the next request that takes it,
// and never closes one twice.
func TestExecCtxCancelRacingTheEnd(t *testing.T) {
	for range 2000 {
		e := &execution{}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-execCtx{e}.Done() // gocql waits on it, or not at all
		}()
		go func() {
			defer wg.Done()
			e.fut.complete(nil, context.Canceled)
			e.interrupt()
		}()
		wg.Wait()
		e.ended()
	}
	for range 2000 {
		e := &execution{}
		var wg sync.WaitGroup
		wg.Add(1)
		done := execCtx{e}.Done()
		go func() {
			defer wg.Done()
			e.fut.complete(nil, context.Canceled)
			e.interrupt()
		}()
		e.ended()
		wg.Wait()
		_ = done
	}
	for range 100 {
		ch := signals.Get().(chan struct{})
		select {
		case <-ch:
			t.Fatal("a closed channel was given back")
		default:
		}
	}
}
