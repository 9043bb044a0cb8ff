// Package promcassandra exports what the sessions of
// github.com/async-cassandra/cassandra measure as Prometheus metrics.
//
// A Collector is both a cassandra.Collector and a prometheus.Collector:
//
//	c, err := promcassandra.New()
//	if err != nil { ... }
//	prometheus.MustRegister(c)
//	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(c))
//
// Every metric name starts with the namespace, "cassandra_client" unless
// WithNamespace sets another. Requests, attempts and stream pages are
// counted by statement kind ("select", "insert", "update", "delete",
// "batch", "ddl", "use", "other"), keyspace and table, and by outcome:
// "ok", or the cassandra.ErrorKind of the error, a small fixed set. The
// keyspace and table labels are capped (WithMaxTables), and the statement
// text is a label only when WithStatementLabel asks for it, normalised and
// capped too, so that the number of series stays bounded whatever the
// application sends. The pool metrics are read from every open session's
// Stats when Prometheus scrapes, summed over the sessions. The host_up
// gauge is set by a host monitor through SetHostState.
//
// docs/metrics.md lists the metrics and gives a scrape configuration and
// alert rules.
//
// This package is a module of its own, so that the cassandra module does
// not depend on the Prometheus client library; that library needs Go 1.26.
package promcassandra
