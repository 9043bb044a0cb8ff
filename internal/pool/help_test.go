package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeHandler adapts a probe to Handler, so its Task can be passed to Help.
type probeHandler struct {
	*probe
	finished atomic.Int32
}

func (h *probeHandler) Run(ctx context.Context) { h.run(ctx) }
func (h *probeHandler) Finish()                 { h.finished.Add(1) }
func (h *probeHandler) Drop(err error)          { h.drop(err) }

// oneProc runs the rest of the test with GOMAXPROCS 1: a worker woken by a
// submission then cannot run before the test goroutine blocks, so Help is
// sure to find the task not started yet.
func oneProc(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// noWorkerComes makes p's submitters believe a worker is already looking
// for tasks, so that none is called and a handed task waits for Help or
// Claim however the goroutines are scheduled.
func noWorkerComes(t *testing.T, p *Pool) {
	p.looking.Add(1)
	t.Cleanup(func() { p.looking.Add(-1) })
}

// idleWorkers reports how many started workers are parked as idle.
func idleWorkers(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func TestHelpRunsAHandedTaskOnTheCaller(t *testing.T) {
	oneProc(t)
	p := newPool(t, Config{Workers: 1})
	h := &probeHandler{probe: newProbe(false)}
	var task Task
	require.NoError(t, p.SubmitTask(context.Background(), &task, h))
	require.True(t, p.Help(&task))

	// Help returns after Run and Finish, and the place is free again.
	assert.Equal(t, int32(1), h.runs.Load())
	assert.Equal(t, int32(1), h.finished.Load())
	s := p.Stats()
	assert.Equal(t, uint64(1), s.HelpedCount)
	assert.Equal(t, uint64(1), s.CompletedCount)
	assert.Zero(t, s.BusyWorkers)

	assert.False(t, p.Help(&task), "a task runs once")
	assert.Error(t, p.SubmitTask(context.Background(), &task, h), "a helped Task is not reused")

	// The worker started for the task finds it taken and becomes idle.
	require.Eventually(t, func() bool { return idleWorkers(p) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int32(1), h.runs.Load())
}

// submitAndHelp submits h's task and helps it, on one new goroutine: with
// GOMAXPROCS 1 the worker woken by the submission cannot run in between.
// It returns what Help returned.
func submitAndHelp(t *testing.T, p *Pool, h Handler) <-chan bool {
	helped := make(chan bool, 1)
	go func() {
		var task Task
		if err := p.SubmitTask(context.Background(), &task, h); err != nil {
			t.Errorf("SubmitTask: %v", err)
			close(helped)
			return
		}
		helped <- p.Help(&task)
	}()
	return helped
}

func TestHelpLeavesAStartedTaskAlone(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	h := &probeHandler{probe: newProbe(true)}
	var task Task
	require.NoError(t, p.SubmitTask(context.Background(), &task, h))
	<-h.started
	assert.False(t, p.Help(&task))
	close(h.release)
	<-h.ran
	assert.Zero(t, p.Stats().HelpedCount)
}

func TestHelpLeavesAQueuedTaskAlone(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	busy := occupy(t, p)
	h := &probeHandler{probe: newProbe(false)}
	var task Task
	require.NoError(t, p.SubmitTask(context.Background(), &task, h))
	assert.Equal(t, 1, p.Stats().QueueDepth)
	assert.False(t, p.Help(&task), "a queued task has no place to run yet")
	close(busy.release)
	<-h.ran
}

func TestHelpDropsATaskWhoseContextEnded(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	noWorkerComes(t, p)
	h := &probeHandler{probe: newProbe(false)}
	ctx, cancel := context.WithCancel(context.Background())
	var task Task
	require.NoError(t, p.SubmitTask(ctx, &task, h))
	cancel()
	require.True(t, p.Help(&task))
	assert.ErrorIs(t, <-h.dropped, context.Canceled)
	assert.Zero(t, h.runs.Load())
	assert.Zero(t, h.finished.Load())
	assert.Equal(t, uint64(1), p.Stats().CanceledCount)
}

// oneHelpedTask returns a pool with one place and a queue of one, in which
// Help is running a task that blocks until first.release is closed, while
// the worker called for it has found it taken and gone idle. helped reports
// what Help returned.
func oneHelpedTask(t *testing.T) (p *Pool, first *probeHandler, helped <-chan bool) {
	t.Helper()
	oneProc(t)
	p = newPool(t, Config{Workers: 1, Queue: 1})
	first = &probeHandler{probe: newProbe(true)}
	helped = submitAndHelp(t, p, first)
	<-first.started
	require.Eventually(t, func() bool { return idleWorkers(p) == 1 }, 5*time.Second, time.Millisecond)
	return p, first, helped
}

// While Help runs a task, the place it took stays taken: with one worker,
// nothing else runs, even though the worker itself is idle.
func TestHelpKeepsTheBound(t *testing.T) {
	p, first, helped := oneHelpedTask(t)

	second := newProbe(false)
	require.NoError(t, second.submit(p, context.Background()))
	s := p.Stats()
	assert.Equal(t, 1, s.BusyWorkers)
	assert.Equal(t, 1, s.QueueDepth, "no place for a second task while the first is helped")
	assert.Zero(t, second.runs.Load())

	close(first.release)
	assert.True(t, <-helped, "Help ran the first task")
	<-second.ran // Help handed the queued task to the idle worker
	assert.Equal(t, uint64(2), p.Stats().CompletedCount)
}

// The room a helped task gives back goes to a submitter waiting for it.
func TestHelpGivesRoomToAWaitingSubmitter(t *testing.T) {
	oneProc(t)
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: Wait})
	first := &probeHandler{probe: newProbe(true)}
	helped := submitAndHelp(t, p, first)
	<-first.started
	require.Eventually(t, func() bool { return idleWorkers(p) == 1 }, 5*time.Second, time.Millisecond)

	second := newProbe(false)
	submitted := make(chan error, 1)
	go func() { submitted <- second.submit(p, context.Background()) }()
	require.Eventually(t, func() bool { return p.Stats().WaitingSubmitters == 1 }, 5*time.Second, time.Millisecond)

	close(first.release)
	assert.True(t, <-helped, "Help ran the first task")
	require.NoError(t, <-submitted, "the waiting submitter got the room")
	<-second.ran
	assert.Equal(t, uint64(2), p.Stats().CompletedCount)
}

func TestShutdownWaitsForHelpedTask(t *testing.T) {
	p, first, helped := oneHelpedTask(t)
	queued := newProbe(false)
	require.NoError(t, queued.submit(p, context.Background()))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, p.Shutdown(ctx), context.DeadlineExceeded, "a helped task is in flight")
	assert.Zero(t, p.Stats().LiveWorkers, "the idle worker was told to exit")

	// Finishing the helped task starts a worker to drain the queue, and
	// Shutdown completes.
	close(first.release)
	assert.True(t, <-helped, "Help ran the first task")
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, int32(1), queued.runs.Load())
	s := p.Stats()
	assert.Equal(t, uint64(2), s.CompletedCount)
	assert.Zero(t, s.BusyWorkers+s.QueueDepth+s.LiveWorkers)
}

func TestWorkersStartOnDemand(t *testing.T) {
	p := newPool(t, Config{Workers: 8})
	assert.Zero(t, p.Stats().LiveWorkers, "an unused pool has no goroutines")
	probes := make([]*probe, 5)
	for i := range probes {
		probes[i] = newProbe(true)
		require.NoError(t, probes[i].submit(p, context.Background()))
		<-probes[i].started
	}
	assert.Equal(t, 5, p.Stats().LiveWorkers)
	for _, pr := range probes {
		close(pr.release)
		<-pr.ran
	}
	waitFor(t, p, func(s Stats) bool { return s.BusyWorkers == 0 })
	// Idle workers are reused rather than started anew.
	pr := newProbe(false)
	require.NoError(t, pr.submit(p, context.Background()))
	<-pr.ran
	assert.Equal(t, 5, p.Stats().LiveWorkers)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, p.Stats().LiveWorkers)
}

func TestShutdownOfAnUnusedPool(t *testing.T) {
	p, err := New(Config{Workers: 4})
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, p.Close())
}

// Submitters that help their own tasks half of the time, racing the
// workers, Cancel, Shutdown and Close: every task is resolved exactly once,
// never more than Workers run at once, and the counts add up.
func TestHelpStorm(t *testing.T) {
	for round := range 20 {
		const workers = 4
		p, err := New(Config{Workers: workers, Queue: 8, Policy: Wait})
		require.NoError(t, err)
		var running, maxRunning, accepted, resolved, twice atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					ctx, cancel := context.WithCancel(context.Background())
					h := &countingHandler{running: &running, max: &maxRunning, resolved: &resolved, twice: &twice}
					var task Task
					if rand.IntN(8) == 0 {
						go cancel()
					}
					err := p.SubmitTask(ctx, &task, h)
					switch {
					case err == nil:
						accepted.Add(1)
						if rand.IntN(2) == 0 {
							p.Help(&task)
						}
					case !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled):
						t.Errorf("round %d: unexpected error %v", round, err)
					}
					cancel()
				}
			}()
		}
		if round%2 == 0 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = p.Shutdown(context.Background()) }()
		}
		wg.Wait()
		require.NoError(t, p.Close())
		assert.Zero(t, twice.Load())
		assert.Equal(t, accepted.Load(), resolved.Load())
		assert.LessOrEqual(t, maxRunning.Load(), int64(workers))
		s := p.Stats()
		assert.Equal(t, uint64(accepted.Load()), s.SubmitCount)
		assert.Equal(t, s.SubmitCount, s.CompletedCount+s.CanceledCount+s.DroppedCount, "%+v", s)
		assert.Zero(t, s.BusyWorkers+s.QueueDepth+s.WaitingSubmitters+s.LiveWorkers)
	}
}

// countingHandler counts resolutions and how many runs overlap.
type countingHandler struct {
	running, max, resolved, twice *atomic.Int64
	once                          atomic.Int32
}

func (h *countingHandler) resolve() {
	if h.once.Add(1) != 1 {
		h.twice.Add(1)
	}
	h.resolved.Add(1)
}

func (h *countingHandler) Run(context.Context) {
	n := h.running.Add(1)
	for {
		m := h.max.Load()
		if n <= m || h.max.CompareAndSwap(m, n) {
			break
		}
	}
	runtime.Gosched()
	h.running.Add(-1)
}
func (h *countingHandler) Finish()    { h.resolve() }
func (h *countingHandler) Drop(error) { h.resolve() }

// Tasks submitted together, with nobody helping them, all start: the one
// worker woken calls another for each task it leaves behind.
func TestTasksSubmittedTogetherAllStart(t *testing.T) {
	const workers = 8
	p := newPool(t, Config{Workers: workers, Queue: 4})
	probes := make([]*probe, workers+4)
	for i := range probes {
		probes[i] = newProbe(true)
		require.NoError(t, probes[i].submit(p, context.Background()))
	}
	for _, pr := range probes[:workers] {
		<-pr.started
	}
	s := p.Stats()
	assert.Equal(t, workers, s.LiveWorkers)
	assert.Equal(t, workers, s.BusyWorkers)
	assert.Equal(t, 4, s.QueueDepth)
	for _, pr := range probes {
		close(pr.release)
	}
	for _, pr := range probes {
		<-pr.ran
	}
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(workers+4), p.Stats().CompletedCount)
}

// resolvedHandler is a countingHandler that also signals when it resolves.
type resolvedHandler struct {
	countingHandler
	done chan struct{}
}

func (h *resolvedHandler) Finish()    { h.countingHandler.Finish(); close(h.done) }
func (h *resolvedHandler) Drop(error) { h.countingHandler.Drop(nil); close(h.done) }

// Under load, with every task helped, a task queued or a submitter waiting
// for room just as Help gives a place back must still get it: every task
// resolves, with no Close to sweep up what was stranded. (The storm above
// ends with Close, which would drop such a task rather than show it.)
func TestPlacesGivenBackByHelpAreNeverLost(t *testing.T) {
	// Help whatever is handed: a queued task then starts only with a
	// place that Help gave back.
	resolveStorm(t, 2, func(p *Pool, task *Task, _ *resolvedHandler) { p.Help(task) })
}

// resolveStorm runs 10 rounds of 16 goroutines that each submit 300 tasks
// to a pool with the given number of workers (and as many queue places,
// with the Wait policy), pass each to act, and wait for it to resolve,
// with no Close to sweep up. Every task must resolve, once, with no more
// than workers running at once, and no helped task may be left on top.
func resolveStorm(t *testing.T, workers int, act func(p *Pool, task *Task, h *resolvedHandler)) {
	t.Helper()
	for round := range 10 {
		p, err := New(Config{Workers: workers, Queue: workers, Policy: Wait})
		require.NoError(t, err)
		var running, maxRunning, resolved, twice atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 300 {
					h := &resolvedHandler{
						countingHandler: countingHandler{running: &running, max: &maxRunning, resolved: &resolved, twice: &twice},
						done:            make(chan struct{}),
					}
					var task Task
					if err := p.SubmitTask(context.Background(), &task, h); err != nil {
						t.Errorf("round %d: %v", round, err)
						return
					}
					act(p, &task, h)
					select {
					case <-h.done:
					case <-time.After(10 * time.Second):
						t.Errorf("round %d: a task never resolved: %+v", round, p.Stats())
						return
					}
				}
			}()
		}
		wg.Wait()
		assert.Nil(t, p.top.Load(), "round %d: tasks left on top", round)
		require.NoError(t, p.Shutdown(context.Background()))
		assert.Zero(t, twice.Load())
		assert.Equal(t, int64(16*300), resolved.Load())
		assert.LessOrEqual(t, maxRunning.Load(), int64(workers))
		s := p.Stats()
		assert.Equal(t, uint64(16*300), s.CompletedCount, "%+v", s)
		assert.Zero(t, s.BusyWorkers+s.QueueDepth+s.WaitingSubmitters+s.LiveWorkers)
		if t.Failed() {
			return
		}
	}
}

func TestClaimLeavesTheRunningToTheCaller(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	noWorkerComes(t, p)
	h := &probeHandler{probe: newProbe(false)}
	var task Task
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "submitted")
	require.NoError(t, p.SubmitTask(ctx, &task, h))

	got, ok := p.Claim(&task)
	require.True(t, ok)
	assert.Equal(t, ctx, got, "Claim gives the context the task was submitted with")
	_, again := p.Claim(&task)
	assert.False(t, again, "a task is claimed once")
	assert.False(t, p.Help(&task))
	assert.Equal(t, 1, p.Stats().BusyWorkers, "the place is the caller's until Release")

	p.Release(true)
	s := p.Stats()
	assert.Zero(t, s.BusyWorkers)
	assert.Equal(t, uint64(1), s.HelpedCount)
	assert.Equal(t, uint64(1), s.CompletedCount)
	// The pool called nothing on the handler: that was the caller's part.
	assert.Zero(t, h.runs.Load())
	assert.Zero(t, h.finished.Load())

	var dropped Task
	require.NoError(t, p.SubmitTask(context.Background(), &dropped, h))
	_, ok = p.Claim(&dropped)
	require.True(t, ok)
	p.Release(false)
	s = p.Stats()
	assert.Equal(t, uint64(1), s.CanceledCount, "Release(false) counts a task dropped")
	assert.Zero(t, s.BusyWorkers)
	assert.Equal(t, s.SubmitCount, s.CompletedCount+s.CanceledCount)
}

func TestClaimLeavesAQueuedTaskAlone(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1})
	first := occupy(t, p)
	var task Task
	h := &probeHandler{probe: newProbe(false)}
	require.NoError(t, p.SubmitTask(context.Background(), &task, h))
	_, ok := p.Claim(&task)
	assert.False(t, ok, "a queued task has no place to run yet")
	close(first.release)
	<-h.ran
}

// In a storm where some tasks are helped, some claimed and some left for
// the workers, every task resolves without a Close to sweep up: a worker
// always comes for a task nobody helps. Afterwards no helped task is left
// where workers look, keeping its result alive.
func TestEveryTaskFindsARunner(t *testing.T) {
	resolveStorm(t, 3, func(p *Pool, task *Task, h *resolvedHandler) {
		switch rand.IntN(3) {
		case 0:
			p.Help(task)
		case 1:
			if ctx, ok := p.Claim(task); ok {
				h.Run(ctx)
				p.Release(true)
				h.Finish()
			}
		}
	})
}

// A worker claims the oldest task waiting for one: the newest are the
// ones their submitters are most likely about to run themselves. Helped
// tasks are dropped from the stack and the others put back.
func TestWorkerClaimsTheOldestHandedTask(t *testing.T) {
	p := newPool(t, Config{Workers: 4})
	noWorkerComes(t, p)
	tasks := make([]Task, 3)
	for i := range tasks {
		require.NoError(t, p.SubmitTask(context.Background(), &tasks[i], nopHandler{}))
	}
	require.True(t, p.Help(&tasks[1]))

	got, putBack := p.takeTop(true)
	assert.Same(t, &tasks[0], got, "the oldest")
	assert.True(t, putBack)
	assert.Same(t, &tasks[2], p.top.Load(), "the helped task is gone, the newest is back")
	assert.Nil(t, tasks[2].hnext)

	// Account for the task claimed as a worker would have, and help the last.
	p.Release(true)
	require.True(t, p.Help(&tasks[2]))
	assert.Zero(t, p.Stats().BusyWorkers)
}
