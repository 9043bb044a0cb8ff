package cassandra_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// The examples with output run against the node named by CASSANDRA_HOSTS,
// on the keyspace that example_main_test.go fills; the others are compiled
// but not run.

func ExampleAsyncSession_Execute() {
	// The contact points from the environment, e.g. CASSANDRA_HOSTS=10.0.0.1,10.0.0.2.
	cfg := gocql.NewCluster(strings.Split(os.Getenv("CASSANDRA_HOSTS"), ",")...)
	cfg.Keyspace = "shop"
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithWorkers(128))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	// Execute returns at once; the query runs on the session's workers.
	fut := session.Execute(ctx, "SELECT name FROM users WHERE id = ?", 42)
	rs, err := fut.Await(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Fatal("no answer within 5 s (queue wait included)")
	}
	if err != nil {
		log.Fatal(err)
	}
	var name string
	if err := rs.One(&name); errors.Is(err, cassandra.ErrNotFound) {
		fmt.Println("no such user")
		return
	}
	fmt.Println(name)
	// Output: Ada
}

// Authentication and TLS are the driver's settings: configure them on the
// gocql.ClusterConfig before wrapping it.
func ExampleNewAsyncCluster() {
	caPEM, err := os.ReadFile("/etc/cassandra/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		log.Fatal("no certificate in ca.pem")
	}

	cfg := gocql.NewCluster("db1.example.internal", "db2.example.internal")
	cfg.Authenticator = gocql.PasswordAuthenticator{
		Username: "app",
		Password: os.Getenv("CASSANDRA_PASSWORD"),
	}
	cfg.SslOpts = &gocql.SslOptions{
		Config:                 &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		EnableHostVerification: true,
	}
	cfg.Consistency = gocql.LocalQuorum

	// At most 256 requests in flight; up to 1024 more wait for a place,
	// and beyond that Execute fails at once with ErrOverloaded.
	cluster, err := cassandra.NewAsyncCluster(cfg,
		cassandra.WithWorkers(256),
		cassandra.WithQueue(1024),
		cassandra.WithQueueFullPolicy(cassandra.QueueFailFast),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err) // a wrong password or certificate fails here
	}
	defer session.Close()
}

func ExampleAwaitAll() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	// Start every write, then wait for all of them.
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, 100)
	for i := range 100 {
		futs = append(futs, session.Query("INSERT INTO shop.visits (id, n) VALUES (?, ?)", i, i*i).
			Idempotent(true).Execute(ctx))
	}
	results, err := cassandra.AwaitAll(ctx, futs...)
	if err != nil {
		var qe *cassandra.QueryError
		if errors.As(err, &qe) {
			log.Fatalf("%q failed after %d attempts: %v", qe.Statement, qe.Attempts, qe.Err)
		}
		log.Fatal(err)
	}
	fmt.Println(len(results), "writes acknowledged")
	// Output: 100 writes acknowledged
}

func ExampleStream_Rows() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	// Pages of 100 rows: the stream holds at most the page being read and
	// the one fetched ahead, whatever the table's size.
	stream := session.Query("SELECT id, total FROM shop.orders").PageSize(100).Stream(ctx)
	var orders, sum int64
	for row, err := range stream.Rows() {
		if err != nil {
			log.Fatal(err) // the error that ended the stream
		}
		var id int
		var total int64
		if err := row.Scan(&id, &total); err != nil {
			log.Fatal(err)
		}
		orders++
		sum += total
	}
	fmt.Println(orders, "orders, total", sum)
	// Output: 1000 orders, total 500500
}

func ExampleBatch() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	// A batch: both rows are written, or neither. Within one partition
	// (here the owner) that holds for any batch; across partitions it takes
	// a logged batch, whose log the nodes replay after a failure.
	_, err := session.Batch(gocql.LoggedBatch).
		Query("INSERT INTO shop.accounts (owner, id, balance) VALUES (?, ?, ?)", "bob", 1, 70).
		Query("INSERT INTO shop.accounts (owner, id, balance) VALUES (?, ?, ?)", "bob", 2, 30).
		Idempotent(true).
		Execute(ctx).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := session.Execute(ctx, "SELECT count(*), sum(balance) FROM shop.accounts WHERE owner = ?", "bob").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var accounts int64
	var balance int
	if err := rs.One(&accounts, &balance); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bob: %d accounts, balance %d\n", accounts, balance)
	// Output: bob: 2 accounts, balance 100
}

func ExampleAsyncSession_Shutdown() {
	ctx := context.Background()
	session := connect(ctx)
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, 50)
	for i := range 50 {
		futs = append(futs, session.Execute(ctx, "SELECT name FROM shop.users WHERE id = ?", i))
	}

	// Drain the queries already started for up to 10 s, then stop
	// whatever is left.
	drainCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := session.Shutdown(drainCtx); err != nil {
		session.Close()
	}

	_, err := cassandra.AwaitAll(ctx, futs...)
	fmt.Println("started before Shutdown:", err)
	_, err = session.Execute(ctx, "SELECT name FROM shop.users WHERE id = 42").Await(ctx)
	fmt.Println("started after:", errors.Is(err, cassandra.ErrClosed))
	// Output:
	// started before Shutdown: <nil>
	// started after: true
}
