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

// These examples need a Cassandra node, so they are compiled but not run.

// Load a million rows, 256 at a time, stopping at the first failure. The
// input is made as it is read, so memory does not depend on its size.
func ExampleQuery_ExecuteConcurrent() {
	var session *cassandra.AsyncSession // from cluster.Connect
	ctx := context.Background()

	users := func(yield func([]any) bool) {
		for i := range 1_000_000 {
			// A new slice for each item: it is read until the item completes.
			if !yield([]any{i, fmt.Sprintf("user-%d", i)}) {
				return
			}
		}
	}
	st, err := session.Query("INSERT INTO users (id, name) VALUES (?, ?)").
		Idempotent(true). // the driver may retry a write that timed out
		Consistency(gocql.LocalQuorum).
		ExecuteConcurrent(ctx, users,
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
}

// Run every item whatever fails, and collect the failed items' values to
// try them again later. The returned error keeps the first ten failures;
// OnResult sees all of them.
func ExampleContinueOnError() {
	var session *cassandra.AsyncSession // from cluster.Connect
	ctx := context.Background()
	newCounts := map[string]int{"sku-1": 12, "sku-2": 0} // e.g. read from a file
	updates := func(yield func([]any) bool) {
		for sku, n := range newCounts {
			if !yield([]any{n, sku}) {
				return
			}
		}
	}

	var retry [][]any
	st, err := session.ExecuteConcurrent(ctx, "UPDATE stock SET count = ? WHERE sku = ?", updates,
		cassandra.ContinueOnError(10),
		cassandra.OnResult(func(r cassandra.ItemResult) {
			if r.Err != nil {
				retry = append(retry, r.Values)
			}
		}))
	var ce *cassandra.ConcurrentError
	if errors.As(err, &ce) {
		log.Printf("%d of %d updates failed, first: %v", ce.Failed, st.Items, ce.Errors[0])
	}
	fmt.Println(len(retry), "updates to try again")
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
