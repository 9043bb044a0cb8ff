package cassandra_test

import (
	"context"
	"fmt"
	"log"

	"github.com/async-cassandra/cassandra"
)

// These examples talk to a node; those with output run against the one
// named by CASSANDRA_HOSTS (see example_main_test.go).

// Stream a table into structs, in constant memory.
func ExampleRowsAs() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	type Order struct {
		ID    int
		Total int64
	}
	stream := session.Stream(ctx, "SELECT id, total FROM shop.orders")
	for o, err := range cassandra.RowsAs(stream, cassandra.RowToStructByName[Order]) {
		if err != nil {
			log.Fatal(err) // the error that ended the stream, or a mapping error
		}
		if o.Total > 997 {
			fmt.Println(o.ID, o.Total)
		}
	}
	// Unordered output:
	// 998 998
	// 999 999
	// 1000 1000
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
			ID    int
			Total int64
		}
		orders, err := cassandra.CollectRows(page, cassandra.RowToStructByName[Order])
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("page %d: %d orders, resume from %x\n", page.Number(), len(orders), page.PageState())
	}
}

// Follow a long read page by page, for a progress line or a log; fn runs on
// the reading goroutine as each page starts.
func ExampleOnPage() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	stream := session.Query("SELECT id FROM shop.orders").PageSize(400).Stream(ctx,
		cassandra.OnPage(func(p cassandra.PageInfo) {
			fmt.Printf("page %d: %d rows, %d so far\n", p.Number, p.Rows, p.TotalRows)
		}))
	for _, err := range stream.Rows() {
		if err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// page 1: 400 rows, 400 so far
	// page 2: 400 rows, 800 so far
	// page 3: 200 rows, 1000 so far
}
