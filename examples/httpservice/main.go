// Command httpservice is a small JSON service on net/http, backed by
// Cassandra through an AsyncSession: lists of items, created, read one at
// a time, and listed a page at a time.
//
//	cd examples && go run ./httpservice -addr 127.0.0.1:8080
//
//	curl -X POST -d '{"text":"milk"}' localhost:8080/lists/shopping/items   # 201, the item
//	curl localhost:8080/lists/shopping/items/ID                             # 200, or 404
//	curl 'localhost:8080/lists/shopping/items?limit=10'                     # a page and its next_cursor
//	curl 'localhost:8080/lists/shopping/items?limit=10&cursor=CURSOR'       # the next page
//	curl localhost:8080/healthz                                             # the hosts, 200 or 503
//	curl localhost:8080/metrics                                             # for Prometheus
//
// What it shows:
//
//   - Per-request deadlines: every handler gives its query a deadline
//     (-request-timeout) derived from the request's context, so the wait for
//     a worker counts, and a client that goes away cancels its query.
//   - Cursor pagination: a page is one Execute with SinglePage, and the next
//     page starts from the result's PageState. Clients get it as an opaque
//     cursor, signed with HMAC-SHA256 so that a cursor that was altered, or
//     made for another list, is refused with 400 (cursor.go).
//   - Graceful shutdown: on SIGTERM or Ctrl-C the HTTP server stops accepting
//     connections and lets requests in flight finish (http.Server.Shutdown),
//     then the session finishes its queries (AsyncSession.Shutdown), both
//     within -shutdown-timeout, after which Close stops what is left.
//   - Metrics: promcassandra's collector counts every request to Cassandra,
//     beside a counter of HTTP responses, served on /metrics.
//   - Health: /healthz reports the hosts as the session's host monitor sees
//     them, the driver's events and the session's own checks of each host
//     (WithHealthCheck): 200 while one is up, 503 when none is.
//
// It connects to CASSANDRA_HOSTS (comma-separated, default 127.0.0.1) and
// creates its keyspace (-keyspace) and table if they do not exist. Cursors
// are signed with CURSOR_KEY (at least 32 bytes); without it, with a random
// key, so that cursors do not outlive the process and are refused by
// another replica of the service. It prints "listening on http://ADDRESS"
// once it accepts requests.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/promcassandra"
)

type config struct {
	addr, keyspace  string
	cursorKey       []byte
	requestTimeout  time.Duration
	shutdownTimeout time.Duration
	healthInterval  time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	flag.StringVar(&c.keyspace, "keyspace", "httpservice", "keyspace of the items table, created if missing")
	flag.DurationVar(&c.requestTimeout, "request-timeout", 2*time.Second, "deadline of each request's queries")
	flag.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 20*time.Second, "time given to requests in flight on shutdown")
	flag.DurationVar(&c.healthInterval, "health-interval", 5*time.Second, "how often the session checks each host")
	flag.Parse()

	c.cursorKey = []byte(os.Getenv("CURSOR_KEY"))
	if len(c.cursorKey) == 0 {
		c.cursorKey = make([]byte, 32)
		_, _ = rand.Read(c.cursorKey) // never fails (crypto/rand)
	} else if len(c.cursorKey) < 32 {
		log.Fatal("CURSOR_KEY must be at least 32 bytes long")
	}

	// The first SIGTERM or Ctrl-C starts a graceful shutdown; run stops
	// listening for them then, so that a second one ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, stop, c); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends, then shuts down; stop is called when ctx ends.
func run(ctx context.Context, stop func(), c config) error {
	hosts := []string{"127.0.0.1"}
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		hosts = strings.Split(h, ",")
	}

	// Metrics: the collector is both a cassandra.Collector and a
	// prometheus.Collector. Register it, and hand it to the cluster.
	reg := prometheus.NewRegistry()
	metrics, err := promcassandra.New()
	if err != nil {
		return err
	}
	reg.MustRegister(metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster(hosts...),
		cassandra.WithCollector(metrics),
		cassandra.WithHealthCheck(c.healthInterval, 2*time.Second))
	if err != nil {
		return err
	}
	defer cluster.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	session, err := cluster.Connect(cctx)
	if err != nil {
		return fmt.Errorf("connect to %v: %w", hosts, err)
	}
	defer session.Close() // after Shutdown, below; at once on an error
	if err := createSchema(ctx, session, c.keyspace); err != nil {
		return err
	}

	s := &server{session: session, keyspace: c.keyspace, cursors: cursorCodec{key: c.cursorKey}, timeout: c.requestTimeout}
	srv := &http.Server{
		Handler:           s.routes(reg),
		ReadHeaderTimeout: 5 * time.Second,  // slow clients cannot hold connections
		ReadTimeout:       30 * time.Second, // headers and body
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening on http://%s\n", ln.Addr())

	select {
	case err := <-served: // the listener failed
		return err
	case <-ctx.Done():
	}
	stop()
	log.Printf("shutting down: waiting up to %v for requests in flight", c.shutdownTimeout)

	// One deadline for the whole shutdown. First the HTTP server: no new
	// connections, and the requests in flight finish; their queries still
	// run on the session. Then the session: no new queries, and those in
	// flight (a handler whose client left, say) finish. Close stops
	// whatever is left when the deadline passes.
	sctx, scancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer scancel()
	var errs []error
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http server: %w", err))
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	if err := session.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("session: %w", err))
	}
	session.Close()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Print("shut down")
	return nil
}

// createSchema creates the keyspace and the table if they do not exist. A
// real service would rather leave this to its deployment.
func createSchema(ctx context.Context, session *cassandra.AsyncSession, keyspace string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		// One partition per list, its items in creation order.
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.items (list text, id timeuuid, text text, created timestamp, PRIMARY KEY (list, id))`,
	} {
		if _, err := session.Execute(ctx, stmt).Await(ctx); err != nil {
			return err
		}
	}
	return nil
}
