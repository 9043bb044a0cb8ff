// Package cassandra is an asynchronous client for Apache Cassandra, built on
// gocql (github.com/apache/cassandra-gocql-driver/v2).
//
// Every query becomes a Future that completes on a bounded worker pool, so a
// service can start many queries, wait for them with a context deadline, and
// never run more requests at once than it chose to. Large results stream
// page by page in constant memory, the next page fetched while the current
// one is read.
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
//
// # Queries as futures
//
//	fut := session.Execute(ctx, "SELECT name FROM users WHERE id = ?", id)
//	rs, err := fut.Await(ctx)
//
// Execute returns at once. The query waits for a place in the pool (at most
// WithWorkers run at once and at most WithQueue wait; see
// WithQueueFullPolicy for what happens beyond), runs, and completes the
// future. The context passed to Execute bounds the whole life of the query,
// waiting included; the context passed to Await bounds only that wait.
// Query builds per-query options, Batch builds batches, and AwaitAll and
// AwaitAny wait for several futures.
//
// A query runs on a worker goroutine, unless the future is awaited, with the
// context the query was started with (or one that never ends), before a
// worker has picked it up: the awaiting goroutine then runs it itself, in
// the place the query was given. The common Execute(ctx, ...).Await(ctx)
// thus costs no more goroutine switches than calling gocql directly, and
// the bound on requests in flight is the same either way. Such a query is
// bound to the context it was started with, as a direct gocql call is:
// Future.Cancel from another goroutine completes its future at once, but
// the query keeps its place until that context ends, the server answers or
// the driver's timeout (gocql's ClusterConfig.Timeout) runs out. Cancel the
// context to stop it. Future.Cancel stops queued queries and queries on
// workers at once.
//
// CQL has no way to recall a request: when a context ends after the request
// was sent, the caller is released at once but the server may still apply
// the statement. Only idempotent statements are retried by the driver.
//
// # Results
//
// A ResultSet holds every page of a result in the driver's encoded frames
// and decodes a row only when it is read, with Next and Scan as in
// database/sql, or with the generic collectors:
//
//	users, err := cassandra.CollectRows(rs, cassandra.RowToStructByName[User])
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
// # Many requests in flight
//
// Every garbage collection walks the stack of every request waiting for
// the server. With hundreds in flight and the small heap of a typical
// client, collections come every few megabytes allocated and can take a
// third to a half of the client's CPU, with this package as with gocql
// alone. A higher GOGC (or a GOMEMLIMIT with a generous GOGC) spaces them
// out: on the project's two-core test machine GOGC=400 made raw gocql
// 10–45% faster at 512 requests in flight, and this package with it,
// though not at 64 (docs/performance.md in the repository).
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
// so errors.As and errors.Is see through it.
//
// A mistake in calling the library, such as a nil context or a Configure
// function that returns nil, is an error from the call that was given it
// (or the error its future completes with), not a panic; nothing is sent.
package cassandra
