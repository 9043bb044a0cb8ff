package cassandra

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// execution is one run of a query or a batch. The future, the pool's
// bookkeeping, the driver's request and the result share one allocation:
// this is the path every request takes, and the pool hand-off must cost the
// caller little more than the driver call itself. Only a result with
// columns adds a second, for reading its rows (see resultRows).
//
// Its size is kept within 256 bytes, an allocation size class, and a test
// holds it there: every byte a request allocates is work for the garbage
// collector, which is most of what the wrapper costs under load
// (docs/performance.md). Hence the fields that do double duty below.
type execution struct {
	fut  Future[*ResultSet]
	err  error // the outcome of run, published by Finish
	task pool.Task
	// parentDone is the Done channel of the context the work was
	// submitted with. That context itself is the task's (task.Context)
	// whenever execCtx needs it.
	parentDone <-chan struct{}
	stop       context.CancelFunc // cancels the child context the work runs with, if it has one (see runContext)
	s          *AsyncSession
	query      *gocql.Query  // the query run, when batch is nil
	batch      *gocql.Batch  // the batch run, if any
	singlePage bool          // fetch only the first page of query
	sigState   atomic.Uint32 // see signal and stop
	signal     chan struct{} // execCtx's Done channel, once the driver has asked for it
	// rs.latency holds the start of the work, on the session's clock,
	// until run replaces it with the time the work took.
	rs ResultSet
}

// submit builds the driver's request for e and hands e to the session's
// pool, returning its future. The request is built from b if it is not
// nil, else from q if it is not nil, else from stmt and values with the
// session's defaults. Building it here, on the caller's goroutine, is what
// makes Execute take a snapshot: later changes to q or b do not affect it.
// stmt names the work in errors.
func (s *AsyncSession) submit(ctx context.Context, e *execution, stmt string, q *Query, b *Batch, values []any) *Future[*ResultSet] {
	e.s = s
	e.rs.latency = s.clock()
	if ctx == nil {
		e.fut.complete(nil, wrapQueryError(stmt, 0, nil, errNilContext))
		return &e.fut
	}
	if s.closing.Load() {
		e.fut.complete(nil, wrapQueryError(stmt, 0, nil, ErrClosed))
		return &e.fut
	}
	if err := e.build(stmt, q, b, values); err != nil {
		e.fut.complete(nil, wrapQueryError(stmt, 0, nil, err))
		return &e.fut
	}
	e.parentDone = ctx.Done()
	e.fut.op = e
	// The pool watches ctx while the work is queued, to drop it the moment
	// ctx ends (a context that can never end needs no watching). The
	// context the work runs with is chosen when it starts (runContext).
	if err := s.pool.SubmitTask(ctx, &e.task, e); err != nil {
		e.fut.complete(nil, wrapQueryError(stmt, 0, nil, err))
	}
	return &e.fut
}

// runContext returns the context the work runs with, ctx being the one it
// was submitted with, and here telling whether it runs on the goroutine of
// its awaiter (runHere) rather than on a worker:
//
//   - ctx itself, if the awaiter runs the work. The awaiter waits with ctx
//     or with a context that never ends, so the request is bound to ctx as
//     a plain driver call is: it stops when ctx ends, or when the driver's
//     own timeout (gocql's ClusterConfig.Timeout) runs out. Cancel called
//     from another goroutine completes the future at once but does not
//     stop such a request. Anything Cancel could stop would cost every
//     request: a child context is five allocations for a context that can
//     end, and execCtx, for one that cannot, puts a channel in the
//     driver's wait where ctx has none (docs/performance.md).
//   - execCtx, on a worker, if ctx can never end and the request is not
//     idempotent. It ends only by Cancel, and costs no allocation.
//   - otherwise, on a worker, a cancellable child of ctx, which Cancel
//     cancels. The driver derives a context from an idempotent request's,
//     for speculative executions, and would need a goroutine to follow
//     execCtx, a type the context package does not know.
func (e *execution) runContext(ctx context.Context, here bool) context.Context {
	switch {
	case here:
		return ctx
	case e.parentDone == nil && !e.idempotent():
		return execCtx{e}
	}
	ctx, e.stop = context.WithCancel(ctx)
	if !e.sigState.CompareAndSwap(signalNone, signalArmed) {
		e.stop() // Cancel came first
	}
	return ctx
}

// idempotent reports whether the request is marked idempotent.
func (e *execution) idempotent() bool {
	if e.batch != nil {
		return e.batch.IsIdempotent()
	}
	return e.query.IsIdempotent()
}

// build makes the driver's request (see submit). A panic, which can only
// come from a Configure function, becomes the request's error.
func (e *execution) build(stmt string, q *Query, b *Batch, values []any) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	switch {
	case b != nil:
		e.batch, err = b.build()
	case q != nil:
		e.query, err = q.build()
		e.singlePage = q.singlePage
	default:
		e.query = e.s.gs.Query(stmt, values...).PageSize(e.s.opts.pageSize)
	}
	return err
}

// statement names the work in errors: the query's text, or the batch's
// statements.
func (e *execution) statement() string {
	if e.batch != nil {
		stmts := make([]string, len(e.batch.Entries))
		for i, en := range e.batch.Entries {
			stmts[i] = en.Stmt
		}
		return batchStatement(stmts)
	}
	return e.query.Statement()
}

// runHere runs the work on the goroutine that awaits it, if it has a place
// to run but no worker has started it yet. Most callers await a future right
// after creating it; running the request on their own goroutine then spares
// two goroutine hand-offs (caller to worker, worker back to caller) while
// the request still holds its place, so the pool's bound holds.
//
// It is done only when awaiting with ctx cannot end sooner than the work
// itself: ctx never ends, or ends together with the context the work was
// submitted with (the usual Execute(ctx, ...).Await(ctx)). An awaiter with
// a shorter deadline must be free to stop waiting while the request goes on.
//
// It claims the work from the pool and runs it itself rather than through
// pool.Help, so that while the request waits for the server only Await,
// runHere and run lie between the caller's frames and the driver's.
func (e *execution) runHere(ctx context.Context) {
	if d := ctx.Done(); d != nil && d != e.parentDone {
		return
	}
	p := e.s.pool
	runCtx, ok := p.Claim(&e.task)
	if !ok {
		return
	}
	if err := runCtx.Err(); err != nil {
		e.Drop(err)
		p.Release(false)
		return
	}
	e.run(runCtx, true) // recovers its own panics
	p.Release(true)
	e.Finish()
}

// cancel stops the work after Future.Cancel has completed the future: it
// takes the work out of the queue at once if it is still there, and
// otherwise ends the context it runs with if a worker runs it (see
// runContext). Work that has not started yet will not.
func (e *execution) cancel() {
	if !e.s.pool.Cancel(&e.task) {
		e.interrupt()
	}
}

// Run does the work on a worker; Finish publishes it.
func (e *execution) Run(ctx context.Context) { e.run(ctx, false) }

// run does the work, on a worker or (here) on its awaiter, with the
// context it was submitted with. A panic becomes a *PanicError; the
// goroutine carries on.
func (e *execution) run(ctx context.Context, here bool) {
	defer e.ended()
	defer func() {
		if v := recover(); v != nil {
			e.err = newPanicError(v)
		}
	}()
	ctx = e.runContext(ctx, here)
	if e.fut.completed() {
		// Cancelled before it started. The pool drops queued work whose
		// context ended, but not work that Cancel caught after it was
		// given a place.
		e.err = wrapQueryError(e.statement(), 0, nil, context.Canceled)
		return
	}
	// The driver is called from here rather than from a helper, for the
	// reason given in Future.Await.
	for {
		var iter *gocql.Iter
		if e.batch != nil {
			iter = e.batch.IterContext(ctx)
		} else {
			iter = e.query.IterContext(ctx)
		}
		if !e.addPage(ctx, iter) {
			break
		}
	}
	e.rs.latency = e.s.clock() - e.rs.latency
}

// Finish completes the future, after the pool has counted the work done and
// freed its place.
func (e *execution) Finish() {
	if e.err != nil {
		e.fut.complete(nil, e.err)
		return
	}
	e.fut.complete(&e.rs, nil)
}

// Drop completes the future of work that never ran: its context ended while
// it was queued, or the session closed.
func (e *execution) Drop(err error) {
	e.fut.complete(nil, wrapQueryError(e.statement(), 0, nil, err))
}

// ended is deferred by run: the request is over. It gives execCtx's Done
// channel back unless Cancel has closed it, and frees the child context.
func (e *execution) ended() {
	if e.sigState.Swap(signalReturned) == signalArmed && e.signal != nil {
		signals.Put(e.signal)
		e.signal = nil
	}
	if e.stop != nil {
		e.stop()
	}
}

// execCtx is the context a request runs with on a worker when the context
// it was submitted with can never end (context.Background, and contexts
// made from it by WithValue or WithoutCancel), so that such a request needs
// no context.WithCancel and its two allocations. It ends only by Cancel; its
// Done channel is the execution's signal. Values and deadline are those of
// the context submitted with, which the pool's task keeps.
type execCtx struct{ e *execution }

func (c execCtx) Deadline() (time.Time, bool) { return c.e.task.Context().Deadline() }
func (c execCtx) Done() <-chan struct{}       { return c.e.done() }
func (c execCtx) Value(key any) any           { return c.e.task.Context().Value(key) }

// Err returns context.Canceled once the future has completed while the
// request runs, which only Cancel does; Done is closed then too.
func (c execCtx) Err() error {
	if c.e.fut.completed() {
		return context.Canceled
	}
	return nil
}

// The states of execution.sigState, which says how Cancel ends the context
// a running request runs with (see runContext).
//
// With execCtx, that is execution.signal, the channel execCtx.Done hands to
// the driver. It is taken from signals when the driver first asks for it;
// Cancel closes it; a request that ends without being cancelled gives it
// back, open, for another request. Most requests are never cancelled, and
// this spares each of them a channel. Only the goroutine running the request
// asks for Done: the driver does so where it waits for the server, and it
// derives no contexts for a request that is not idempotent, the only kind
// that runs with execCtx.
//
// With a child context, it is execution.stop, set before the request
// starts.
const (
	signalNone      uint32 = iota // nothing for Cancel to end yet
	signalArmed                   // signal is the driver's Done channel, or stop is set
	signalCancelled               // Cancel came, and closed signal or called stop if armed
	signalReturned                // the request ended; signal went back to signals
)

// signals holds open channels that ended requests gave back.
var signals = sync.Pool{New: func() any { return make(chan struct{}) }}

// done returns execCtx's Done channel.
func (e *execution) done() <-chan struct{} {
	switch e.sigState.Load() {
	case signalArmed:
		return e.signal
	case signalNone:
		ch := signals.Get().(chan struct{})
		e.signal = ch
		if e.sigState.CompareAndSwap(signalNone, signalArmed) {
			return ch
		}
		// Cancelled in between: nobody else has seen ch.
		e.signal = nil
		signals.Put(ch)
	}
	return closedChan
}

// interrupt ends the context a running request runs with, for Cancel: it
// closes execCtx's Done channel, or cancels the child context.
func (e *execution) interrupt() {
	if e.sigState.Swap(signalCancelled) != signalArmed {
		return
	}
	if e.signal != nil {
		close(e.signal)
	} else {
		e.stop()
	}
}

// addPage takes in one page of the result and reports whether another must
// be fetched: a query's pages are fetched, one request each, until the last
// one (or only the first, for SinglePage); a batch has one. It records the
// outcome in e.err once there is no next page.
func (e *execution) addPage(ctx context.Context, iter *gocql.Iter) (more bool) {
	rs := &e.rs
	if err := rs.addPage(iter); err != nil {
		e.err = wrapQueryError(e.statement(), rs.Attempts(), iter.Host(), e.s.closedErr(ctx, err))
		return false
	}
	next := iter.PageState()
	if e.batch != nil || len(next) == 0 || e.singlePage {
		rs.start(next)
		return false
	}
	if err := ctx.Err(); err != nil {
		e.err = wrapQueryError(e.statement(), rs.Attempts(), iter.Host(), err)
		return false
	}
	e.query.PageState(next)
	return true
}
