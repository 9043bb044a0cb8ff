package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of a Backoff whose fields are zero.
const (
	DefaultOverloadMinBackoff = time.Millisecond
	DefaultOverloadMaxBackoff = 100 * time.Millisecond
)

// Backoff says how Retry tries again. The zero Backoff retries
// ErrOverloaded only, until the context ends, waiting
// DefaultOverloadMinBackoff at first and at most DefaultOverloadMaxBackoff.
type Backoff struct {
	// Min is the nominal wait after the first failed try; each later wait
	// doubles it, up to Max. Each wait is a random time between half and
	// all of the nominal wait. A zero Min means DefaultOverloadMinBackoff;
	// a zero Max means DefaultOverloadMaxBackoff, or Min if that is more.
	Min, Max time.Duration
	// Tries bounds how many times fn is called; 0 means no bound (until
	// the context ends).
	Tries int
	// Retryable reports whether a failed try is worth another one. nil
	// means errors.Is(err, ErrOverloaded): the session refused the
	// request before sending it, so trying again is safe for any
	// statement. Retrying anything else risks applying a statement twice
	// unless it is idempotent.
	Retryable func(err error) bool

	// sleep waits for d or until ctx ends; nil: sleepContext. For tests.
	sleep func(ctx context.Context, d time.Duration) error
}

// Retry calls fn and awaits its future, and while the future fails with
// an error b.Retryable accepts (by default only ErrOverloaded), waits a
// back-off and calls fn again, at most b.Tries times in all. It returns the
// first result that is not retried, or the last error once the tries are
// used up.
//
// Retry makes QueueFailFast usable without a loop at every call site: a
// session that sheds load with ErrOverloaded when its queue is full, and
// callers that back off and come back while ctx allows, instead of
// waiting in the queue.
//
// ctx bounds everything: fn is given ctx, the futures are awaited with
// it, and a wait ends when it ends. Retry then returns an error that
// matches ctx.Err() and the last try's error. If fn returns a nil future,
// or ctx, fn or b is invalid (nil, or a negative field, or Min above
// Max), Retry returns an error without retrying.
func Retry[T any](ctx context.Context, b Backoff, fn func(ctx context.Context) *Future[T]) (T, error) {
	var zero T
	if err := b.check(ctx, fn != nil); err != nil {
		return zero, err
	}
	retryable := b.Retryable
	if retryable == nil {
		retryable = func(err error) bool { return errors.Is(err, ErrOverloaded) }
	}
	lo, hi := b.Min, b.Max
	if lo == 0 {
		lo = DefaultOverloadMinBackoff
	}
	if hi == 0 {
		hi = max(DefaultOverloadMaxBackoff, lo)
	}
	sleep := b.sleep
	if sleep == nil {
		sleep = sleepContext
	}
	for try := 1; ; try++ {
		fut := fn(ctx)
		if fut == nil {
			return zero, errors.New("cassandra: Retry: fn returned a nil *Future")
		}
		v, err := fut.Await(ctx)
		if err == nil || !retryable(err) || (b.Tries > 0 && try >= b.Tries) {
			return v, err
		}
		if cerr := ctx.Err(); cerr != nil {
			return zero, withContextErr(ctx, err)
		}
		if d := jitter(backoff(lo, hi, try-1)); d > 0 {
			if sleep(ctx, d) != nil {
				return zero, withContextErr(ctx, err)
			}
		}
	}
}

// check reports an invalid call of Retry.
func (b *Backoff) check(ctx context.Context, haveFn bool) error {
	switch {
	case ctx == nil:
		return errNilContext
	case !haveFn:
		return errors.New("cassandra: Retry: nil fn")
	case b.Min < 0 || b.Max < 0:
		return fmt.Errorf("cassandra: Retry: back-off must not be negative, got %v and %v", b.Min, b.Max)
	case b.Max != 0 && b.Min > b.Max:
		return fmt.Errorf("cassandra: Retry: Min %v is above Max %v", b.Min, b.Max)
	case b.Tries < 0:
		return fmt.Errorf("cassandra: Retry: Tries must not be negative, got %d", b.Tries)
	}
	return nil
}
