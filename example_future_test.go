package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/async-cassandra/cassandra"
)

// These examples talk to a node; those with output run against the one
// named by CASSANDRA_HOSTS (see example_main_test.go).

// The context given to Execute bounds the query's whole life, its wait for
// a worker included; the one given to Await bounds only that wait.
func ExampleFuture_Await() {
	session := connect(context.Background())
	defer session.Close()

	queryCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	fut := session.Execute(queryCtx, "SELECT name FROM shop.users WHERE id = ?", 42)

	// Do other work meanwhile, then wait at most 100 ms for the answer.
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelWait()
	rs, err := fut.Await(waitCtx)
	if errors.Is(err, context.DeadlineExceeded) && waitCtx.Err() != nil {
		// Only the wait ended: the query goes on and can be awaited again.
		rs, err = fut.Await(queryCtx)
	}
	if err != nil {
		log.Fatal(err) // errors.Is(err, context.DeadlineExceeded) if 2 s passed
	}
	var name string
	if err := rs.One(&name); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name)
	// Output: Ada
}

// Ask two tables and take whichever answers first; cancel the other.
func ExampleAwaitAny() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	session := connect(ctx)
	defer session.Close()

	futs := []*cassandra.Future[*cassandra.ResultSet]{
		session.Query("SELECT name FROM shop.users WHERE id = ?", 42).Idempotent(true).Execute(ctx),
		session.Query("SELECT name FROM shop.users_cache WHERE id = ?", 42).Idempotent(true).Execute(ctx),
	}
	i, rs, err := cassandra.AwaitAny(ctx, futs...)
	for _, f := range futs {
		f.Cancel() // a no-op for the one that completed
	}
	if err != nil {
		log.Fatal(err)
	}
	var name string
	if err := rs.One(&name); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name, "from query", i)
}

// Cancel stops a query wherever it is: in the queue it is never sent; in
// flight the driver stops waiting for it (the server may still run it).
func ExampleFuture_Cancel() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	fut := session.Execute(ctx, "SELECT * FROM shop.orders")
	fut.Cancel()
	_, err := fut.Await(ctx)
	fmt.Println(errors.Is(err, context.Canceled)) // true, unless it had already completed
}
