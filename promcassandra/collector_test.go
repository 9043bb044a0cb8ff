package promcassandra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra"
)

// TestMain checks that no test leaves a goroutine behind. gocql v2.1.2
// may leave its control connection's heartbeat goroutine for a moment
// when a session closes right after it opened.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat"))
}

var ctx = context.Background()

// Statements the tests report, described as the session would.
var (
	selectUsers = cassandra.Statement{Text: "SELECT * FROM users WHERE id = ?", Kind: cassandra.KindSelect, Keyspace: "app", Table: "users"}
	insertUsers = cassandra.Statement{Text: "INSERT INTO users (id, name) VALUES (?, ?)", Kind: cassandra.KindInsert, Keyspace: "app", Table: "users"}
	useApp      = cassandra.Statement{Text: "USE app", Kind: cassandra.KindUse, Keyspace: "app"}
)

func newCollector(t *testing.T, opts ...Option) *Collector {
	t.Helper()
	c, err := New(opts...)
	require.NoError(t, err)
	return c
}

// compare checks that the metric name (without its namespace) of c is
// exactly body, in the text format; the HELP line is taken from c, which
// TestHelp checks on its own.
func compare(t *testing.T, c *Collector, name, typ, body string) {
	t.Helper()
	full := c.cfg.namespace + "_" + name
	help := helpOf(t, c, full)
	want := fmt.Sprintf("# HELP %s %s\n# TYPE %s %s\n%s", full, help, full, typ, body)
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), full))
}

// helpOf returns the help text of the metric called full, which must
// have at least one series.
func helpOf(t *testing.T, c *Collector, full string) string {
	t.Helper()
	mfs, err := newRegistry(t, c).Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == full {
			return mf.GetHelp()
		}
	}
	t.Fatalf("no metric %s", full)
	return ""
}

// newRegistry returns a registry that holds only c.
func newRegistry(t *testing.T, c *Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	return reg
}

// Requests are counted by statement and outcome, their durations and
// queue waits fall into the configured buckets, and rows are summed.
func TestRequests(t *testing.T) {
	c := newCollector(t, WithDurationBuckets(0.1, 0.5, 1), WithQueueWaitBuckets(0.001, 0.01))
	timeout := fmt.Errorf("cassandra: query failed: %w", errors.New("read timeout"))
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers, Duration: 62500 * time.Microsecond,
		QueueWait: 500 * time.Microsecond, Attempts: 1, Pages: 1, Rows: 3})
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers, Duration: 250 * time.Millisecond,
		QueueWait: 2 * time.Millisecond, Attempts: 1, Pages: 1, Rows: 1})
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers, Duration: 500 * time.Millisecond,
		QueueWait: 20 * time.Millisecond, Attempts: 2, Err: timeout, ErrorKind: "read_timeout"})
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: insertUsers, Duration: 2 * time.Second,
		QueueWait: 250 * time.Microsecond, Attempts: 1})
	// Refused by a full queue: counted, timed, but it never waited.
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: insertUsers, Err: cassandra.ErrOverloaded, ErrorKind: "overloaded"})
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: useApp, Duration: 125 * time.Millisecond, QueueWait: 0, Attempts: 1})
	// An error without a kind, which the session never reports, is "other".
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: useApp, Duration: 125 * time.Millisecond, Attempts: 1, Err: errors.New("?")})

	compare(t, c, "requests_total", "counter", `
cassandra_client_requests_total{keyspace="app",kind="insert",outcome="ok",table="users"} 1
cassandra_client_requests_total{keyspace="app",kind="insert",outcome="overloaded",table="users"} 1
cassandra_client_requests_total{keyspace="app",kind="select",outcome="ok",table="users"} 2
cassandra_client_requests_total{keyspace="app",kind="select",outcome="read_timeout",table="users"} 1
cassandra_client_requests_total{keyspace="app",kind="use",outcome="ok",table=""} 1
cassandra_client_requests_total{keyspace="app",kind="use",outcome="other",table=""} 1
`)
	compare(t, c, "request_duration_seconds", "histogram", `
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="insert",table="users",le="0.1"} 1
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="insert",table="users",le="0.5"} 1
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="insert",table="users",le="1"} 1
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="insert",table="users",le="+Inf"} 2
cassandra_client_request_duration_seconds_sum{keyspace="app",kind="insert",table="users"} 2
cassandra_client_request_duration_seconds_count{keyspace="app",kind="insert",table="users"} 2
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="select",table="users",le="0.1"} 1
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="select",table="users",le="0.5"} 3
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="select",table="users",le="1"} 3
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="select",table="users",le="+Inf"} 3
cassandra_client_request_duration_seconds_sum{keyspace="app",kind="select",table="users"} 0.8125
cassandra_client_request_duration_seconds_count{keyspace="app",kind="select",table="users"} 3
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="use",table="",le="0.1"} 0
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="use",table="",le="0.5"} 2
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="use",table="",le="1"} 2
cassandra_client_request_duration_seconds_bucket{keyspace="app",kind="use",table="",le="+Inf"} 2
cassandra_client_request_duration_seconds_sum{keyspace="app",kind="use",table=""} 0.25
cassandra_client_request_duration_seconds_count{keyspace="app",kind="use",table=""} 2
`)
	compare(t, c, "request_rows_total", "counter", `
cassandra_client_request_rows_total{keyspace="app",kind="select",table="users"} 4
`)
	// Six requests reached the queue (the refused one did not); the
	// two that did not wait at all are in every bucket.
	compare(t, c, "queue_wait_seconds", "histogram", fmt.Sprintf(`
cassandra_client_queue_wait_seconds_bucket{le="0.001"} 4
cassandra_client_queue_wait_seconds_bucket{le="0.01"} 5
cassandra_client_queue_wait_seconds_bucket{le="+Inf"} 6
cassandra_client_queue_wait_seconds_sum %v
cassandra_client_queue_wait_seconds_count 6
`, (500*time.Microsecond+2*time.Millisecond+20*time.Millisecond+250*time.Microsecond).Seconds()))
	assert.Equal(t, 2.0, testutil.ToFloat64(c.requests.WithLabelValues("select", "app", "users", "ok")))
}

// Attempts are counted by outcome, and those beyond the first of a page
// as retries.
func TestAttempts(t *testing.T) {
	c := newCollector(t)
	c.AttemptDone(ctx, cassandra.AttemptInfo{Statement: selectUsers, Attempt: 0, Err: errors.New("t"), ErrorKind: "read_timeout"})
	c.AttemptDone(ctx, cassandra.AttemptInfo{Statement: selectUsers, Attempt: 1, Rows: 1})
	c.AttemptDone(ctx, cassandra.AttemptInfo{Statement: selectUsers, Attempt: 0, Rows: 1})
	c.AttemptDone(ctx, cassandra.AttemptInfo{Statement: insertUsers, Attempt: 0})

	compare(t, c, "attempts_total", "counter", `
cassandra_client_attempts_total{keyspace="app",kind="insert",outcome="ok",table="users"} 1
cassandra_client_attempts_total{keyspace="app",kind="select",outcome="ok",table="users"} 2
cassandra_client_attempts_total{keyspace="app",kind="select",outcome="read_timeout",table="users"} 1
`)
	compare(t, c, "retries_total", "counter", `
cassandra_client_retries_total{keyspace="app",kind="select",table="users"} 1
`)
}

// Stream pages are counted by outcome, and their rows summed.
func TestStreamPages(t *testing.T) {
	c := newCollector(t)
	scan := cassandra.Statement{Text: "SELECT * FROM events", Kind: cassandra.KindSelect, Keyspace: "app", Table: "events"}
	for i, rows := range []int{100, 100, 42} {
		c.PageDone(ctx, cassandra.PageFetchInfo{Statement: scan, Number: i + 1, Rows: rows, Attempts: 1})
	}
	c.PageDone(ctx, cassandra.PageFetchInfo{Statement: scan, Number: 4, Err: context.DeadlineExceeded, ErrorKind: "deadline"})

	compare(t, c, "stream_pages_total", "counter", `
cassandra_client_stream_pages_total{keyspace="app",kind="select",outcome="deadline",table="events"} 1
cassandra_client_stream_pages_total{keyspace="app",kind="select",outcome="ok",table="events"} 3
`)
	compare(t, c, "stream_rows_total", "counter", `
cassandra_client_stream_rows_total{keyspace="app",kind="select",table="events"} 242
`)
	assert.Zero(t, testutil.CollectAndCount(c, "cassandra_client_requests_total"), "pages are not requests")
}

// The host gauge follows SetHostState and ForgetHost; a host that moves
// to another datacenter keeps one series.
func TestHostState(t *testing.T) {
	c := newCollector(t)
	c.SetHostState("10.0.0.1:9042", "dc1", true)
	c.SetHostState("10.0.0.2:9042", "dc1", true)
	c.SetHostState("10.0.0.3:9042", "dc2", true)
	c.SetHostState("10.0.0.2:9042", "dc1", false)
	c.SetHostState("10.0.0.3:9042", "dc3", true)
	c.ForgetHost("10.0.0.1:9042")
	c.ForgetHost("10.9.9.9:9042") // never seen: nothing happens
	compare(t, c, "host_up", "gauge", `
cassandra_client_host_up{datacenter="dc1",host="10.0.0.2:9042"} 0
cassandra_client_host_up{datacenter="dc3",host="10.0.0.3:9042"} 1
`)
	c.SetHostState("10.0.0.2:9042", "dc1", true)
	assert.Equal(t, 1.0, testutil.ToFloat64(c.hosts.gauge.WithLabelValues("10.0.0.2:9042", "dc1")))

	// Label values must be UTF-8; a bad host name does not panic.
	assert.NotPanics(t, func() { c.SetHostState("bad\xff", "dc\xfe", true) })
	assert.Equal(t, 1.0, testutil.ToFloat64(c.hosts.gauge.WithLabelValues("bad\uFFFD", "dc\uFFFD")))
	c.ForgetHost("bad\xff")
	assert.Equal(t, 2, testutil.CollectAndCount(c, "cassandra_client_host_up"))
}

// HostChanged, the host monitor's call, drives the same gauge.
func TestHostChanged(t *testing.T) {
	c := newCollector(t)
	c.HostChanged(nil, cassandra.HostStatus{Address: "10.0.0.1:9042", Datacenter: "dc1", State: cassandra.HostUp})
	c.HostChanged(nil, cassandra.HostStatus{Address: "10.0.0.2:9042", Datacenter: "dc1", State: cassandra.HostUp})
	c.HostChanged(nil, cassandra.HostStatus{Address: "10.0.0.1:9042", Datacenter: "dc1", State: cassandra.HostDown})
	c.HostChanged(nil, cassandra.HostStatus{Address: "10.0.0.2:9042", Datacenter: "dc1", State: cassandra.HostRemoved})
	compare(t, c, "host_up", "gauge", `
cassandra_client_host_up{datacenter="dc1",host="10.0.0.1:9042"} 0
`)
}

// With no session the pool metrics are zero, not absent, so that alert
// expressions over them have something to evaluate.
func TestPoolWithoutSessions(t *testing.T) {
	c := newCollector(t)
	compare(t, c, "sessions", "gauge", "cassandra_client_sessions 0\n")
	compare(t, c, "pool_submitted_total", "counter", "cassandra_client_pool_submitted_total 0\n")
}

// Every metric has a help text, and the namespace and constant labels
// apply to all of them.
func TestNamespaceAndConstLabels(t *testing.T) {
	c := newCollector(t, WithNamespace("app_cql"), WithConstLabels(prometheus.Labels{"cluster": "orders"}))
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers})
	c.SetHostState("h", "dc", true)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.NotEmpty(t, mfs)
	for _, mf := range mfs {
		assert.True(t, strings.HasPrefix(mf.GetName(), "app_cql_"), mf.GetName())
		assert.NotEmpty(t, mf.GetHelp(), mf.GetName())
		for _, m := range mf.GetMetric() {
			var cluster string
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" {
					cluster = l.GetValue()
				}
			}
			assert.Equal(t, "orders", cluster, mf.GetName())
		}
	}
	// Two collectors with different constant labels share a registry.
	other := newCollector(t, WithNamespace("app_cql"), WithConstLabels(prometheus.Labels{"cluster": "billing"}))
	assert.NoError(t, reg.Register(other))
}

// New refuses options that cannot work, rather than failing at
// registration or at the first request.
func TestNewRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"empty namespace":       WithNamespace(""),
		"namespace with dash":   WithNamespace("my-app"),
		"namespace with digit":  WithNamespace("1app"),
		"no duration buckets":   WithDurationBuckets(),
		"unordered buckets":     WithDurationBuckets(0.1, 0.01),
		"repeated bucket":       WithQueueWaitBuckets(0.1, 0.1),
		"negative tables":       WithMaxTables(-1),
		"negative statements":   WithStatementLabel(-1),
		"bad const label name":  WithConstLabels(prometheus.Labels{"a-b": "x"}),
		"const label clash":     WithConstLabels(prometheus.Labels{"keyspace": "x"}),
		"const label clash too": WithConstLabels(prometheus.Labels{"host": "x"}),
	} {
		c, err := New(opt)
		assert.Error(t, err, name)
		assert.Nil(t, c, name)
	}
	c, err := New(nil, WithNamespace("ok:name_2"))
	assert.NoError(t, err, "a nil option is ignored")
	assert.NotNil(t, c)
}

// Concurrent reporting and scraping, under -race: nothing is lost and
// the caps hold.
func TestConcurrentUse(t *testing.T) {
	c := newCollector(t, WithMaxTables(50))
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	const goroutines, each = 8, 500

	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		var err error
		for n := 0; ; n++ {
			select {
			case <-stop:
				scraped <- err
				return
			default:
			}
			if _, e := reg.Gather(); e != nil && err == nil {
				err = e
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := (g*each + i) % 120 // more tables and statements than the caps
				st := cassandra.Statement{Text: fmt.Sprintf("SELECT * FROM t%d", n), Kind: cassandra.KindSelect,
					Keyspace: "ks", Table: fmt.Sprintf("t%d", n)}
				var err error
				kind := ""
				if i%10 == 0 {
					err, kind = context.DeadlineExceeded, "deadline"
				}
				c.RequestDone(ctx, cassandra.RequestInfo{Statement: st, Duration: time.Millisecond, Rows: 1, Err: err, ErrorKind: kind})
				c.AttemptDone(ctx, cassandra.AttemptInfo{Statement: st, Attempt: i % 2})
				c.PageDone(ctx, cassandra.PageFetchInfo{Statement: st, Rows: 2})
				c.SetHostState(fmt.Sprintf("h%d", i%3), "dc", i%2 == 0)
			}
		}()
	}
	wg.Wait()
	close(stop)
	require.NoError(t, <-scraped)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	sums := map[string]float64{}
	series := map[string]int{}
	tables := map[string]struct{}{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			series[mf.GetName()]++
			sums[mf.GetName()] += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			var ks, table string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "keyspace":
					ks = l.GetValue()
				case "table":
					table = l.GetValue()
				}
			}
			if mf.GetName() == "cassandra_client_requests_total" {
				tables[ks+"."+table] = struct{}{}
			}
		}
	}
	const total = goroutines * each
	assert.Equal(t, float64(total), sums["cassandra_client_requests_total"])
	assert.Equal(t, float64(total), sums["cassandra_client_request_duration_seconds"])
	assert.Equal(t, float64(total-total/10), sums["cassandra_client_request_rows_total"])
	assert.Equal(t, float64(total), sums["cassandra_client_attempts_total"])
	assert.Equal(t, float64(total/2), sums["cassandra_client_retries_total"])
	assert.Equal(t, float64(2*total), sums["cassandra_client_stream_rows_total"])
	assert.Len(t, tables, 51, "50 tables of their own and other.other")
	assert.Contains(t, tables, "other.other")
	assert.Equal(t, 51, series["cassandra_client_request_duration_seconds"])
	assert.Equal(t, 3, series["cassandra_client_host_up"])
}

// BenchmarkRequestDone measures what the Collector adds to a request that
// succeeds: the labels looked up, a counter, a histogram and the queue
// wait. It should allocate nothing.
func BenchmarkRequestDone(b *testing.B) {
	c, err := New()
	require.NoError(b, err)
	info := cassandra.RequestInfo{Statement: selectUsers, Duration: 3 * time.Millisecond,
		QueueWait: 10 * time.Microsecond, Attempts: 1, Pages: 1, Rows: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.RequestDone(ctx, info)
		}
	})
}

// BenchmarkAttemptDone is the same for one attempt.
func BenchmarkAttemptDone(b *testing.B) {
	c, err := New()
	require.NoError(b, err)
	a := cassandra.AttemptInfo{Statement: selectUsers, Rows: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.AttemptDone(ctx, a)
		}
	})
}
