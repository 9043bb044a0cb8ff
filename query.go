package cassandra

import (
	"context"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Query is a statement with its values and per-query options, built with
// AsyncSession.Query. Setters return the Query so calls chain:
//
//	rs, err := session.Query(stmt, id).Consistency(gocql.Quorum).Idempotent(true).Execute(ctx).Await(ctx)
//
// A Query may be executed many times and from several goroutines at once.
// Execute and Stream copy the settings when they are called, so changing a
// Query afterwards does not affect executions already started; the setters
// themselves must not run concurrently with other calls on the same Query.
type Query struct {
	s      *AsyncSession
	stmt   string
	values []any

	cons       gocql.Consistency
	hasCons    bool
	serial     gocql.Consistency
	hasSerial  bool
	pageSize   int
	idempotent bool
	hasIdem    bool
	retry      gocql.RetryPolicy
	timestamp  int64
	hasTS      bool
	trace      gocql.Tracer
	pageState  []byte
	singlePage bool
	hostID     string
	configure  []func(*gocql.Query) *gocql.Query
}

// Consistency sets the consistency level (default: the cluster's).
func (q *Query) Consistency(c gocql.Consistency) *Query { q.cons, q.hasCons = c, true; return q }

// SerialConsistency sets the serial consistency of a conditional statement
// (gocql.Serial or gocql.LocalSerial).
func (q *Query) SerialConsistency(c gocql.Consistency) *Query {
	q.serial, q.hasSerial = c, true
	return q
}

// PageSize sets how many rows each page holds, for Execute and Stream; 0
// means the session's WithPageSize. A negative n, or one above
// math.MaxInt32 (the protocol's limit), makes the execution fail with an
// error.
func (q *Query) PageSize(n int) *Query { q.pageSize = n; return q }

// Idempotent marks the statement safe to run more than once. gocql retries
// and speculatively executes only idempotent statements; never mark a
// non-idempotent write (a counter update, a list append, an LWT) as such.
func (q *Query) Idempotent(v bool) *Query { q.idempotent, q.hasIdem = v, true; return q }

// RetryPolicy sets the driver's retry policy for this statement, in place
// of the session's (see WithRetryPolicy). It applies only to idempotent
// statements.
func (q *Query) RetryPolicy(p gocql.RetryPolicy) *Query { q.retry = p; return q }

// Timestamp sets the write timestamp, in microseconds since the Unix epoch.
func (q *Query) Timestamp(micros int64) *Query { q.timestamp, q.hasTS = micros, true; return q }

// Trace enables request tracing, reported to t (see gocql.NewTraceWriter).
func (q *Query) Trace(t gocql.Tracer) *Query { q.trace = t; return q }

// PageState resumes a result where an earlier one stopped, with Execute or
// Stream: pass the ResultSet.PageState, Stream.PageState or Page.PageState
// of that result.
func (q *Query) PageState(state []byte) *Query { q.pageState = state; return q }

// SinglePage makes Execute fetch one page only (from PageState, if set), so
// that ResultSet.PageState can resume the result later: cursor-style paging
// for APIs that hand a cursor to their clients.
func (q *Query) SinglePage() *Query { q.singlePage = true; return q }

// HostID sends the statement to the node with that host ID only (see
// gocql.HostInfo.HostID); it fails if that node is down.
func (q *Query) HostID(id string) *Query { q.hostID = id; return q }

// Configure registers fn to adjust the driver's query: the escape hatch to
// every gocql setting this builder does not name. The functions run, in
// order, on the caller's goroutine when Execute or Stream is called, once
// per call (a stream's pages all use the query they built). fn must return
// the query it is given (or one derived from it); a nil fn, or one that
// returns nil or panics, makes the execution fail with an error.
func (q *Query) Configure(fn func(*gocql.Query) *gocql.Query) *Query {
	q.configure = append(q.configure, fn)
	return q
}

// Statement returns the statement text.
func (q *Query) Statement() string { return q.stmt }

// build returns a fresh driver query with q's settings. Automatic paging is
// off: the caller fetches page by page, so that each page is one request on
// the worker pool. It fails if the page size is negative or too large, or
// a Configure function is nil, returns nil or panics.
func (q *Query) build() (gq *gocql.Query, err error) {
	if q.pageSize < 0 {
		return nil, usagef("cassandra: PageSize: must not be negative, got %d", q.pageSize)
	}
	if q.pageSize > maxPageSize {
		return nil, usagef("cassandra: PageSize: must be at most %d, got %d", maxPageSize, q.pageSize)
	}
	defer func() {
		if v := recover(); v != nil {
			gq, err = nil, newPanicError(v)
		}
	}()
	gq = q.s.gs.Query(q.stmt, q.values...)
	q.s.applyPolicies(gq)
	if q.hasCons {
		gq.Consistency(q.cons)
	}
	if q.hasSerial {
		gq.SerialConsistency(q.serial)
	}
	if q.pageSize > 0 {
		gq.PageSize(q.pageSize)
	} else {
		gq.PageSize(q.s.opts.pageSize)
	}
	if q.hasIdem {
		gq.Idempotent(q.idempotent)
	}
	if q.retry != nil {
		gq.RetryPolicy(perRequest(q.retry))
	}
	if q.hasTS {
		gq.WithTimestamp(q.timestamp)
	}
	if q.trace != nil {
		gq.Trace(q.trace)
	}
	if q.hostID != "" {
		gq.SetHostID(q.hostID)
	}
	for i, fn := range q.configure {
		if fn == nil {
			return nil, errConfigure(i, false)
		}
		if gq = fn(gq); gq == nil {
			return nil, errConfigure(i, true)
		}
	}
	gq.PageState(q.pageState) // also turns the driver's own paging off
	return gq, nil
}

// Execute runs the query on the session's worker pool and returns a future
// of its whole result: every page is fetched (one request each, on the same
// worker) before the future completes, unless SinglePage is set. Rows stay
// in the driver's encoded frames until they are read. For results too large
// to hold in memory, use Stream.
//
// The driver's query is built from q before Execute returns, so later
// changes to q do not affect this execution; the values must not be
// changed until the future completes.
//
// ctx covers the whole execution, time spent waiting for a worker (and for
// a rate-limit token, see WithRateLimit) included.
// If it ends, the future completes with an error for which errors.Is(err,
// ctx.Err()) holds. A request already sent may still run on the server: CQL
// cannot recall it.
func (q *Query) Execute(ctx context.Context) *Future[*ResultSet] {
	gq, err := q.build()
	return q.s.submit(ctx, q.stmt, gq, nil, q.singlePage, err)
}
