package promcassandra

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// Statements the in-process server answers.
const (
	slowQuery = "SELECT id FROM ks.slow" // held back until the test releases it
	fastQuery = "SELECT id FROM ks.fast"
	scanQuery = "SELECT id FROM ks.numbers"
)

// testServer serves the statements above; slowQuery waits for hold to
// be closed.
func testServer(t *testing.T, hold <-chan struct{}) *cqltest.Server {
	t.Helper()
	srv := cqltest.NewServer(t)
	srv.SetRows(slowQuery, cqltest.Cols("id", cqltest.Int), [][]any{{1}})
	srv.SetRows(fastQuery, cqltest.Cols("id", cqltest.Int), [][]any{{2}})
	rows := make([][]any, 25)
	for i := range rows {
		rows[i] = []any{i}
	}
	srv.SetRows(scanQuery, cqltest.Cols("id", cqltest.Int), rows)
	srv.DelayPage(slowQuery, 1, hold)
	return srv
}

// connect opens a session of a new cluster that reports to c.
func connect(t *testing.T, srv *cqltest.Server, c *Collector, opts ...cassandra.Option) (*cassandra.AsyncCluster, *cassandra.AsyncSession) {
	t.Helper()
	cluster, err := cassandra.NewAsyncCluster(srv.ClusterConfig(), append(opts, cassandra.WithCollector(c))...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	return cluster, s
}

// The pool metrics are the open sessions' Stats, summed at scrape time;
// a closed session's totals stay in the counters.
func TestPoolMetricsFromSessions(t *testing.T) {
	hold := make(chan struct{})
	srv := testServer(t, hold)
	defer srv.Close()
	c := newCollector(t)
	cluster, s1 := connect(t, srv, c, cassandra.WithWorkers(2), cassandra.WithQueue(4))
	defer cluster.Close()
	s2, err := cluster.Connect(ctx)
	require.NoError(t, err)

	// Two requests hold s1's two workers; a third waits in its queue.
	futs := []*cassandra.Future[*cassandra.ResultSet]{s1.Execute(ctx, slowQuery), s1.Execute(ctx, slowQuery)}
	require.Eventually(t, func() bool { return srv.Requests(slowQuery) == 2 }, 10*time.Second, time.Millisecond)
	futs = append(futs, s1.Execute(ctx, fastQuery))
	_, err = s2.Execute(ctx, fastQuery).Await(ctx)
	require.NoError(t, err)

	compare(t, c, "sessions", "gauge", "cassandra_client_sessions 2\n")
	compare(t, c, "pool_workers", "gauge", "cassandra_client_pool_workers 4\n")
	compare(t, c, "pool_limit", "gauge", "cassandra_client_pool_limit 4\n")
	compare(t, c, "pool_busy_workers", "gauge", "cassandra_client_pool_busy_workers 2\n")
	compare(t, c, "pool_queue_capacity", "gauge", "cassandra_client_pool_queue_capacity 8\n")
	compare(t, c, "pool_queue_depth", "gauge", "cassandra_client_pool_queue_depth 1\n")
	compare(t, c, "pool_waiting_submitters", "gauge", "cassandra_client_pool_waiting_submitters 0\n")
	compare(t, c, "pool_submitted_total", "counter", "cassandra_client_pool_submitted_total 4\n")
	compare(t, c, "pool_completed_total", "counter", "cassandra_client_pool_completed_total 1\n")

	close(hold)
	_, err = cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	require.NoError(t, s1.Close())
	// A closed session is gone from the levels; its totals are kept.
	compare(t, c, "sessions", "gauge", "cassandra_client_sessions 1\n")
	compare(t, c, "pool_workers", "gauge", "cassandra_client_pool_workers 2\n")
	compare(t, c, "pool_limit", "gauge", "cassandra_client_pool_limit 2\n")
	compare(t, c, "pool_busy_workers", "gauge", "cassandra_client_pool_busy_workers 0\n")
	compare(t, c, "pool_queue_depth", "gauge", "cassandra_client_pool_queue_depth 0\n")
	compare(t, c, "pool_submitted_total", "counter", "cassandra_client_pool_submitted_total 4\n")
	compare(t, c, "pool_completed_total", "counter", "cassandra_client_pool_completed_total 4\n")
	assert.Positive(t, testutil.ToFloat64(c.requests.WithLabelValues("select", "ks", "slow", "ok")))

	require.NoError(t, cluster.Close()) // closes s2
	compare(t, c, "sessions", "gauge", "cassandra_client_sessions 0\n")
	compare(t, c, "pool_workers", "gauge", "cassandra_client_pool_workers 0\n")
	compare(t, c, "pool_submitted_total", "counter", "cassandra_client_pool_submitted_total 4\n")
	compare(t, c, "pool_expired_total", "counter", "cassandra_client_pool_expired_total 0\n")
}

// A session reports requests, attempts, stream pages and refusals to the
// Collector: the hook is wired end to end.
func TestSessionReports(t *testing.T) {
	hold := make(chan struct{})
	srv := testServer(t, hold)
	defer srv.Close()
	srv.FailPage(fastQuery, 1, cqltest.ReadTimeout()).Times(1)
	c := newCollector(t)
	cluster, s := connect(t, srv, c, cassandra.WithWorkers(1), cassandra.WithQueue(0),
		cassandra.WithQueueFullPolicy(cassandra.QueueFailFast), cassandra.WithPageSize(10))
	defer cluster.Close()

	_, err := s.Execute(ctx, fastQuery).Await(ctx)
	require.Error(t, err, "the first one fails on the server")
	_, err = s.Execute(ctx, fastQuery).Await(ctx)
	require.NoError(t, err)
	st := s.Stream(ctx, scanQuery)
	n := 0
	for _, err := range st.Rows() {
		require.NoError(t, err)
		n++
	}
	require.NoError(t, st.Close())
	require.Equal(t, 25, n)

	slow := s.Execute(ctx, slowQuery) // holds the only worker
	require.Eventually(t, func() bool { return srv.Requests(slowQuery) == 1 }, 10*time.Second, time.Millisecond)
	_, err = s.Execute(ctx, fastQuery).Await(ctx)
	require.ErrorIs(t, err, cassandra.ErrOverloaded)
	close(hold)
	_, err = slow.Await(ctx)
	require.NoError(t, err)
	require.NoError(t, cluster.Close())

	compare(t, c, "requests_total", "counter", `
cassandra_client_requests_total{keyspace="ks",kind="select",outcome="ok",table="fast"} 1
cassandra_client_requests_total{keyspace="ks",kind="select",outcome="overloaded",table="fast"} 1
cassandra_client_requests_total{keyspace="ks",kind="select",outcome="read_timeout",table="fast"} 1
cassandra_client_requests_total{keyspace="ks",kind="select",outcome="ok",table="slow"} 1
`)
	compare(t, c, "attempts_total", "counter", `
cassandra_client_attempts_total{keyspace="ks",kind="select",outcome="ok",table="fast"} 1
cassandra_client_attempts_total{keyspace="ks",kind="select",outcome="read_timeout",table="fast"} 1
cassandra_client_attempts_total{keyspace="ks",kind="select",outcome="ok",table="numbers"} 3
cassandra_client_attempts_total{keyspace="ks",kind="select",outcome="ok",table="slow"} 1
`)
	compare(t, c, "stream_pages_total", "counter", `
cassandra_client_stream_pages_total{keyspace="ks",kind="select",outcome="ok",table="numbers"} 3
`)
	compare(t, c, "stream_rows_total", "counter", `
cassandra_client_stream_rows_total{keyspace="ks",kind="select",table="numbers"} 25
`)
	compare(t, c, "request_rows_total", "counter", `
cassandra_client_request_rows_total{keyspace="ks",kind="select",table="fast"} 1
cassandra_client_request_rows_total{keyspace="ks",kind="select",table="slow"} 1
`)
	compare(t, c, "pool_rejected_total", "counter", "cassandra_client_pool_rejected_total 1\n")
	// Three requests and three pages reached the pool; the refused
	// request did not wait in the queue, so it is not in the histogram.
	compare(t, c, "pool_submitted_total", "counter", "cassandra_client_pool_submitted_total 6\n")
	assert.Equal(t, 3, histogramCount(t, c, "cassandra_client_queue_wait_seconds"))
	assert.Equal(t, 4, histogramCount(t, c, "cassandra_client_request_duration_seconds"))
}

// histogramCount is the number of observations of the histogram called
// full, over all its series.
func histogramCount(t *testing.T, c *Collector, full string) int {
	t.Helper()
	reg := newRegistry(t, c)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	n := 0
	for _, mf := range mfs {
		if mf.GetName() == full {
			for _, m := range mf.GetMetric() {
				n += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return n
}
