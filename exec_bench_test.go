package cassandra

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// BenchmarkExecuteInProcess compares Execute with raw gocql against the
// in-process CQL server: the same driver work on both sides, without a
// real server's noise, so the difference is what the wrapper costs the
// client (the hand-off to a worker and back, and its allocations).
func BenchmarkExecuteInProcess(b *testing.B) {
	srv := cqltest.NewServer(b)
	srv.SetRows("SELECT v FROM ks.kv", cqltest.Cols("v", cqltest.Text), [][]any{{"value"}})
	cluster, err := NewAsyncCluster(srv.ClusterConfig())
	require.NoError(b, err)
	defer cluster.Close()
	ctx := context.Background()
	s, err := cluster.Connect(ctx)
	require.NoError(b, err)
	raw := s.Gocql()

	rawOp := func() error {
		var v string
		return raw.Query("SELECT v FROM ks.kv").ScanContext(ctx, &v)
	}
	ops := map[string]func() error{
		"raw": rawOp,
		// raw gocql plus what the wrapper allocates beyond it (the
		// execution, a channel, a row buffer): the cost of the garbage
		// alone, whatever code makes it.
		"raw+garbage": func() error {
			garbage.obj, garbage.ch, garbage.row = new([64]*int), make(chan struct{}), new([8]*int)
			return rawOp()
		},
		"async": func() error {
			rs, err := s.Execute(ctx, "SELECT v FROM ks.kv").Await(ctx)
			if err != nil {
				return err
			}
			var v string
			return rs.One(&v)
		},
	}
	for _, c := range []int{1, 64} {
		for _, impl := range []string{"raw", "async", "raw+garbage"} {
			b.Run(fmt.Sprintf("c=%d/impl=%s", c, impl), func(b *testing.B) {
				b.ReportAllocs()
				op := ops[impl]
				var next atomic.Int64
				var wg sync.WaitGroup
				var failed atomic.Value
				b.ResetTimer()
				for range c {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := op(); err != nil {
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
			})
		}
	}
}

// garbage keeps the allocations of the raw+garbage variant on the heap.
var garbage struct {
	obj, row any
	ch       chan struct{}
}
