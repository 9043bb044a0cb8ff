package cassandra_test

import (
	"context"
	"fmt"
	"log"

	"github.com/async-cassandra/cassandra"
)

// These examples run against the node named by CASSANDRA_HOSTS, where
// account ada/1 holds 100 and grace/1 holds 80 (see example_main_test.go).

// A lightweight transaction: the insert applies only if no row has the key.
// When it does not apply, the result holds the row as it is, after the
// "[applied]" column.
func ExampleResultSet_Applied() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	rs, err := session.Execute(ctx,
		"INSERT INTO shop.accounts (owner, id, balance) VALUES (?, ?, ?) IF NOT EXISTS", "ada", 1, 100).Await(ctx)
	if err != nil {
		log.Fatal(err) // a non-idempotent write is never retried: its outcome may be unknown
	}
	if !rs.Applied() {
		var owner string
		var id, balance int
		// nil skips the [applied] column; the others follow in table order.
		if err := rs.One(nil, &owner, &id, &balance); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("account %s/%d exists already, balance %d\n", owner, id, balance)
	}
	// Output: account ada/1 exists already, balance 100
}

// A conditional update read into a struct whatever the outcome:
// RowToStructByNameLax leaves Balance zero when the result has only the
// [applied] column (applied, or no such row).
func ExampleRowToStructByNameLax() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	type outcome struct {
		Applied bool `cql:"[applied]"`
		Balance int
	}
	rs, err := session.Execute(ctx,
		"UPDATE shop.accounts SET balance = ? WHERE owner = ? AND id = ? IF balance = ?", 50, "grace", 1, 100).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	o, err := cassandra.CollectOneRow(rs, cassandra.RowToStructByNameLax[outcome])
	if err != nil {
		log.Fatal(err)
	}
	if !o.Applied {
		fmt.Println("not applied; the balance is", o.Balance)
	}
	// Output: not applied; the balance is 80
}
