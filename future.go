package cassandra

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync/atomic"
)

// Future is the pending result of an asynchronous operation, such as a query
// submitted with AsyncSession.Execute.
//
// A Future completes exactly once. Await may be called any number of times,
// from any goroutine, and always returns the same result. A Future is safe for
// concurrent use by multiple goroutines.
//
// Panics: if the operation panics, the panic is recovered on the worker and
// the Future completes with a *PanicError that keeps the panic value and the
// stack. The worker and the session carry on.
type Future[T any] struct {
	// state goes from pending to completing once, by CAS; only the winner
	// writes val and err and then closes done. Closing done happens before
	// every receive that observes it, so a reader that has seen done closed
	// sees val and err.
	state  atomic.Uint32
	done   chan struct{}
	cancel context.CancelFunc // nil if the operation cannot be cancelled
	val    T
	err    error
}

const (
	futurePending uint32 = iota
	futureCompleting
)

// newFuture returns a pending future. cancel, if not nil, cancels the
// operation's context; Cancel calls it.
func newFuture[T any](cancel context.CancelFunc) *Future[T] {
	return &Future[T]{done: make(chan struct{}), cancel: cancel}
}

// completedFuture returns a future that has already completed with v and err.
func completedFuture[T any](v T, err error) *Future[T] {
	f := newFuture[T](nil)
	f.complete(v, err)
	return f
}

// complete completes f with v and err, unless f has already completed. It
// reports whether this call completed f.
func (f *Future[T]) complete(v T, err error) bool {
	if !f.state.CompareAndSwap(futurePending, futureCompleting) {
		return false
	}
	f.val, f.err = v, err
	close(f.done)
	return true
}

// Await blocks until f completes or ctx is done, and returns f's result. If
// ctx is done first, Await returns the zero value and ctx.Err(); the
// operation is not cancelled (use Cancel for that) and f may still complete
// later. If f has already completed, Await returns its result even when ctx
// is done.
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	if err := f.wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	return f.val, f.err
}

// wait blocks until f completes, and returns nil, or until ctx is done
// first, and returns ctx.Err(). A completed f wins over a done ctx.
func (f *Future[T]) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	default:
	}
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done returns a channel that is closed when f completes. Once it is closed,
// TryResult reports the result.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// TryResult returns f's result without blocking. ok is false, and v and err
// are zero, if f has not completed yet.
func (f *Future[T]) TryResult() (v T, err error, ok bool) {
	select {
	case <-f.done:
		return f.val, f.err, true
	default:
		return v, nil, false
	}
}

// Err returns the error f completed with, or nil if f has not completed
// or completed successfully. Use TryResult to tell those apart.
func (f *Future[T]) Err() error {
	_, err, _ := f.TryResult()
	return err
}

// Cancel requests cancellation of the operation. If f has not completed,
// it completes now with context.Canceled, and the operation's context is
// cancelled: a queued operation leaves the queue, a running one sees its
// context end. A request already sent to Cassandra may still be executed by
// the server, because CQL has no way to recall it. Cancel is idempotent and
// safe to call concurrently with completion; whichever comes first decides
// the result.
func (f *Future[T]) Cancel() {
	var zero T
	// Complete before cancelling, so that the result is context.Canceled
	// rather than whatever the operation makes of its cancelled context.
	f.complete(zero, context.Canceled)
	if f.cancel != nil {
		f.cancel()
	}
}

// PanicError is the error a Future completes with when its operation
// panicked. The panic was recovered on a worker goroutine.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack of the panicking goroutine, as from debug.Stack.
	Stack []byte
}

// newPanicError records a value recovered from a panic, with the stack of
// the goroutine that recovered it (called from the deferred function, that
// stack still shows where the panic happened).
func newPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// Error returns "cassandra: panic in task: " and the panic value. The stack is
// in Stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("cassandra: panic in task: %v", e.Value)
}

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// AwaitAll waits until every future in futs has completed, or ctx is done.
// results[i] is the value of futs[i]. If some futures failed, AwaitAll still
// waits for all of them and returns the values of the others (zero for the
// failed ones) together with the error of the first failed future in
// argument order, so the result does not depend on timing. If ctx is done
// first, AwaitAll returns nil and ctx.Err() at once; the futures are not
// cancelled. AwaitAll starts no goroutines: since every future must complete,
// it awaits them in order.
func AwaitAll[T any](ctx context.Context, futs ...*Future[T]) ([]T, error) {
	results := make([]T, len(futs))
	var first error
	for i, f := range futs {
		if err := f.wait(ctx); err != nil {
			return nil, err
		}
		if f.err != nil {
			if first == nil {
				first = f.err
			}
			continue
		}
		results[i] = f.val
	}
	return results, first
}

// errNoFutures is returned by AwaitAny when it is given no futures.
var errNoFutures = errors.New("cassandra: AwaitAny needs at least one future")

// maxAwaitAny is the most futures AwaitAny accepts: reflect.Select takes at
// most 65536 cases, one of which is ctx.
const maxAwaitAny = 65535

// AwaitAny waits until one of futs has completed, or ctx is done, and
// returns the index and result of that future. If several have completed,
// the lowest index wins when they were already complete on entry; otherwise
// the choice among those that complete together is random. If ctx is done
// first, AwaitAny returns -1 and ctx.Err(); no future is cancelled.
// AwaitAny returns an error if futs is empty or longer than 65535. It starts
// no goroutines: it checks every future once and then waits in a single
// reflect.Select over their Done channels, so each call costs O(len(futs)).
func AwaitAny[T any](ctx context.Context, futs ...*Future[T]) (int, T, error) {
	var zero T
	switch {
	case len(futs) == 0:
		return -1, zero, errNoFutures
	case len(futs) > maxAwaitAny:
		return -1, zero, fmt.Errorf("cassandra: AwaitAny takes at most %d futures, got %d", maxAwaitAny, len(futs))
	}
	for i, f := range futs {
		if v, err, ok := f.TryResult(); ok {
			return i, v, err
		}
	}
	cases := make([]reflect.SelectCase, len(futs)+1)
	for i, f := range futs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(f.done)}
	}
	// A nil Done channel (a context that never ends) is never ready, which
	// is what reflect.Select does with a zero Value channel too.
	cases[len(futs)] = reflect.SelectCase{Dir: reflect.SelectRecv}
	if d := ctx.Done(); d != nil {
		cases[len(futs)].Chan = reflect.ValueOf(d)
	}
	i, _, _ := reflect.Select(cases)
	if i == len(futs) {
		return -1, zero, ctx.Err()
	}
	return i, futs[i].val, futs[i].err
}
