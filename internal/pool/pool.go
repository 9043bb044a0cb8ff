// Package pool runs tasks on a bounded number of worker goroutines, with a
// bounded FIFO queue in front of them.
//
// A task submitted with Submit either starts on a worker at once, waits in
// the queue, or, when the queue is full, is refused (FailFast) or makes the
// caller wait for room until its context ends (Wait). A queued task whose
// context ends leaves the queue at once, is never run, and frees its place.
// Memory does not grow with offered load: at most Workers tasks run and at
// most Queue wait. SetLimit lowers (or raises again, up to Workers) how many
// tasks may run at once while the pool is in use.
package pool

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Policy says what Submit does when every worker is busy and the queue is full.
type Policy int

const (
	// Wait makes Submit wait for room until its context ends.
	Wait Policy = iota
	// FailFast makes Submit return ErrFull at once.
	FailFast
)

// Errors returned by Submit and TrySubmit, and passed to Task.Drop.
var (
	ErrClosed = errors.New("pool: closed")
	ErrFull   = errors.New("pool: queue full")
)

// Config sizes a pool.
type Config struct {
	Workers int    // most tasks that run at once; at least 1
	Queue   int    // most tasks that wait for a worker; 0 means none wait
	Policy  Policy // what Submit does when the queue is full
}

// A Task is one piece of work. The pool calls exactly one of: Run and then
// Finish, or Drop.
type Task interface {
	// Run does the work, on a worker goroutine. It must not panic.
	Run()
	// Finish is called after Run, on the same goroutine, once the task's
	// place in the pool is free again: whoever learns from Finish that the
	// task is over finds the place available.
	Finish()
	// Drop is called instead of Run when the task leaves the pool without
	// running: its context ended while it was queued (err is the context's
	// error), or the pool closed (ErrClosed).
	Drop(err error)
}

// Pool is a bounded worker pool. It is safe for concurrent use.
type Pool struct {
	cfg Config

	mu       sync.Mutex
	limit    int           // most tasks that start running: Workers, or less (SetLimit)
	running  int           // tasks between start and the end of Run; above limit only after SetLimit lowered it
	idle     []chan Task   // parked workers, most recently parked last
	queue    list.List     // *entry, oldest first
	waiters  list.List     // *waiter, oldest first (Wait policy)
	closing  bool          // Shutdown or Close: no new tasks
	closed   bool          // Close: no more running either
	drained  chan struct{} // closed once closing and nothing runs or waits
	workers  sync.WaitGroup
	live     int // worker goroutines
	counters Counters
}

// entry is a queued task.
type entry struct {
	task     Task
	ctx      context.Context
	stop     func() bool // stops the watch on ctx
	queuedAt time.Time
	elem     *list.Element // in queue; nil once it left
}

// waiter is a Submit call waiting for room (Wait policy).
type waiter struct {
	task  Task
	ctx   context.Context
	ready chan struct{} // closed when the task was accepted, or err set
	err   error
	elem  *list.Element // in waiters; nil once answered
}

// New returns a pool; workers start as tasks arrive.
func New(cfg Config) (*Pool, error) {
	switch {
	case cfg.Workers < 1:
		return nil, fmt.Errorf("pool: need at least 1 worker, got %d", cfg.Workers)
	case cfg.Queue < 0:
		return nil, fmt.Errorf("pool: queue capacity must not be negative, got %d", cfg.Queue)
	case cfg.Policy != Wait && cfg.Policy != FailFast:
		return nil, fmt.Errorf("pool: unknown policy %d", cfg.Policy)
	}
	return &Pool{cfg: cfg, limit: cfg.Workers, drained: make(chan struct{})}, nil
}

// Submit hands t to the pool. It returns nil if the pool accepted t, which
// then gets exactly one call of Run or Drop, or an error if it did not, and
// t is never called:
//   - ctx.Err() if ctx is done on entry, even if a worker is idle, or ends
//     while Submit waits for room (the pool is then unchanged);
//   - ErrFull if the queue is full and the policy is FailFast;
//   - ErrClosed once Shutdown or Close has started.
//
// While t is queued the pool watches ctx, and drops t as soon as it ends.
func (p *Pool) Submit(ctx context.Context, t Task) error {
	return p.submit(ctx, t, p.cfg.Policy)
}

// TrySubmit is Submit without waiting: it returns ErrFull when the queue is
// full, whatever the policy, and does not count that as a rejection. It is
// for work that may be left for later, such as a prefetch.
func (p *Pool) TrySubmit(ctx context.Context, t Task) error {
	return p.submit(ctx, t, try)
}

// try is the policy of TrySubmit.
const try Policy = -1

func (p *Pool) submit(ctx context.Context, t Task, policy Policy) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		p.counters.CanceledSubmit++
		p.mu.Unlock()
		return err
	}
	// The queue holds tasks only while the limit is reached, and waiters
	// exist only while the queue is full, so both checks keep FIFO order.
	if p.running < p.limit && p.queue.Len() == 0 {
		p.counters.Submitted++
		in := p.startLocked()
		p.mu.Unlock()
		p.launch(t, in)
		return nil
	}
	if p.queue.Len() < p.cfg.Queue && p.waiters.Len() == 0 {
		p.counters.Submitted++
		p.enqueueLocked(ctx, t)
		p.mu.Unlock()
		return nil
	}
	if policy != Wait {
		if policy == FailFast {
			p.counters.Rejected++
		}
		p.mu.Unlock()
		return ErrFull
	}
	w := &waiter{task: t, ctx: ctx, ready: make(chan struct{})}
	w.elem = p.waiters.PushBack(w)
	p.mu.Unlock()

	select {
	case <-w.ready:
		return w.err
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if w.elem == nil { // answered meanwhile: that answer stands
			return w.err
		}
		p.waiters.Remove(w.elem)
		w.elem = nil
		p.counters.CanceledSubmit++
		return ctx.Err()
	}
}

// startLocked takes a place for a task and an idle worker's channel for
// it, or nil if a new worker must run it; launch, called without the lock
// (waking a goroutine can take a while), hands the task over.
func (p *Pool) startLocked() chan Task {
	p.running++
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return in
	}
	p.live++
	p.workers.Add(1)
	return nil
}

// launch gives t to the worker whose channel is in, or to a new worker.
func (p *Pool) launch(t Task, in chan Task) {
	if in != nil {
		in <- t // buffered, and no longer idle: never blocks, never closed
		return
	}
	go p.work(t)
}

// enqueueLocked queues t and watches ctx to drop t when it ends.
func (p *Pool) enqueueLocked(ctx context.Context, t Task) {
	e := &entry{task: t, ctx: ctx, queuedAt: time.Now()}
	e.elem = p.queue.PushBack(e)
	if ctx.Done() != nil {
		e.stop = context.AfterFunc(ctx, func() { p.expire(e) })
	}
}

// expire drops e if it is still queued: its context ended.
func (p *Pool) expire(e *entry) {
	p.mu.Lock()
	if e.elem == nil { // taken by a worker, or dropped by Close
		p.mu.Unlock()
		return
	}
	p.queue.Remove(e.elem)
	e.elem = nil
	p.counters.Expired++
	p.admitLocked()
	// A worker may have passed over a task whose context was ending (see
	// nextLocked) and parked while a live task sat behind it.
	starts := p.fillLocked()
	p.checkDrainedLocked()
	p.mu.Unlock()
	p.launchAll(starts)
	e.task.Drop(e.ctx.Err())
}

// start is a task taken from the queue and the worker it goes to.
type start struct {
	t  Task
	in chan Task
}

// fillLocked takes queued tasks while the limit allows more to run; the
// caller launches them once it has released the lock.
func (p *Pool) fillLocked() []start {
	var starts []start
	for p.running < p.limit && !p.closed {
		t := p.nextLocked()
		if t == nil {
			break
		}
		starts = append(starts, start{t, p.startLocked()})
	}
	return starts
}

// launchAll hands each start's task to its worker.
func (p *Pool) launchAll(starts []start) {
	for _, s := range starts {
		p.launch(s.t, s.in)
	}
}

// SetLimit sets how many tasks may run at once, clamped to between 1 and
// Workers, and returns the limit it set. Raising it starts queued tasks at
// once; lowering it stops no running task, but none starts until fewer than
// the new limit run.
func (p *Pool) SetLimit(n int) int {
	n = min(max(n, 1), p.cfg.Workers)
	p.mu.Lock()
	p.limit = n
	starts := p.fillLocked()
	p.mu.Unlock()
	p.launchAll(starts)
	return n
}

// admitLocked moves waiting submitters into the queue while it has room.
func (p *Pool) admitLocked() {
	for p.waiters.Len() > 0 && p.queue.Len() < p.cfg.Queue {
		w := p.waiters.Remove(p.waiters.Front()).(*waiter)
		w.elem = nil
		p.counters.Submitted++
		p.enqueueLocked(w.ctx, w.task)
		close(w.ready)
	}
}

// nextLocked returns the task a worker that just finished one should run
// next: the oldest queued, or else a waiting submitter's (possible only
// when the queue has no room at all). It returns nil if there is none.
func (p *Pool) nextLocked() Task {
	for el := p.queue.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		if e.stop != nil && !e.stop() {
			continue // its context has ended: expire is dropping it
		}
		p.queue.Remove(el)
		e.elem = nil
		p.counters.QueueWait += time.Since(e.queuedAt)
		p.admitLocked()
		return e.task
	}
	if front := p.waiters.Front(); front != nil && p.cfg.Queue == 0 {
		w := p.waiters.Remove(front).(*waiter)
		w.elem = nil
		p.counters.Submitted++
		close(w.ready)
		return w.task
	}
	return nil
}

// work is a worker goroutine: it runs t, then whatever the queue holds,
// then parks until a task arrives or Close lets it go.
func (p *Pool) work(t Task) {
	defer p.workers.Done()
	in := make(chan Task, 1)
	for {
		t.Run()
		p.mu.Lock()
		p.running--
		p.counters.Completed++
		var next Task
		if p.running < p.limit {
			next = p.nextLocked()
		}
		switch {
		case next != nil:
			p.running++
		case p.closed:
			p.live--
		default:
			p.idle = append(p.idle, in)
		}
		p.checkDrainedLocked()
		closed := p.closed
		p.mu.Unlock()
		t.Finish()
		switch {
		case next != nil:
			t = next
		case closed:
			return
		default:
			if t = <-in; t == nil { // Close closed in
				p.mu.Lock()
				p.live--
				p.mu.Unlock()
				return
			}
		}
	}
}

// checkDrainedLocked closes drained once the pool is shutting down and
// nothing runs, waits in the queue or waits for room.
func (p *Pool) checkDrainedLocked() {
	if p.closing && p.running == 0 && p.queue.Len() == 0 && p.waiters.Len() == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// failWaitersLocked answers every waiting submitter with ErrClosed.
func (p *Pool) failWaitersLocked() {
	for p.waiters.Len() > 0 {
		w := p.waiters.Remove(p.waiters.Front()).(*waiter)
		w.elem = nil
		w.err = ErrClosed
		close(w.ready)
	}
}

// Shutdown stops accepting tasks (Submit returns ErrClosed, and callers
// waiting for room get it too) and waits until the queued and running tasks
// have finished, or ctx ends: it then returns ctx.Err() and leaves them
// running. Shutdown may be called more than once.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.failWaitersLocked()
	p.checkDrainedLocked()
	p.mu.Unlock()
	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the pool now: it stops accepting tasks, drops the queued ones
// with ErrClosed, answers waiting submitters with ErrClosed and lets idle
// workers exit. Running tasks carry on; Wait waits for them. Close is
// idempotent.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closing, p.closed = true, true
	p.failWaitersLocked()
	var dropped []Task
	for p.queue.Len() > 0 {
		e := p.queue.Remove(p.queue.Front()).(*entry)
		e.elem = nil
		if e.stop != nil {
			e.stop()
		}
		dropped = append(dropped, e.task)
	}
	p.counters.Dropped += uint64(len(dropped))
	for _, in := range p.idle {
		close(in)
	}
	p.idle = nil
	p.checkDrainedLocked()
	p.mu.Unlock()
	for _, t := range dropped {
		t.Drop(ErrClosed)
	}
}

// Wait blocks until every worker goroutine has exited, which happens only
// after Close, once the running tasks return.
func (p *Pool) Wait() { p.workers.Wait() }
