package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// The side-by-side snippets of docs/migrating-from-gocql.md, each pair in
// one example: first gocql alone, then this library. They need a node, so
// they are compiled but not run. The integration tests check that every
// snippet of that document appears here.

func Example_migrateSession() {
	ctx := context.Background()
	{
		// gocql
		cfg := gocql.NewCluster("10.0.0.1", "10.0.0.2")
		cfg.Keyspace = "shop"
		cfg.Consistency = gocql.LocalQuorum
		session, err := cfg.CreateSession()
		if err != nil {
			log.Fatal(err)
		}
		defer session.Close()
	}
	{
		// this library
		cfg := gocql.NewCluster("10.0.0.1", "10.0.0.2")
		cfg.Keyspace = "shop"
		cfg.Consistency = gocql.LocalQuorum
		cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithWorkers(256))
		if err != nil {
			log.Fatal(err)
		}
		defer cluster.Close()
		session, err := cluster.Connect(ctx) // bounded by ctx, retried while no host answers
		if err != nil {
			log.Fatal(err)
		}
		defer session.Close()

		meta, err := session.Gocql().KeyspaceMetadata("shop") // the driver session, for what is not wrapped
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(meta.Tables))
	}
}

func Example_migrateQuery() {
	ctx := context.Background()
	var gs *gocql.Session               // gocql's session
	var session *cassandra.AsyncSession // this library's
	id := 42
	{
		// gocql
		var name string
		err := gs.Query("SELECT name FROM users WHERE id = ?", id).
			Consistency(gocql.One).ScanContext(ctx, &name)
		if errors.Is(err, gocql.ErrNotFound) {
			fmt.Println("no such user")
		}
		err = gs.Query("UPDATE users SET name = ? WHERE id = ?", "Ada", id).ExecContext(ctx)
		if err != nil {
			log.Fatal(err)
		}
	}
	{
		// this library
		var name string
		rs, err := session.Query("SELECT name FROM users WHERE id = ?", id).
			Consistency(gocql.One).Execute(ctx).Await(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if err := rs.One(&name); errors.Is(err, cassandra.ErrNotFound) { // also matches gocql.ErrNotFound
			fmt.Println("no such user")
		}
		_, err = session.Execute(ctx, "UPDATE users SET name = ? WHERE id = ?", "Ada", id).Await(ctx)
		if err != nil {
			log.Fatal(err)
		}
	}
}

func Example_migrateConcurrent() {
	ctx := context.Background()
	var gs *gocql.Session
	var session *cassandra.AsyncSession
	ids := []int{1, 2, 3}
	{
		// gocql: one goroutine per query, and a limit of your own
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		errs := make([]error, len(ids))
		for i, id := range ids {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = gs.Query("UPDATE users SET seen = toTimestamp(now()) WHERE id = ?", id).ExecContext(ctx)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			log.Fatal(err)
		}
	}
	{
		// this library: the session's pool is the limit
		futs := make([]*cassandra.Future[*cassandra.ResultSet], len(ids))
		for i, id := range ids {
			futs[i] = session.Execute(ctx, "UPDATE users SET seen = toTimestamp(now()) WHERE id = ?", id)
		}
		if _, err := cassandra.AwaitAll(ctx, futs...); err != nil {
			log.Fatal(err)
		}
	}
}

func Example_migrateIterate() {
	ctx := context.Background()
	var gs *gocql.Session
	var session *cassandra.AsyncSession
	day := "2026-12-01"
	{
		// gocql
		iter := gs.Query("SELECT id, total FROM orders WHERE day = ?", day).PageSize(1000).IterContext(ctx)
		scanner := iter.Scanner()
		for scanner.Next() {
			var id gocql.UUID
			var total int64
			if err := scanner.Scan(&id, &total); err != nil {
				log.Fatal(err)
			}
			fmt.Println(id, total)
		}
		if err := scanner.Err(); err != nil {
			log.Fatal(err)
		}
	}
	{
		// this library
		stream := session.Query("SELECT id, total FROM orders WHERE day = ?", day).PageSize(1000).Stream(ctx)
		for row, err := range stream.Rows() {
			if err != nil {
				log.Fatal(err)
			}
			var id gocql.UUID
			var total int64
			if err := row.Scan(&id, &total); err != nil {
				log.Fatal(err)
			}
			fmt.Println(id, total)
		}
	}
}

func Example_migratePageState() {
	ctx := context.Background()
	var gs *gocql.Session
	var session *cassandra.AsyncSession
	var cursor []byte // from the client's previous request; nil for the first page
	{
		// gocql
		iter := gs.Query("SELECT id, total FROM orders WHERE day = ?", "2026-12-01").
			PageSize(50).PageState(cursor).IterContext(ctx)
		next := iter.PageState() // the cursor for the next request; empty on the last page
		// ... scan the page's rows ...
		if err := iter.Close(); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%x\n", next)
	}
	{
		// this library
		rs, err := session.Query("SELECT id, total FROM orders WHERE day = ?", "2026-12-01").
			PageSize(50).PageState(cursor).SinglePage().Execute(ctx).Await(ctx)
		if err != nil {
			log.Fatal(err)
		}
		next := rs.PageState() // nil on the last page
		// ... scan the page's rows ...
		fmt.Printf("%x\n", next)
	}
}

func Example_migrateBatch() {
	ctx := context.Background()
	var gs *gocql.Session
	var session *cassandra.AsyncSession
	id, name := 42, "ada"
	{
		// gocql
		b := gs.Batch(gocql.LoggedBatch)
		b.Query("INSERT INTO users (id, name) VALUES (?, ?)", id, name)
		b.Query("INSERT INTO users_by_name (name, id) VALUES (?, ?)", name, id)
		if err := b.ExecContext(ctx); err != nil {
			log.Fatal(err)
		}
	}
	{
		// this library
		_, err := session.Batch(gocql.LoggedBatch).
			Query("INSERT INTO users (id, name) VALUES (?, ?)", id, name).
			Query("INSERT INTO users_by_name (name, id) VALUES (?, ?)", name, id).
			Execute(ctx).Await(ctx)
		if err != nil {
			log.Fatal(err)
		}
	}
}

func Example_migrateLWT() {
	ctx := context.Background()
	var gs *gocql.Session
	var session *cassandra.AsyncSession
	{
		// gocql
		var owner string
		var balance int
		applied, err := gs.Query("INSERT INTO accounts (owner, balance) VALUES (?, ?) IF NOT EXISTS", "ada", 100).
			ScanCASContext(ctx, &owner, &balance) // the current values, when not applied
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(applied, owner, balance)
	}
	{
		// this library
		var owner string
		var balance int
		rs, err := session.Execute(ctx, "INSERT INTO accounts (owner, balance) VALUES (?, ?) IF NOT EXISTS", "ada", 100).Await(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if !rs.Applied() {
			// The row starts with the [applied] column: nil skips it.
			if err := rs.One(nil, &owner, &balance); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Println(rs.Applied(), owner, balance)
	}
}

func Example_migrateRetry() {
	{
		// gocql: no retry policy unless you set one
		cfg := gocql.NewCluster("10.0.0.1", "10.0.0.2", "10.0.0.3")
		cfg.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: 3, Min: 50 * time.Millisecond, Max: time.Second}
		session, err := cfg.CreateSession()
		if err != nil {
			log.Fatal(err)
		}
		defer session.Close()
		q := session.Query("UPDATE users SET email = ? WHERE id = ?", "ada@example.com", 42).Idempotent(true).
			SetSpeculativeExecutionPolicy(&gocql.SimpleSpeculativeExecution{NumAttempts: 1, TimeoutDelay: 50 * time.Millisecond})
		if err := q.Exec(); err != nil {
			log.Fatal(err)
		}
	}
	{
		// this library: DefaultRetryPolicy unless you set one (a cfg.RetryPolicy of your own wins)
		cfg := gocql.NewCluster("10.0.0.1", "10.0.0.2", "10.0.0.3")
		cluster, err := cassandra.NewAsyncCluster(cfg,
			cassandra.WithRetryPolicy(&cassandra.RetryPolicy{MaxRetries: 3, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}),
			cassandra.WithSpeculativeExecution(1, 50*time.Millisecond))
		if err != nil {
			log.Fatal(err)
		}
		defer cluster.Close()
		ctx := context.Background()
		session, err := cluster.Connect(ctx)
		if err != nil {
			log.Fatal(err)
		}
		_, err = session.Query("UPDATE users SET email = ? WHERE id = ?", "ada@example.com", 42).Idempotent(true).
			Execute(ctx).Await(ctx)
		if err != nil {
			log.Fatal(err)
		}
	}
}

// slowQueries logs queries slower than 100 ms: a gocql query observer.
type slowQueries struct{}

func (slowQueries) ObserveQuery(ctx context.Context, q gocql.ObservedQuery) {
	if d := q.End.Sub(q.Start); d > 100*time.Millisecond {
		log.Printf("slow attempt %d on %s: %v", q.Attempt, q.Host.ConnectAddressAndPort(), d)
	}
}

// slowRequests logs requests slower than 100 ms end to end, waiting for
// a worker included: a collector.
type slowRequests struct{}

func (slowRequests) RequestDone(ctx context.Context, r cassandra.RequestInfo) {
	if r.Duration > 100*time.Millisecond {
		log.Printf("slow %s on %s: %v (%v of it queued, %d attempts)", r.Statement.Text, r.Host, r.Duration, r.QueueWait, r.Attempts)
	}
}

func Example_migrateObserve() {
	{
		// gocql
		cfg := gocql.NewCluster("10.0.0.1")
		cfg.QueryObserver = slowQueries{}
		_, _ = cfg.CreateSession()
	}
	{
		// this library: a collector; observers set on cfg are still called
		cfg := gocql.NewCluster("10.0.0.1")
		cfg.QueryObserver = slowQueries{}
		_, _ = cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(slowRequests{}))
	}
}
