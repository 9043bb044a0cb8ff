package promcassandra

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// e2eKeyspace is this package's own keyspace on the shared node.
const e2eKeyspace = "promcassandra_it"

// nodeHosts returns the contact points of the real node: the
// comma-separated CASSANDRA_HOSTS, or the local node that `make
// cassandra-up` starts (the test module's node.Hosts, which this module
// cannot import).
func nodeHosts() []string {
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1"}
}

func nodeConfig() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(nodeHosts()...)
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	return cfg
}

// prepareNode creates the keyspace and an empty events table, through a
// cluster that reports to no collector.
func prepareNode(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cluster, err := cassandra.NewAsyncCluster(nodeConfig())
	require.NoError(t, err)
	defer cluster.Close()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err, "this test needs a Cassandra node at %s: start one with `make cassandra-up`, "+
		"or point CASSANDRA_HOSTS at a cluster", strings.Join(nodeHosts(), ","))
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + e2eKeyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + e2eKeyspace + `.events (id int PRIMARY KEY, payload text)`,
		`TRUNCATE ` + e2eKeyspace + `.events`,
	} {
		_, err := s.Execute(ctx, stmt).Await(ctx)
		require.NoError(t, err, stmt)
	}
}

// A known workload against the real node, scraped from a real /metrics
// endpoint over HTTP: the exported counts are those executed.
func TestEndToEndScrape(t *testing.T) {
	prepareNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c := newCollector(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()

	cfg := nodeConfig()
	cfg.Keyspace = e2eKeyspace
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(c))
	require.NoError(t, err)
	defer cluster.Close()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)

	// The workload: inserts, point reads, a failing statement, a batch
	// and a stream.
	const inserts, reads = 20, 5
	var futs []*cassandra.Future[*cassandra.ResultSet]
	for i := range inserts {
		futs = append(futs, s.Execute(ctx, `INSERT INTO events (id, payload) VALUES (?, ?)`, i, fmt.Sprint("event ", i)))
	}
	_, err = cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	var host *gocql.HostInfo
	for i := range reads {
		rs, err := s.Execute(ctx, `SELECT payload FROM events WHERE id = ?`, i).Await(ctx)
		require.NoError(t, err)
		var payload string
		require.NoError(t, rs.One(&payload))
		assert.Equal(t, fmt.Sprint("event ", i), payload)
		host = rs.Host()
	}
	_, err = s.Execute(ctx, `SELECT * FROM no_such_table WHERE id = 1`).Await(ctx)
	require.Error(t, err)
	require.Equal(t, "invalid", cassandra.ErrorKind(err))
	_, err = s.Batch(gocql.LoggedBatch).
		Query(`INSERT INTO events (id, payload) VALUES (?, ?)`, 20, "b").
		Query(`INSERT INTO events (id, payload) VALUES (?, ?)`, 21, "b").
		Query(`INSERT INTO events (id, payload) VALUES (?, ?)`, 22, "b").
		Execute(ctx).Await(ctx)
	require.NoError(t, err)
	st := s.Query(`SELECT id FROM events`).PageSize(7).Stream(ctx)
	pages, rows := 0, 0
	for page, err := range st.Pages() {
		require.NoError(t, err)
		pages++
		rows += page.Len()
	}
	require.NoError(t, st.Close())
	require.Equal(t, inserts+3, rows)
	require.GreaterOrEqual(t, pages, 4)

	// What a host monitor would report, with the node's real address.
	require.NotNil(t, host)
	c.SetHostState(host.ConnectAddressAndPort(), host.DataCenter(), true)

	url := srv.URL + "/metrics"
	ks := `keyspace="` + e2eKeyspace + `"`
	scrapeEqual(t, url, "requests_total", "counter", fmt.Sprintf(`
cassandra_client_requests_total{%[1]s,kind="batch",outcome="ok",table="events"} 1
cassandra_client_requests_total{%[1]s,kind="insert",outcome="ok",table="events"} %[2]d
cassandra_client_requests_total{%[1]s,kind="select",outcome="ok",table="events"} %[3]d
cassandra_client_requests_total{%[1]s,kind="select",outcome="invalid",table="no_such_table"} 1
`, ks, inserts, reads))
	scrapeEqual(t, url, "request_rows_total", "counter", fmt.Sprintf(`
cassandra_client_request_rows_total{%s,kind="select",table="events"} %d
`, ks, reads))
	// Nothing is retried: the statements are not idempotent. Each
	// stream page is one attempt.
	scrapeEqual(t, url, "attempts_total", "counter", fmt.Sprintf(`
cassandra_client_attempts_total{%[1]s,kind="batch",outcome="ok",table="events"} 1
cassandra_client_attempts_total{%[1]s,kind="insert",outcome="ok",table="events"} %[2]d
cassandra_client_attempts_total{%[1]s,kind="select",outcome="ok",table="events"} %[3]d
cassandra_client_attempts_total{%[1]s,kind="select",outcome="invalid",table="no_such_table"} 1
`, ks, inserts, reads+pages))
	scrapeEqual(t, url, "stream_pages_total", "counter", fmt.Sprintf(`
cassandra_client_stream_pages_total{%s,kind="select",outcome="ok",table="events"} %d
`, ks, pages))
	scrapeEqual(t, url, "stream_rows_total", "counter", fmt.Sprintf(`
cassandra_client_stream_rows_total{%s,kind="select",table="events"} %d
`, ks, rows))
	requests := inserts + reads + 2
	scrapeEqual(t, url, "pool_submitted_total", "counter", fmt.Sprintf("cassandra_client_pool_submitted_total %d\n", requests+pages))
	scrapeEqual(t, url, "pool_completed_total", "counter", fmt.Sprintf("cassandra_client_pool_completed_total %d\n", requests+pages))
	scrapeEqual(t, url, "pool_busy_workers", "gauge", "cassandra_client_pool_busy_workers 0\n")
	scrapeEqual(t, url, "sessions", "gauge", "cassandra_client_sessions 1\n")
	scrapeEqual(t, url, "host_up", "gauge", fmt.Sprintf("cassandra_client_host_up{datacenter=%q,host=%q} 1\n",
		host.DataCenter(), host.ConnectAddressAndPort()))

	// The histograms count every request once, with real durations.
	mfs := scrape(t, url)
	counts := map[string]uint64{}
	for _, m := range mfs["cassandra_client_request_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		assert.Positive(t, h.GetSampleSum())
		counts[label(m, "kind")+" "+label(m, "table")] = h.GetSampleCount()
	}
	assert.Equal(t, map[string]uint64{"batch events": 1, "insert events": inserts, "select events": reads, "select no_such_table": 1}, counts)
	assert.Equal(t, uint64(requests), mfs["cassandra_client_queue_wait_seconds"].GetMetric()[0].GetHistogram().GetSampleCount())

	// A closed session leaves the levels and keeps its totals.
	require.NoError(t, s.Close())
	scrapeEqual(t, url, "sessions", "gauge", "cassandra_client_sessions 0\n")
	scrapeEqual(t, url, "pool_workers", "gauge", "cassandra_client_pool_workers 0\n")
	scrapeEqual(t, url, "pool_submitted_total", "counter", fmt.Sprintf("cassandra_client_pool_submitted_total %d\n", requests+pages))
}

// scrapeEqual checks, over HTTP, that the metric name of the endpoint at
// url is exactly body, in the text format.
func scrapeEqual(t *testing.T, url, name, typ, body string) {
	t.Helper()
	full := DefaultNamespace + "_" + name
	mf, ok := scrape(t, url)[full]
	require.True(t, ok, "no %s at %s", full, url)
	want := fmt.Sprintf("# HELP %s %s\n# TYPE %s %s\n%s", full, mf.GetHelp(), full, typ, body)
	assert.NoError(t, testutil.ScrapeAndCompare(url, strings.NewReader(want), full))
}

// scrape fetches the endpoint at url and parses what it serves.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mfs
}

// label returns the value of m's label called name, or "".
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
