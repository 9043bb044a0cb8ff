package cassandra

import (
	"context"
	"fmt"
	"runtime"
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
// (ctx=deadline), on both sides.
func BenchmarkExecuteInProcess(b *testing.B) {
	srv := cqltest.NewServer(b)
	srv.SetRows("SELECT v FROM ks.kv", cqltest.Cols("v", cqltest.Text), [][]any{{"value"}})
	cluster, err := NewAsyncCluster(srv.ClusterConfig())
	require.NoError(b, err)
	defer cluster.Close()
	s, err := cluster.Connect(context.Background())
	require.NoError(b, err)
	raw := s.Gocql()

	rawOp := func(ctx context.Context) error {
		var v string
		return raw.Query("SELECT v FROM ks.kv").ScanContext(ctx, &v)
	}
	ops := map[string]func(context.Context) error{
		"raw": rawOp,
		// raw gocql plus what the wrapper allocates beyond it (the
		// execution, a channel, a row buffer): the cost of the garbage
		// alone, whatever code makes it.
		"raw+garbage": func(ctx context.Context) error {
			garbage.obj, garbage.ch, garbage.row = new([64]*int), make(chan struct{}), new([8]*int)
			return rawOp(ctx)
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
			for _, impl := range []string{"raw", "async", "raw+garbage"} {
				if ctxName == "deadline" && impl == "raw+garbage" {
					continue
				}
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

// garbage keeps the allocations of the raw+garbage variant on the heap.
var garbage struct {
	obj, row any
	ch       chan struct{}
}

// BenchmarkGCWithWaitingRequests measures what 512 requests waiting for
// the server cost each garbage collection: every collection walks the
// stack of every waiting goroutine, frame by frame, and marks what the
// requests keep alive. Raw gocql and Execute (run by the awaiter) wait in
// the same driver call; the difference per request is the wrapper's.
// ns/op is one full collection; ns/request divides it by the requests.
func BenchmarkGCWithWaitingRequests(b *testing.B) {
	const waiting = 512
	for _, impl := range []string{"raw", "async"} {
		b.Run("impl="+impl, func(b *testing.B) {
			srv := cqltest.NewServer(b)
			srv.SetRows("SELECT v FROM ks.held", cqltest.Cols("v", cqltest.Text), [][]any{{"value"}})
			hold := make(chan struct{})
			srv.DelayPage("SELECT v FROM ks.held", 1, hold)
			cluster, err := NewAsyncCluster(srv.ClusterConfig(), WithWorkers(waiting))
			require.NoError(b, err)
			defer cluster.Close()
			ctx := context.Background()
			s, err := cluster.Connect(ctx)
			require.NoError(b, err)
			op := func() error {
				var v string
				return s.Gocql().Query("SELECT v FROM ks.held").ScanContext(ctx, &v)
			}
			if impl == "async" {
				op = func() error {
					rs, err := s.Execute(ctx, "SELECT v FROM ks.held").Await(ctx)
					if err != nil {
						return err
					}
					var v string
					return rs.One(&v)
				}
			}
			errs := make(chan error, waiting)
			for range waiting {
				go func() { errs <- op() }()
			}
			for srv.Requests("SELECT v FROM ks.held") < waiting {
				select {
				case err := <-errs:
					b.Fatalf("a request ended before it was held: %v", err)
				default:
					runtime.Gosched()
				}
			}
			runtime.GC()
			b.ResetTimer()
			for range b.N {
				runtime.GC()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/waiting, "ns/request")
			close(hold)
			for range waiting {
				require.NoError(b, <-errs)
			}
		})
	}
}
