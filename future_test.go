package cassandra

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// futureLeakCheck fails t if it leaves goroutines behind.
func futureLeakCheck(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// pending returns a pending future. cancel, if not nil, cancels the
// operation's context; Cancel calls it after completing the future, as the
// session's futures do.
func pending[T any](cancel context.CancelFunc) *Future[T] {
	f := newFuture[T]()
	if cancel != nil {
		f.op = cancelFunc[T]{f, cancel}
	}
	return f
}

// cancelFunc completes f with context.Canceled, then calls cancel.
type cancelFunc[T any] struct {
	f    *Future[T]
	stop context.CancelFunc
}

func (c cancelFunc[T]) cancel() {
	var zero T
	c.f.complete(zero, context.Canceled)
	c.stop()
}

// funcTask runs a function on the pool and completes a future with its
// result, the way the session's executions do.
type funcTask[T any] struct {
	f      *Future[T]
	ctx    context.Context
	cancel context.CancelFunc
	fn     func(context.Context) (T, error)
	v      T
	err    error
}

func (t *funcTask[T]) Run() {
	defer func() {
		if v := recover(); v != nil {
			t.err = newPanicError(v)
		}
	}()
	t.v, t.err = t.fn(t.ctx)
}

func (t *funcTask[T]) Finish() { t.f.complete(t.v, t.err); t.cancel() }

func (t *funcTask[T]) Drop(err error) {
	var zero T
	t.f.complete(zero, poolErr(err))
	t.cancel()
}

// submitFuture runs fn on p and returns its future.
func submitFuture[T any](ctx context.Context, p *pool.Pool, fn func(context.Context) (T, error)) *Future[T] {
	ctx, cancel := context.WithCancel(ctx)
	f := pending[T](cancel)
	if err := p.Submit(ctx, &funcTask[T]{f: f, ctx: ctx, cancel: cancel, fn: fn}); err != nil {
		cancel()
		var zero T
		return completedFuture(zero, poolErr(err))
	}
	return f
}

func TestFutureCompletesExactlyOnceUnderRace(t *testing.T) {
	futureLeakCheck(t)
	for range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		f := pending[int](cancel)
		var wins atomic.Int32
		winner := make(chan int, 1)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				if f.complete(i+1, nil) {
					wins.Add(1)
					winner <- i + 1
				}
			}()
			go func() { defer wg.Done(); <-start; f.Cancel() }()
		}
		results := make(chan int, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, _ := f.Await(context.Background())
				results <- v
			}()
		}
		close(start)
		wg.Wait()
		close(results)

		v, ok, err := f.TryResult()
		require.True(t, ok)
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "Cancel always cancels the operation's context")
		switch wins.Load() {
		case 0:
			assert.ErrorIs(t, err, context.Canceled)
			assert.Zero(t, v)
		case 1:
			assert.NoError(t, err)
			assert.Equal(t, <-winner, v)
		default:
			t.Fatalf("%d complete calls won", wins.Load())
		}
		for got := range results {
			assert.Equal(t, v, got, "every awaiter sees the same result")
		}
	}
}

func TestFutureAwaitContextEndsFirst(t *testing.T) {
	futureLeakCheck(t)
	f := pending[string](nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	v, err := f.Await(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Empty(t, v)
	_, ok, _ := f.TryResult()
	assert.False(t, ok, "Await's ctx does not complete the future")

	require.True(t, f.complete("late", nil))
	v, err = f.Await(ctx) // ctx is done, but the result is there
	assert.NoError(t, err)
	assert.Equal(t, "late", v)
}

func TestFutureManyAwaitersGetSameResult(t *testing.T) {
	futureLeakCheck(t)
	f := pending[*int](nil)
	want := new(int)
	wantErr := errors.New("partial")
	const n = 64
	type result struct {
		v   *int
		err error
	}
	got := make(chan result, n)
	for range n {
		go func() {
			v, err := f.Await(context.Background())
			got <- result{v, err}
		}()
	}
	f.complete(want, wantErr)
	assert.False(t, f.complete(new(int), nil), "second completion loses")
	for range n {
		r := <-got
		assert.Same(t, want, r.v)
		assert.Same(t, wantErr, r.err)
	}
}

func TestFutureTryResultAndDone(t *testing.T) {
	futureLeakCheck(t)
	f := pending[int](nil)
	v, ok, err := f.TryResult()
	assert.False(t, ok)
	assert.Zero(t, v)
	assert.NoError(t, err)
	assert.NoError(t, f.Err())
	select {
	case <-f.Done():
		t.Fatal("Done closed before completion")
	default:
	}

	boom := errors.New("boom")
	f.complete(7, boom)
	<-f.Done()
	v, ok, err = f.TryResult()
	assert.True(t, ok)
	assert.Equal(t, 7, v)
	assert.Same(t, boom, err)
	assert.Same(t, boom, f.Err())

	c := completedFuture(3, nil)
	v, ok, err = c.TryResult()
	assert.True(t, ok)
	assert.Equal(t, 3, v)
	assert.NoError(t, err)
}

func TestFutureCancel(t *testing.T) {
	futureLeakCheck(t)
	ctx, cancel := context.WithCancel(context.Background())
	f := pending[int](cancel)
	f.Cancel()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	_, err := f.Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, f.complete(1, nil))
	f.Cancel() // idempotent

	g := completedFuture(5, nil)
	g.Cancel() // no effect on a completed future
	v, err := g.Await(context.Background())
	assert.Equal(t, 5, v)
	assert.NoError(t, err)
}

func TestPanicError(t *testing.T) {
	sentinel := errors.New("sentinel")
	var pe *PanicError
	func() {
		defer func() { pe = newPanicError(recover()) }()
		panic(sentinel)
	}()
	assert.Equal(t, sentinel, pe.Value)
	assert.ErrorIs(t, pe, sentinel)
	assert.Equal(t, "cassandra: panic in task: sentinel", pe.Error())
	assert.Contains(t, string(pe.Stack), "TestPanicError", "the stack shows where the panic happened")
	assert.NoError(t, newPanicError("text").Unwrap(), "a non-error value unwraps to nothing")
}

func TestAwaitAllOrderAndFirstError(t *testing.T) {
	futureLeakCheck(t)
	futs := make([]*Future[int], 5)
	for i := range futs {
		futs[i] = pending[int](nil)
	}
	err1, err3 := errors.New("one"), errors.New("three")
	go func() {
		// Complete in reverse order; index 3 fails before index 1.
		for i := len(futs) - 1; i >= 0; i-- {
			switch i {
			case 1:
				futs[i].complete(0, err1)
			case 3:
				futs[i].complete(0, err3)
			default:
				futs[i].complete(i*10, nil)
			}
		}
	}()
	got, err := AwaitAll(context.Background(), futs...)
	assert.Same(t, err1, err, "first error in argument order")
	assert.Equal(t, []int{0, 0, 20, 0, 40}, got)

	ok := []*Future[string]{completedFuture("a", nil), completedFuture("b", nil)}
	strs, err := AwaitAll(context.Background(), ok...)
	assert.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, strs)

	none, err := AwaitAll[int](context.Background())
	assert.NoError(t, err)
	assert.Empty(t, none)
}

func TestAwaitAllContextEnds(t *testing.T) {
	futureLeakCheck(t)
	ctx, cancel := context.WithCancel(context.Background())
	pending := pending[int](nil)
	res := make(chan error, 1)
	go func() {
		got, err := AwaitAll(ctx, completedFuture(1, nil), pending)
		assert.Nil(t, got)
		res <- err
	}()
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)
}

func TestAwaitAny(t *testing.T) {
	futureLeakCheck(t)
	_, _, err := AwaitAny[int](context.Background())
	assert.Error(t, err)

	// Already complete: lowest index wins.
	i, v, err := AwaitAny(context.Background(), pending[int](nil), completedFuture(2, nil), completedFuture(3, nil))
	assert.Equal(t, 1, i)
	assert.Equal(t, 2, v)
	assert.NoError(t, err)

	futs := []*Future[int]{pending[int](nil), pending[int](nil), pending[int](nil)}
	boom := errors.New("boom")
	go futs[2].complete(9, boom)
	i, v, err = AwaitAny(context.Background(), futs...)
	assert.Equal(t, 2, i)
	assert.Equal(t, 9, v)
	assert.Same(t, boom, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	i, _, err = AwaitAny(ctx, futs[0], futs[1])
	assert.Equal(t, -1, i)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestFutureCancelWhileQueuedInPool(t *testing.T) {
	futureLeakCheck(t)
	p, err := pool.New(pool.Config{Workers: 1, Queue: 1, Policy: pool.FailFast})
	require.NoError(t, err)
	defer func() { p.Close(); p.Wait() }()

	release := make(chan struct{})
	started := make(chan struct{})
	blocker := submitFuture(context.Background(), p, func(context.Context) (int, error) {
		close(started)
		<-release
		return 1, nil
	})
	<-started
	queued := submitFuture(context.Background(), p, func(context.Context) (int, error) {
		t.Error("cancelled future ran")
		return 0, nil
	})
	full := submitFuture(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
	assert.ErrorIs(t, full.Err(), ErrOverloaded)

	queued.Cancel()
	_, err = queued.Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
	require.Eventually(t, func() bool { return p.Stats().Queued == 0 }, 5*time.Second, time.Millisecond)

	close(release)
	v, err := blocker.Await(context.Background())
	assert.Equal(t, 1, v)
	assert.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(1), p.Stats().Expired)
}

func TestTenThousandFuturesThroughPool(t *testing.T) {
	futureLeakCheck(t)
	p, err := pool.New(pool.Config{Workers: 8, Queue: 128, Policy: pool.Wait})
	require.NoError(t, err)
	defer func() { p.Close(); p.Wait() }()

	const n = 10_000
	futs := make([]*Future[int], n)
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 10 {
				futs[i] = submitFuture(context.Background(), p, func(context.Context) (int, error) { return i, nil })
			}
		}()
	}
	wg.Wait()
	got, err := AwaitAll(context.Background(), futs...)
	require.NoError(t, err)
	for i, v := range got {
		if v != i {
			t.Fatalf("future %d returned %d", i, v)
		}
	}
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	assert.Equal(t, uint64(n), s.Submitted)
	assert.Equal(t, uint64(n), s.Completed)
	assert.Zero(t, s.Expired+s.Dropped+s.Rejected)
}
