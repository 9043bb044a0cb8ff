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
// from any goroutine, and always returns the same result; for a query that
// is the same *ResultSet, whose rows can be read once (see ResultSet). A
// Future is safe for concurrent use by multiple goroutines.
//
// Panics: if the operation panics on a worker, the panic is recovered there
// and the Future completes with an error that wraps a *PanicError keeping
// the panic value and the stack. The worker and the session carry on.
type Future[T any] struct {
	done      chan struct{} // closed by complete
	completed atomic.Bool   // set by the one complete call that wins
	val       T
	err       error
	// op cancels the operation: it completes the future with an error
	// matching context.Canceled and cancels the operation's context. Nil
	// for a future that was complete when it was made.
	op canceler
}

// canceler is what Future.Cancel asks of the operation behind a future.
type canceler interface{ cancel() }

// newFuture returns a pending future.
func newFuture[T any]() *Future[T] {
	return &Future[T]{done: make(chan struct{})}
}

// completedFuture returns a future that has already completed with v and err.
func completedFuture[T any](v T, err error) *Future[T] {
	f := newFuture[T]()
	f.complete(v, err)
	return f
}

// complete completes f with v and err, unless f has already completed. It
// reports whether this call completed f.
func (f *Future[T]) complete(v T, err error) bool {
	if !f.completed.CompareAndSwap(false, true) {
		return false
	}
	f.val, f.err = v, err
	close(f.done) // publishes val and err to whoever receives from done
	return true
}

// Await blocks until f completes or ctx is done, and returns f's result. If
// ctx is done first, Await returns the zero value and ctx.Err(): the
// operation goes on (use Cancel to stop it) and f may still complete later.
// If f has already completed, Await returns its result even when ctx is
// done. A nil ctx is an error, whether or not f has completed.
//
// Awaiting from several goroutines is safe and they all get the same
// result. For a query, that is one *ResultSet: its metadata may be read by
// all of them, but its rows are a single cursor, read once (see ResultSet).
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	if ctx == nil {
		var zero T
		return zero, errNilContext
	}
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
func (f *Future[T]) TryResult() (v T, ok bool, err error) {
	select {
	case <-f.done:
		return f.val, true, f.err
	default:
		return v, false, nil
	}
}

// Err returns the error f completed with, or nil if f has not completed
// or completed successfully. Use TryResult to tell those apart.
func (f *Future[T]) Err() error {
	_, _, err := f.TryResult()
	return err
}

// Cancel cancels the operation. If f has not completed, it completes now
// with an error for which errors.Is(err, context.Canceled) holds, and every
// later Await and TryResult returns that error. The operation runs with a
// context derived from the one it was started with, and Cancel cancels that
// context, whatever stage the operation has reached:
//   - a query waiting in the queue leaves it at once, without being sent,
//     and frees its place;
//   - a query that has a place but has not started is never sent;
//   - a running query sees its context end: the driver returns, and the
//     worker's place is free again as soon as it does.
//
// A request already sent may still be executed by the server, because CQL
// has no way to recall it. Cancel is idempotent and safe to call
// concurrently with completion; whichever comes first decides the result.
func (f *Future[T]) Cancel() {
	if f.op != nil {
		f.op.cancel()
		return
	}
	var zero T
	f.complete(zero, context.Canceled)
}

// PanicError records a panic recovered where an operation ran (a worker
// goroutine, or the caller's, for a Configure function). A query's future
// completes with a *QueryError that wraps it: errors.As finds it.
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
// cancelled. A nil ctx or a nil future is an error, reported before any
// waiting. AwaitAll starts no goroutines: since every future must complete,
// it awaits them in order.
func AwaitAll[T any](ctx context.Context, futs ...*Future[T]) ([]T, error) {
	if err := checkAwait("AwaitAll", ctx, futs); err != nil {
		return nil, err
	}
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

// checkAwait rejects a nil ctx or a nil future given to fn, before any
// waiting starts.
func checkAwait[T any](fn string, ctx context.Context, futs []*Future[T]) error {
	if ctx == nil {
		return errNilContext
	}
	for i, f := range futs {
		if f == nil {
			return fmt.Errorf("cassandra: %s: future %d is nil", fn, i)
		}
	}
	return nil
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
// AwaitAny returns an error if futs is empty or longer than 65535, or if ctx
// or a future is nil. It starts no goroutines; each call costs time
// proportional to len(futs).
func AwaitAny[T any](ctx context.Context, futs ...*Future[T]) (int, T, error) {
	var zero T
	switch {
	case len(futs) == 0:
		return -1, zero, errNoFutures
	case len(futs) > maxAwaitAny:
		return -1, zero, fmt.Errorf("cassandra: AwaitAny takes at most %d futures, got %d", maxAwaitAny, len(futs))
	}
	if err := checkAwait("AwaitAny", ctx, futs); err != nil {
		return -1, zero, err
	}
	for i, f := range futs {
		if v, ok, err := f.TryResult(); ok {
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
