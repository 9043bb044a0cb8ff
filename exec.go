package cassandra

import (
	"context"
	"errors"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// execution is one run of a query or a batch on the session's pool: the
// pool task that completes a future.
type execution struct {
	fut    Future[*ResultSet]
	ctx    context.Context    // derived from the caller's; Future.Cancel cancels it
	stop   context.CancelFunc // cancels ctx
	s      *AsyncSession
	stmt   string // names the work in errors
	query  *gocql.Query
	batch  *gocql.Batch
	single bool      // fetch only the first page of query (Query.SinglePage)
	start  time.Time // when Execute was called
	rs     ResultSet // the result, once Run has filled it in
	err    error
	rec    *record // for the session's collector; nil without one
	// done, if set, is told when the pool is through with the request
	// (ExecuteConcurrent); see submitNotify.
	done func(*Future[*ResultSet])
}

// submit hands the driver's request q or b (exactly one of them set) to the
// session's pool, and returns the future of its result. A non-nil err,
// from building the request, completes the future at once instead.
//
// The request runs with a child of ctx, which Future.Cancel cancels: one
// rule, whatever the request is doing when Cancel is called. With a rate
// limit, the caller waits for a token first (see WithRateLimit).
func (s *AsyncSession) submit(ctx context.Context, stmt string, q *gocql.Query, b *gocql.Batch, single bool, err error) *Future[*ResultSet] {
	fut, _ := s.submitNotify(ctx, stmt, q, b, single, err, nil)
	return fut
}

// submitNotify is submit, which also reports whether the pool accepted the
// request. If it did, and done is not nil, done is called with the future
// once the pool is through with the request (after Finish or Drop has
// completed the future), on the goroutine that finished it; if it did not,
// the future is already complete and done is never called.
func (s *AsyncSession) submitNotify(ctx context.Context, stmt string, q *gocql.Query, b *gocql.Batch, single bool, err error, done func(*Future[*ResultSet])) (*Future[*ResultSet], bool) {
	e := &execution{s: s, stmt: stmt, query: q, batch: b, single: single, start: s.now(), done: done}
	e.fut.done = make(chan struct{})
	m := s.metrics
	if m != nil {
		desc := stmt
		if b != nil {
			desc = batchCQL(batchStmts(b))
		}
		e.rec = m.newRecord(ctx, desc, e.start)
	}
	switch {
	case ctx == nil:
		err = errNilContext
	case err == nil:
		e.ctx, e.stop = context.WithCancel(ctx)
		if m != nil && m.attempts != nil {
			e.ctx = context.WithValue(e.ctx, execKey{}, e) // for the observer
		}
		e.fut.op = e
		if err = s.limiter.wait(ctx); err == nil {
			err = poolErr(s.pool.Submit(e.ctx, e))
		}
	}
	if err != nil {
		if e.stop != nil {
			e.stop()
		}
		err = wrapQueryError(stmt, 0, nil, err)
		if m != nil {
			m.requestDone(e.rec, s.now(), err)
		}
		e.fut.complete(nil, err)
		return &e.fut, false
	}
	return &e.fut, true
}

// batchStmts returns the statements of b.
func batchStmts(b *gocql.Batch) []string {
	stmts := make([]string, len(b.Entries))
	for i, en := range b.Entries {
		stmts[i] = en.Stmt
	}
	return stmts
}

// cancel is Future.Cancel for an execution.
func (e *execution) cancel() {
	e.fut.complete(nil, wrapQueryError(e.stmt, 0, nil, context.Canceled))
	e.stop()
}

// Run sends the request and reads its pages, on a worker. Finish then
// completes the future.
func (e *execution) Run() {
	sent := false // the request reached the driver
	var began time.Time
	defer func() {
		if v := recover(); v != nil {
			e.rs.Close()
			e.err = wrapQueryError(e.stmt, 0, nil, newPanicError(v))
		}
		if sent {
			e.s.adapt.end(began, e.rs.pages, e.err)
		}
	}()
	if e.rec != nil {
		e.rec.info.QueueWait = e.s.now().Sub(e.start)
	}
	// Cancelled, or out of time, after it got a place: never sent.
	if err := e.ctx.Err(); err != nil {
		e.err = wrapQueryError(e.stmt, 0, nil, err)
		return
	}
	rs := &e.rs
	began, sent = e.s.adapt.begin(), true
	for {
		var iter *gocql.Iter
		if e.batch != nil {
			iter = e.batch.IterContext(e.ctx)
		} else {
			iter = e.query.IterContext(e.ctx)
		}
		if err := rs.addPage(iter); err != nil {
			rs.Close()
			e.err = wrapQueryError(e.stmt, rs.Attempts(), iter.Host(), e.s.closedErr(e.ctx, withContextErr(e.ctx, err)))
			return
		}
		next := iter.PageState()
		if e.batch != nil || len(next) == 0 || e.single {
			rs.start(next)
			break
		}
		if err := e.ctx.Err(); err != nil {
			rs.Close()
			e.err = wrapQueryError(e.stmt, rs.Attempts(), iter.Host(), err)
			return
		}
		e.query.PageState(next)
	}
	rs.latency = e.s.now().Sub(e.start)
}

// Finish completes the future once the request's place is free again, and
// releases the context.
func (e *execution) Finish() {
	if e.rec != nil {
		e.report(e.err)
	}
	if e.err != nil {
		e.fut.complete(nil, e.err)
	} else if !e.fut.complete(&e.rs, nil) {
		e.rs.Close() // cancelled meanwhile: nobody will read the rows
	}
	e.stop()
	if e.done != nil {
		e.done(&e.fut)
	}
}

// Drop completes the future of a request that never ran: its context ended
// while it was queued, or the session closed.
func (e *execution) Drop(err error) {
	err = wrapQueryError(e.stmt, 0, nil, poolErr(err))
	if e.rec != nil {
		e.rec.info.QueueWait = e.s.now().Sub(e.start)
		e.report(err)
	}
	e.fut.complete(nil, err)
	e.stop()
	if e.done != nil {
		e.done(&e.fut)
	}
}

// report tells the session's collector how the request went, before its
// future completes, so that an awaiter finds it counted. err is the
// request's outcome; if Future.Cancel has completed the future already,
// that is the error reported.
func (e *execution) report(err error) {
	select {
	case <-e.fut.done:
		err = e.fut.err
	default:
	}
	info := &e.rec.info
	rs := &e.rs
	info.Attempts, info.Rows, info.Pages, info.Host = rs.attempts, rs.rowCount, rs.pages, e.s.metrics.host(rs.host)
	if e.batch != nil {
		info.Consistency = e.batch.GetConsistency()
	} else {
		info.Consistency = e.query.GetConsistency()
	}
	e.s.metrics.requestDone(e.rec, e.s.now(), err)
}

// poolErr turns the pool's errors into the package's.
func poolErr(err error) error {
	switch {
	case errors.Is(err, pool.ErrClosed):
		return ErrClosed
	case errors.Is(err, pool.ErrFull):
		return ErrOverloaded
	}
	return err
}
