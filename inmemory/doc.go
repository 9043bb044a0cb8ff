// Package inmemory is a metrics collector for the cassandra package that
// keeps everything in memory: for tests that assert on what a session did,
// for command-line tools that print a summary at the end of a run, and for
// a service's debug page. For a monitoring system, use an exporter
// instead.
//
// A Collector counts requests, successes, errors by kind, rows, attempts
// and retries, and stream pages and rows since it was created; keeps the
// latency percentiles (p50, p95, p99, p99.9, with the mean and maximum) of
// requests and of their wait for a worker, and the request rate, over a
// sliding window of the last minute; and ranks statements by count and by
// total time, with a bounded number of them:
//
//	c := inmemory.New()
//	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(c))
//	...
//	snap := c.Snapshot()
//	fmt.Println(snap.Window.Latency.P99, snap.ErrorsByKind["read_timeout"])
//	fmt.Print(c) // the whole summary
//
// Memory is bounded: two HDR histograms per interval of the window (about
// 190 KB each: 2.6 MB with the defaults) and at most WithMaxStatements
// statements, whatever the load.
package inmemory
