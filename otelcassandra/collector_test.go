package otelcassandra_test

import (
	"context"
	"errors"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/otelcassandra"
)

// The tests in this file call the Collector with made-up requests, for
// what a real node does not produce on demand: retries, timeouts, IPv6.

// serverErr is an error the node sent, as gocql reports it.
type serverErr struct{ code int }

func (e serverErr) Code() int       { return e.code }
func (e serverErr) Message() string { return "read timeout at consistency QUORUM" }
func (e serverErr) Error() string   { return e.Message() }

var _ gocql.RequestError = serverErr{}

var (
	t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	st = cassandra.Statement{Text: "SELECT v FROM ks.t WHERE k = ?", Kind: cassandra.KindSelect, Keyspace: "ks", Table: "t"}
)

func TestRetriedRequest(t *testing.T) {
	tel := newTelemetry(t)
	ctx, caller := tel.tp.Tracer("test").Start(context.Background(), "caller")
	timeout := serverErr{code: 0x1200}
	info := cassandra.RequestInfo{
		Statement: st, Consistency: gocql.LocalQuorum,
		Start: t0, QueueWait: 2 * time.Millisecond, Duration: 50 * time.Millisecond,
		Attempts: 2, Pages: 1, Rows: 3, Host: "[::1]:9142",
		Tries: []cassandra.AttemptInfo{
			{Statement: st, Attempt: 0, Start: t0.Add(2 * time.Millisecond), End: t0.Add(20 * time.Millisecond),
				Host: "[::2]:9042", Err: timeout, ErrorKind: "read_timeout"},
			{Statement: st, Attempt: 1, Start: t0.Add(21 * time.Millisecond), End: t0.Add(49 * time.Millisecond),
				Host: "[::1]:9142", Rows: 3},
		},
	}
	tel.col.Collector.RequestDone(ctx, info)
	caller.End()

	all := tel.spans.Ended()
	require.Len(t, all, 5, "caller, request, queue, two attempts")
	span := children(all, all[len(all)-1])[0]
	assert.Equal(t, "SELECT ks.t", span.Name())
	assert.Equal(t, t0, span.StartTime())
	assert.Equal(t, t0.Add(50*time.Millisecond), span.EndTime())
	assert.Equal(t, codes.Unset, span.Status().Code, "the request succeeded in the end")
	a := attrs(span.Attributes())
	assert.Equal(t, "::1", a["server.address"].AsString())
	assert.Equal(t, int64(9142), a["server.port"].AsInt64())
	assert.Equal(t, "local_quorum", a["cassandra.consistency.level"].AsString())
	assert.Equal(t, int64(2), a[otelcassandra.AttemptsKey].AsInt64())
	assert.Equal(t, int64(3), a["db.response.returned_rows"].AsInt64())

	kids := children(all, span)
	require.Len(t, kids, 3)
	queue, first, second := kids[0], kids[1], kids[2]
	assert.Equal(t, otelcassandra.QueueSpanName, queue.Name())
	assert.Equal(t, t0, queue.StartTime())
	assert.Equal(t, t0.Add(2*time.Millisecond), queue.EndTime())

	assert.Equal(t, otelcassandra.AttemptSpanName, first.Name())
	assert.Equal(t, t0.Add(2*time.Millisecond), first.StartTime())
	assert.Equal(t, t0.Add(20*time.Millisecond), first.EndTime())
	assert.Equal(t, codes.Error, first.Status().Code)
	assert.Equal(t, "read_timeout", first.Status().Description)
	fa := attrs(first.Attributes())
	assert.Equal(t, "::2", fa["server.address"].AsString())
	assert.Equal(t, "read_timeout", fa["error.type"].AsString())
	assert.Equal(t, "0x1200", fa["db.response.status_code"].AsString())
	assert.Equal(t, int64(0), fa[otelcassandra.AttemptKey].AsInt64())
	for _, sp := range all {
		assert.Empty(t, sp.Events(), "no error text recorded as an event")
		for _, kv := range sp.Attributes() {
			assert.NotContains(t, kv.Value.String(), "QUORUM", "no error text in %s", kv.Key)
		}
	}

	assert.Equal(t, otelcassandra.AttemptSpanName, second.Name())
	assert.Equal(t, codes.Unset, second.Status().Code)
	sa := attrs(second.Attributes())
	assert.Equal(t, int64(1), sa[otelcassandra.AttemptKey].AsInt64())
	assert.NotContains(t, sa, attribute.Key("error.type"))

	_, points := tel.durations(t)
	require.Len(t, points, 1)
	assert.Equal(t, 0.05, points[0].Sum)
	port, _ := points[0].Attributes.Value("server.port")
	assert.Equal(t, int64(9142), port.AsInt64())
	require.Len(t, points[0].Exemplars, 1, "an exemplar points to the request's span")
	assert.Equal(t, span.SpanContext().SpanID(), trace.SpanID(points[0].Exemplars[0].SpanID))
}

func TestRefusedRequest(t *testing.T) {
	// Refused before it reached the driver: no host, no attempts, no
	// consistency; the queue span has no length.
	tel := newTelemetry(t)
	info := cassandra.RequestInfo{Statement: st, Start: t0, Duration: time.Microsecond,
		Err: cassandra.ErrOverloaded, ErrorKind: "overloaded"}
	tel.col.Collector.RequestDone(context.Background(), info)

	all := tel.spans.Ended()
	require.Len(t, all, 2)
	span, queue := all[1], all[0]
	assert.Equal(t, "SELECT ks.t", span.Name())
	assert.False(t, span.Parent().IsValid(), "no caller span: a root")
	assert.Equal(t, codes.Error, span.Status().Code)
	a := attrs(span.Attributes())
	assert.Equal(t, "overloaded", a["error.type"].AsString())
	for _, key := range []attribute.Key{"server.address", "server.port", "cassandra.consistency.level", "db.response.status_code"} {
		assert.NotContains(t, a, key)
	}
	assert.Equal(t, queue.StartTime(), queue.EndTime())

	_, points := tel.durations(t)
	require.Len(t, points, 1)
	v, _ := points[0].Attributes.Value("error.type")
	assert.Equal(t, "overloaded", v.AsString())
}

func TestWithStatementText(t *testing.T) {
	tel := newTelemetry(t, otelcassandra.WithStatementText(false))
	tel.col.Collector.RequestDone(context.Background(), cassandra.RequestInfo{Statement: st, Start: t0})
	tel.col.PageDone(context.Background(), cassandra.PageFetchInfo{Statement: st, Number: 1, Start: t0})
	spans := tel.spans.Ended()
	require.Len(t, spans, 3)
	for _, sp := range spans {
		assert.NotContains(t, attrs(sp.Attributes()), attribute.Key("db.query.text"), sp.Name())
	}
}

func TestFailedPage(t *testing.T) {
	tel := newTelemetry(t)
	ctx, caller := tel.tp.Tracer("test").Start(context.Background(), "caller")
	err := errors.Join(context.DeadlineExceeded)
	tel.col.PageDone(ctx, cassandra.PageFetchInfo{Statement: st, Number: 4, Start: t0, Duration: time.Second,
		Attempts: 1, Host: "10.0.0.1:9042", Err: err, ErrorKind: "deadline"})
	caller.End()
	all := tel.spans.Ended()
	require.Len(t, all, 2)
	page := all[0]
	assert.Equal(t, caller.SpanContext().SpanID(), page.Parent().SpanID())
	assert.Equal(t, codes.Error, page.Status().Code)
	assert.Equal(t, t0.Add(time.Second), page.EndTime())
	a := attrs(page.Attributes())
	assert.Equal(t, int64(4), a[otelcassandra.PageKey].AsInt64())
	assert.Equal(t, "deadline", a["error.type"].AsString())
	assert.NotContains(t, a, attribute.Key("db.response.status_code"), "the node sent no error")
}

func TestMetricsWithoutTraces(t *testing.T) {
	// A tracer provider that records nothing leaves the metrics whole.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	col, err := otelcassandra.New(otelcassandra.WithTracerProvider(noop.NewTracerProvider()), otelcassandra.WithMeterProvider(mp))
	require.NoError(t, err)
	col.RequestDone(context.Background(), cassandra.RequestInfo{Statement: st, Start: t0, Duration: time.Second,
		Tries: []cassandra.AttemptInfo{{Statement: st}}})
	col.AttemptDone(context.Background(), cassandra.AttemptInfo{Statement: st})
	col.PageDone(context.Background(), cassandra.PageFetchInfo{Statement: st, Duration: time.Second})
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, otelcassandra.ScopeName, rm.ScopeMetrics[0].Scope.Name)
	h := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Histogram[float64])
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, uint64(2), h.DataPoints[0].Count, "the request and the page")
	assert.Equal(t, 2.0, h.DataPoints[0].Sum)
}

func TestGlobalProviders(t *testing.T) {
	// Without options, New uses the global providers.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		require.NoError(t, tp.Shutdown(context.Background()))
		require.NoError(t, mp.Shutdown(context.Background()))
	})
	col, err := otelcassandra.New()
	require.NoError(t, err)
	col.RequestDone(context.Background(), cassandra.RequestInfo{Statement: st, Start: t0})
	require.Len(t, spans.Ended(), 2, "the request and its queue")
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, "db.client.operation.duration", rm.ScopeMetrics[0].Metrics[0].Name)
}
