package cassandra_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// A session that sheds load (QueueFailFast) and callers that back off
// and try again while their deadline allows, instead of each writing a
// loop around ErrOverloaded.
func ExampleRetry() {
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster(strings.Split(os.Getenv("CASSANDRA_HOSTS"), ",")...),
		cassandra.WithQueue(256), cassandra.WithQueueFullPolicy(cassandra.QueueFailFast))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	// ErrOverloaded means the request was never sent, so any statement
	// may be tried again; the zero Backoff retries only that error.
	rs, err := cassandra.Retry(ctx, cassandra.Backoff{}, func(ctx context.Context) *cassandra.Future[*cassandra.ResultSet] {
		return session.Execute(ctx, "UPDATE shop.page_hits SET hits = hits + 1 WHERE page = ?", "/")
	})
	if err != nil {
		log.Fatal(err) // the deadline passed while the session stayed full, or the update failed
	}
	fmt.Println("applied after", rs.Attempts(), "attempt(s) at the node")
	// Output: applied after 1 attempt(s) at the node
}

// Retries and speculative execution apply to statements marked idempotent
// only; the session's retry policy is DefaultRetryPolicy unless told
// otherwise.
func ExampleWithRetryPolicy() {
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster("10.0.0.1", "10.0.0.2", "10.0.0.3"),
		cassandra.WithRetryPolicy(&cassandra.RetryPolicy{MaxRetries: 5, MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second}),
		cassandra.WithSpeculativeExecution(1, 50*time.Millisecond))
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

	// Setting a row to a value is idempotent: safe to send twice.
	_, err = session.Query("UPDATE users SET email = ? WHERE id = ?", "ada@example.com", 42).
		Idempotent(true).Execute(ctx).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
}
