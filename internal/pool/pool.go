// Package pool provides the bounded worker pool on which every query of the
// cassandra package runs.
//
// A Pool has a fixed number of worker goroutines and a bounded FIFO queue.
// At most Workers tasks run at once and at most Queue tasks wait; a Submit
// that finds no room either fails with ErrOverloaded (FailFast) or waits, in
// FIFO order, until there is room or its context ends (Wait).
//
// Every accepted task is resolved exactly once: either run is called on a
// worker, or drop is called with the reason it never ran.
package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// ErrClosed is returned by Submit after Shutdown or Close has started, and
// passed to drop for every queued task that Close discards.
var ErrClosed = errors.New("cassandra: closed")

// ErrOverloaded is returned by Submit when the queue is full and the pool's
// policy is FailFast.
var ErrOverloaded = errors.New("cassandra: overloaded: queue is full")

// Policy says what Submit does when every worker is busy and the queue is full.
type Policy int

const (
	// Wait blocks Submit until there is room or its context ends.
	Wait Policy = iota
	// FailFast makes Submit return ErrOverloaded at once.
	FailFast
)

// String returns "wait" or "fail-fast".
func (p Policy) String() string {
	switch p {
	case Wait:
		return "wait"
	case FailFast:
		return "fail-fast"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Config configures a Pool. The zero value is not valid: Workers must be set.
type Config struct {
	// Workers is the number of worker goroutines, and so the most tasks that
	// run at once. It must be at least 1.
	Workers int
	// Queue is the most tasks that may wait for a worker. Zero means a task is
	// accepted only when a worker is idle.
	Queue int
	// Policy says what Submit does when there is no room. The zero value is Wait.
	Policy Policy
	// PanicHandler, if set, is called on the worker with the value and stack
	// of a panic recovered from a task's run or drop function. The worker
	// survives the panic either way; with a nil PanicHandler the panic is
	// only counted (Stats.PanicCount). PanicHandler must not panic.
	PanicHandler func(v any, stack []byte)
}

// Pool is a fixed set of worker goroutines fed by a bounded FIFO queue.
// It is safe for concurrent use by multiple goroutines.
type Pool struct {
	cfg      Config
	capacity int           // Workers + Queue: the most tasks admitted at once
	done     chan struct{} // closed by the last worker to exit

	// expiring counts context.AfterFunc callbacks that were registered and
	// may still run: Add when registered, Done by whoever stops it
	// successfully or by the callback itself. Adds happen only before
	// closing is set (under mu), and so before any Wait.
	expiring sync.WaitGroup

	mu       sync.Mutex
	closing  bool      // Shutdown or Close has started
	admitted int       // running + queued + granted to a waiter but not yet dispatched
	busy     int       // workers running a task
	live     int       // workers that have not exited
	idle     []*worker // idle workers, used as a stack
	queue    taskList  // tasks waiting for a worker
	waiters  taskList  // Wait-policy submitters waiting for room, FIFO
	c        counters
}

type counters struct {
	submit, completed, rejected, canceled, canceledSubmit, dropped, panics uint64
	queueWait                                                              time.Duration
}

type worker struct {
	ch chan *Task // capacity 1; a nil receive (closed channel) means exit
}

// Handler is the work of one task. For every accepted task the pool calls
// either Run and then Finish, or Drop, exactly once.
type Handler interface {
	// Run runs the task on a worker with the context it was submitted with.
	Run(ctx context.Context)
	// Finish is called on the same worker after Run, once the task's place
	// in the pool has been given back and counted. A task that publishes its
	// result in Finish rather than in Run guarantees that whoever sees the
	// result also sees the room it freed: a caller that waits for one
	// result before submitting the next never finds the pool full.
	Finish()
	// Drop reports that the task never ran, and why.
	Drop(err error)
}

// Task is the pool's bookkeeping for one submission. Callers that submit at
// a high rate embed a Task in their own per-request struct and pass it to
// SubmitTask, which saves an allocation per request. The zero Task is ready
// to use; a Task must not be submitted again until its Handler was called.
// Every field after h is guarded by Pool.mu.
type Task struct {
	ctx context.Context
	h   Handler

	prev, next *Task
	queued     bool          // in Pool.queue
	waiting    bool          // in Pool.waiters
	granted    bool          // a waiter that was given room
	ready      chan struct{} // closed to wake a waiter (given room, or closing)
	stop       func() bool   // stops the AfterFunc that expires a queued task
	enqueued   time.Time
}

// New returns a pool with cfg.Workers running workers.
func New(cfg Config) (*Pool, error) {
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("cassandra: pool: Workers must be at least 1, got %d", cfg.Workers)
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("cassandra: pool: Queue must not be negative, got %d", cfg.Queue)
	}
	if cfg.Policy != Wait && cfg.Policy != FailFast {
		return nil, fmt.Errorf("cassandra: pool: unknown queue-full policy %d", int(cfg.Policy))
	}
	p := &Pool{
		cfg:      cfg,
		capacity: cfg.Workers + cfg.Queue,
		done:     make(chan struct{}),
		live:     cfg.Workers,
		idle:     make([]*worker, 0, cfg.Workers),
	}
	for range cfg.Workers {
		w := &worker{ch: make(chan *Task, 1)}
		p.idle = append(p.idle, w)
		go p.work(w)
	}
	return p, nil
}

// Submit hands a task to the pool.
//
// On success Submit returns nil, and later exactly one of run and drop is
// called, exactly once: run(ctx) on a worker, or drop(err) if the task never
// ran. err is ctx.Err() if ctx ended while the task was queued (the task
// leaves the queue at once, freeing its place), and ErrClosed if Close
// discarded it. drop may be called on a worker, on the goroutine that called
// Close, or on a goroutine started by context.AfterFunc. The pool does not
// cancel ctx; a running task must watch ctx itself. run must not call
// runtime.Goexit (for example via testing.T.FailNow): that would end the worker.
//
// On failure Submit returns an error and calls neither function: ctx.Err()
// if ctx is already done (even if a worker is idle), ErrClosed once Shutdown
// or Close has started, ErrOverloaded if there is no room and the policy is
// FailFast. With the Wait policy Submit blocks until there is room or ctx
// ends; in the latter case it returns ctx.Err() and leaves the pool
// unchanged. Waiting submitters are served in FIFO order.
func (p *Pool) Submit(ctx context.Context, run func(context.Context), drop func(error)) error {
	if run == nil || drop == nil {
		return errors.New("cassandra: pool: Submit needs non-nil run and drop functions")
	}
	return p.SubmitTask(ctx, new(Task), funcHandler{run, drop})
}

// funcHandler adapts a pair of functions to Handler.
type funcHandler struct {
	run  func(context.Context)
	drop func(error)
}

func (f funcHandler) Run(ctx context.Context) { f.run(ctx) }
func (f funcHandler) Finish()                 {}
func (f funcHandler) Drop(err error)          { f.drop(err) }

// SubmitTask is Submit with a Handler and a caller-owned Task, for the hot
// path: it allocates nothing when a worker is idle. t must be a zero Task
// (or one whose previous submission has been resolved).
func (p *Pool) SubmitTask(ctx context.Context, t *Task, h Handler) error {
	return p.submit(ctx, t, h, false)
}

// TrySubmitTask is SubmitTask that never waits, whatever the policy: with no
// room it returns ErrOverloaded at once. It is for work submitted from a
// worker (a stream prefetching its next page), which must not block a
// worker on room that only workers can free. Its failures are not counted
// as rejections: the caller retries from a goroutine that may wait.
func (p *Pool) TrySubmitTask(ctx context.Context, t *Task, h Handler) error {
	return p.submit(ctx, t, h, true)
}

func (p *Pool) submit(ctx context.Context, t *Task, h Handler, try bool) error {
	if t == nil || h == nil {
		return errors.New("cassandra: pool: SubmitTask needs a Task and a Handler")
	}
	if err := ctx.Err(); err != nil {
		p.mu.Lock()
		p.c.canceledSubmit++
		p.mu.Unlock()
		return err
	}
	*t = Task{ctx: ctx, h: h}

	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.admitted < p.capacity && p.waiters.empty() {
		p.admitted++
		p.c.submit++
		w := p.dispatchLocked(t)
		p.mu.Unlock()
		if w != nil {
			w.ch <- t // never blocks: an idle worker's channel is empty
		}
		return nil
	}
	if try {
		p.mu.Unlock()
		return ErrOverloaded
	}
	if p.cfg.Policy == FailFast {
		p.c.rejected++
		p.mu.Unlock()
		return ErrOverloaded
	}
	t.ready = make(chan struct{})
	t.waiting = true
	p.waiters.pushBack(t)
	p.mu.Unlock()

	select {
	case <-ctx.Done():
		p.mu.Lock()
		switch {
		case t.granted:
			// Room was given to us just as ctx ended. Like
			// semaphore.Acquire, pretend we never got it and pass it on.
			p.releaseLocked()
		case t.waiting:
			p.waiters.remove(t)
			t.waiting = false
		}
		p.c.canceledSubmit++
		p.mu.Unlock()
		return ctx.Err()

	case <-t.ready:
		p.mu.Lock()
		if !t.granted || p.closing {
			if t.granted {
				p.releaseLocked()
			}
			p.mu.Unlock()
			return ErrClosed
		}
		p.c.submit++
		w := p.dispatchLocked(t)
		p.mu.Unlock()
		if w != nil {
			w.ch <- t
		}
		return nil
	}
}

// dispatchLocked gives an admitted task to an idle worker, which it returns
// (the caller sends t to it after unlocking), or queues it and returns nil.
func (p *Pool) dispatchLocked(t *Task) *worker {
	if n := len(p.idle); n > 0 {
		// The queue is empty whenever a worker is idle, so FIFO order holds.
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.busy++
		return w
	}
	t.queued = true
	t.enqueued = time.Now()
	p.queue.pushBack(t)
	// Contexts that can never end cost nothing (the database/sql idea).
	// The callback may start at once on its own goroutine; it needs mu, so
	// it sees the task fully queued.
	if t.ctx.Done() != nil {
		p.expiring.Add(1)
		t.stop = context.AfterFunc(t.ctx, func() { p.expire(t) })
	}
	return nil
}

// expire removes a task whose context ended while it was queued and drops it.
// Whoever takes the task out of the queue under mu owns it: a worker, Close,
// or expire; the others see queued == false and leave it alone.
func (p *Pool) expire(t *Task) {
	defer p.expiring.Done()
	p.mu.Lock()
	if !t.queued {
		p.mu.Unlock()
		return
	}
	p.queue.remove(t)
	t.queued = false
	p.c.canceled++
	p.releaseLocked()
	p.mu.Unlock()
	p.call(func() { t.h.Drop(t.ctx.Err()) })
}

// stopExpiry stops the AfterFunc of a task taken out of the queue. If the
// callback has already started it will find the task gone and just return.
func (p *Pool) stopExpiry(stop func() bool) {
	if stop != nil && stop() {
		p.expiring.Done()
	}
}

// releaseLocked gives back one admitted place, handing it straight to the
// first waiter if there is one, so a place that frees up is never lost.
func (p *Pool) releaseLocked() {
	p.admitted--
	if t := p.waiters.front(); t != nil && !p.closing {
		p.waiters.remove(t)
		t.waiting = false
		t.granted = true
		p.admitted++
		close(t.ready)
	}
}

func (p *Pool) work(w *worker) {
	defer p.exited()
	for t := range w.ch {
		for t != nil {
			// A task may be submitted again from its own Run, so keep its
			// handler: t is not ours once next has released it.
			h := t.h
			ran, panicked := p.exec(t)
			t = p.next(w, ran, panicked)
			if ran && p.call(h.Finish) {
				p.mu.Lock()
				p.c.panics++
				p.mu.Unlock()
			}
		}
	}
}

// exec runs t, or drops it if its context ended before it could start.
func (p *Pool) exec(t *Task) (ran, panicked bool) {
	if err := t.ctx.Err(); err != nil {
		return false, p.call(func() { t.h.Drop(err) })
	}
	return true, p.call(func() { t.h.Run(t.ctx) })
}

// call calls f, recovering a panic and reporting it to the PanicHandler.
func (p *Pool) call(f func()) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if h := p.cfg.PanicHandler; h != nil {
				h(v, debug.Stack())
			}
		}
	}()
	f()
	return false
}

// next accounts for the task a worker just finished and returns the next one,
// or nil once the worker has parked itself as idle or must exit (closed ch).
func (p *Pool) next(w *worker, ran, panicked bool) *Task {
	p.mu.Lock()
	if ran {
		p.c.completed++
	} else {
		p.c.canceled++
	}
	if panicked {
		p.c.panics++
	}
	p.releaseLocked()
	if t := p.queue.front(); t != nil {
		p.queue.remove(t)
		t.queued = false
		p.c.queueWait += time.Since(t.enqueued)
		stop := t.stop
		t.stop = nil
		p.mu.Unlock()
		p.stopExpiry(stop)
		return t
	}
	p.busy--
	if p.closing {
		close(w.ch)
	} else {
		p.idle = append(p.idle, w)
	}
	p.mu.Unlock()
	return nil
}

func (p *Pool) exited() {
	p.mu.Lock()
	p.live--
	if p.live == 0 {
		close(p.done)
	}
	p.mu.Unlock()
}

// beginCloseLocked stops accepting work: it wakes every waiting submitter
// (they return ErrClosed) and tells idle workers to exit.
func (p *Pool) beginCloseLocked() {
	if p.closing {
		return
	}
	p.closing = true
	for t := p.waiters.front(); t != nil; t = p.waiters.front() {
		p.waiters.remove(t)
		t.waiting = false
		close(t.ready)
	}
	for _, w := range p.idle {
		close(w.ch)
	}
	p.idle = nil
}

// Shutdown stops accepting work and waits until every queued and running
// task has finished and the workers have exited. New Submits, and Submits
// waiting for room, return ErrClosed. If ctx ends first Shutdown returns
// ctx.Err(); the workers keep draining the queue, and Close may then be used
// to discard what is left. Shutdown may be called more than once and
// concurrently with Close and Submit.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.beginCloseLocked()
	p.mu.Unlock()
	select {
	case <-p.done:
	default:
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.expiring.Wait()
	return nil
}

// Close stops accepting work, drops every queued task with ErrClosed at
// once, and then blocks until running tasks have returned and the workers
// have exited. It does not cancel running tasks: the pool does not own
// their contexts. After Close returns no goroutine of the pool is left.
// Close may be called more than once and concurrently with Shutdown and
// Submit; it always returns nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.beginCloseLocked()
	var dropped []*Task
	for t := p.queue.front(); t != nil; t = p.queue.front() {
		p.queue.remove(t)
		t.queued = false
		p.admitted--
		p.c.dropped++
		dropped = append(dropped, t)
	}
	p.mu.Unlock()
	for _, t := range dropped {
		p.stopExpiry(t.stop)
		p.call(func() { t.h.Drop(ErrClosed) })
	}
	<-p.done
	p.expiring.Wait()
	return nil
}

// taskList is an intrusive doubly linked FIFO of tasks, so that a task whose
// context ends can leave the middle of the queue in O(1).
type taskList struct {
	head, tail *Task
	len        int
}

func (l *taskList) empty() bool  { return l.head == nil }
func (l *taskList) front() *Task { return l.head }

func (l *taskList) pushBack(t *Task) {
	t.prev, t.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
	l.len++
}

func (l *taskList) remove(t *Task) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	t.prev, t.next = nil, nil
	l.len--
}
