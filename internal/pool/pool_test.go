package pool

import (
	"context"
	"errors"
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
	t.Cleanup(func() { p.Close(); p.Wait() })
	return p
}

// probe is a task that records what the pool did with it.
type probe struct {
	ctx      context.Context
	started  chan struct{} // closed when Run starts
	release  chan struct{} // Run blocks until this is closed (nil: returns at once)
	ran      chan struct{} // closed when Run returns
	finished chan Stats    // the pool's state when Finish was called
	dropped  chan error    // receives Drop's error
	p        *Pool
	runs     atomic.Int32
	drops    atomic.Int32
}

func newProbe(p *Pool, block bool) *probe {
	pr := &probe{
		ctx: context.Background(), p: p,
		started: make(chan struct{}), ran: make(chan struct{}),
		finished: make(chan Stats, 1), dropped: make(chan error, 1),
	}
	if block {
		pr.release = make(chan struct{})
	}
	return pr
}

func (pr *probe) Run() {
	pr.runs.Add(1)
	close(pr.started)
	if pr.release != nil {
		select {
		case <-pr.release:
		case <-pr.ctx.Done():
		}
	}
	close(pr.ran)
}

func (pr *probe) Finish() { pr.finished <- pr.p.Stats() }

func (pr *probe) Drop(err error) {
	pr.drops.Add(1)
	pr.dropped <- err
}

func (pr *probe) submit(ctx context.Context) error {
	pr.ctx = ctx
	return pr.p.Submit(ctx, pr)
}

// occupy submits a task that holds its worker until released, and waits
// until it runs.
func occupy(t *testing.T, p *Pool) *probe {
	t.Helper()
	pr := newProbe(p, true)
	require.NoError(t, pr.submit(context.Background()))
	<-pr.started
	return pr
}

// waitFor polls the pool until cond holds: used only where the pool offers
// no signal (a submitter parked inside Submit).
func waitFor(t *testing.T, p *Pool, cond func(Stats) bool) {
	t.Helper()
	require.Eventually(t, func() bool { return cond(p.Stats()) }, 5*time.Second, 100*time.Microsecond)
}

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []Config{{Workers: 0}, {Workers: -1}, {Workers: 1, Queue: -1}, {Workers: 1, Policy: 7}} {
		p, err := New(cfg)
		assert.Error(t, err, "%+v", cfg)
		assert.Nil(t, p)
	}
	p := newPool(t, Config{Workers: 3, Queue: 5, Policy: FailFast})
	s := p.Stats()
	assert.Equal(t, 3, s.Workers)
	assert.Equal(t, 5, s.QueueCapacity)
	assert.Zero(t, s.LiveWorkers, "workers start on demand")
}

func TestFinishSeesThePlaceFree(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	pr := newProbe(p, false)
	require.NoError(t, pr.submit(context.Background()))
	s := <-pr.finished
	assert.Zero(t, s.Running)
	assert.Equal(t, uint64(1), s.Completed)
}

func TestSubmitWithDoneContextFailsEvenWhenIdle(t *testing.T) {
	p := newPool(t, Config{Workers: 4, Queue: 4})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr := newProbe(p, false)
	assert.ErrorIs(t, pr.submit(ctx), context.Canceled)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, pr.runs.Load()+pr.drops.Load())
	s := p.Stats()
	assert.Zero(t, s.Submitted)
	assert.Equal(t, uint64(1), s.CanceledSubmit)
}

func TestQueuedTaskWhoseContextEndsLeavesTheQueueAtOnce(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: FailFast})
	a := occupy(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	b := newProbe(p, false)
	require.NoError(t, b.submit(ctx))
	assert.Equal(t, 1, p.Stats().Queued)
	c := newProbe(p, false)
	require.ErrorIs(t, c.submit(context.Background()), ErrFull, "the queue should be full")

	cancel()
	assert.ErrorIs(t, <-b.dropped, context.Canceled)
	// The worker is still held by a, yet b's place is already free.
	require.NoError(t, c.submit(context.Background()))
	s := p.Stats()
	assert.Equal(t, 1, s.Queued)
	assert.Equal(t, 1, s.Running)
	assert.Equal(t, uint64(1), s.Expired)

	close(a.release)
	<-c.ran
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, b.runs.Load())
	assert.Equal(t, int32(1), b.drops.Load())
	s = p.Stats()
	assert.Equal(t, uint64(3), s.Submitted)
	assert.Equal(t, uint64(2), s.Completed)
	assert.Equal(t, uint64(1), s.Rejected)
}

func TestQueuedTaskWithDeadline(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	a := occupy(t, p)
	defer close(a.release)
	b := newProbe(p, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	require.NoError(t, b.submit(ctx))
	// A deadline that passes while queued: the timer's own cancellation.
	short, cancelShort := context.WithDeadline(ctx, time.Now())
	defer cancelShort()
	c := newProbe(p, false)
	err := c.submit(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a passed deadline is refused on entry")
	cancel()
	assert.ErrorIs(t, <-b.dropped, context.Canceled)
	assert.Zero(t, p.Stats().Queued)
}

func TestRunningTaskSeesItsContextEnd(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	pr := newProbe(p, true)
	require.NoError(t, pr.submit(ctx))
	<-pr.started
	cancel()
	<-pr.ran
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(1), p.Stats().Completed)
	assert.Zero(t, pr.drops.Load())
}

func TestFailFastWithoutQueue(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: FailFast})
	a := occupy(t, p)
	b := newProbe(p, false)
	assert.ErrorIs(t, b.submit(context.Background()), ErrFull)
	assert.ErrorIs(t, b.submit(context.Background()), ErrFull)
	assert.Equal(t, uint64(2), p.Stats().Rejected)
	close(a.release)
	<-a.finished // the place is free once Finish runs
	require.NoError(t, b.submit(context.Background()))
	<-b.ran
}

func TestTrySubmitNeverWaits(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: Wait})
	a := occupy(t, p)
	b := newProbe(p, false)
	assert.ErrorIs(t, p.TrySubmit(context.Background(), b), ErrFull)
	s := p.Stats()
	assert.Zero(t, s.Rejected, "only FailFast counts rejections")
	assert.Zero(t, s.Waiting)
	close(a.release)
}

func TestWaitPolicyBlocksUntilRoom(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: Wait})
	a := occupy(t, p)
	b := newProbe(p, true)
	require.NoError(t, b.submit(context.Background()))

	c := newProbe(p, false)
	res := make(chan error, 1)
	go func() { res <- c.submit(context.Background()) }()
	waitFor(t, p, func(s Stats) bool { return s.Waiting == 1 })
	select {
	case err := <-res:
		t.Fatalf("Submit returned %v while the queue was full", err)
	default:
	}

	close(a.release) // a ends, b runs, c takes b's place in the queue
	require.NoError(t, <-res)
	<-b.started
	s := p.Stats()
	assert.Equal(t, 1, s.Queued)
	assert.Zero(t, s.Waiting)
	close(b.release)
	<-c.ran
}

func TestWaitPolicyReturnsContextErrorAndLeavesPoolUnchanged(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: Wait})
	a := occupy(t, p)
	b := newProbe(p, false)
	require.NoError(t, b.submit(context.Background()))
	before := p.Stats()

	ctx, cancel := context.WithCancel(context.Background())
	c := newProbe(p, false)
	res := make(chan error, 1)
	go func() { res <- c.submit(ctx) }()
	waitFor(t, p, func(s Stats) bool { return s.Waiting == 1 })
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)

	after := p.Stats()
	assert.Equal(t, before.Queued, after.Queued)
	assert.Equal(t, before.Submitted, after.Submitted)
	assert.Zero(t, after.Waiting)
	assert.Equal(t, uint64(1), after.CanceledSubmit)

	close(a.release)
	<-b.ran
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, c.runs.Load()+c.drops.Load())
}

// A worker that passes over a task whose context is ending must not leave
// a live task queued behind it while it parks.
func TestExpiringTaskDoesNotStrandTheNext(t *testing.T) {
	for range 200 {
		func() {
			p, err := New(Config{Workers: 1, Queue: 2})
			require.NoError(t, err)
			defer func() { p.Close(); p.Wait() }()
			a := occupy(t, p)
			ctx, cancel := context.WithCancel(context.Background())
			b, c := newProbe(p, false), newProbe(p, false)
			require.NoError(t, b.submit(ctx))
			require.NoError(t, c.submit(context.Background()))
			go cancel()
			close(a.release)
			<-c.ran
			<-c.finished
			select { // b either ran (its context ended too late) or was dropped
			case <-b.ran:
			case <-b.dropped:
			}
		}()
	}
}

func TestWaitPolicyIsFIFO(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: Wait})
	a := occupy(t, p)
	order := make(chan int, 3)
	var wg sync.WaitGroup
	probes := make([]*probe, 3)
	for i := range 3 {
		probes[i] = newProbe(p, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, probes[i].submit(context.Background()))
		}()
		waitFor(t, p, func(s Stats) bool { return s.Waiting == i+1 })
		go func() { <-probes[i].started; order <- i }()
	}
	close(a.release)
	for want := range 3 {
		got := <-order
		assert.Equal(t, want, got)
		close(probes[got].release)
	}
	wg.Wait()
}

func TestShutdownDrainsQueuedAndRunningWork(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 2})
	a := occupy(t, p)
	b, c := newProbe(p, false), newProbe(p, false)
	require.NoError(t, b.submit(context.Background()))
	require.NoError(t, c.submit(context.Background()))

	// A Shutdown whose ctx is already done starts shutting down and returns.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, p.Shutdown(ended), context.Canceled)
	assert.ErrorIs(t, newProbe(p, false).submit(context.Background()), ErrClosed)
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
	assert.Equal(t, uint64(3), s.Completed)
	assert.Zero(t, s.Dropped)
	assert.NoError(t, p.Shutdown(context.Background()), "idempotent")
}

func TestCloseDropsQueuedAtOnceAndWaitWaitsForRunning(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 2})
	a := occupy(t, p)
	b, c := newProbe(p, false), newProbe(p, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, b.submit(ctx))
	require.NoError(t, c.submit(context.Background()))

	p.Close()
	// Dropped while a still holds the only worker.
	assert.ErrorIs(t, <-b.dropped, ErrClosed)
	assert.ErrorIs(t, <-c.dropped, ErrClosed)
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("Wait returned while a task was running")
	default:
	}
	assert.ErrorIs(t, newProbe(p, false).submit(context.Background()), ErrClosed)
	close(a.release)
	<-done
	cancel() // must not drop b a second time
	p.Close()
	assert.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, int32(1), b.drops.Load())
	assert.Zero(t, b.runs.Load()+c.runs.Load())
	s := p.Stats()
	assert.Equal(t, uint64(2), s.Dropped)
	assert.Equal(t, uint64(1), s.Completed)
	assert.Equal(t, uint64(3), s.Submitted)
	assert.Zero(t, s.LiveWorkers)
}

func TestShutdownTimeoutThenClose(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	a := occupy(t, p)
	b := newProbe(p, false)
	require.NoError(t, b.submit(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- p.Shutdown(ctx) }()
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)

	p.Close()
	assert.ErrorIs(t, <-b.dropped, ErrClosed)
	close(a.release)
	p.Wait()
}

func TestShutdownAndCloseAnswerWaitingSubmitters(t *testing.T) {
	for name, stop := range map[string]func(*Pool){
		"shutdown": func(p *Pool) { go func() { _ = p.Shutdown(context.Background()) }() },
		"close":    func(p *Pool) { p.Close() },
	} {
		t.Run(name, func(t *testing.T) {
			p := newPool(t, Config{Workers: 1, Queue: 0, Policy: Wait})
			a := occupy(t, p)
			res := make(chan error, 1)
			go func() { res <- newProbe(p, false).submit(context.Background()) }()
			waitFor(t, p, func(s Stats) bool { return s.Waiting == 1 })
			stop(p)
			assert.ErrorIs(t, <-res, ErrClosed)
			close(a.release)
		})
	}
}

func TestIdleWorkersAreReused(t *testing.T) {
	p := newPool(t, Config{Workers: 8})
	for range 100 {
		pr := newProbe(p, false)
		require.NoError(t, pr.submit(context.Background()))
		<-pr.finished
	}
	s := p.Stats()
	assert.Equal(t, 1, s.LiveWorkers, "one request at a time needs one worker")
	assert.Equal(t, uint64(100), s.Completed)
}

// funcTask adapts functions to Task for the storm tests.
type funcTask struct {
	run  func()
	drop func(error)
}

func (f funcTask) Run()           { f.run() }
func (f funcTask) Finish()        {}
func (f funcTask) Drop(err error) { f.drop(err) }

// TestStorm races Submit (with contexts that end at random), Shutdown and
// Close, and checks that every accepted task was resolved exactly once.
func TestStorm(t *testing.T) {
	for _, policy := range []Policy{Wait, FailFast} {
		t.Run(map[Policy]string{Wait: "wait", FailFast: "fail-fast"}[policy], func(t *testing.T) {
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
						err := p.Submit(ctx, funcTask{run: resolve, drop: func(error) { resolve() }})
						if err == nil {
							accepted.Add(1)
						} else if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrFull) && !errors.Is(err, context.Canceled) {
							t.Errorf("unexpected error %v", err)
						}
						cancel()
					}
				}()
			}
			wg.Add(2)
			go func() { defer wg.Done(); _ = p.Shutdown(context.Background()) }()
			go func() { defer wg.Done(); p.Close() }()
			wg.Wait()
			p.Wait()
			assert.Zero(t, twice.Load())
			assert.Equal(t, accepted.Load(), resolved.Load())
			s := p.Stats()
			assert.Equal(t, uint64(accepted.Load()), s.Submitted)
			assert.Equal(t, s.Submitted, s.Completed+s.Expired+s.Dropped, "%+v", s)
			assert.Zero(t, s.Running+s.Queued+s.Waiting+s.LiveWorkers)
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
			err := p.Submit(context.Background(), funcTask{
				run:  func() { ran.Add(1); wg.Done() },
				drop: func(err error) { t.Errorf("task %d dropped: %v", i, err); wg.Done() },
			})
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
	assert.Equal(t, uint64(n), s.Submitted)
	assert.Equal(t, uint64(n), s.Completed)
	assert.Zero(t, s.Expired+s.Dropped+s.Rejected)
	assert.Zero(t, s.Running+s.Queued)
	assert.LessOrEqual(t, s.LiveWorkers, 8)
}

func BenchmarkSubmit(b *testing.B) {
	for _, c := range []int{1, 64} {
		b.Run(map[int]string{1: "c=1", 64: "c=64"}[c], func(b *testing.B) {
			p, _ := New(Config{Workers: 512, Queue: 4096})
			defer func() { p.Close(); p.Wait() }()
			b.ReportAllocs()
			b.SetParallelism(c)
			b.RunParallel(func(pb *testing.PB) {
				done := make(chan struct{}, 1)
				task := funcTask{run: func() {}, drop: func(error) {}}
				fin := finishTask{funcTask: task, done: done}
				for pb.Next() {
					if err := p.Submit(context.Background(), fin); err != nil {
						b.Fatal(err)
					}
					<-done
				}
			})
		})
	}
}

// finishTask signals done from Finish.
type finishTask struct {
	funcTask
	done chan struct{}
}

func (f finishTask) Finish() { f.done <- struct{}{} }
