package cassandra_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// These examples need a Cassandra node, so they are compiled but not run;
// examples/quickstart runs the same calls against the local node (make demo).

func ExampleAsyncSession_Execute() {
	cfg := gocql.NewCluster("127.0.0.1")
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
	if _, err := cassandra.AwaitAll(ctx, futs...); err != nil {
		var qe *cassandra.QueryError
		if errors.As(err, &qe) {
			log.Fatalf("%q failed after %d attempts: %v", qe.Statement, qe.Attempts, qe.Err)
		}
		log.Fatal(err)
	}
}

func ExampleStream_Rows() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	stream := session.Query("SELECT id, total FROM shop.orders").PageSize(1000).Stream(ctx,
		cassandra.OnPage(func(p cassandra.PageInfo) { log.Printf("page %d, %d rows so far", p.Number, p.TotalRows) }))
	var sum int64
	for row, err := range stream.Rows() {
		if err != nil {
			log.Fatal(err) // the error that ended the stream
		}
		var id gocql.UUID
		var total int64
		if err := row.Scan(&id, &total); err != nil {
			log.Fatal(err)
		}
		sum += total
	}
	fmt.Println(sum)
}

func ExampleBatch() {
	ctx := context.Background()
	session := connect(ctx)
	defer session.Close()

	// A conditional batch: both rows change only if the balance is still 100.
	rs, err := session.Batch(gocql.LoggedBatch).
		Query("UPDATE shop.accounts SET balance = ? WHERE owner = ? AND id = ? IF balance = ?", 50, "ada", 1, 100).
		Query("INSERT INTO shop.accounts (owner, id, balance) VALUES (?, ?, ?)", "ada", 2, 50).
		Execute(ctx).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied:", rs.Applied())
}

func ExampleAsyncSession_Shutdown() {
	session := connect(context.Background())

	// Drain in-flight queries for up to 10 s, then stop whatever is left.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := session.Shutdown(ctx); err != nil {
		session.Close()
	}
}

// connect opens a session on the local node for the examples.
func connect(ctx context.Context) *cassandra.AsyncSession {
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster("127.0.0.1"))
	if err != nil {
		log.Fatal(err)
	}
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return session
}
