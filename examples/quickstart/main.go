// Command quickstart is the library's tour in one program: it connects to
// Cassandra (CASSANDRA_HOSTS, default 127.0.0.1), creates a keyspace and a
// table, writes rows concurrently as futures, reads one back, streams the
// table page by page, runs a lightweight transaction and a batch, and prints
// the worker pool's statistics and the in-memory collector's summary.
//
// `make demo` starts the local test node if needed and runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
)

// User is a row of demo.users, mapped by column name.
type User struct {
	ID    int    `cql:"id"`
	Name  string `cql:"name"`
	Email string `cql:"email"`
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	hosts := []string{"127.0.0.1"}
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		hosts = strings.Split(h, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cfg := gocql.NewCluster(hosts...)
	cfg.Consistency = gocql.One
	// The in-memory collector measures every request; its summary is
	// printed at the end.
	collector := inmemory.New()
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithWorkers(64), cassandra.WithCollector(collector))
	if err != nil {
		return err
	}
	defer cluster.Close()
	session, err := cluster.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to %v: %w", hosts, err)
	}
	// Drain in-flight work on the way out, then release everything.
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := session.Shutdown(sctx); err != nil {
			session.Close()
		}
	}()

	rs, err := session.Execute(ctx, "SELECT release_version FROM system.local").Await(ctx)
	if err != nil {
		return err
	}
	var version string
	if err := rs.One(&version); err != nil {
		return err
	}
	fmt.Printf("connected to %v: Cassandra release_version %s\n", hosts, version)

	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS demo WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS demo.users (id int PRIMARY KEY, name text, email text)`,
	} {
		if _, err := session.Execute(ctx, stmt).Await(ctx); err != nil {
			return err
		}
	}

	// Every query is a future: submit them all, then wait for all.
	const n = 1000
	start := time.Now()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	for i := range n {
		futs[i] = session.Query(`INSERT INTO demo.users (id, name, email) VALUES (?, ?, ?)`,
			i, fmt.Sprintf("user %d", i), fmt.Sprintf("user%d@example.com", i)).Idempotent(true).Execute(ctx)
	}
	if _, err := cassandra.AwaitAll(ctx, futs...); err != nil {
		return err
	}
	fmt.Printf("inserted %d users concurrently in %v\n", n, time.Since(start).Round(time.Millisecond))

	// One row into a struct.
	rs, err = session.Execute(ctx, `SELECT id, name, email FROM demo.users WHERE id = ?`, 42).Await(ctx)
	if err != nil {
		return err
	}
	u, err := cassandra.CollectOneRow(rs, cassandra.RowToStructByName[User])
	if err != nil {
		return err
	}
	fmt.Printf("user 42: %+v\n", u)

	// Stream the whole table in pages of 100, in constant memory.
	stream := session.Query(`SELECT id, name, email FROM demo.users`).PageSize(100).Stream(ctx,
		cassandra.OnPage(func(p cassandra.PageInfo) {
			if p.Number%5 == 0 {
				fmt.Printf("  page %d: %d rows, %d so far\n", p.Number, p.Rows, p.TotalRows)
			}
		}))
	count := 0
	for user, err := range cassandra.RowsAs(stream, cassandra.RowToStructByName[User]) {
		if err != nil {
			return err
		}
		if user.Email == "" {
			return errors.New("row without email")
		}
		count++
	}
	fmt.Printf("streamed %d users\n", count)

	// A lightweight transaction: only the first insert applies.
	for _, name := range []string{"first", "second"} {
		rs, err := session.Execute(ctx, `INSERT INTO demo.users (id, name, email) VALUES (?, ?, ?) IF NOT EXISTS`,
			-1, name, name+"@example.com").Await(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("insert %q if not exists: applied=%v\n", name, rs.Applied())
	}
	if _, err := session.Execute(ctx, `DELETE FROM demo.users WHERE id = ?`, -1).Await(ctx); err != nil {
		return err
	}

	// A logged batch: both writes or neither.
	_, err = session.Batch(gocql.LoggedBatch).
		Query(`UPDATE demo.users SET name = ? WHERE id = ?`, "renamed", 1).
		Query(`UPDATE demo.users SET name = ? WHERE id = ?`, "renamed", 2).
		Execute(ctx).Await(ctx)
	if err != nil {
		return err
	}
	fmt.Println("batch applied")

	st := session.Stats()
	fmt.Printf("pool: %d workers, %d submitted, %d completed, %d rejected, %d expired in the queue\n",
		st.Workers, st.SubmitCount, st.CompletedCount, st.RejectedCount, st.ExpiredCount)
	fmt.Print("\n", collector.String())
	return nil
}
