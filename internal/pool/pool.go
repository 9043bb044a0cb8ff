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
// called with the reason it never ran; or the goroutine waiting for it
// takes it with Claim and does either itself.
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

// MaxTasks is the most tasks a pool admits at once, Workers plus Queue:
// the pool counts them in 31 bits of one atomic word.
const MaxTasks = countMask

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

	// Tasks with a place to run wait on top, a stack linked through
	// Task.hnext, until a worker or Help starts them. It is taken whole
	// (Swap) and never popped one by one, so a Task used again cannot
	// confuse it. Helped tasks are left on it and dropped by whoever
	// takes it next.
	top     atomic.Pointer[Task]
	unclaim atomic.Int32 // handed tasks that neither a worker nor Help has started
	// looking counts workers started or woken that will look at top
	// before they go idle; a submitter calls a worker only when none is.
	looking atomic.Int32

	// places counts admitted and busy tasks (see the place constants), and
	// says whether a task that gives its places back must take mu to
	// tell someone. They share one word so that the common start and end
	// of a task, with nobody queued or waiting for room, are each one
	// atomic operation and no lock: under load every request goes that
	// way, and the lock it took was the pool's most contended point
	// (docs/performance.md). Places are taken only by take's
	// compare-and-swap, with mu or without it, and given back with or
	// without mu.
	places atomic.Uint64

	// Counters updated outside mu.
	submitted, completed, canceled, panics, helped atomic.Uint64

	mu       sync.Mutex
	closing  bool      // Shutdown or Close has started
	finished bool      // done is closed
	live     int       // workers started and not told to exit
	idle     []*worker // idle workers, used as a stack
	queue    taskList  // tasks waiting for a place to run
	waiters  taskList  // Wait-policy submitters waiting for room, FIFO
	c        counters
}

type counters struct {
	rejected, canceledSubmit, dropped uint64
	queueWait                         time.Duration
}

// The fields of Pool.places.
const (
	// busyOne is one place to run taken: a task running, or handed and
	// not started yet. At most Workers. Bits 0 to 30.
	busyOne uint64 = 1
	// admittedOne is one admitted task: running, queued, or granted to a
	// waiting submitter and not dispatched yet. At most Workers + Queue.
	// Bits 32 to 62.
	admittedOne uint64 = 1 << 32
	// attendBit is set, under mu, while tasks are queued, submitters wait
	// for room, or the pool is closing. While it is set submitters take mu
	// (room goes to the queued and waiting first), and a task that gives
	// back its places takes mu and passes them on. Since every update of
	// places is an atomic operation on the one word, a task that gives its
	// places back either sees the bit or has done so before the holder of
	// mu who set it looks at the counts.
	attendBit uint64 = 1 << 63

	countMask = 1<<31 - 1
	// releaseBoth and releaseAdmitted, added to places, subtract
	// admittedOne+busyOne and admittedOne.
	releaseBoth     = ^(admittedOne + busyOne - 1)
	releaseAdmitted = ^(admittedOne - 1)
)

// counts returns the busy and admitted counts of places.
func (p *Pool) counts() (busy, admitted int) {
	s := p.places.Load()
	return int(s & countMask), int(s >> 32 & countMask)
}

// take adds n (busyOne, admittedOne or both) to places if that leaves
// busy at most Workers and admitted at most Workers + Queue, and reports
// whether it did. With fast set it fails while attendBit is set, when room
// belongs to queued tasks and waiting submitters first. Places are taken
// only here, with a compare-and-swap, since submitters take them both
// with mu and without it.
func (p *Pool) take(n uint64, fast bool) bool {
	for {
		s := p.places.Load()
		if fast && s&attendBit != 0 {
			return false
		}
		t := s + n
		if int(t&countMask) > p.cfg.Workers || int(t>>32&countMask) > p.capacity {
			return false
		}
		if p.places.CompareAndSwap(s, t) {
			return true
		}
	}
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
// hnext belongs to whoever holds the chain the task is on (see Pool.top);
// what q points to is guarded by Pool.mu.
type Task struct {
	ctx   context.Context
	h     Handler
	hnext *Task     // on Pool.top
	q     *queueing // nil until the task first waits in the queue or for room

	// state says who runs a handed task: whichever of a worker and Help
	// moves it from handed to started or helped first.
	state atomic.Uint32
}

// Context returns the context t was submitted with.
func (t *Task) Context() context.Context { return t.ctx }

// queueing is what a task needs only while it waits, in Pool.queue for a
// place to run or in Pool.waiters for room. Most tasks start at once and
// never wait; keeping this apart keeps the Task that every request embeds
// small (every byte a request allocates is work for the collector).
type queueing struct {
	prev, next *Task         // in Pool.queue or Pool.waiters
	ready      chan struct{} // closed to wake a waiter (given room, or closing)
	stop       func() bool   // stops the AfterFunc that expires a queued task
	enqueued   int64         // when it was queued, in ns since Pool.epoch
	queued     bool          // in Pool.queue
	waiting    bool          // in Pool.waiters
	granted    bool          // a waiter that was given room
}

// queueState returns t's waiting state, making it if t has never waited.
func (t *Task) queueState() *queueing {
	if t.q == nil {
		t.q = new(queueing)
	}
	return t.q
}

// queued reports whether t is in Pool.queue. The caller holds Pool.mu.
func (t *Task) queued() bool { return t.q != nil && t.q.queued }

// Task states. A task that gets a place to run becomes handed, and waits on
// Pool.top until a worker or Help starts it, whichever moves it on first.
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
	if cfg.Workers > MaxTasks || cfg.Queue > MaxTasks-cfg.Workers {
		return nil, fmt.Errorf("cassandra: pool: Workers plus Queue must not exceed %d, got %d and %d", MaxTasks, cfg.Workers, cfg.Queue)
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

	// The common case, a place free and nobody queued or waiting, takes
	// no lock: under load every request passes here, and a lock was the
	// pool's most contended point (docs/performance.md).
	if p.take(admittedOne+busyOne, true) {
		p.submitted.Add(1)
		p.hand(t)
		if p.looking.Load() == 0 {
			p.callWorker()
		}
		return nil
	}

	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.waiters.empty() && p.take(admittedOne, false) {
		p.submitted.Add(1)
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
	q := t.queueState()
	q.ready = make(chan struct{})
	q.waiting = true
	p.waiters.pushBack(t)
	// Room given back before the bit was set is passed on here, maybe to t.
	w := p.attendLocked()
	p.mu.Unlock()
	w.wake()

	select {
	case <-ctx.Done():
		p.mu.Lock()
		switch {
		case q.granted:
			// Room was given to us just as ctx ended. Like
			// semaphore.Acquire, pretend we never got it and pass it on.
			p.releaseLocked()
		case q.waiting:
			p.waiters.remove(t)
			q.waiting = false
		}
		p.c.canceledSubmit++
		p.mu.Unlock()
		return ctx.Err()

	case <-q.ready:
		p.mu.Lock()
		if !q.granted || p.closing {
			if q.granted {
				p.releaseLocked()
			}
			p.mu.Unlock()
			return ErrClosed
		}
		p.submitted.Add(1)
		w = p.dispatchLocked(t)
		p.mu.Unlock()
		w.wake()
		return nil
	}
}

// dispatchLocked gives an admitted task a place to run, if there is one
// and no task queued before it, or queues it. It returns a worker to wake
// (after unlocking) so that a worker comes to start the task, or nil.
func (p *Pool) dispatchLocked(t *Task) *worker {
	if p.queue.empty() && p.take(busyOne, false) {
		return p.handLocked(t)
	}
	q := t.queueState()
	q.queued = true
	q.enqueued = p.sinceEpoch()
	p.queue.pushBack(t)
	// Contexts that can never end cost nothing (the database/sql idea).
	// The callback may start at once on its own goroutine; it needs mu, so
	// it sees the task fully queued.
	if t.ctx.Done() != nil {
		p.expiring.Add(1)
		q.stop = context.AfterFunc(t.ctx, func() { p.expire(t) })
	}
	// A place given back before the bit was set is passed on here, maybe
	// to t. From now on tasks that end take mu and pass theirs on.
	return p.attendLocked()
}

// handLocked puts t, which has just been given a place to run, where a
// worker or Help will start it, and returns the worker to wake for it, if
// one is needed. One worker on its way is enough, however many tasks are
// handed: a worker that finds a task calls another if more are waiting,
// and most tasks are started by Help before any worker gets to them.
func (p *Pool) handLocked(t *Task) *worker {
	p.hand(t)
	return p.callLocked()
}

// hand puts t, which has a place to run, where a worker or Help will start
// it. The caller must then make sure a worker looks: it calls one unless
// looking shows one will (see work).
func (p *Pool) hand(t *Task) {
	t.state.Store(taskHanded)
	p.push(t, t)
	p.unclaim.Add(1)
}

// push puts the chain first..last (linked through hnext) on top.
func (p *Pool) push(first, last *Task) {
	for {
		old := p.top.Load()
		last.hnext = old
		if p.top.CompareAndSwap(old, first) {
			return
		}
	}
}

// takeTop takes everything on top and, if claim is set, claims the oldest
// task there for a worker and returns it. The newest tasks are the ones
// whose submitters are most likely about to Help them; the oldest has
// waited longest. Helped tasks are dropped; the other handed ones go back
// on top, and takeTop reports whether there were any. A worker that
// claims a task reads top afterwards, like any worker; anyone else who
// gets back true must call a worker if none is looking.
func (p *Pool) takeTop(claim bool) (got *Task, putBack bool) {
	var head, tail, beforeTail *Task // still handed, newest first
	for t := p.top.Swap(nil); t != nil; {
		next := t.hnext
		t.hnext = nil
		if t.state.Load() == taskHanded {
			if tail == nil {
				head = t
			} else {
				tail.hnext = t
			}
			beforeTail, tail = tail, t
		}
		t = next
	}
	// If Help takes the oldest first, it stays on the chain until the next
	// take drops it, and the worker, finding top not empty, looks again.
	if claim && tail != nil && tail.state.CompareAndSwap(taskHanded, taskStarted) {
		p.unclaim.Add(-1)
		got = tail
		if tail = beforeTail; tail == nil {
			head = nil
		} else {
			tail.hnext = nil
		}
	}
	if head != nil {
		p.push(head, tail)
	}
	return got, head != nil
}

// callWorker calls a worker for handed tasks, if none is looking.
func (p *Pool) callWorker() {
	p.mu.Lock()
	w := p.callLocked()
	p.mu.Unlock()
	w.wake()
}

// callLocked returns a worker to wake if handed tasks are waiting and no
// worker is on its way: an idle one, or a new one started (it needs no
// waking) if fewer than Workers have started. It returns nil if every
// worker is busy: each looks for handed tasks when its task is done.
func (p *Pool) callLocked() *worker {
	if p.unclaim.Load() <= 0 || p.looking.Load() > 0 {
		return nil
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.looking.Add(1)
		return w
	}
	if p.live < p.cfg.Workers {
		p.live++
		p.looking.Add(1)
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
	if !t.queued() {
		p.mu.Unlock()
		return
	}
	p.queue.remove(t)
	t.q.queued = false
	p.canceled.Add(1)
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
	if !t.queued() {
		p.mu.Unlock()
		return false
	}
	p.queue.remove(t)
	t.q.queued = false
	p.canceled.Add(1)
	p.releaseLocked()
	stop := t.q.stop
	t.q.stop = nil
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
	p.places.Add(releaseAdmitted)
	p.grantLocked()
}

// grantLocked gives room to waiting submitters, first come first served,
// while there is room, and clears attendBit if nothing needs it any more.
func (p *Pool) grantLocked() {
	for t := p.waiters.front(); t != nil && !p.closing; t = p.waiters.front() {
		if !p.take(admittedOne, false) {
			return
		}
		p.waiters.remove(t)
		t.q.waiting = false
		t.q.granted = true
		close(t.q.ready)
	}
	p.quietLocked()
}

// attendLocked sets attendBit, because a task is queued, a submitter
// waits or the pool is closing, and then passes on the room that tasks
// gave back without mu before it was set. It returns a worker to wake.
func (p *Pool) attendLocked() *worker {
	p.places.Or(attendBit)
	return p.pumpLocked()
}

// pumpLocked passes on free places: to queued tasks while there is a place
// to run, then to waiting submitters while there is room. It returns a
// worker to wake for the tasks it handed, if one is needed.
func (p *Pool) pumpLocked() *worker {
	var w *worker
	for t := p.dequeueLocked(); t != nil; t = p.dequeueLocked() {
		if called := p.handLocked(t); called != nil {
			w = called
		}
	}
	p.grantLocked()
	return w
}

// quietLocked clears attendBit once no task is queued, no submitter waits
// and the pool is not closing: tasks may then give back their places
// without mu.
func (p *Pool) quietLocked() {
	if p.queue.empty() && p.waiters.empty() && !p.closing {
		p.places.And(^attendBit)
	}
}

// work is a worker's loop: it runs handed tasks while there are any, then
// waits, idle, until it is called again; it exits when the pool is closing
// and there is nothing left for it.
//
// A worker is counted in looking from when it is started or called until
// it has found a task or, finding none, has decided under mu to go idle.
// Whoever puts tasks on top reads looking afterwards and calls a worker if
// it is zero (callWorker); a worker leaves looking and then reads top. So
// either the one sees no worker looking and calls one, or the worker sees
// the tasks.
func (p *Pool) work(w *worker) {
	defer p.workers.Done()
	for {
		t, _ := p.takeTop(true)
		if t == nil {
			p.mu.Lock()
			p.looking.Add(-1)
			if p.top.Load() != nil {
				// Put there after takeTop looked.
				p.looking.Add(1)
				p.mu.Unlock()
				continue
			}
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
			continue // callLocked counted it in looking
		}
		p.looking.Add(-1)
		if p.top.Load() != nil {
			// More handed tasks than this one: call another worker for them.
			p.callWorker()
		}
		p.started(t)

		// A task may be submitted again from its own Run, so keep its
		// handler: t is not ours once its place is given back.
		h := t.h
		ran, panicked := p.exec(t, false)
		p.looking.Add(1) // it looks again right after Finish: no need to call another
		p.count(ran, panicked)
		p.giveBack()
		if ran && p.call(h.Finish) {
			p.panics.Add(1)
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
		h = t.h
	}
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			p.reportPanic(v)
		}
		if help {
			p.helpedDone(ran, panicked)
			if ran && p.call(h.Finish) {
				p.panics.Add(1)
			}
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

// count counts a task that ran or was dropped.
func (p *Pool) count(ran, panicked bool) {
	if ran {
		p.completed.Add(1)
	} else {
		p.canceled.Add(1)
	}
	if panicked {
		p.panics.Add(1)
	}
}

// dequeueLocked takes the first queued task out of the queue, with a place
// to run, if there is one, or returns nil.
func (p *Pool) dequeueLocked() *Task {
	t := p.queue.front()
	if t == nil || !p.take(busyOne, false) {
		return nil
	}
	p.queue.remove(t)
	t.q.queued = false
	p.c.queueWait += time.Duration(p.sinceEpoch() - t.q.enqueued)
	p.quietLocked()
	return t
}

// started stops the expiry of a task that was queued, for whichever of a
// worker and Help has just started it (outside mu: stopping waits for a
// callback that has already started).
func (p *Pool) started(t *Task) {
	if q := t.q; q != nil && q.stop != nil {
		stop := q.stop
		q.stop = nil
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
	if _, ok := p.Claim(t); !ok {
		return false
	}
	p.exec(t, true)
	return true
}

// Claim is Help for a caller that runs t itself instead of through its
// Handler, and so keeps the pool's frames off its stack while t runs
// (every garbage collection walks each frame of each waiting goroutine).
// If t has a place to run but no worker has started it, Claim takes it
// for the calling goroutine and returns the context t was submitted with
// and true. The caller must then do what the pool would: drop t if that
// context has ended, or else run it, recovering any panic; then call
// Release, and only after Release finish it. Claim reports false, and
// does nothing, if a worker or Help got to t first. A claimed task cannot
// be submitted again.
func (p *Pool) Claim(t *Task) (context.Context, bool) {
	if !t.state.CompareAndSwap(taskHanded, taskHelped) {
		return nil, false
	}
	p.unclaim.Add(-1)
	p.started(t)
	return t.ctx, true
}

// Release gives back the place of a task taken with Claim, counting it
// as helped and as completed (ran is true) or cancelled.
func (p *Pool) Release(ran bool) { p.helpedDone(ran, false) }

// helpedDone accounts for a task that Help or a Claim ran or dropped.
func (p *Pool) helpedDone(ran, panicked bool) {
	p.helped.Add(1)
	p.count(ran, panicked)
	p.giveBack()
	// Helped tasks stay on top until someone takes it. When no task there
	// waits for a worker, none may come for a while: drop them now, so
	// that they do not keep their results alive.
	if p.unclaim.Load() <= 0 && p.top.Load() != nil {
		if _, putBack := p.takeTop(false); putBack && p.looking.Load() == 0 {
			p.callWorker()
		}
	}
}

// giveBack gives back a finished task's place to run and admitted place.
// If attendBit is set it passes them on, to a queued task or a waiting
// submitter, or tells Shutdown that the last task has ended.
func (p *Pool) giveBack() {
	if p.places.Add(releaseBoth)&attendBit != 0 {
		p.mu.Lock()
		w := p.pumpLocked()
		p.finishedLocked()
		p.mu.Unlock()
		w.wake()
	}
}

// finishedLocked closes done once the pool is closing, every worker has
// exited and no task is running on a goroutine of Help.
func (p *Pool) finishedLocked() {
	if busy, _ := p.counts(); p.closing && p.live == 0 && busy == 0 && !p.finished {
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
	// Tasks that end from now on take mu, and so see whether they were
	// the last one.
	p.places.Or(attendBit)
	for t := p.waiters.front(); t != nil; t = p.waiters.front() {
		p.waiters.remove(t)
		t.q.waiting = false
		close(t.q.ready)
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
		t.q.queued = false
		p.places.Add(releaseAdmitted)
		p.c.dropped++
		dropped = append(dropped, t)
	}
	p.mu.Unlock()
	for _, t := range dropped {
		p.stopExpiry(t.q.stop)
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
	t.q.prev, t.q.next = l.tail, nil
	if l.tail != nil {
		l.tail.q.next = t
	} else {
		l.head = t
	}
	l.tail = t
	l.len++
}

func (l *taskList) remove(t *Task) {
	q := t.q
	if q.prev != nil {
		q.prev.q.next = q.next
	} else {
		l.head = q.next
	}
	if q.next != nil {
		q.next.q.prev = q.prev
	} else {
		l.tail = q.prev
	}
	q.prev, q.next = nil, nil
	l.len--
}
