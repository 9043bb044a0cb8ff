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
// Panics: if the operation panics, the panic is recovered where it ran (a
// worker, or the goroutine awaiting it) and the Future completes with a
// *PanicError that keeps the panic value and the stack. The worker and the
// session carry on.
type Future[T any] struct {
	// state goes from pending to completing once, by CAS; only the winner
	// writes val and err, then stores completed. A reader that loads
	// completed sees val and err.
	state atomic.Uint32
	// done holds the chan struct{} that Done returns. It is made only when
	// someone asks for it: a future that completes before anyone waits for
	// it (as when the awaiter runs the operation itself) may never allocate
	// one. complete swaps in closedChan and closes the channel it replaced,
	// if any.
	done atomic.Value
	op   operation // nil if the operation can be neither cancelled nor run by its awaiter
	val  T
	err  error
}

// operation is what a future can ask of the work that will complete it.
type operation interface {
	// runHere runs the operation on the calling goroutine, if it has not
	// started and waiting with ctx could not end before the operation does
	// (see execution.runHere).
	runHere(ctx context.Context)
	// cancel stops the operation; the future has already completed.
	cancel()
}

const (
	futurePending uint32 = iota
	futureCompleting
	futureCompleted
)

// closedChan is the Done channel of every future that completed before
// anyone asked for one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// completedFuture returns a future that has already completed with v and err.
func completedFuture[T any](v T, err error) *Future[T] {
	f := new(Future[T])
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
	f.state.Store(futureCompleted)
	if c, ok := f.done.Swap(closedChan).(chan struct{}); ok {
		close(c)
	}
	return true
}

// completed reports whether f has completed; if so, f.val and f.err are set.
func (f *Future[T]) completed() bool { return f.state.Load() == futureCompleted }

// doneChan returns the channel that complete closes, making it if need be.
func (f *Future[T]) doneChan() chan struct{} {
	if c, ok := f.done.Load().(chan struct{}); ok {
		return c
	}
	c := make(chan struct{})
	if f.done.CompareAndSwap(nil, c) {
		return c // complete has not run yet, and will close c
	}
	return f.done.Load().(chan struct{}) // another waiter's, or closedChan
}

// Await blocks until f completes or ctx is done, and returns f's result. If
// ctx is done first, Await returns the zero value and ctx.Err(); the
// operation is not cancelled (use Cancel for that) and f may still complete
// later. If f has already completed, Await returns its result even when ctx
// is done. A nil ctx is an error, whether or not f has completed.
//
// A query that no worker has started yet when Await is called may run on
// the calling goroutine instead, if ctx is the context the query was
// started with (or one that never ends): the caller was going to wait for
// it anyway, and this spares two goroutine hand-offs. Such a query then runs
// with the context it was started with, as a plain driver call would (see
// Cancel). See Execute.
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	// This repeats wait rather than calling it: a request run here waits
	// for the server with this goroutine's stack under it, and every
	// garbage collection walks each frame of every waiting stack.
	if ctx == nil {
		var zero T
		return zero, errNilContext
	}
	if !f.completed() && f.op != nil {
		f.op.runHere(ctx)
	}
	if !f.completed() {
		if err := f.block(ctx); err != nil {
			var zero T
			return zero, err
		}
	}
	return f.val, f.err
}

// wait blocks until f completes, and returns nil, or until ctx is done
// first, and returns ctx.Err(). A completed f wins over a done ctx.
func (f *Future[T]) wait(ctx context.Context) error {
	if f.completed() {
		return nil
	}
	if f.op != nil {
		f.op.runHere(ctx)
		if f.completed() {
			return nil
		}
	}
	return f.block(ctx)
}

// block waits until f completes, and returns nil, or until ctx is done
// first, and returns ctx.Err().
func (f *Future[T]) block(ctx context.Context) error {
	select {
	case <-f.doneChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done returns a channel that is closed when f completes. Once it is closed,
// TryResult reports the result.
func (f *Future[T]) Done() <-chan struct{} { return f.doneChan() }

// TryResult returns f's result without blocking. ok is false, and v and err
// are zero, if f has not completed yet.
func (f *Future[T]) TryResult() (v T, err error, ok bool) {
	if !f.completed() {
		return v, nil, false
	}
	return f.val, f.err, true
}

// Err returns the error f completed with, or nil if f has not completed
// or completed successfully. Use TryResult to tell those apart.
func (f *Future[T]) Err() error {
	_, err, _ := f.TryResult()
	return err
}

// Cancel requests cancellation of the operation. If f has not completed,
// it completes now with context.Canceled, which every later Await and
// TryResult return. A queued operation leaves the queue and frees its
// place at once; one that has a place but has not started never starts; a
// running one sees its context end and frees its place.
//
// The exception is a query run by its own awaiter (see Await), as in
// Execute(ctx, ...).Await(ctx): that query is bound to ctx, as a plain
// driver call is, and keeps running, and keeps its place, until ctx ends,
// the server answers or the driver's timeout (gocql's
// ClusterConfig.Timeout) runs out; its awaiter returns context.Canceled
// then. Cancel this one by cancelling ctx. Letting Cancel end it would cost
// every request: five allocations for each one made with a deadline, and a
// channel more in the driver's wait for each one made without.
//
// A request already sent to Cassandra may still be executed by the server,
// because CQL has no way to recall it. Cancel is idempotent and safe to
// call concurrently with completion; whichever comes first decides the
// result.
func (f *Future[T]) Cancel() {
	var zero T
	// Complete before cancelling, so that the result is context.Canceled
	// rather than whatever the operation makes of its cancelled context.
	f.complete(zero, context.Canceled)
	if f.op != nil {
		f.op.cancel()
	}
}

// PanicError is the error a Future completes with when its operation
// panicked. The panic was recovered where the operation ran: on a worker
// goroutine, or on the goroutine that awaited it (see Await).
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
// or a future is nil. It starts no goroutines: it checks every future once
// and then waits in a single reflect.Select over their Done channels, so
// each call costs O(len(futs)).
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
		if v, err, ok := f.TryResult(); ok {
			return i, v, err
		}
	}
	cases := make([]reflect.SelectCase, len(futs)+1)
	for i, f := range futs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(f.doneChan())}
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
