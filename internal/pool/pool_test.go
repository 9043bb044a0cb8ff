package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// probe records what the pool did with one task.
type probe struct {
	started chan struct{} // closed when run starts
	release chan struct{} // run blocks until this is closed (nil: returns at once)
	ran     chan struct{} // closed when run returns
	dropped chan error    // receives drop's error
	runs    atomic.Int32
	drops   atomic.Int32
}

func newProbe(block bool) *probe {
	pr := &probe{started: make(chan struct{}), ran: make(chan struct{}), dropped: make(chan error, 1)}
	if block {
		pr.release = make(chan struct{})
	}
	return pr
}

func (pr *probe) run(context.Context) {
	pr.runs.Add(1)
	close(pr.started)
	if pr.release != nil {
		<-pr.release
	}
	close(pr.ran)
}

func (pr *probe) drop(err error) {
	pr.drops.Add(1)
	pr.dropped <- err
}

func (pr *probe) submit(p *Pool, ctx context.Context) error { return p.Submit(ctx, pr.run, pr.drop) }

// occupy submits a task that blocks its worker until released, and waits until it runs.
func occupy(t *testing.T, p *Pool) *probe {
	t.Helper()
	pr := newProbe(true)
	require.NoError(t, pr.submit(p, context.Background()))
	<-pr.started
	return pr
}

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []Config{{Workers: 0}, {Workers: -1}, {Workers: 1, Queue: -1}, {Workers: 1, Policy: 7}, {Workers: MaxTasks + 1}, {Workers: 2, Queue: MaxTasks - 1}} {
		p, err := New(cfg)
		assert.Error(t, err, "%+v", cfg)
		assert.Nil(t, p)
	}
	p := newPool(t, Config{Workers: 3, Queue: 5, Policy: FailFast})
	s := p.Stats()
	assert.Equal(t, 3, s.Workers)
	assert.Equal(t, 5, s.QueueCapacity)
	assert.Equal(t, "fail-fast", FailFast.String())
	assert.Equal(t, "wait", Wait.String())
}

func TestSubmitNilFunctions(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	assert.Error(t, p.Submit(context.Background(), nil, func(error) {}))
	assert.Error(t, p.Submit(context.Background(), func(context.Context) {}, nil))
}

func TestRunReceivesSubmittersContext(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	got := make(chan any, 1)
	require.NoError(t, p.Submit(ctx, func(ctx context.Context) { got <- ctx.Value(key{}) }, func(error) { t.Error("dropped") }))
	assert.Equal(t, "v", <-got)
}

func TestSubmitWithDoneContextFailsEvenWhenIdle(t *testing.T) {
	p := newPool(t, Config{Workers: 4, Queue: 4})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr := newProbe(false)
	assert.ErrorIs(t, pr.submit(p, ctx), context.Canceled)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, pr.runs.Load())
	assert.Zero(t, pr.drops.Load())
	s := p.Stats()
	assert.Zero(t, s.SubmitCount)
	assert.Equal(t, uint64(1), s.CanceledSubmitCount)
}

func TestQueuedTaskWhoseContextEndsLeavesQueueAtOnce(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: FailFast})
	a := occupy(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	b := newProbe(false)
	require.NoError(t, b.submit(p, ctx))
	assert.Equal(t, 1, p.Stats().QueueDepth)
	c := newProbe(false)
	require.ErrorIs(t, c.submit(p, context.Background()), ErrOverloaded, "queue should be full")

	cancel()
	assert.ErrorIs(t, <-b.dropped, context.Canceled)
	// The worker is still blocked in a, yet b's place is already free.
	require.NoError(t, c.submit(p, context.Background()))
	s := p.Stats()
	assert.Equal(t, 1, s.QueueDepth)
	assert.Equal(t, 1, s.BusyWorkers)
	assert.Equal(t, uint64(1), s.CanceledCount)

	close(a.release)
	<-c.ran
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, b.runs.Load())
	assert.Equal(t, int32(1), b.drops.Load())
	s = p.Stats()
	assert.Equal(t, uint64(3), s.SubmitCount)
	assert.Equal(t, uint64(2), s.CompletedCount)
	assert.Equal(t, uint64(1), s.RejectedCount)
}

func TestQueuedTaskWithDeadline(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	a := occupy(t, p)
	defer close(a.release)
	// The deadline must not pass before Submit, which would refuse the
	// task; on a loaded machine a millisecond can, so lengthen it if so.
	b := newProbe(false)
	for timeout := time.Millisecond; ; timeout *= 4 {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err := b.submit(p, ctx)
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, timeout, time.Second)
	}
	assert.ErrorIs(t, <-b.dropped, context.DeadlineExceeded)
	assert.Zero(t, p.Stats().QueueDepth)
}

func TestRunningTaskSeesItsContextEnd(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	got := make(chan error, 1)
	require.NoError(t, p.Submit(ctx, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		got <- ctx.Err()
	}, func(error) { t.Error("dropped") }))
	<-started
	cancel()
	assert.ErrorIs(t, <-got, context.Canceled)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(1), p.Stats().CompletedCount)
}

// lateCtx reports an error without ever signalling Done, so only the
// worker's check at pick-up can notice it.
type lateCtx struct {
	context.Context
	err atomic.Pointer[error]
}

func (c *lateCtx) Done() <-chan struct{} { return nil }
func (c *lateCtx) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func TestTaskWhoseContextEndedIsDroppedAtPickup(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	a := occupy(t, p)
	ctx := &lateCtx{Context: context.Background()}
	b := newProbe(false)
	require.NoError(t, b.submit(p, ctx))
	err := context.DeadlineExceeded
	ctx.err.Store(&err)
	close(a.release)
	assert.ErrorIs(t, <-b.dropped, context.DeadlineExceeded)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, b.runs.Load())
	assert.Equal(t, uint64(1), p.Stats().CanceledCount)
}

func TestFailFastWithoutQueue(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: FailFast})
	a := occupy(t, p)
	b := newProbe(false)
	assert.ErrorIs(t, b.submit(p, context.Background()), ErrOverloaded)
	assert.ErrorIs(t, b.submit(p, context.Background()), ErrOverloaded)
	assert.Equal(t, uint64(2), p.Stats().RejectedCount)
	close(a.release)
	<-a.ran
	// Room again once the worker is idle.
	require.Eventually(t, func() bool { return p.Stats().BusyWorkers == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, b.submit(p, context.Background()))
	<-b.ran
}

// waitFor polls the pool until cond holds: used only where the pool offers no
// signal (a submitter parked inside Submit).
func waitFor(t *testing.T, p *Pool, cond func(Stats) bool) {
	t.Helper()
	require.Eventually(t, func() bool { return cond(p.Stats()) }, 5*time.Second, 100*time.Microsecond)
}

func TestWaitPolicyBlocksUntilRoom(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: Wait})
	a := occupy(t, p)
	b := newProbe(true)
	require.NoError(t, b.submit(p, context.Background()))

	c := newProbe(false)
	res := make(chan error, 1)
	go func() { res <- c.submit(p, context.Background()) }()
	waitFor(t, p, func(s Stats) bool { return s.WaitingSubmitters == 1 })
	select {
	case err := <-res:
		t.Fatalf("Submit returned %v while the queue was full", err)
	default:
	}

	close(a.release) // a ends, b runs, c takes b's place in the queue
	require.NoError(t, <-res)
	<-b.started
	s := p.Stats()
	assert.Equal(t, 1, s.QueueDepth)
	assert.Zero(t, s.WaitingSubmitters)
	close(b.release)
	<-c.ran
}

func TestWaitPolicyReturnsContextErrorAndLeavesPoolUnchanged(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: Wait})
	a := occupy(t, p)
	b := newProbe(false)
	require.NoError(t, b.submit(p, context.Background()))
	before := p.Stats()

	ctx, cancel := context.WithCancel(context.Background())
	c := newProbe(false)
	res := make(chan error, 1)
	go func() { res <- c.submit(p, ctx) }()
	waitFor(t, p, func(s Stats) bool { return s.WaitingSubmitters == 1 })
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)

	after := p.Stats()
	assert.Equal(t, before.QueueDepth, after.QueueDepth)
	assert.Equal(t, before.SubmitCount, after.SubmitCount)
	assert.Zero(t, after.WaitingSubmitters)
	assert.Equal(t, uint64(1), after.CanceledSubmitCount)

	close(a.release)
	<-b.ran
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, c.runs.Load()+c.drops.Load())
}

func TestWaitPolicyIsFIFO(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: Wait})
	a := occupy(t, p)
	order := make(chan int, 3)
	var wg sync.WaitGroup
	releases := make([]*probe, 3)
	for i := range 3 {
		releases[i] = newProbe(true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) {
				order <- i
				<-releases[i].release
			}, func(error) { t.Error("dropped") }))
		}()
		waitFor(t, p, func(s Stats) bool { return s.WaitingSubmitters == i+1 })
	}
	close(a.release)
	for want := range 3 {
		got := <-order
		assert.Equal(t, want, got)
		close(releases[got].release)
	}
	wg.Wait()
}

func TestShutdownDrainsQueuedAndRunningWork(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 2})
	a := occupy(t, p)
	b, c := newProbe(false), newProbe(false)
	require.NoError(t, b.submit(p, context.Background()))
	require.NoError(t, c.submit(p, context.Background()))

	// A Shutdown whose ctx is already done starts shutting down and returns.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, p.Shutdown(ended), context.Canceled)
	assert.ErrorIs(t, newProbe(false).submit(p, context.Background()), ErrClosed)
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	select {
	case <-done:
		t.Fatal("Shutdown returned while a task was running")
	default:
	}
	close(a.release)
	require.NoError(t, <-done)
	<-b.ran
	<-c.ran
	s := p.Stats()
	assert.Equal(t, uint64(3), s.CompletedCount)
	assert.Zero(t, s.DroppedCount)
	assert.NoError(t, p.Shutdown(context.Background()), "idempotent")
	assert.NoError(t, p.Close())
}

func TestCloseDropsQueuedAtOnceAndWaitsForRunning(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 2})
	a := occupy(t, p)
	b, c := newProbe(false), newProbe(false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, b.submit(p, ctx))
	require.NoError(t, c.submit(p, context.Background()))

	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	// Dropped while a still holds the only worker.
	assert.ErrorIs(t, <-b.dropped, ErrClosed)
	assert.ErrorIs(t, <-c.dropped, ErrClosed)
	select {
	case <-done:
		t.Fatal("Close returned while a task was running")
	default:
	}
	assert.ErrorIs(t, newProbe(false).submit(p, context.Background()), ErrClosed)
	close(a.release)
	require.NoError(t, <-done)
	cancel() // must not drop b a second time
	assert.NoError(t, p.Close(), "idempotent")
	assert.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, int32(1), b.drops.Load())
	assert.Zero(t, b.runs.Load()+c.runs.Load())
	s := p.Stats()
	assert.Equal(t, uint64(2), s.DroppedCount)
	assert.Equal(t, uint64(1), s.CompletedCount)
	assert.Equal(t, uint64(3), s.SubmitCount)
}

func TestShutdownTimeoutThenClose(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	a := occupy(t, p)
	b := newProbe(false)
	require.NoError(t, b.submit(p, context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- p.Shutdown(ctx) }()
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)

	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	assert.ErrorIs(t, <-b.dropped, ErrClosed)
	close(a.release)
	require.NoError(t, <-done)
}

func TestCloseWakesWaitingSubmitters(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: Wait})
	a := occupy(t, p)
	res := make(chan error, 1)
	go func() { res <- newProbe(false).submit(p, context.Background()) }()
	waitFor(t, p, func(s Stats) bool { return s.WaitingSubmitters == 1 })
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	assert.ErrorIs(t, <-res, ErrClosed)
	close(a.release)
	require.NoError(t, <-done)
}

func TestPanicReachesHandlerAndWorkerSurvives(t *testing.T) {
	type report struct {
		v     any
		stack []byte
	}
	reports := make(chan report, 1)
	p := newPool(t, Config{Workers: 1, PanicHandler: func(v any, stack []byte) { reports <- report{v, stack} }})
	require.NoError(t, p.Submit(context.Background(), func(context.Context) { panic("boom") }, func(error) {}))
	r := <-reports
	assert.Equal(t, "boom", r.v)
	assert.Contains(t, string(r.stack), "TestPanicReachesHandlerAndWorkerSurvives")

	after := newProbe(false)
	require.NoError(t, after.submit(p, context.Background()))
	<-after.ran
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	assert.Equal(t, uint64(1), s.PanicCount)
	assert.Equal(t, uint64(2), s.CompletedCount)
}

func TestPanicWithoutHandlerIsCounted(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	require.NoError(t, p.Submit(context.Background(), func(context.Context) { panic(errors.New("x")) }, func(error) {}))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(1), p.Stats().PanicCount)
}

// TestStorm races Submit (with contexts that end at random), Shutdown and
// Close, and checks that every accepted task was resolved exactly once.
func TestStorm(t *testing.T) {
	for _, policy := range []Policy{Wait, FailFast} {
		t.Run(policy.String(), func(t *testing.T) {
			p, err := New(Config{Workers: 4, Queue: 8, Policy: policy})
			require.NoError(t, err)
			const submitters, perSubmitter = 16, 200
			var accepted, resolved, twice atomic.Int64
			var wg sync.WaitGroup
			for range submitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perSubmitter {
						ctx, cancel := context.WithCancel(context.Background())
						var once atomic.Int32
						resolve := func() {
							if once.Add(1) != 1 {
								twice.Add(1)
							}
							resolved.Add(1)
						}
						if rand.IntN(4) == 0 {
							go cancel()
						}
						err := p.Submit(ctx, func(context.Context) { resolve() }, func(error) { resolve() })
						if err == nil {
							accepted.Add(1)
						} else if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrOverloaded) && !errors.Is(err, context.Canceled) {
							t.Errorf("unexpected error %v", err)
						}
						cancel()
					}
				}()
			}
			wg.Add(2)
			go func() { defer wg.Done(); _ = p.Shutdown(context.Background()) }()
			go func() { defer wg.Done(); _ = p.Close() }()
			wg.Wait()
			require.NoError(t, p.Close())
			assert.Zero(t, twice.Load())
			assert.Equal(t, accepted.Load(), resolved.Load())
			s := p.Stats()
			assert.Equal(t, uint64(accepted.Load()), s.SubmitCount)
			assert.Equal(t, s.SubmitCount, s.CompletedCount+s.CanceledCount+s.DroppedCount, "%+v", s)
			assert.Zero(t, s.BusyWorkers+s.QueueDepth+s.WaitingSubmitters)
		})
	}
}

func TestTenThousandTasks(t *testing.T) {
	p := newPool(t, Config{Workers: 8, Queue: 64, Policy: Wait})
	const n = 10_000
	var ran atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			err := p.Submit(context.Background(), func(context.Context) { ran.Add(1); wg.Done() },
				func(err error) { t.Errorf("task %d dropped: %v", i, err); wg.Done() })
			if err != nil {
				t.Errorf("task %d: %v", i, err)
				wg.Done()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, int64(n), ran.Load())
	s := p.Stats()
	assert.Equal(t, uint64(n), s.SubmitCount)
	assert.Equal(t, uint64(n), s.CompletedCount)
	assert.Zero(t, s.CanceledCount+s.DroppedCount+s.RejectedCount)
	assert.Zero(t, s.BusyWorkers+s.QueueDepth)
}

func ExamplePool() {
	p, _ := New(Config{Workers: 2, Queue: 10})
	done := make(chan string, 1)
	_ = p.Submit(context.Background(),
		func(ctx context.Context) { done <- "ran" },
		func(err error) { done <- err.Error() })
	fmt.Println(<-done)
	_ = p.Shutdown(context.Background())
	// Output: ran
}
