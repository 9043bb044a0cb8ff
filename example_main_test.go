package cassandra_test

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra"
)

// nodeExamples run against a real node, so their output is checked: when
// CASSANDRA_HOSTS names one (make integration does), TestMain first fills
// the keyspace shop they read; without it they are skipped, and the unit
// tests need no node. The other examples that talk to a node are compiled
// but not run.
var nodeExamples = []string{
	"ExampleAsyncSession_Execute",
	"ExampleFuture_Await",
	"ExampleAwaitAll",
	"ExampleStream_Rows",
	"ExampleRowsAs",
	"ExampleOnPage",
	"ExampleCollectRows",
	"ExampleCollectOneRow",
	"ExampleForEachRow",
	"ExampleBatch",
	"ExampleResultSet_Applied",
	"ExampleRowToStructByNameLax",
	"ExampleAsyncSession_Shutdown",
	"ExampleQuery_ExecuteConcurrent",
	"ExampleContinueOnError",
	"ExampleRetry",
}

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("CASSANDRA_HOSTS") == "" {
		skip := "^(" + strings.Join(nodeExamples, "|") + ")$"
		if user := flag.Lookup("test.skip").Value.String(); user != "" {
			skip = user + "|" + skip
		}
		if err := flag.Set("test.skip", skip); err != nil {
			log.Fatal(err)
		}
		os.Exit(m.Run())
	}
	if err := fillShop(); err != nil {
		fmt.Fprintf(os.Stderr, "examples: filling keyspace shop on %s: %v\n", os.Getenv("CASSANDRA_HOSTS"), err)
		os.Exit(1)
	}
	code := m.Run()
	// Every example closes what it opened. gocql's handler of a node's UP
	// event sleeps on a goroutine of its own that Session.Close does not
	// stop; it ends by itself.
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/apache/cassandra-gocql-driver/v2.(*Session).handleNodeUp")); err != nil {
			fmt.Fprintf(os.Stderr, "examples: goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// connect opens a session on the nodes named by CASSANDRA_HOSTS (a
// comma-separated list) for the examples.
func connect(ctx context.Context) *cassandra.AsyncSession {
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster(strings.Split(os.Getenv("CASSANDRA_HOSTS"), ",")...))
	if err != nil {
		log.Fatal(err)
	}
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return session
}

// fillShop makes the keyspace the examples read and writes the rows they
// expect. It drops nothing: rows the examples write are written again with
// the same values, so the examples print the same on every run.
func fillShop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := connect(ctx)
	defer s.Close()
	ddl := []string{
		`CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS shop.users (id int PRIMARY KEY, name text, created_at timestamp)`,
		`CREATE TABLE IF NOT EXISTS shop.orders (id int PRIMARY KEY, total bigint)`,
		`CREATE TABLE IF NOT EXISTS shop.accounts (owner text, id int, balance int, PRIMARY KEY (owner, id))`,
		`CREATE TABLE IF NOT EXISTS shop.visits (id int PRIMARY KEY, n int)`,
		`CREATE TABLE IF NOT EXISTS shop.customers (id int PRIMARY KEY, name text)`,
		`CREATE TABLE IF NOT EXISTS shop.stock (sku text PRIMARY KEY, count int)`,
		`CREATE TABLE IF NOT EXISTS shop.page_hits (page text PRIMARY KEY, hits counter)`,
	}
	for _, stmt := range ddl {
		if _, err := s.Execute(ctx, stmt).Await(ctx); err != nil {
			return err
		}
	}
	if err := s.Gocql().AwaitSchemaAgreement(ctx); err != nil {
		return err
	}
	day := func(d string) time.Time { t, _ := time.Parse(time.DateOnly, d); return t }
	var futs []*cassandra.Future[*cassandra.ResultSet]
	for _, u := range []struct {
		id      int
		name    string
		created time.Time
	}{{42, "Ada", day("2025-12-10")}, {7, "Grace", day("2026-01-09")}, {3, "Edsger", day("2026-05-11")}} {
		futs = append(futs, s.Execute(ctx, `INSERT INTO shop.users (id, name, created_at) VALUES (?, ?, ?)`, u.id, u.name, u.created))
	}
	for id := 1; id <= 1000; id++ {
		futs = append(futs, s.Execute(ctx, `INSERT INTO shop.orders (id, total) VALUES (?, ?)`, id, id))
	}
	futs = append(futs,
		s.Execute(ctx, `INSERT INTO shop.accounts (owner, id, balance) VALUES ('ada', 1, 100)`),
		s.Execute(ctx, `INSERT INTO shop.accounts (owner, id, balance) VALUES ('grace', 1, 80)`))
	_, err := cassandra.AwaitAll(ctx, futs...)
	return err
}
