package cassandra

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
)

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
