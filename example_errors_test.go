package cassandra_test

import (
	"context"
	"errors"
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// A failed query's error names the statement, never its values, and the
// driver's typed error stays reachable.
func ExampleQueryError() {
	var err error = &cassandra.QueryError{
		Statement: "UPDATE shop.users SET email = ? WHERE id = ?",
		Attempts:  2,
		Host:      "10.0.0.1:9042",
		Err:       &gocql.RequestErrWriteTimeout{Consistency: gocql.Quorum, Received: 1, BlockFor: 2, WriteType: "SIMPLE"},
	}

	var wt *gocql.RequestErrWriteTimeout
	if errors.As(err, &wt) {
		fmt.Printf("write timeout: %d of %d replicas answered (%s)\n", wt.Received, wt.BlockFor, wt.WriteType)
	}
	fmt.Println(cassandra.ErrorKind(err))
	// Output:
	// write timeout: 1 of 2 replicas answered (SIMPLE)
	// write_timeout
}

func ExampleErrorKind() {
	for _, err := range []error{
		nil,
		fmt.Errorf("query: %w", context.DeadlineExceeded),
		cassandra.ErrOverloaded,
		cassandra.ErrRateLimited,
		&cassandra.QueryError{Statement: "SELECT 1", Err: gocql.ErrNoConnections},
	} {
		fmt.Printf("%q\n", cassandra.ErrorKind(err))
	}
	// Output:
	// ""
	// "deadline"
	// "overloaded"
	// "overloaded"
	// "no_connections"
}

func ExampleNormalizeStatement() {
	fmt.Println(cassandra.NormalizeStatement("select * from shop.users where id=42 and name in ('a','b') -- by name"))
	// Output:
	// SELECT * FROM shop.users WHERE id = ? AND name IN ?
}
