// Package bench compares the library with raw gocql against the real node.
// Run with `make bench` or:
//
//	cd test && go test -run '^$' -bench . -benchmem ./bench/
package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

const (
	keyspace = "async_cassandra_bench"
	rows     = 1000
)

func hosts() []string {
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1"}
}

func config() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(hosts()...)
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
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "benchmarks need a Cassandra node at %v (make cassandra-up): %v\n", hosts(), err)
		return 1
	}
	defer raw.Close()
	defer wrapped.Close()
	return m.Run()
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot := gocql.NewCluster(hosts()...)
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

// parallel runs op from n goroutines until b.N operations are done.
func parallel(b *testing.B, n int, op func(i int) error) {
	var next atomic.Int64
	errs := make(chan error, n)
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
}

// BenchmarkRead reads one row of 100 bytes by key.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	for _, n := range levels {
		b.Run(fmt.Sprintf("raw/c=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			parallel(b, n, func(i int) error {
				var v string
				return raw.Query(readStmt, i%rows).ScanContext(ctx, &v)
			})
		})
		b.Run(fmt.Sprintf("async/c=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			parallel(b, n, func(i int) error {
				rs, err := wrapped.Execute(ctx, readStmt, i%rows).Await(ctx)
				if err != nil {
					return err
				}
				var v string
				return rs.One(&v)
			})
		})
	}
}

// BenchmarkWrite inserts one row of 100 bytes.
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	value := strings.Repeat("y", 100)
	for _, n := range levels {
		b.Run(fmt.Sprintf("raw/c=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			parallel(b, n, func(i int) error {
				return raw.Query(writeStmt, i%rows, value).ExecContext(ctx)
			})
		})
		b.Run(fmt.Sprintf("async/c=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			parallel(b, n, func(i int) error {
				_, err := wrapped.Execute(ctx, writeStmt, i%rows, value).Await(ctx)
				return err
			})
		})
	}
}
