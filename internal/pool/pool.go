// Package pool provides the bounded worker pool on which every query of the
// cassandra package runs.
//
// A Pool has up to Workers worker goroutines, started as they are first
// needed, and a bounded FIFO queue. At most Workers tasks run at once and
// at most Queue tasks wait; a Submit that finds no room either fails with
// ErrOverloaded (FailFast) or waits, in FIFO order, until there is room or
// its context ends (Wait).
//
// Every accepted task is resolved exactly once: either run is called on a
// worker (or, through Help, on the goroutine waiting for it), or drop is
// called with the reason it never ran.
package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
	// Workers is the most tasks that run at once, and the most worker
	// goroutines the pool starts. Workers start when there is work for
	// them, so a pool that is never busy has few. It must be at least 1.
	Workers int
	// Queue is the most tasks that may wait for a place to run. Zero means
	// a task is accepted only when it can start at once.
	Queue int
	// Policy says what Submit does when there is no room. The zero value is Wait.
	Policy Policy
	// PanicHandler, if set, is called with the value and stack of a panic
	// recovered from a task's run or drop function, on the goroutine that
	// ran it. That goroutine survives the panic either way; with a nil PanicHandler the panic is
	// only counted (Stats.PanicCount). PanicHandler must not panic.
	PanicHandler func(v any, stack []byte)
}

// Pool runs tasks on up to Workers worker goroutines (or on goroutines that
// Help them), fed by a bounded FIFO queue. It is safe for concurrent use by
// multiple goroutines.
type Pool struct {
	cfg      Config
	capacity int           // Workers + Queue: the most tasks admitted at once
	done     chan struct{} // closed by finishedLocked
	epoch    time.Time     // the origin of Task.enqueued

	// expiring counts context.AfterFunc callbacks that were registered and
	// may still run: Add when registered, Done by whoever stops it
	// successfully or by the callback itself. Adds happen only before
	// closing is set (under mu), and so before any Wait.
	expiring sync.WaitGroup

	workers sync.WaitGroup // worker goroutines that have not returned

	unclaim atomic.Int32 // handed tasks that neither a worker nor Help has started

	mu       sync.Mutex
	closing  bool      // Shutdown or Close has started
	finished bool      // done is closed
	admitted int       // running + queued + granted to a waiter but not yet dispatched
	busy     int       // places to run taken: tasks running, or handed and not started; at most Workers
	live     int       // workers started and not told to exit
	idle     []*worker // idle workers, used as a stack
	queue    taskList  // tasks waiting for a place to run
	handed   taskList  // tasks with a place, not started yet by a worker or Help
	looking  int       // workers woken or started that have not yet looked for work
	waiters  taskList  // Wait-policy submitters waiting for room, FIFO
	c        counters
}

type counters struct {
	submit, completed, rejected, canceled, canceledSubmit, dropped, panics, helped uint64
	queueWait                                                                      time.Duration
}

// worker is an idle worker's wake-up line: a signal on ch makes it look for
// work, closing ch makes it exit. It is written only while the worker is
// idle, so a signal never blocks.
type worker struct {
	ch chan struct{} // capacity 1
}

// wake signals w, if w is not nil.
func (w *worker) wake() {
	if w != nil {
		w.ch <- struct{}{}
	}
}

// Handler is the work of one task. For every accepted task the pool calls
// either Run and then Finish, or Drop, exactly once.
type Handler interface {
	// Run runs the task with the context it was submitted with, on a
	// worker or on the goroutine that called Help.
	Run(ctx context.Context)
	// Finish is called on the same goroutine after Run, once the task's place
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
// Every field but ctx, h and state is guarded by Pool.mu.
type Task struct {
	ctx context.Context
	h   Handler

	prev, next *Task
	ready      chan struct{} // closed to wake a waiter (given room, or closing)
	stop       func() bool   // stops the AfterFunc that expires a queued task
	enqueued   int64         // when it was queued, in ns since Pool.epoch

	// state says who runs a handed task: whichever of a worker and Help
	// moves it from handed to started or helped first.
	state   atomic.Uint32
	queued  bool // in Pool.queue
	handed  bool // in Pool.handed
	waiting bool // in Pool.waiters
	granted bool // a waiter that was given room
}

// Task states. A task that gets a place to run becomes handed, and waits in
// Pool.handed until a worker or Help starts it, whichever moves it on first.
const (
	taskNew uint32 = iota
	taskHanded
	taskStarted
	taskHelped
)

// New returns a pool configured by cfg. It starts no goroutine: workers
// start as tasks arrive, up to cfg.Workers, and run until Shutdown or Close.
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
		epoch:    time.Now(),
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
// Close, Cancel or Help, or on a goroutine started by context.AfterFunc. The pool does not
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
	if t.state.Load() == taskHelped {
		return errors.New("cassandra: pool: a Task run by Help cannot be submitted again")
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
		w.wake()
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
		w.wake()
		return nil
	}
}

// dispatchLocked gives an admitted task a place to run, if there is one
// and no task queued before it, or queues it. It returns a worker to wake
// (after unlocking) so that a worker comes to start the task, or nil.
func (p *Pool) dispatchLocked(t *Task) *worker {
	if p.queue.empty() && p.busy < p.cfg.Workers {
		return p.handLocked(t)
	}
	t.queued = true
	t.enqueued = p.sinceEpoch()
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

// handLocked gives t a place to run and puts it where a worker or Help will
// start it, and returns the worker to wake for it, if one is needed. One
// worker on its way is enough, however many tasks are handed: a worker that
// finds a task calls another if more are waiting, and most tasks are
// started by Help before any worker gets to them.
func (p *Pool) handLocked(t *Task) *worker {
	p.busy++
	t.state.Store(taskHanded)
	t.handed = true
	p.handed.pushBack(t)
	p.unclaim.Add(1)
	return p.callLocked()
}

// callLocked returns a worker to wake if handed tasks are waiting and no
// worker is on its way: an idle one, or a new one started (it needs no
// waking) if fewer than Workers have started. It returns nil if every
// worker is busy: each looks for handed tasks when its task is done.
func (p *Pool) callLocked() *worker {
	if p.unclaim.Load() == 0 || p.looking > 0 {
		return nil
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.looking++
		return w
	}
	if p.live < p.cfg.Workers {
		p.live++
		p.looking++
		p.workers.Add(1)
		go p.work(&worker{ch: make(chan struct{}, 1)})
	}
	return nil
}

// sinceEpoch is the monotonic time since the pool was made, in ns: a queued
// task records it in 8 bytes rather than a time.Time's 24.
func (p *Pool) sinceEpoch() int64 { return int64(time.Since(p.epoch)) }

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

// Cancel takes t out of the queue, if it is still there, and drops it with
// context.Canceled, freeing its place at once; it reports whether it did.
// A task that has a place to run, or has run, is left alone. For a task
// whose context never ends, which the pool does not watch, Cancel is the
// only way out of the queue; for the others it is a synchronous one.
func (p *Pool) Cancel(t *Task) bool {
	p.mu.Lock()
	if !t.queued {
		p.mu.Unlock()
		return false
	}
	p.queue.remove(t)
	t.queued = false
	p.c.canceled++
	p.releaseLocked()
	stop := t.stop
	t.stop = nil
	p.mu.Unlock()
	p.stopExpiry(stop)
	p.call(func() { t.h.Drop(context.Canceled) })
	return true
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

// work is a worker's loop: it runs handed and queued tasks while there are
// any, then waits, idle, until it is called again; it exits when the pool
// is closing and there is nothing left for it.
func (p *Pool) work(w *worker) {
	defer p.workers.Done()
	p.mu.Lock()
	for {
		p.looking--
		t := p.findLocked()
		if t == nil {
			if p.closing {
				p.live--
				p.finishedLocked()
				p.mu.Unlock()
				return
			}
			p.idle = append(p.idle, w)
			p.mu.Unlock()
			if _, ok := <-w.ch; !ok {
				return // beginCloseLocked has counted it out
			}
			p.mu.Lock()
			continue
		}
		// More handed tasks than this one: call another worker for them.
		other := p.callLocked()
		p.mu.Unlock()
		other.wake()
		p.started(t)

		// A task may be submitted again from its own Run, so keep its
		// handler: t is not ours once finishLocked has released it.
		h := t.h
		ran, panicked := p.exec(t, false)
		p.mu.Lock()
		p.finishLocked(ran, panicked)
		p.looking++ // it looks again right after Finish: no need to call another
		p.mu.Unlock()
		finishPanicked := ran && p.call(h.Finish)
		p.mu.Lock()
		if finishPanicked {
			p.c.panics++
		}
	}
}

// exec runs t's handler, or drops t if its context ended before it could
// start, recovering a panic as call does. For Help (help is true) it then
// accounts for t and finishes it; a worker does that itself. The handler is
// called from here rather than through call: the goroutine that runs a task
// waits in it for the server, and every garbage collection walks each frame
// of each waiting stack (measured in docs/performance.md).
func (p *Pool) exec(t *Task, help bool) (ran, panicked bool) {
	var h Handler
	if help {
		p.unclaim.Add(-1)
		h = t.h
	}
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			p.reportPanic(v)
		}
		if help {
			p.helped(t, h, ran, panicked)
		}
	}()
	if err := t.ctx.Err(); err != nil {
		t.h.Drop(err)
		return false, false
	}
	ran = true
	t.h.Run(t.ctx)
	return true, false
}

// call calls f, recovering a panic and reporting it to the PanicHandler.
func (p *Pool) call(f func()) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			p.reportPanic(v)
		}
	}()
	f()
	return false
}

// reportPanic gives a recovered panic to the PanicHandler, if there is one.
func (p *Pool) reportPanic(v any) {
	if h := p.cfg.PanicHandler; h != nil {
		h(v, debug.Stack())
	}
}

// finishLocked accounts for a task that ran or was dropped, and gives back
// its place to run and its admitted place.
func (p *Pool) finishLocked(ran, panicked bool) {
	if ran {
		p.c.completed++
	} else {
		p.c.canceled++
	}
	if panicked {
		p.c.panics++
	}
	p.busy--
	p.releaseLocked()
}

// findLocked takes the next task for a worker to run: the first handed task
// that Help has not taken, or else the first queued task if there is a
// place for it. The caller must pass the task to started after unlocking.
func (p *Pool) findLocked() *Task {
	for t := p.handed.front(); t != nil; t = p.handed.front() {
		p.handed.remove(t)
		t.handed = false
		if t.state.CompareAndSwap(taskHanded, taskStarted) {
			p.unclaim.Add(-1)
			return t
		}
		// Help is running t, in its place; Help accounts for it.
	}
	if t := p.dequeueLocked(); t != nil {
		t.state.Store(taskStarted)
		p.busy++
		return t
	}
	return nil
}

// dequeueLocked takes the first queued task out of the queue if there is a
// place for it to run, or returns nil. The caller takes the place.
func (p *Pool) dequeueLocked() *Task {
	t := p.queue.front()
	if t == nil || p.busy >= p.cfg.Workers {
		return nil
	}
	p.queue.remove(t)
	t.queued = false
	p.c.queueWait += time.Duration(p.sinceEpoch() - t.enqueued)
	return t
}

// started stops the expiry of a task just taken out of the queue (outside
// mu: stopping waits for a callback that has already started).
func (p *Pool) started(t *Task) {
	if t.stop != nil {
		stop := t.stop
		t.stop = nil
		p.stopExpiry(stop)
	}
}

// Help runs t on the calling goroutine if t has a place to run but no
// worker has started it yet, and reports whether it did. The place is
// Help's until t is done, so no more than Workers tasks run at once either
// way. Help calls Run and Finish (or Drop, if t's context has already
// ended) like a worker would, and returns after them.
//
// Help is for a goroutine that is about to wait for t's result anyway:
// running t itself spares a hand-off to a worker and another one back.
// A task that Help ran cannot be submitted again.
func (p *Pool) Help(t *Task) bool {
	if !t.state.CompareAndSwap(taskHanded, taskHelped) {
		return false
	}
	p.exec(t, true)
	return true
}

// helped accounts for a task that Help ran or dropped, and finishes it.
func (p *Pool) helped(t *Task, h Handler, ran, panicked bool) {
	p.mu.Lock()
	if t.handed {
		p.handed.remove(t)
		t.handed = false
	}
	p.c.helped++
	p.finishLocked(ran, panicked)
	// The place Help gives back may be what the first queued task waits
	// for; a worker would only find it when its own task is done.
	var w *worker
	var stop func() bool
	if next := p.dequeueLocked(); next != nil {
		stop, next.stop = next.stop, nil
		w = p.handLocked(next)
	}
	p.finishedLocked()
	p.mu.Unlock()
	p.stopExpiry(stop)
	w.wake()
	if ran && p.call(h.Finish) {
		p.mu.Lock()
		p.c.panics++
		p.mu.Unlock()
	}
}

// finishedLocked closes done once the pool is closing, every worker has
// exited and no task is running on a goroutine of Help.
func (p *Pool) finishedLocked() {
	if p.closing && p.live == 0 && p.busy == 0 && !p.finished {
		p.finished = true
		close(p.done)
	}
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
	p.live -= len(p.idle)
	p.idle = nil
	// Handed tasks that no worker is on its way to need one started now:
	// no worker is idle any more, so none needs waking.
	p.callLocked()
	p.finishedLocked() // if no worker ever started
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
	p.workers.Wait()
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
	p.workers.Wait()
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
