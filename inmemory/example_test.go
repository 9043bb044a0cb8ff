package inmemory_test

import (
	"context"
	"fmt"
	"log"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
)

// A command-line tool prints the summary when it is done. (This example
// needs a Cassandra node, so it is compiled but not run.)
func Example() {
	c := inmemory.New()
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster("127.0.0.1"), cassandra.WithCollector(c))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background()
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	// ... the tool's work ...

	fmt.Print(c)
}

// The snapshot's figures, here from requests reported by hand on a fake
// clock, as a test would.
func ExampleCollector_Snapshot() {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	c := inmemory.New(inmemory.WithClock(func() time.Time { return now }))
	read := cassandra.Statement{Text: "SELECT * FROM users WHERE id = ?", Kind: cassandra.KindSelect, Keyspace: "app", Table: "users"}
	ctx := context.Background()
	for i := range 1000 {
		c.RequestDone(ctx, cassandra.RequestInfo{Statement: read, Duration: time.Duration(i+1) * time.Microsecond, Rows: 1})
	}
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: read, Duration: time.Second, ErrorKind: "read_timeout"})
	now = now.Add(10 * time.Second)

	s := c.Snapshot()
	fmt.Println("requests:", s.RequestCount, "errors:", s.ErrorsByKind)
	fmt.Printf("rate: %.1f/s\n", s.Window.RequestsPerSecond)
	fmt.Println("latency:", s.Window.Latency)
	fmt.Println("top statement:", s.TopByCount(1)[0].Statement.Text)
	// Output:
	// requests: 1001 errors: map[read_timeout:1]
	// rate: 100.1/s
	// latency: p50 501µs  p95 951µs  p99 991µs  p99.9 1ms  max 1s  mean 1.5ms
	// top statement: SELECT * FROM users WHERE id = ?
}
