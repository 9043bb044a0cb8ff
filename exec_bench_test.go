package cassandra

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// BenchmarkExecuteInProcess compares Execute with raw gocql against the
// in-process CQL server: the same driver work on both sides, without a
// real server's noise, so the difference is what the wrapper costs the
// client (the hand-off to a worker and back, and its allocations). Each
// request runs with context.Background (ctx=background) or, as a
// service's requests do, with a context of its own that has a deadline
// (ctx=deadline), on both sides. docs/performance.md reads it.
func BenchmarkExecuteInProcess(b *testing.B) {
	srv := cqltest.NewServer(b)
	srv.SetRows("SELECT v FROM ks.kv", cqltest.Cols("v", cqltest.Text), [][]any{{"value"}})
	cluster, err := NewAsyncCluster(srv.ClusterConfig())
	require.NoError(b, err)
	defer cluster.Close()
	s, err := cluster.Connect(context.Background())
	require.NoError(b, err)
	raw := s.Gocql()

	ops := map[string]func(context.Context) error{
		"raw": func(ctx context.Context) error {
			var v string
			return raw.Query("SELECT v FROM ks.kv").ScanContext(ctx, &v)
		},
		"async": func(ctx context.Context) error {
			rs, err := s.Execute(ctx, "SELECT v FROM ks.kv").Await(ctx)
			if err != nil {
				return err
			}
			var v string
			return rs.One(&v)
		},
	}
	contexts := map[string]func() (context.Context, context.CancelFunc){
		"background": func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
		"deadline": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Minute)
		},
	}
	for _, c := range []int{1, 64} {
		for _, ctxName := range []string{"background", "deadline"} {
			for _, impl := range []string{"raw", "async"} {
				b.Run(fmt.Sprintf("c=%d/ctx=%s/impl=%s", c, ctxName, impl), func(b *testing.B) {
					benchmarkConcurrently(b, c, contexts[ctxName], ops[impl])
				})
			}
		}
	}
}

// benchmarkConcurrently runs op b.N times from c goroutines, each call with
// a context from newCtx, and fails b if op does.
func benchmarkConcurrently(b *testing.B, c int, newCtx func() (context.Context, context.CancelFunc), op func(context.Context) error) {
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				ctx, cancel := newCtx()
				err := op(ctx)
				cancel()
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
}
