package cassandra

import (
	"context"
	"runtime"
	"testing"

	"github.com/async-cassandra/cassandra/internal/pool"
)

func benchFuturePool(b *testing.B) *pool.Pool {
	b.Helper()
	p, err := pool.New(pool.Config{Workers: runtime.GOMAXPROCS(0), Queue: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	return p
}

func noopTask(context.Context) (int, error) { return 1, nil }

// BenchmarkFutureAlone measures a future that is created, completed and awaited
// on one goroutine: the cost the future adds to every query.
func BenchmarkFutureAlone(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		f := newFuture[int](nil)
		f.complete(1, nil)
		if _, err := f.Await(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFutureThroughPool measures submit-to-completion of a future with a
// no-op task run by a worker (with a cancellable context): what a query
// costs when its awaiter does not run it itself.
func BenchmarkFutureThroughPool(b *testing.B) {
	p := benchFuturePool(b)
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		if _, err := submitFuture(ctx, p, noopTask).Await(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFutureThroughPoolParallel is BenchmarkFutureThroughPool from
// GOMAXPROCS goroutines.
func BenchmarkFutureThroughPoolParallel(b *testing.B) {
	p := benchFuturePool(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := submitFuture(ctx, p, noopTask).Await(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// noopExecution is the session's execution without the driver: a future and
// a pool task in one allocation, which its awaiter may run (see runHere).
type noopExecution struct {
	fut  Future[int]
	task pool.Task
	p    *pool.Pool
}

func (e *noopExecution) Run(context.Context)         {}
func (e *noopExecution) Finish()                     { e.fut.complete(1, nil) }
func (e *noopExecution) Drop(err error)              { e.fut.complete(0, err) }
func (e *noopExecution) runHere(ctx context.Context) { e.p.Help(&e.task) }
func (e *noopExecution) cancel()                     { e.p.Cancel(&e.task) }

// BenchmarkFutureRunHere measures submit-to-completion of a future with a
// no-op task that its awaiter runs, the path of Execute(ctx, ...).Await(ctx).
func BenchmarkFutureRunHere(b *testing.B) {
	p := benchFuturePool(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := &noopExecution{p: p}
			e.fut.op = e
			if err := p.SubmitTask(ctx, &e.task, e); err != nil {
				b.Error(err)
				return
			}
			if _, err := e.fut.Await(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if st := p.Stats(); st.HelpedCount == 0 {
		b.Errorf("no task was run by its awaiter: %+v", st)
	}
}
