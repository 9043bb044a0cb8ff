// Command quickstart is the library's tour in one program. It connects to
// Cassandra with the recommended configuration (the defaults), creates a
// table, writes 1,000 rows at once as futures, reads one back, streams the
// table page by page, runs a lightweight transaction and a batch, and ends
// with the summary of what the in-memory metrics collector saw.
//
//	make demo                          # starts a local node if none answers, then runs this
//	cd examples && go run ./quickstart # against CASSANDRA_HOSTS (comma-separated, default 127.0.0.1)
//
// -keyspace picks the keyspace it creates and writes to (default "demo").
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
)

// User is a row of the users table; RowToStructByName maps columns to
// fields by their cql tags.
type User struct {
	ID    int    `cql:"id"`
	Name  string `cql:"name"`
	Email string `cql:"email"`
}

func main() {
	keyspace := flag.String("keyspace", "demo", "keyspace to create and use")
	flag.Parse()
	hosts := []string{"127.0.0.1"}
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		hosts = strings.Split(h, ",")
	}
	// One deadline for the whole tour: every query below is bounded by it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, hosts, *keyspace); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, hosts []string, ks string) error {
	// The driver's configuration, wrapped. The library's defaults are the
	// recommended settings; the collector is the only option given here.
	metrics := inmemory.New()
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster(hosts...), cassandra.WithCollector(metrics))
	if err != nil {
		return err
	}
	defer cluster.Close()
	session, err := cluster.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to %v: %w", hosts, err)
	}
	defer session.Close() // stops at once; Shutdown, at the end, drains first

	// Execute returns a future at once; Await waits for the result.
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + ks + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + ks + `.users (id int PRIMARY KEY, name text, email text)`,
	} {
		if _, err := session.Execute(ctx, stmt).Await(ctx); err != nil {
			return err
		}
	}

	// 1,000 inserts in flight together: submit them all, then wait for all.
	// The worker pool bounds how many run at once. An INSERT of fixed
	// values is idempotent, so the driver may retry it after a timeout.
	const n = 1000
	start := time.Now()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	for i := range n {
		futs[i] = session.Query(`INSERT INTO `+ks+`.users (id, name, email) VALUES (?, ?, ?)`,
			i, fmt.Sprintf("user %d", i), fmt.Sprintf("user%d@example.com", i)).Idempotent(true).Execute(ctx)
	}
	if _, err := cassandra.AwaitAll(ctx, futs...); err != nil {
		return err
	}
	fmt.Printf("inserted %d users concurrently in %v\n", n, time.Since(start).Round(time.Millisecond))

	// One row, read into a struct.
	rs, err := session.Execute(ctx, `SELECT id, name, email FROM `+ks+`.users WHERE id = ?`, 42).Await(ctx)
	if err != nil {
		return err
	}
	u, err := cassandra.CollectOneRow(rs, cassandra.RowToStructByName[User])
	if err != nil {
		return err
	}
	fmt.Printf("user 42: %+v\n", u)

	// The whole table as a stream: pages of 100 rows, the next page fetched
	// while this one is read, so memory stays the same for any table size.
	stream := session.Query(`SELECT id, name, email FROM ` + ks + `.users`).PageSize(100).Stream(ctx)
	count, pages := 0, 0
	for page, err := range stream.Pages() {
		if err != nil { // the error that ended the stream: always check it
			return err
		}
		users, err := cassandra.CollectRows(page, cassandra.RowToStructByName[User])
		if err != nil {
			return err
		}
		count, pages = count+len(users), pages+1
	}
	fmt.Printf("streamed %d users in %d pages\n", count, pages)

	// A lightweight transaction: IF NOT EXISTS applies only the first time.
	// (Never mark an LWT idempotent: a retry could apply it twice.)
	for _, name := range []string{"first", "second"} {
		rs, err := session.Execute(ctx, `INSERT INTO `+ks+`.users (id, name, email) VALUES (-1, ?, ?) IF NOT EXISTS`,
			name, name+"@example.com").Await(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("insert %q if not exists: applied=%v\n", name, rs.Applied())
	}

	// A logged batch: both writes are applied, or neither. This one also
	// removes the LWT's row, so that the next run starts afresh.
	_, err = session.Batch(gocql.LoggedBatch).
		Query(`UPDATE `+ks+`.users SET name = ? WHERE id = ?`, "renamed", 1).
		Query(`DELETE FROM `+ks+`.users WHERE id = ?`, -1).
		Execute(ctx).Await(ctx)
	if err != nil {
		return err
	}
	fmt.Println("batch applied")

	// What the collector saw: requests, latencies, the pool, the statements.
	fmt.Print("\n", metrics.String())

	// Shut down gracefully: stop accepting queries, finish those in flight.
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	return session.Shutdown(sctx)
}
