package inmemory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// benchStatements are the statements the benchmarks spread requests over.
var benchStatements = func() []cassandra.Statement {
	stmts := make([]cassandra.Statement, 16)
	for i := range stmts {
		stmts[i] = cassandra.Statement{Text: fmt.Sprintf("SELECT v FROM app.table_%d WHERE k = ?", i), Kind: cassandra.KindSelect, Keyspace: "app", Table: fmt.Sprintf("table_%d", i)}
	}
	return stmts
}()

// benchInfo is the i-th request of a benchmark: latencies spread over
// 0.1 to 10 ms, one request in 50 failed.
func benchInfo(i int) cassandra.RequestInfo {
	info := cassandra.RequestInfo{
		Statement: benchStatements[i%len(benchStatements)],
		QueueWait: time.Duration(i%100) * time.Microsecond,
		Duration:  time.Duration(100+(i*7919)%9900) * time.Microsecond,
		Attempts:  1, Pages: 1, Rows: i % 10,
	}
	if i%50 == 0 {
		info.Err, info.ErrorKind = errBench, "read_timeout"
	}
	return info
}

var errBench = errors.New("bench")

// warm records one request of every statement, so that what follows finds
// them all.
func warm(c *inmemory.Collector) {
	for i := range 2 * len(benchStatements) {
		c.RequestDone(context.Background(), benchInfo(i))
	}
}

func BenchmarkRequestDone(b *testing.B) {
	c := inmemory.New()
	warm(c)
	infos := make([]cassandra.RequestInfo, 1024)
	for i := range infos {
		infos[i] = benchInfo(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c.RequestDone(ctx, infos[i%len(infos)])
	}
}

// BenchmarkRequestDoneParallel records from GOMAXPROCS goroutines at once,
// as workers do.
func BenchmarkRequestDoneParallel(b *testing.B) {
	c := inmemory.New()
	warm(c)
	infos := make([]cassandra.RequestInfo, 1024)
	for i := range infos {
		infos[i] = benchInfo(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.RequestDone(ctx, infos[i%len(infos)])
			i++
		}
	})
}

func BenchmarkAttemptDone(b *testing.B) {
	c := inmemory.New()
	ctx := context.Background()
	a := cassandra.AttemptInfo{Statement: benchStatements[0], Attempt: 1}
	b.ReportAllocs()
	for range b.N {
		c.AttemptDone(ctx, a)
	}
}

// BenchmarkSnapshot takes a snapshot of a window whose every interval
// holds requests.
func BenchmarkSnapshot(b *testing.B) {
	clk := newClock()
	c := inmemory.New(inmemory.WithClock(clk.Now))
	for i := range 60_000 {
		if i%10_000 == 0 {
			clk.Add(10 * time.Second)
		}
		c.RequestDone(context.Background(), benchInfo(i))
	}
	b.ReportAllocs()
	for range b.N {
		_ = c.Snapshot()
	}
}

// BenchmarkExecuteInProcess runs Execute against the in-process server
// from one goroutine, without a collector and with this one (which, being
// an AttemptCollector, also has the session install its driver observers):
// the difference is what the collector costs a request, end to end.
func BenchmarkExecuteInProcess(b *testing.B) {
	const stmt = "SELECT v FROM ks.kv WHERE k = 1"
	srv := cqltest.NewServer(b)
	defer srv.Close()
	srv.SetRows(stmt, cqltest.Cols("v", cqltest.Text), [][]any{{"value"}})
	for _, name := range []string{"collector=none", "collector=inmemory"} {
		b.Run(name, func(b *testing.B) {
			var opts []cassandra.Option
			if name == "collector=inmemory" {
				opts = append(opts, cassandra.WithCollector(inmemory.New()))
			}
			cluster, err := cassandra.NewAsyncCluster(srv.ClusterConfig(), opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			ctx := context.Background()
			s, err := cluster.Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.Execute(ctx, stmt).Await(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
