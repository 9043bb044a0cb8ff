package cassandra_test

import (
	"context"
	"fmt"
	"log"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// These examples need a Cassandra node, so they are compiled but not run;
// connect is in example_test.go.

// Stream a table into structs, in constant memory.
func ExampleRowsAs() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	type Order struct {
		ID    gocql.UUID
		Total int64
	}
	stream := session.Stream(ctx, "SELECT id, total FROM shop.orders")
	for o, err := range cassandra.RowsAs(stream, cassandra.RowToStructByName[Order]) {
		if err != nil {
			log.Fatal(err) // the error that ended the stream, or a mapping error
		}
		fmt.Println(o.ID, o.Total)
	}
}

// Handle a result a page at a time, for instance to write each page to a
// file and remember where to resume.
func ExampleStream_Pages() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	stream := session.Query("SELECT id, total FROM shop.orders").PageSize(500).Stream(ctx)
	for page, err := range stream.Pages() {
		if err != nil {
			log.Fatal(err)
		}
		type Order struct {
			ID    gocql.UUID
			Total int64
		}
		orders, err := cassandra.CollectRows(page, cassandra.RowToStructByName[Order])
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("page %d: %d orders, resume from %x\n", page.Number(), len(orders), page.PageState())
	}
}
