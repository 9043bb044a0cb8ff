// Package otelcassandra traces and measures the requests of an
// async-cassandra session with OpenTelemetry, following the database
// semantic conventions (semconv v1.43.0, the newest that otel v1.47
// ships).
//
// It is a module of its own, so that the core module does not depend on
// OpenTelemetry. Wire it like any collector:
//
//	col, err := otelcassandra.New(
//		otelcassandra.WithTracerProvider(tp),
//		otelcassandra.WithMeterProvider(mp))
//	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(col))
//
// # Spans
//
// Every Execute and Batch.Execute becomes a span of kind client, a child of
// the span in the context the request was submitted with. It starts when
// Execute was called and ends when the request was over, so it covers the
// wait for a worker as well as every page and attempt. It is named after
// the query summary, such as "SELECT shop.users" (the operation and the
// keyspace-qualified table), or the target alone, or "cassandra". It has
// two kinds of child spans: "queue", from Execute until a worker took the
// request, and one "attempt" for each request the driver sent to a node
// (retries and speculative executions included), with the node's address,
// its timing, rows and error.
//
// Each page a Stream fetches becomes a span of its own, named like a
// request's, a child of the span in the context the stream was started
// with, with the page's number in async_cassandra.page; a stream has no
// span of its own, and its attempts are counted, not spanned.
//
// Spans carry db.system.name ("cassandra"), db.namespace (the keyspace),
// db.collection.name (the table), db.operation.name ("SELECT", "INSERT",
// "BATCH", "CREATE TABLE", ...), db.query.summary, db.query.text (the
// normalised statement; see WithStatementText), cassandra.consistency.level,
// server.address and server.port (the node that answered last),
// db.response.returned_rows, and, when the request failed, the status
// Error, error.type (cassandra.ErrorKind: "read_timeout", "invalid",
// "deadline", ...) and db.response.status_code for an error the node sent.
// Names and keywords only: never a bound value, a literal, or an error's
// text.
//
// # Metrics
//
// db.client.operation.duration, a histogram in seconds with the buckets
// the conventions advise, records each request end to end and each page
// fetch of a stream, with the span's attributes except db.query.text,
// cassandra.consistency.level and the counts.
package otelcassandra
