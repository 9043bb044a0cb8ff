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
// no-op task, the way the session runs a query (with a cancellable context).
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
