package cassandra

import (
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// WithSpeculativeExecution makes the sessions' idempotent queries and
// batches start another execution on the next node of the query plan
// each time delay passes without an answer, up to attempts more (so at
// most attempts+1 run at once); the first execution to finish gives the
// request's result, and the others are abandoned. It trims the tail of
// read latency when one node is slow, at the cost of extra load on the
// cluster. attempts 0 turns it off (the default); a negative attempts, or
// a delay that is not positive with attempts > 0, makes NewAsyncCluster
// fail.
//
// gocql runs speculative executions only for requests marked idempotent
// (and never for a request pinned with Query.HostID): a statement that is
// not idempotent is sent once, whatever this option says. Set a delay
// above the usual latency of the statements, such as their 99th
// percentile; Configure with gocql's Query.SetSpeculativeExecutionPolicy
// sets it for one query.
//
// Two consequences of how gocql runs speculative executions: the first
// execution to finish wins even when it failed (each execution retries by
// itself, following the retry policy, before it finishes); and an
// execution that finds no further node in the query plan finishes at once
// with gocql.ErrNoConnections, failing the request. So keep attempts below
// the number of nodes a query may go to, and do not use speculative
// execution on a one-node cluster.
func WithSpeculativeExecution(attempts int, delay time.Duration) Option {
	return func(o *options) {
		o.specN, o.specWait, o.spec = attempts, delay, nil
		if attempts > 0 && delay > 0 {
			o.spec = &gocql.SimpleSpeculativeExecution{NumAttempts: attempts, TimeoutDelay: delay}
		}
	}
}
