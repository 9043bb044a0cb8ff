package cassandra

import (
	"context"
	"time"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// execution is one run of a query or a batch. The future, the pool's
// bookkeeping, a snapshot of the query and the result share one allocation:
// this is the path every request takes, and the pool hand-off must cost the
// caller little more than the driver call itself.
type execution struct {
	fut    Future[*ResultSet]
	err    error // the outcome of Run, published by Finish
	task   pool.Task
	cancel context.CancelFunc
	s      *AsyncSession
	stmt   string // names the work in errors
	start  time.Time
	q      Query  // the query run, when b is nil
	b      *Batch // the batch run, if any
	rs     ResultSet
}

// submit hands e to the session's pool and returns its future. The future's
// Cancel cancels the context the work runs with.
func (s *AsyncSession) submit(ctx context.Context, e *execution) *Future[*ResultSet] {
	e.s = s
	e.start = s.opts.now()
	e.fut.done = make(chan struct{})
	if s.closing.Load() {
		e.fut.complete(nil, wrapQueryError(e.stmt, 0, nil, ErrClosed))
		return &e.fut
	}
	ctx, e.cancel = context.WithCancel(ctx)
	e.fut.cancel = e.cancel
	if err := s.pool.SubmitTask(ctx, &e.task, e); err != nil {
		e.cancel()
		e.fut.complete(nil, wrapQueryError(e.stmt, 0, nil, err))
	}
	return &e.fut
}

// Run does the work on a worker; Finish publishes it. A panic becomes a
// *PanicError; the worker carries on.
func (e *execution) Run(ctx context.Context) {
	defer e.cancel()
	defer func() {
		if v := recover(); v != nil {
			e.err = newPanicError(v)
		}
	}()
	if e.b != nil {
		e.err = e.runBatch(ctx)
	} else {
		e.err = e.runQuery(ctx)
	}
	e.rs.latency = e.s.since(e.start)
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
	e.fut.complete(nil, wrapQueryError(e.stmt, 0, nil, err))
	e.cancel()
}

// runQuery fetches the query's pages, one request each, until the last one
// (or only the first, for SinglePage).
func (e *execution) runQuery(ctx context.Context) error {
	q, rs := &e.q, &e.rs
	gq := q.build()
	for {
		iter := gq.IterContext(ctx)
		if err := rs.addPage(iter); err != nil {
			return wrapQueryError(e.stmt, rs.attempts, iter.Host(), e.s.closedErr(ctx, err))
		}
		next := iter.PageState()
		if len(next) == 0 || q.singlePage {
			rs.start(next)
			return nil
		}
		if err := ctx.Err(); err != nil {
			return wrapQueryError(e.stmt, rs.attempts, iter.Host(), err)
		}
		gq.PageState(next)
	}
}

// runBatch sends the batch as one request.
func (e *execution) runBatch(ctx context.Context) error {
	iter := e.b.build().IterContext(ctx)
	if err := e.rs.addPage(iter); err != nil {
		return wrapQueryError(e.stmt, e.rs.attempts, iter.Host(), e.s.closedErr(ctx, err))
	}
	e.rs.start(nil)
	return nil
}
