package otelcassandra_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/otelcassandra"
)

// keyspace holds this package's tables on the shared test node.
const keyspace = "otelcassandra_it"

// streamRows is how many rows the partition "stream" of otel_kv holds.
const streamRows = 25

// hosts returns the contact points: the comma-separated CASSANDRA_HOSTS,
// or the local node.
func hosts() []string {
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1"}
}

func newClusterConfig() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(hosts()...)
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	return cfg
}

// TestMain checks that the node answers and creates the keyspace and
// tables with plain gocql, so that the tests' sessions see only their own
// requests. With no node the tests fail, saying why, rather than skip.
func TestMain(m *testing.M) {
	if err := prepare(); err != nil {
		fmt.Fprintf(os.Stderr, "otelcassandra tests need a Cassandra node at %s: %v\n"+
			"Start one with `make cassandra-up`, or point CASSANDRA_HOSTS at a cluster.\n",
			strings.Join(hosts(), ","), err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

func prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := newClusterConfig().CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.otel_kv (k text, c text, v text, PRIMARY KEY (k, c))`,
	} {
		if err := s.Query(stmt).ExecContext(ctx); err != nil {
			return err
		}
	}
	for i := range streamRows {
		err := s.Query(`INSERT INTO `+keyspace+`.otel_kv (k, c, v) VALUES (?, ?, ?)`,
			"stream", fmt.Sprintf("%03d", i), "x").ExecContext(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

// telemetry is an in-memory OpenTelemetry pipeline and a Collector that
// writes to it.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	col    *signalling
}

// newTelemetry returns a pipeline that is shut down when the test ends.
func newTelemetry(t *testing.T, opts ...otelcassandra.Option) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		require.NoError(t, tel.tp.Shutdown(context.Background()))
		require.NoError(t, mp.Shutdown(context.Background()))
	})
	col, err := otelcassandra.New(append([]otelcassandra.Option{
		otelcassandra.WithTracerProvider(tel.tp), otelcassandra.WithMeterProvider(mp)}, opts...)...)
	require.NoError(t, err)
	tel.col = &signalling{Collector: col, done: make(chan cassandra.RequestInfo, 64)}
	return tel
}

// signalling is the Collector under test, which also hands every request
// it recorded to the test. The session calls RequestDone after the
// request's future completed, so a test waits for it before it reads the
// spans.
type signalling struct {
	*otelcassandra.Collector
	done chan cassandra.RequestInfo
}

func (s *signalling) RequestDone(ctx context.Context, r cassandra.RequestInfo) {
	s.Collector.RequestDone(ctx, r)
	s.done <- r
}

// requestDone waits for the next request the collector recorded.
func (tel *telemetry) requestDone(t *testing.T) cassandra.RequestInfo {
	t.Helper()
	select {
	case r := <-tel.col.done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no RequestDone within 30s")
		return cassandra.RequestInfo{}
	}
}

// connect opens a session on the test keyspace that reports to tel; it
// is closed when the test ends.
func connect(t *testing.T, tel *telemetry) *cassandra.AsyncSession {
	t.Helper()
	cfg := newClusterConfig()
	cfg.Keyspace = keyspace
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(tel.col))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Close()) })
	return s
}

// attrs returns kvs as a map.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// children returns the spans among all whose parent is parent.
func children(all []sdktrace.ReadOnlySpan, parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range all {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// durations returns the data points of db.client.operation.duration.
func (tel *telemetry) durations(t *testing.T) (metricdata.Metrics, []metricdata.HistogramDataPoint[float64]) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "db.client.operation.duration" {
				h, ok := m.Data.(metricdata.Histogram[float64])
				require.True(t, ok, "a float64 histogram, not %T", m.Data)
				return m, h.DataPoints
			}
		}
	}
	t.Fatal("no db.client.operation.duration")
	return metricdata.Metrics{}, nil
}
