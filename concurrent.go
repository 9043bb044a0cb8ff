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
