// Package bench compares the library with raw gocql against the real node.
// Run with `make bench` or:
//
//	cd test && go test -run '^$' -bench . -benchmem ./bench/
package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

const (
	keyspace = "async_cassandra_bench"
	rows     = 1000
)

func config() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Keyspace = keyspace
	cfg.Timeout = 10 * time.Second
	return cfg
}

// raw and wrapped are connected once for every benchmark, with identical
// driver settings.
var (
	raw     *gocql.Session
	wrapped *cassandra.AsyncSession
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		return m.Run() // no benchmark asked for: nothing to set up
	}
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "benchmarks need a Cassandra node at %v (make cassandra-up): %v\n", node.Hosts(), err)
		return 1
	}
	defer raw.Close()
	defer wrapped.Close()
	return m.Run()
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot := gocql.NewCluster(node.Hosts()...)
	bs, err := boot.CreateSession()
	if err != nil {
		return err
	}
	defer bs.Close()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.kv (id int PRIMARY KEY, v text)`,
	} {
		if err := bs.Query(stmt).ExecContext(ctx); err != nil {
			return err
		}
	}
	if raw, err = config().CreateSession(); err != nil {
		return err
	}
	cluster, err := cassandra.NewAsyncCluster(config())
	if err != nil {
		return err
	}
	if wrapped, err = cluster.Connect(ctx); err != nil {
		return err
	}
	value := strings.Repeat("x", 100)
	for i := range rows {
		if err := raw.Query(`INSERT INTO kv (id, v) VALUES (?, ?)`, i, value).ExecContext(ctx); err != nil {
			return err
		}
	}
	return nil
}

const (
	readStmt  = `SELECT v FROM kv WHERE id = ?`
	writeStmt = `INSERT INTO kv (id, v) VALUES (?, ?)`
)

// concurrency levels: goroutines issuing requests at once.
var levels = []int{1, 64, 512}

// rounds is how many times each comparison is repeated. Raw and wrapped
// runs alternate within a round, so that a slow phase of the server (a
// compaction, a JVM collection) falls on both rather than on one. Compare
// with `benchstat -col /impl -ignore round`.
var rounds = flag.Int("rounds", 1, "alternating rounds of each comparison")

// control adds a third variant to Read and Write: raw gocql that also
// allocates, per operation, what the wrapper allocates beyond raw gocql (an
// object of 512 bytes and a channel). It separates the cost of the
// per-request garbage, whatever code makes it, from the rest of the wrapper.
var control = flag.Bool("control", false, "also run raw gocql plus the wrapper's allocations")

// garbage keeps the control's allocations on the heap.
var garbage struct {
	obj *[64]*int
	ch  chan struct{}
}

// compare runs raw and wrapped variants of an operation at each level.
func compare(b *testing.B, rawOp, asyncOp func(i int) error) {
	type variant struct {
		impl string
		op   func(int) error
	}
	variants := []variant{{"raw", rawOp}, {"async", asyncOp}}
	if *control {
		variants = append(variants, variant{"raw+garbage", func(i int) error {
			garbage.obj, garbage.ch = new([64]*int), make(chan struct{})
			return rawOp(i)
		}})
	}
	for round := 1; round <= *rounds; round++ {
		for _, n := range levels {
			for _, v := range variants {
				b.Run(fmt.Sprintf("c=%d/impl=%s/round=%d", n, v.impl, round), func(b *testing.B) {
					b.ReportAllocs()
					parallel(b, n, v.op)
					if v.impl == "async" {
						// Worker goroutines started so far: most requests
						// run on the goroutine that awaits them.
						b.ReportMetric(float64(wrapped.Stats().LiveWorkers), "workers")
					}
				})
			}
		}
	}
}

// parallel runs op from n goroutines until b.N operations are done.
func parallel(b *testing.B, n int, op func(i int) error) {
	var next atomic.Int64
	errs := make(chan error, n)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range n {
		go func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					errs <- nil
					return
				}
				if err := op(int(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Error(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	// The client's own CPU per operation, apart from the server's: on a
	// machine that runs both, this is what the wrapper costs.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "client-cpu-µs/op")
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRead reads one row of 100 bytes by key.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	compare(b, func(i int) error {
		var v string
		return raw.Query(readStmt, i%rows).ScanContext(ctx, &v)
	}, func(i int) error {
		rs, err := wrapped.Execute(ctx, readStmt, i%rows).Await(ctx)
		if err != nil {
			return err
		}
		var v string
		return rs.One(&v)
	})
}

// BenchmarkWrite inserts one row of 100 bytes.
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	value := strings.Repeat("y", 100)
	compare(b, func(i int) error {
		return raw.Query(writeStmt, i%rows, value).ExecContext(ctx)
	}, func(i int) error {
		_, err := wrapped.Execute(ctx, writeStmt, i%rows, value).Await(ctx)
		return err
	})
}

// workerCounts are the pool sizes BenchmarkWorkers compares.
var workerCounts = []int{32, 64, 128, 256, 512, 1024}

// BenchmarkWorkers runs 512 concurrent readers against sessions with
// different worker counts, alternating with raw gocql, to choose
// DefaultWorkers. Compare with `benchstat -col /impl -ignore /round`.
func BenchmarkWorkers(b *testing.B) {
	ctx := context.Background()
	counts := workerCounts
	sessions := make(map[int]*cassandra.AsyncSession)
	for _, w := range counts {
		cluster, err := cassandra.NewAsyncCluster(config(), cassandra.WithWorkers(w))
		if err != nil {
			b.Fatal(err)
		}
		defer cluster.Close()
		s, err := cluster.Connect(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sessions[w] = s
	}
	for round := 1; round <= *rounds; round++ {
		b.Run(fmt.Sprintf("impl=raw/round=%d", round), func(b *testing.B) {
			parallel(b, 512, func(i int) error {
				var v string
				return raw.Query(readStmt, i%rows).ScanContext(ctx, &v)
			})
		})
		for _, w := range counts {
			b.Run(fmt.Sprintf("impl=async-w%d/round=%d", w, round), func(b *testing.B) {
				s := sessions[w]
				parallel(b, 512, func(i int) error {
					rs, err := s.Execute(ctx, readStmt, i%rows).Await(ctx)
					if err != nil {
						return err
					}
					var v string
					return rs.One(&v)
				})
			})
		}
	}
}
