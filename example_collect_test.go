package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/async-cassandra/cassandra"
)

// These examples run against the node named by CASSANDRA_HOSTS (see
// example_main_test.go).

func ExampleCollectRows() {
	ctx := context.Background()
	session := connect(ctx) // see example_main_test.go
	defer session.Close()

	// Columns match fields by tag, by name or by snake_case name, ignoring case.
	type User struct {
		ID        int
		FullName  string    `cql:"name"`
		CreatedAt time.Time // created_at
	}
	rs, err := session.Execute(ctx, "SELECT id, name, created_at FROM shop.users").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	users, err := cassandra.CollectRows(rs, cassandra.RowToStructByName[User])
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range users {
		fmt.Println(u.ID, u.FullName, u.CreatedAt.Format(time.DateOnly))
	}
	// Unordered output:
	// 42 Ada 2025-12-10
	// 7 Grace 2026-01-09
	// 3 Edsger 2026-05-11
}

func ExampleCollectOneRow() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	rs, err := session.Execute(ctx, "SELECT name FROM shop.users WHERE id = ?", 404).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	name, err := cassandra.CollectOneRow(rs, cassandra.RowTo[string])
	switch {
	case errors.Is(err, cassandra.ErrNotFound):
		fmt.Println("no such user")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(name)
	}
	// Output: no such user
}

func ExampleForEachRow() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	rs, err := session.Execute(ctx, "SELECT id, name FROM shop.users").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var (
		id   int
		name string
	)
	err = cassandra.ForEachRow(rs, []any{&id, &name}, func() error {
		fmt.Println(id, name)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Unordered output:
	// 42 Ada
	// 7 Grace
	// 3 Edsger
}
