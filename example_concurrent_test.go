package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/time/rate"

	"github.com/async-cassandra/cassandra"
)

// These examples talk to a node; those with output run against the one
// named by CASSANDRA_HOSTS (see example_main_test.go).

// Load 10,000 rows, 256 at a time, stopping at the first failure. The
// input is made as it is read, so memory does not depend on its size.
func ExampleQuery_ExecuteConcurrent() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	customers := func(yield func([]any) bool) {
		for i := range 10_000 {
			// A new slice for each item: it is read until the item completes.
			if !yield([]any{i, fmt.Sprintf("customer-%d", i)}) {
				return
			}
		}
	}
	st, err := session.Query("INSERT INTO shop.customers (id, name) VALUES (?, ?)").
		Idempotent(true). // the driver may retry a write that timed out
		Consistency(gocql.LocalQuorum).
		ExecuteConcurrent(ctx, customers,
			cassandra.InFlight(256),
			cassandra.OnProgress(10*time.Second, func(p cassandra.ConcurrentStats) {
				log.Printf("%d rows written, %.0f rows/s", p.Succeeded, p.Rate())
			}))
	var ie *cassandra.ItemError
	if errors.As(err, &ie) {
		log.Fatalf("row %d failed: %v (%d rows written)", ie.Index, ie.Err, st.Succeeded)
	}
	if err != nil {
		log.Fatal(err) // ctx ended, or a panic in the iterator
	}
	fmt.Println(st.Succeeded, "rows written")
	// Output: 10000 rows written
}

// Run every item whatever fails, and collect the failed items' values to
// try them again later. The returned error keeps the first ten failures;
// OnResult sees all of them. Here one count read from a file is not a
// number: only its update fails, with a typed error.
func ExampleContinueOnError() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	newCounts := map[string]any{"sku-1": 12, "sku-2": 0, "sku-3": "n/a"}
	updates := func(yield func([]any) bool) {
		for sku, n := range newCounts {
			if !yield([]any{n, sku}) {
				return
			}
		}
	}

	var retry [][]any
	st, err := session.ExecuteConcurrent(ctx, "UPDATE shop.stock SET count = ? WHERE sku = ?", updates,
		cassandra.ContinueOnError(10),
		cassandra.OnResult(func(r cassandra.ItemResult) {
			if r.Err != nil {
				retry = append(retry, r.Values)
			}
		}))
	var ce *cassandra.ConcurrentError
	if errors.As(err, &ce) {
		fmt.Printf("%d of %d updates failed, the first as %q\n", ce.Failed, st.Items, cassandra.ErrorKind(ce.Errors[0]))
	}
	fmt.Println("to try again:", retry)
	// Output:
	// 1 of 3 updates failed, the first as "client"
	// to try again: [[n/a sku-3]]
}

// At most 500 requests a second per session, in bursts of up to 50. With
// the default QueueWait policy a request waits for its token on the
// caller's goroutine, within its context.
func ExampleWithRateLimit() {
	cfg := gocql.NewCluster("127.0.0.1")
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithRateLimit(500, 50))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	_, err = session.Execute(ctx, "SELECT now() FROM system.local").Await(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Print("no token, or no answer, within 5 s")
	}
	st := session.Stats()
	fmt.Println(st.RateLimitWaitCount, "requests waited for a token for", st.RateLimitWaitDuration)

	// rate.Every expresses slower rates: one request a minute.
	_ = cassandra.WithRateLimit(rate.Every(time.Minute), 1)
}
