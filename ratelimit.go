package cassandra

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited is the cause of the error for a query refused because the
// session's rate limit (WithRateLimit) had no token for it and the session
// fails fast (QueueFailFast) instead of waiting. It matches ErrOverloaded
// with errors.Is, so code that backs off on an overloaded session backs off
// on its rate limit too.
var ErrRateLimited = fmt.Errorf("cassandra: rate limit reached: %w", ErrOverloaded)

// WithRateLimit limits how many requests each session sends: on average r
// per second, with bursts of up to burst at once (a token bucket, see
// golang.org/x/time/rate). rate.Inf means no limit, which is the default.
// Each session the cluster connects has a bucket of its own.
//
// The limit applies before the queue: a request takes a token before it
// is submitted to the worker pool, so it holds no place in the queue while
// it waits. Every submission to the pool takes one token: an Execute or a
// Batch (whatever the number of pages of its result, which its worker
// fetches in one go), and each page of a Stream.
//
// With the QueueWait policy, a request with no token available waits for
// one on the caller's goroutine, as it waits for room in a full queue:
// Execute returns once the request has its token (and its place), and the
// wait counts against the request's context. If that context ends first,
// or the session shuts down, the future completes at once with an error
// matching the context's error (or ErrClosed); nothing is submitted, and
// the reservation is handed back to the bucket. With QueueFailFast, a
// request that finds no token now is refused at once with ErrRateLimited.
//
// A token, once taken, is spent even if the pool then refuses the request
// (ErrOverloaded, ErrClosed). A request whose context has already ended
// takes none. The bucket follows the session's clock (WithClock), so
// tests can freeze it. PoolStats reports waits and refusals.
//
// r must be positive, and burst at least 1 unless r is rate.Inf.
func WithRateLimit(r rate.Limit, burst int) Option {
	return func(o *options) { o.rateLimit, o.rateBurst = r, burst }
}

// validateRateLimit reports an invalid WithRateLimit setting. The zero
// setting (no WithRateLimit) is valid.
func (o *options) validateRateLimit() error {
	switch {
	case o.rateLimit == 0 && o.rateBurst == 0, o.rateLimit == rate.Inf:
		return nil
	case !(o.rateLimit > 0): // NaN too
		return fmt.Errorf("cassandra: WithRateLimit: rate must be positive, got %v", float64(o.rateLimit))
	case o.rateBurst < 1:
		return fmt.Errorf("cassandra: WithRateLimit: burst must be at least 1, got %d", o.rateBurst)
	}
	return nil
}

// limiter is a session's token bucket with its counters.
type limiter struct {
	lim      *rate.Limiter
	failFast bool             // QueueFailFast: never wait for a token
	now      func() time.Time // the session's clock
	stopped  chan struct{}    // closed by stop: waiters give up with ErrClosed
	stopOnce sync.Once

	mu       sync.Mutex // guards the counters
	waiting  int
	waits    uint64
	canceled uint64
	rejected uint64
	waited   time.Duration
}

// newLimiter returns the limiter o asks for, or nil for no limit.
func newLimiter(o *options, now func() time.Time) *limiter {
	if o.rateLimit == 0 || o.rateLimit == rate.Inf {
		return nil
	}
	return &limiter{
		lim:      rate.NewLimiter(o.rateLimit, o.rateBurst),
		failFast: o.policy == QueueFailFast,
		now:      now,
		stopped:  make(chan struct{}),
	}
}

// wait takes a token for one request, waiting for it unless the session
// fails fast. It returns nil once the request may be submitted, or the
// reason it may not: ctx's error, ErrClosed, or ErrRateLimited. A nil l
// (no limit) and a ctx that has already ended return nil at once without
// taking a token: the pool then refuses the request and counts it, as it
// does without a limit.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil || ctx.Err() != nil {
		return nil
	}
	t := l.now()
	if l.failFast {
		if l.lim.AllowN(t, 1) {
			return nil
		}
		l.mu.Lock()
		l.rejected++
		l.mu.Unlock()
		return ErrRateLimited
	}
	// A reservation always succeeds with burst >= 1; its delay says how long
	// until the token is ours.
	r := l.lim.ReserveN(t, 1)
	d := r.DelayFrom(t)
	if d <= 0 {
		return nil
	}
	l.mu.Lock()
	l.waits++
	l.waiting++
	l.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var err error
	select {
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	case <-l.stopped:
		err = ErrClosed
	}
	waited := d
	if err != nil {
		// Give the token back, so that later requests need not wait for
		// one nobody will use.
		end := l.now()
		r.CancelAt(end)
		waited = min(d, end.Sub(t))
	}
	l.mu.Lock()
	l.waiting--
	l.waited += waited
	if err != nil {
		l.canceled++
	}
	l.mu.Unlock()
	return err
}

// try takes a token if one is available now, for work that can be left
// for later (a stream's prefetch). It counts nothing, and like wait takes
// no token for a ctx that has already ended.
func (l *limiter) try(ctx context.Context) bool {
	return l == nil || ctx.Err() != nil || l.lim.AllowN(l.now(), 1)
}

// stop releases every wait with ErrClosed, now and later: the session is
// closing. It may be called more than once.
func (l *limiter) stop() {
	if l != nil {
		l.stopOnce.Do(func() { close(l.stopped) })
	}
}

// fill copies the counters into st.
func (l *limiter) fill(st *PoolStats) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st.RateLimitWaiting = l.waiting
	st.RateLimitWaitCount = l.waits
	st.RateLimitCanceledCount = l.canceled
	st.RateLimitRejectedCount = l.rejected
	st.RateLimitWaitDuration = l.waited
}
