package otelcassandra_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/otelcassandra"
)

// The tests in this file run against the real node.

// TestRequestSpan checks the span of one request: its parent is the
// caller's span, its times are the request's, its attributes follow the
// conventions, and its queue and attempts are child spans.
func TestRequestSpan(t *testing.T) {
	tel := newTelemetry(t)
	s := connect(t, tel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ctx, caller := tel.tp.Tracer("test").Start(ctx, "caller")
	const stmt = `SELECT v FROM otel_kv WHERE k = ?`
	rs, err := s.Query(stmt, "stream").Consistency(gocql.One).PageSize(10).Execute(ctx).Await(ctx)
	require.NoError(t, err)
	require.Equal(t, streamRows, rs.RowCount())
	info := tel.requestDone(t)
	caller.End()

	all := tel.spans.Ended()
	callerSpan := all[len(all)-1]
	require.Equal(t, "caller", callerSpan.Name())
	top := children(all, callerSpan)
	require.Len(t, top, 1, "one span for the request, a child of the caller's")
	span := top[0]
	assert.Equal(t, callerSpan.SpanContext().TraceID(), span.SpanContext().TraceID())
	assert.Equal(t, "SELECT "+keyspace+".otel_kv", span.Name())
	assert.Equal(t, trace.SpanKindClient, span.SpanKind())
	assert.True(t, span.StartTime().Equal(info.Start), "starts when Execute was called")
	assert.True(t, span.EndTime().Equal(info.Start.Add(info.Duration)), "ends when the request was over")
	assert.Equal(t, codes.Unset, span.Status().Code)
	assert.Equal(t, otelcassandra.ScopeName, span.InstrumentationScope().Name)

	host, portText, err := net.SplitHostPort(info.Host)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	a := attrs(span.Attributes())
	assert.Equal(t, "cassandra", a["db.system.name"].AsString())
	assert.Equal(t, keyspace, a["db.namespace"].AsString())
	assert.Equal(t, "otel_kv", a["db.collection.name"].AsString())
	assert.Equal(t, "SELECT", a["db.operation.name"].AsString())
	assert.Equal(t, "SELECT "+keyspace+".otel_kv", a["db.query.summary"].AsString())
	assert.Equal(t, cassandra.NormalizeStatement(stmt), a["db.query.text"].AsString())
	assert.Equal(t, "one", a["cassandra.consistency.level"].AsString())
	assert.Equal(t, host, a["server.address"].AsString())
	assert.Equal(t, int64(port), a["server.port"].AsInt64())
	assert.Equal(t, int64(streamRows), a["db.response.returned_rows"].AsInt64())
	assert.Equal(t, int64(3), a[otelcassandra.PagesKey].AsInt64(), "25 rows in pages of 10")
	assert.Equal(t, int64(info.Attempts), a[otelcassandra.AttemptsKey].AsInt64())
	assert.NotContains(t, a, attribute.Key("error.type"))

	kids := children(all, span)
	var queue, attempts []sdktrace.ReadOnlySpan
	for _, k := range kids {
		switch k.Name() {
		case otelcassandra.QueueSpanName:
			queue = append(queue, k)
		case otelcassandra.AttemptSpanName:
			attempts = append(attempts, k)
		default:
			t.Errorf("unexpected child span %q", k.Name())
		}
	}
	require.Len(t, queue, 1)
	assert.True(t, queue[0].StartTime().Equal(info.Start))
	assert.True(t, queue[0].EndTime().Equal(info.Start.Add(info.QueueWait)))
	require.Len(t, attempts, len(info.Tries), "one span per attempt")
	require.GreaterOrEqual(t, len(attempts), 3, "at least one attempt per page")
	rows := int64(0)
	for i, at := range attempts {
		try := info.Tries[i]
		assert.True(t, at.StartTime().Equal(try.Start))
		assert.True(t, at.EndTime().Equal(try.End))
		aa := attrs(at.Attributes())
		// Each page may go to another node of a cluster: the attempt's
		// own node, which the request's last answer need not be.
		tryHost, tryPort, err := net.SplitHostPort(try.Host)
		require.NoError(t, err)
		assert.Equal(t, tryHost, aa["server.address"].AsString())
		assert.Equal(t, tryPort, strconv.FormatInt(aa["server.port"].AsInt64(), 10))
		assert.Equal(t, int64(try.Attempt), aa[otelcassandra.AttemptKey].AsInt64())
		rows += aa["db.response.returned_rows"].AsInt64()
		assert.Equal(t, codes.Unset, at.Status().Code)
	}
	assert.Equal(t, int64(streamRows), rows, "the attempts' rows add up to the request's")
	assert.Len(t, all, 2+len(kids), "the caller's span, the request's and its children: nothing else")
}

// TestNoValuesOrLiterals runs statements with a literal and bound values
// and checks that neither appears in any span or metric.
func TestNoValuesOrLiterals(t *testing.T) {
	tel := newTelemetry(t)
	s := connect(t, tel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const (
		literal = "lit-c-4817"
		boundK  = "bound-k-2093"
		boundV  = "bound-v-7730"
		insert  = `INSERT INTO otel_kv (k, c, v) VALUES (?, '` + literal + `', ?)`
		sel     = `SELECT v FROM otel_kv WHERE k = ? AND c = '` + literal + `'`
	)
	_, err := s.Execute(ctx, insert, boundK, boundV).Await(ctx)
	require.NoError(t, err)
	tel.requestDone(t)
	rs, err := s.Execute(ctx, sel, boundK).Await(ctx)
	require.NoError(t, err)
	var v string
	require.NoError(t, rs.One(&v))
	require.Equal(t, boundV, v, "the statements did what they say")
	tel.requestDone(t)
	// And one that fails, whose error message may quote the statement.
	_, err = s.Execute(ctx, `SELECT v FROM otel_kv WHERE k = ? AND nope = '`+literal+`'`, boundK).Await(ctx)
	require.Error(t, err)
	tel.requestDone(t)

	secrets := []string{literal, boundK, boundV}
	check := func(where string, kvs []attribute.KeyValue) {
		t.Helper()
		for _, kv := range kvs {
			for _, sec := range secrets {
				assert.NotContains(t, kv.Value.String(), sec, "%s: %s", where, kv.Key)
			}
		}
	}
	spans := tel.spans.Ended()
	require.NotEmpty(t, spans)
	texts := map[string]bool{}
	for _, sp := range spans {
		for _, sec := range secrets {
			assert.NotContains(t, sp.Name(), sec)
			assert.NotContains(t, sp.Status().Description, sec)
		}
		check("span "+sp.Name(), sp.Attributes())
		for _, ev := range sp.Events() {
			assert.NotContains(t, ev.Name, "exception", "no error text recorded")
			check("event "+ev.Name, ev.Attributes)
		}
		if txt, ok := attrs(sp.Attributes())["db.query.text"]; ok {
			texts[txt.AsString()] = true
		}
	}
	assert.True(t, texts[cassandra.NormalizeStatement(insert)], "the normalised INSERT is there: %v", texts)
	assert.True(t, texts[cassandra.NormalizeStatement(sel)], "the normalised SELECT is there: %v", texts)

	_, points := tel.durations(t)
	require.NotEmpty(t, points)
	var n uint64
	for _, p := range points {
		check("metric", p.Attributes.ToSlice())
		assert.False(t, p.Attributes.HasValue("db.query.text"), "no statement text on metrics")
		n += p.Count
	}
	assert.Equal(t, uint64(3), n, "three requests measured")
}

// TestFailedRequest checks that a statement the node refuses gives the
// status Error, error.type and db.response.status_code, on the span and
// the metric.
func TestFailedRequest(t *testing.T) {
	tel := newTelemetry(t)
	s := connect(t, tel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, caller := tel.tp.Tracer("test").Start(ctx, "caller")
	_, err := s.Execute(ctx, `SELECT v FROM otel_missing WHERE k = ?`, "a").Await(ctx)
	require.Error(t, err)
	info := tel.requestDone(t)
	caller.End()
	require.Equal(t, "invalid", cassandra.ErrorKind(err), "%v", err)

	all := tel.spans.Ended()
	top := children(all, all[len(all)-1])
	require.Len(t, top, 1)
	span := top[0]
	assert.Equal(t, "SELECT "+keyspace+".otel_missing", span.Name())
	assert.Equal(t, codes.Error, span.Status().Code)
	assert.Equal(t, "invalid", span.Status().Description)
	a := attrs(span.Attributes())
	assert.Equal(t, "invalid", a["error.type"].AsString())
	assert.Equal(t, "0x2200", a["db.response.status_code"].AsString())
	for _, at := range children(all, span) {
		if at.Name() == otelcassandra.AttemptSpanName {
			assert.Equal(t, codes.Error, at.Status().Code, "the attempt failed too")
			assert.Equal(t, "invalid", attrs(at.Attributes())["error.type"].AsString())
		}
	}
	assert.Equal(t, info.Attempts, len(info.Tries))

	m, points := tel.durations(t)
	assert.Equal(t, "s", m.Unit)
	require.Len(t, points, 1)
	p := points[0]
	assert.Equal(t, uint64(1), p.Count)
	assert.InDelta(t, info.Duration.Seconds(), p.Sum, 1e-9)
	assert.Equal(t, []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}, p.Bounds)
	for key, want := range map[attribute.Key]string{
		"db.system.name": "cassandra", "db.namespace": keyspace, "db.collection.name": "otel_missing",
		"db.operation.name": "SELECT", "db.query.summary": "SELECT " + keyspace + ".otel_missing",
		"error.type": "invalid", "db.response.status_code": "0x2200",
	} {
		v, ok := p.Attributes.Value(key)
		if assert.True(t, ok, "metric has %s", key) {
			assert.Equal(t, want, v.AsString(), "%s", key)
		}
	}
}

// TestStreamPageSpans checks that each page of a stream gets its own span,
// a child of the span the stream was started with.
func TestStreamPageSpans(t *testing.T) {
	tel := newTelemetry(t)
	s := connect(t, tel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, caller := tel.tp.Tracer("test").Start(ctx, "caller")
	var pages []cassandra.PageInfo
	st := s.Query(`SELECT c FROM otel_kv WHERE k = ?`, "stream").PageSize(10).
		Stream(ctx, cassandra.OnPage(func(p cassandra.PageInfo) { pages = append(pages, p) }))
	n := 0
	for _, err := range st.Rows() {
		require.NoError(t, err)
		n++
	}
	require.NoError(t, st.Close())
	caller.End()
	require.Equal(t, streamRows, n)

	all := tel.spans.Ended()
	callerSpan := all[len(all)-1]
	require.Equal(t, "caller", callerSpan.Name())
	got := children(all, callerSpan)
	require.Len(t, got, len(pages), "one span per page")
	require.Len(t, all, len(pages)+1, "no other spans")
	rows := 0
	for i, sp := range got {
		assert.Equal(t, "SELECT "+keyspace+".otel_kv", sp.Name())
		assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
		a := attrs(sp.Attributes())
		assert.Equal(t, int64(i+1), a[otelcassandra.PageKey].AsInt64(), "pages in order")
		assert.Equal(t, "SELECT", a["db.operation.name"].AsString())
		assert.GreaterOrEqual(t, a[otelcassandra.AttemptsKey].AsInt64(), int64(1))
		assert.NotEmpty(t, a["server.address"].AsString())
		assert.Equal(t, codes.Unset, sp.Status().Code)
		assert.False(t, sp.EndTime().Before(sp.StartTime()))
		rows += int(a["db.response.returned_rows"].AsInt64())
	}
	assert.Equal(t, streamRows, rows)

	_, points := tel.durations(t)
	var count uint64
	for _, p := range points {
		count += p.Count
	}
	assert.Equal(t, uint64(len(pages)), count, "each page fetch is one operation")
}

// TestNoParent checks that a request submitted without a span starts a
// trace of its own, and that a batch is named as one.
func TestNoParent(t *testing.T) {
	tel := newTelemetry(t)
	s := connect(t, tel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := s.Batch(gocql.UnloggedBatch).
		Query(`INSERT INTO otel_kv (k, c, v) VALUES (?, ?, ?)`, "batch", "a", "1").
		Query(`INSERT INTO otel_kv (k, c, v) VALUES (?, ?, ?)`, "batch", "b", "2")
	_, err := b.Execute(ctx).Await(ctx)
	require.NoError(t, err)
	tel.requestDone(t)

	var roots []sdktrace.ReadOnlySpan
	for _, sp := range tel.spans.Ended() {
		if !sp.Parent().IsValid() {
			roots = append(roots, sp)
		}
	}
	require.Len(t, roots, 1)
	assert.Equal(t, "BATCH "+keyspace+".otel_kv", roots[0].Name())
	a := attrs(roots[0].Attributes())
	assert.Equal(t, "BATCH", a["db.operation.name"].AsString())
	assert.True(t, strings.HasPrefix(a["db.query.text"].AsString(), "BEGIN"), a["db.query.text"].AsString())
}
