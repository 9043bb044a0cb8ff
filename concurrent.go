package cassandra

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// ConcurrentOption configures one ExecuteConcurrent call.
type ConcurrentOption func(*concurrentConfig)

type concurrentConfig struct {
	inFlight   int
	collect    bool // ContinueOnError
	keep       int  // errors kept by ContinueOnError
	onResult   func(ItemResult)
	onProgress func(ConcurrentStats)
	every      time.Duration
	err        error // an option given a bad value
}

// InFlight sets how many items of an ExecuteConcurrent call run at once
// (default: the session's WithWorkers). No more than WithWorkers +
// WithQueue can be in flight in any case, since the pool holds no more.
func InFlight(n int) ConcurrentOption {
	return func(c *concurrentConfig) {
		if n < 1 {
			c.setErr(fmt.Errorf("cassandra: InFlight: need at least 1, got %d", n))
		}
		c.inFlight = n
	}
}

// ContinueOnError makes ExecuteConcurrent run every item whatever fails
// (collect-all), instead of stopping at the first failure. Every failure
// is counted and passed to OnResult; the first keep of them (in the order
// they happen) are also kept in the *ConcurrentError the call returns, so
// memory stays bounded however many fail. keep may be zero.
func ContinueOnError(keep int) ConcurrentOption {
	return func(c *concurrentConfig) {
		if keep < 0 {
			c.setErr(fmt.Errorf("cassandra: ContinueOnError: keep must not be negative, got %d", keep))
		}
		c.collect, c.keep = true, keep
	}
}

// OnResult calls fn with the outcome of each item (see ExecuteConcurrent
// for when and where).
func OnResult(fn func(ItemResult)) ConcurrentOption {
	return func(c *concurrentConfig) {
		if fn == nil {
			c.setErr(errors.New("cassandra: OnResult: nil function"))
		}
		c.onResult = fn
	}
}

// OnProgress calls fn with the counts so far at most once per interval
// every, as items complete, and once more with the final counts just
// before ExecuteConcurrent returns. With every zero, fn is called after
// each item. Intervals are measured on the session's clock (WithClock).
func OnProgress(every time.Duration, fn func(ConcurrentStats)) ConcurrentOption {
	return func(c *concurrentConfig) {
		switch {
		case fn == nil:
			c.setErr(errors.New("cassandra: OnProgress: nil function"))
		case every < 0:
			c.setErr(fmt.Errorf("cassandra: OnProgress: interval must not be negative, got %v", every))
		}
		c.onProgress, c.every = fn, every
	}
}

func (c *concurrentConfig) setErr(err error) {
	if c.err == nil {
		c.err = err
	}
}

// ItemResult is the outcome of one item of ExecuteConcurrent, for OnResult.
type ItemResult struct {
	// Index is the item's position in the input, from 0.
	Index int
	// Values are the item's values, as the input yielded them: for
	// logging or retrying a failed item without keeping the input.
	Values []any
	// Result is the item's result, nil if it failed. Its rows can be read
	// until OnResult returns; they are released afterwards.
	Result *ResultSet
	// Err is why the item failed, nil if it succeeded: usually a
	// *QueryError, matching context.Canceled for an item cancelled because
	// the call stopped (see ExecuteConcurrent).
	Err error
}

// ConcurrentStats counts the items of an ExecuteConcurrent call, for
// OnProgress and as the call's summary. Every item taken from the input is
// in exactly one place:
//
//	Items = Succeeded + Failed + Canceled + InFlight
//
// In the summary InFlight is zero: the call returns when none is left.
type ConcurrentStats struct {
	Items     int           // items taken from the input so far
	Succeeded int           // items that ran successfully
	Failed    int           // items that failed (see ItemError)
	Canceled  int           // items cancelled, or never sent, because the call stopped or its context ended
	InFlight  int           // items taken whose outcome is not known yet
	Retries   int           // submissions refused with ErrOverloaded and made again
	Elapsed   time.Duration // time since the call started
}

// Rate returns the items completed (succeeded or failed) per second of
// Elapsed; zero before any time has passed.
func (c ConcurrentStats) Rate() float64 {
	if c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Succeeded+c.Failed) / c.Elapsed.Seconds()
}

// ItemError is the failure of one item of ExecuteConcurrent: its position
// in the input and the cause, usually a *QueryError. Like QueryError it
// never holds the item's values, so its text is safe to log.
type ItemError struct {
	// Index is the item's position in the input, from 0.
	Index int
	// Err is the cause.
	Err error
}

// Error names the item and its cause.
func (e *ItemError) Error() string { return fmt.Sprintf("cassandra: item %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *ItemError) Unwrap() error { return e.Err }

// ConcurrentError reports the failed items of an ExecuteConcurrent call
// that continued on errors (ContinueOnError). errors.Is and errors.As see
// through every kept error, so errors.As with an *ItemError target finds
// the failure with the lowest index among them.
type ConcurrentError struct {
	// Failed is how many items failed.
	Failed int
	// Errors are the first failures (as many as ContinueOnError keeps,
	// plus the one that found the session closed, if any), ordered by
	// Index.
	Errors []*ItemError
}

// Error reports the number of failures and the first kept one.
func (e *ConcurrentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cassandra: %d item", e.Failed)
	if e.Failed != 1 {
		b.WriteByte('s')
	}
	b.WriteString(" failed")
	if len(e.Errors) > 0 {
		fmt.Fprintf(&b, "; the first kept: item %d: %v", e.Errors[0].Index, e.Errors[0].Err)
	}
	return b.String()
}

// Unwrap returns the kept errors.
func (e *ConcurrentError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, ie := range e.Errors {
		errs[i] = ie
	}
	return errs
}

// Back-off between submissions refused with ErrOverloaded when none of the
// call's own requests is in flight to free a place.
const (
	concurrentMinBackoff = time.Millisecond
	concurrentMaxBackoff = 100 * time.Millisecond
)

// ExecuteConcurrent runs stmt once for each item of args on the session's
// worker pool. s.ExecuteConcurrent(ctx, stmt, args, opts...) is short for
// s.Query(stmt).ExecuteConcurrent(ctx, args, opts...); see
// Query.ExecuteConcurrent.
func (s *AsyncSession) ExecuteConcurrent(ctx context.Context, stmt string, args iter.Seq[[]any], opts ...ConcurrentOption) (ConcurrentStats, error) {
	return s.Query(stmt).ExecuteConcurrent(ctx, args, opts...)
}

// ExecuteConcurrent runs the query once for each item of args, each item
// being the query's values, with at most InFlight items running at once
// on the session's worker pool. It is meant for loading or changing many
// rows: memory stays bounded whatever the size of args, which is read one
// item at a time as places free up, and no result is kept once reported.
// The query's settings (consistency, idempotence, ...) are copied when
// ExecuteConcurrent is called and apply to every item; its own values are
// ignored. Each slice args yields is the item's values until the item
// completes: the iterator must not reuse it for the next item.
//
// By default the call stops at the first failure: it takes no more items,
// cancels those in flight, and returns an *ItemError naming the item that
// failed. With ContinueOnError it runs every item, and returns a
// *ConcurrentError if any failed. Either way it also stops, and returns
// ctx.Err(), when ctx ends; a session that closes stops it too. It returns
// only when none of its requests is in flight any more, and starts no
// goroutine of its own, so nothing of it outlives the call. A request
// already sent may still be applied by the server after it was cancelled:
// CQL cannot recall it.
//
// The returned ConcurrentStats counts the items, also on error.
//
// Callbacks: the iterator, OnResult and OnProgress all run on the
// goroutine that called ExecuteConcurrent, one at a time, never
// concurrently. OnResult is called exactly once for every item taken
// from args, in the order items complete (not the order of args: use
// ItemResult.Index), including items that failed or were cancelled when
// the call stopped. While a callback runs, no new item is taken. A panic
// in a callback or in the iterator stops the call like a failure; it
// returns an error wrapping a *PanicError, and no callback is called
// after one panicked.
//
// Overload: with the QueueFailFast policy (or a rate limit that fails
// fast), an item refused with ErrOverloaded was not sent, so it is
// submitted again, whether or not it is idempotent, once one of the
// call's own requests completes, or after a back-off (1 ms doubling up to
// 100 ms) if none is in flight; ConcurrentStats.Retries counts these. An
// item is not retried for any other error: the driver's retry policy
// decides that for idempotent queries.
func (q *Query) ExecuteConcurrent(ctx context.Context, args iter.Seq[[]any], opts ...ConcurrentOption) (ConcurrentStats, error) {
	cfg := concurrentConfig{inFlight: q.s.opts.workers}
	for _, o := range opts {
		if o == nil {
			return ConcurrentStats{}, errors.New("cassandra: ExecuteConcurrent: nil ConcurrentOption")
		}
		o(&cfg)
	}
	switch {
	case cfg.err != nil:
		return ConcurrentStats{}, cfg.err
	case ctx == nil:
		return ConcurrentStats{}, errNilContext
	case args == nil:
		return ConcurrentStats{}, errors.New("cassandra: ExecuteConcurrent: nil iterator")
	}
	if err := ctx.Err(); err != nil {
		return ConcurrentStats{}, err
	}
	// The pool holds at most workers + queue requests: more cannot be in
	// flight, and the completion channel need not be larger.
	limit := min(cfg.inFlight, q.s.opts.workers+q.s.opts.queue)
	r := &concurrentRun{s: q.s, q: *q, cfg: cfg, ctx: ctx, done: make(chan itemDone, limit), limit: limit}
	r.q.configure = slices.Clone(q.configure)
	r.run, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	r.start = q.s.now()
	r.next = r.start.Add(cfg.every)

	r.pull(args)
	for r.submitted > 0 {
		r.receive(<-r.done)
	}
	st := r.stats(r.s.now())
	r.report(st)
	return st, r.result()
}

// concurrentRun is the state of one ExecuteConcurrent call. Everything
// but done is touched only by the calling goroutine.
type concurrentRun struct {
	s      *AsyncSession
	q      Query // the settings, copied at the start
	cfg    concurrentConfig
	ctx    context.Context    // the caller's
	run    context.Context    // child of ctx for the items; cancel stops them
	cancel context.CancelFunc // cancels run
	// done receives each submitted item once the pool is through with it.
	// Its capacity is limit, and at most limit items are submitted and not
	// yet received, so a worker never blocks sending to it.
	done      chan itemDone
	limit     int
	submitted int // items accepted by the pool and not yet received from done

	start, next time.Time // when the call started; when OnProgress is due
	items       int
	succeeded   int
	failed      int
	canceled    int
	retries     int

	stopped  bool         // take no more items
	reason   error        // why the call stopped early: the first failure (by default), ctx's error, or a panic
	kept     []*ItemError // ContinueOnError: the first failures
	closed   *ItemError   // ContinueOnError: the failure that found the session closed
	panicked bool         // a callback panicked: call none again
}

// itemDone is a submitted item the pool is through with.
type itemDone struct {
	index  int
	values []any
	fut    *Future[*ResultSet]
}

// pull runs the items of args until it ends or the call stops. A panic in
// the iterator stops the call.
func (r *concurrentRun) pull(args iter.Seq[[]any]) {
	defer func() {
		if v := recover(); v != nil {
			r.halt(fmt.Errorf("cassandra: ExecuteConcurrent: the input iterator panicked: %w", newPanicError(v)))
		}
	}()
	for values := range args {
		if !r.item(values) {
			return
		}
	}
}

// item runs one item taken from the input and reports whether to take
// another.
func (r *concurrentRun) item(values []any) bool {
	index := r.items
	r.items++
	for r.submitted >= r.limit {
		r.receive(<-r.done)
	}
	backoff := concurrentMinBackoff
	for {
		if r.stopped || r.run.Err() != nil {
			r.finish(index, values, nil, wrapQueryError(r.q.stmt, 0, nil, r.run.Err()))
			return false
		}
		fut, ok := r.submit(index, values)
		if ok {
			r.submitted++
			break
		}
		err := fut.Err()
		if !errors.Is(err, ErrOverloaded) {
			r.finish(index, values, nil, err)
			break
		}
		// Refused before it was sent: try again once a place is likely
		// free.
		r.retries++
		r.pause(backoff)
		backoff = min(2*backoff, concurrentMaxBackoff)
	}
	// Report what has completed meanwhile, without waiting.
	for {
		select {
		case d := <-r.done:
			r.receive(d)
		default:
			return !r.stopped
		}
	}
}

// submit builds the driver's query for one item and submits it.
func (r *concurrentRun) submit(index int, values []any) (*Future[*ResultSet], bool) {
	q := r.q
	q.values = values
	gq, err := q.build()
	done := func(f *Future[*ResultSet]) { r.done <- itemDone{index, values, f} }
	return r.s.submitNotify(r.run, q.stmt, gq, nil, q.singlePage, err, done)
}

// pause waits for one of the call's own items to complete (and reports
// it), for d, or for the call's context to end, whichever comes first.
func (r *concurrentRun) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case done := <-r.done:
		r.receive(done)
	case <-t.C:
	case <-r.run.Done():
	}
}

// receive reports a submitted item that completed.
func (r *concurrentRun) receive(d itemDone) {
	r.submitted--
	rs, _, err := d.fut.TryResult()
	r.finish(d.index, d.values, rs, err)
}

// finish counts an item's outcome, reports it to OnResult and releases
// its rows.
func (r *concurrentRun) finish(index int, values []any, rs *ResultSet, err error) {
	switch {
	case err == nil:
		r.succeeded++
	case r.run.Err() != nil && errors.Is(err, r.run.Err()):
		// Cancelled because the call stopped, or its context ended.
		r.canceled++
		if ctxErr := r.ctx.Err(); ctxErr != nil {
			r.halt(ctxErr)
		}
	default:
		r.failed++
		ie := &ItemError{Index: index, Err: err}
		switch {
		case !r.cfg.collect:
			r.halt(ie)
		case errors.Is(err, ErrClosed):
			// No later item could run either.
			if r.closed == nil {
				r.closed = ie
			}
			r.halt(nil)
		}
		if r.cfg.collect && len(r.kept) < r.cfg.keep {
			r.kept = append(r.kept, ie)
		}
	}
	if r.cfg.onResult != nil {
		r.call(func() { r.cfg.onResult(ItemResult{Index: index, Values: values, Result: rs, Err: err}) })
	}
	if rs != nil {
		rs.Close()
	}
	r.progress()
}

// halt stops the call: no more items are taken and those in flight are
// cancelled. The first non-nil reason is what the call returns.
func (r *concurrentRun) halt(reason error) {
	if r.reason == nil {
		r.reason = reason
	}
	r.stopped = true
	r.cancel()
}

// call runs a callback; a panic stops the call, and no callback runs after
// it.
func (r *concurrentRun) call(fn func()) {
	if r.panicked {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			r.panicked = true
			r.halt(fmt.Errorf("cassandra: ExecuteConcurrent: a callback panicked: %w", newPanicError(v)))
		}
	}()
	fn()
}

// progress calls OnProgress if it is due.
func (r *concurrentRun) progress() {
	if r.cfg.onProgress == nil {
		return
	}
	now := r.s.now()
	if now.Before(r.next) {
		return
	}
	r.next = now.Add(r.cfg.every)
	r.report(r.stats(now))
}

// report calls OnProgress with st.
func (r *concurrentRun) report(st ConcurrentStats) {
	if r.cfg.onProgress != nil {
		r.call(func() { r.cfg.onProgress(st) })
	}
}

// stats returns the counts at now.
func (r *concurrentRun) stats(now time.Time) ConcurrentStats {
	return ConcurrentStats{
		Items:     r.items,
		Succeeded: r.succeeded,
		Failed:    r.failed,
		Canceled:  r.canceled,
		InFlight:  r.items - r.succeeded - r.failed - r.canceled,
		Retries:   r.retries,
		Elapsed:   now.Sub(r.start),
	}
}

// result is the call's error once every item has completed.
func (r *concurrentRun) result() error {
	if r.reason != nil {
		return r.reason
	}
	if r.failed == 0 {
		return nil
	}
	errs := r.kept
	if r.closed != nil && !slices.Contains(errs, r.closed) {
		errs = append(errs, r.closed)
	}
	slices.SortFunc(errs, func(a, b *ItemError) int { return a.Index - b.Index })
	return &ConcurrentError{Failed: r.failed, Errors: errs}
}
