// Package cassandra is an asynchronous client for Apache Cassandra, built on
// gocql (github.com/apache/cassandra-gocql-driver/v2).
//
// Every query becomes a Future that completes on a bounded worker pool, so a
// service can start many queries, wait for them with a context deadline, and
// never run more requests at once than it chose to. Large results stream
// page by page in constant memory, the next page fetched while the current
// one is read.
//
// The repository's docs/getting-started.md goes from a fresh clone to a
// first program; docs/architecture.md shows how a query travels through
// the pool, the future and the driver.
//
// # Connecting
//
// Configure the driver as usual, then wrap it:
//
//	cfg := gocql.NewCluster("10.0.0.1", "10.0.0.2")
//	cfg.Keyspace = "shop"
//	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithWorkers(512))
//	session, err := cluster.Connect(ctx)
//	defer session.Close()
//
// Authentication, TLS, compression and load balancing are gocql settings on
// the ClusterConfig (cfg.Authenticator, cfg.SslOpts, cfg.PoolConfig, ...).
// The session works on a copy of it, to which it adds its own connection
// handling: writes are batched without gocql's timer (WithWriteBatching),
// so a lone request is not held back and requests under load share system
// calls.
//
// Connect waits, retrying within its context, while no contact point can be
// reached (WithConnectRetry), and says why it failed in a *ConnectError:
// ErrNoHostReachable, ErrAuthentication, ErrTLS, ErrProtocolVersion or
// ErrKeyspaceNotFound. docs/security.md covers credentials and TLS.
//
// # Queries as futures
//
//	fut := session.Execute(ctx, "SELECT name FROM users WHERE id = ?", id)
//	rs, err := fut.Await(ctx)
//
// Execute returns at once. The query waits for a place in the pool (at most
// WithWorkers run at once, or fewer under WithAdaptiveLimit, and at most
// WithQueue wait; see WithQueueFullPolicy for what happens beyond), runs on
// a worker goroutine, and completes the future. The context passed to
// Execute bounds the whole life of the query, waiting included; the context
// passed to Await bounds only that wait. Query builds per-query options,
// Batch builds batches, and AwaitAll and AwaitAny wait for several futures.
//
// # Cancellation
//
// Every query runs with a context derived from the one it was submitted
// with, and one rule holds whatever the query is doing: when that context
// ends, or Future.Cancel cancels it, a queued query leaves the queue
// without being sent, and a running one is abandoned by the driver; either
// way its place in the pool comes back and its future completes with an
// error for which errors.Is(err, context.Canceled) (or
// context.DeadlineExceeded) holds. Cancel completes the future at once.
//
// CQL has no way to recall a request: when a context ends after the request
// was sent, the caller is released at once but the server may still apply
// the statement. Only statements marked idempotent are retried by the
// driver.
//
// # Retries
//
// Sessions retry idempotent requests (Query.Idempotent, Batch.Idempotent)
// with DefaultRetryPolicy: timeouts and unavailable replicas once, refusals
// and lost connections on the next node, with back-off that ends with the
// request's context; WithRetryPolicy changes it. WithSpeculativeExecution
// sends slow idempotent requests to another node too. With QueueFailFast,
// Retry backs off and tries again on ErrOverloaded. docs/retries.md in the
// repository has the rules.
//
// # Results
//
// A ResultSet holds every page of a result in the driver's encoded frames
// and decodes a row only when it is read, with Next and Scan as in
// database/sql, or with the generic collectors:
//
//	users, err := cassandra.CollectRows(rs, cassandra.RowToStructByName[User])
//
// For a conditional statement (a lightweight transaction, such as INSERT
// ... IF NOT EXISTS), Applied tells whether it was applied; when it was
// not, the result's row holds the current values (see ResultSet.Applied).
//
// # Streams
//
// For results of any size, Stream reads a page at a time:
//
//	stream := session.Stream(ctx, "SELECT * FROM events WHERE day = ?", day)
//	for row, err := range stream.Rows() {
//		if err != nil { ... }
//		row.Scan(&id, &payload)
//	}
//
// The loop's error is the one that ended the stream: check it on every
// iteration. Breaking out of the loop closes the stream; a stream read
// with Next and Scan is closed with Close. RowsAs reads typed rows, and
// Pages a page at a time. docs/streaming.md in the repository has the
// details.
//
// # Bulk work
//
// ExecuteConcurrent runs a statement once per item of an iterator, with a
// bounded number in flight and in constant memory, stopping at the first
// failure or (ContinueOnError) running every item. WithRateLimit caps the
// requests each session sends per second.
//
// # Scanning a whole table
//
// Scan reads every row of a table by token ranges, several at once, each
// sent to a node that holds it, in memory bounded by the ranges in flight
// and their prefetched pages. The reader is handed a ScanCheckpoint after
// each page it finishes; a new scan given one with ScanResume reads
// exactly the rows the checkpoint had not, so an export survives a crash:
//
//	scan := session.Scan(ctx, "shop.orders", cassandra.ScanResume(saved),
//		cassandra.ScanCheckpoints(func(cp cassandra.ScanCheckpoint) error { return save(cp) }))
//	for row, err := range scan.Rows() { ... }
//
// See docs/parallel-scan.md in the repository and examples/scan.
//
// # Many requests in flight
//
// Every garbage collection walks the stack of every request waiting for
// the server. With hundreds in flight and the small heap of a typical
// client, collections come every few megabytes allocated and take a large
// share of the client's CPU, with this package as with gocql alone. A
// higher GOGC (or a GOMEMLIMIT with a generous GOGC) spaces them out; see
// docs/performance.md in the repository.
//
// # Observability
//
// PoolStats (Stats) shows the pool's levels and totals; a ResultSet reports
// its latency, attempts and host. WithCollector makes every session report
// each request end to end, each attempt, each streamed page and each host
// change to a Collector: the inmemory package keeps figures in the process,
// and the promcassandra and otelcassandra modules export them to
// Prometheus and OpenTelemetry. Statements reach collectors normalised
// (NormalizeStatement), never with their values. Hosts lists the state of
// every host, kept from the driver's events and, with WithHealthCheck,
// from checks routed to each host.
//
// # Shutting down
//
// Shutdown stops accepting queries and waits for those in flight; Close
// stops at once, failing queued queries with ErrClosed. Both are safe to
// call at any time and more than once, like net/http's Server.
//
// # Errors
//
// A failed query completes with a *QueryError naming the statement (never
// its values), the attempts and the host. It unwraps to the driver's typed
// error (such as *gocql.RequestErrWriteTimeout) or to the context's error,
// so errors.As and errors.Is see through it. The library's own causes are
// sentinels: ErrOverloaded (and ErrRateLimited, which matches it) for a
// query refused unsent, ErrClosed after Close or Shutdown, ErrNotFound for
// a missing row. ErrorKind names an error's kind in one word, for metrics
// and logs. docs/troubleshooting.md in the repository says what each error
// means and what to do.
//
// A mistake in calling the library, such as a nil context or a Configure
// function that returns nil, is an error from the call that was given it
// (or the error its future completes with), not a panic; nothing is sent.
package cassandra
