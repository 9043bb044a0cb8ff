package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
	"github.com/async-cassandra/cassandra/internal/wire"
	"github.com/async-cassandra/cassandra/otelcassandra"
	"github.com/async-cassandra/cassandra/promcassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

// connect makes the table and the two sessions, with identical driver
// settings, and fills the rows the reads ask for.
//
// With batching both write through the library's write batching (raw gocql
// gets it by the same internal/wire.Install the sessions use); without,
// both use gocql's own coalescing. Either way the two sides write alike and
// the difference is the wrapper's.
func connect(ctx context.Context, workers int, batching bool, rawWrites string) (*gocql.Session, *cassandra.AsyncSession, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	boot, err := gocql.NewCluster(node.Hosts()...).CreateSession()
	if err != nil {
		return nil, nil, err
	}
	defer boot.Close()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.kv (id int PRIMARY KEY, v text)`,
	} {
		if err := boot.Query(stmt).ExecContext(ctx); err != nil {
			return nil, nil, err
		}
	}
	config := func() *gocql.ClusterConfig {
		cfg := gocql.NewCluster(node.Hosts()...)
		cfg.Keyspace = keyspace
		cfg.Timeout = 10 * time.Second
		return cfg
	}
	rawCfg := config()
	switch {
	case rawWrites == "off":
		rawCfg.WriteCoalesceWaitTime = 0
	case rawWrites == "same" && batching:
		if _, err := wire.Install(rawCfg); err != nil {
			return nil, nil, err
		}
	}
	raw, err := rawCfg.CreateSession()
	if err != nil {
		return nil, nil, err
	}
	opts := []cassandra.Option{cassandra.WithWriteBatching(batching)}
	if workers > 0 {
		opts = append(opts, cassandra.WithWorkers(workers))
	}
	cluster, err := cassandra.NewAsyncCluster(config(), opts...)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	wrapped, err := cluster.Connect(ctx)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	value := strings.Repeat("x", 100)
	for i := range rows {
		if err := raw.Query(writeStmt, i, value).ExecContext(ctx); err != nil {
			raw.Close()
			wrapped.Close()
			return nil, nil, err
		}
	}
	return raw, wrapped, nil
}

// connectWith opens one more session like connect's, with opts added.
func connectWith(ctx context.Context, workers int, batching bool, opts ...cassandra.Option) (*cassandra.AsyncSession, error) {
	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Keyspace = keyspace
	cfg.Timeout = 10 * time.Second
	opts = append(opts, cassandra.WithWriteBatching(batching))
	if workers > 0 {
		opts = append(opts, cassandra.WithWorkers(workers))
	}
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return cluster.Connect(ctx)
}

// newCollector makes the collector a -b async+NAME variant reports to.
// Prometheus and OpenTelemetry record into providers of their own, as a
// service's would (a registry nobody scrapes during the run; SDK providers
// whose spans are sampled and dropped by a no-op exporter).
func newCollector(name string) (cassandra.Collector, error) {
	switch name {
	case "memory":
		return inmemory.New(), nil
	case "prom":
		c, err := promcassandra.New()
		if err != nil {
			return nil, err
		}
		prometheus.NewRegistry().MustRegister(c)
		return c, nil
	case "otel", "otel1pct":
		sampler := sdktrace.AlwaysSample()
		if name == "otel1pct" { // what a busy service samples
			sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler),
			sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(discardExporter{})))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		return otelcassandra.New(otelcassandra.WithTracerProvider(tp), otelcassandra.WithMeterProvider(mp))
	case "all":
		var cs []cassandra.Collector
		for _, n := range []string{"memory", "prom", "otel"} {
			c, err := newCollector(n)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		return cassandra.Collectors(cs...), nil
	}
	return nil, fmt.Errorf("unknown collector %q", name)
}

// discardExporter drops the spans it is given, after the SDK has built
// and batched them as it would for a real exporter.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
