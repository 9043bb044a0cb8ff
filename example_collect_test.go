package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// These examples need a Cassandra node, so they are compiled but not run;
// connect is in example_test.go.

func ExampleCollectRows() {
	ctx := context.Background()
	session := connect(ctx) // see example_test.go
	defer session.Close()

	// Columns match fields by tag, by name or by snake_case name, ignoring case.
	type User struct {
		ID        gocql.UUID
		FullName  string    `cql:"name"`
		CreatedAt time.Time // created_at
	}
	rs, err := session.Execute(ctx, "SELECT id, name, created_at FROM app.users").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	users, err := cassandra.CollectRows(rs, cassandra.RowToStructByName[User])
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range users {
		fmt.Println(u.ID, u.FullName, u.CreatedAt)
	}
}

func ExampleCollectOneRow() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()
	id := gocql.TimeUUID()

	rs, err := session.Execute(ctx, "SELECT name FROM app.users WHERE id = ?", id).Await(ctx)
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
}

func ExampleForEachRow() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	rs, err := session.Execute(ctx, "SELECT name, logins FROM app.users").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var (
		name   string
		logins int64
	)
	err = cassandra.ForEachRow(rs, []any{&name, &logins}, func() error {
		fmt.Println(name, logins)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
