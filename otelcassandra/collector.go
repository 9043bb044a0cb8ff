package otelcassandra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/async-cassandra/cassandra"
)

// ScopeName is the instrumentation scope of the spans and metrics a
// Collector produces: the name of this package.
const ScopeName = "github.com/async-cassandra/cassandra/otelcassandra"

// Names of the spans and attributes this package adds to those of the
// semantic conventions, which define none for them.
const (
	// QueueSpanName names the child span that covers a request's wait
	// for a worker of the session's pool.
	QueueSpanName = "queue"
	// AttemptSpanName names the child span of each request the driver
	// sent to a node.
	AttemptSpanName = "attempt"

	// AttemptKey is the attempt's number among those of its page, from 0
	// (retries and speculative executions count up).
	AttemptKey = attribute.Key("async_cassandra.attempt")
	// AttemptsKey is how many requests the driver sent for a request or
	// a page.
	AttemptsKey = attribute.Key("async_cassandra.attempts")
	// PagesKey is how many pages a request fetched.
	PagesKey = attribute.Key("async_cassandra.pages")
	// PageKey is a stream page's number, from 1.
	PageKey = attribute.Key("async_cassandra.page")
)

// durationBuckets are the histogram bounds, in seconds, that the semantic
// conventions advise for db.client.operation.duration.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// Collector turns what a session measures into OpenTelemetry spans and
// metrics that follow the database semantic conventions (v1.43.0): set it
// with cassandra.WithCollector. It is a cassandra.AttemptCollector, so the
// session records each request's attempts for it, and a
// cassandra.PageCollector, for the pages of streams.
//
// Nothing it records comes from a statement's values or literals: only
// the normalised text (see cassandra.NormalizeStatement), the names
// cassandra.Statement carries, and fixed words. It never records an
// error's text, which may quote the statement; error.type is
// cassandra.ErrorKind of the error.
//
// A Collector is safe for concurrent use by multiple goroutines, and may
// serve any number of clusters.
type Collector struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	stmts    statements

	setsMu sync.RWMutex
	sets   map[setKey]attribute.Set
}

// Compile-time checks that the session finds every interface it looks for.
var (
	_ cassandra.AttemptCollector = (*Collector)(nil)
	_ cassandra.PageCollector    = (*Collector)(nil)
)

// Option configures a Collector.
type Option func(*config)

type config struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	withText bool
}

// WithTracerProvider makes the Collector create its spans with tp instead
// of the global provider (otel.GetTracerProvider at the time New is
// called).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider makes the Collector record its metrics with mp instead
// of the global provider (otel.GetMeterProvider at the time New is called).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithStatementText says whether spans carry the normalised statement as
// db.query.text. It is on by default: the conventions recommend the
// attribute when literals have been replaced, as normalisation does.
// Turn it off to keep spans small, or to keep even the shape of the
// statements out of traces. Metrics never carry the text.
func WithStatementText(on bool) Option {
	return func(c *config) { c.withText = on }
}

// New returns a Collector configured by opts. Its only error is one the
// meter provider returns for the duration histogram.
func New(opts ...Option) (*Collector, error) {
	cfg := config{withText: true}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	c := &Collector{
		tracer: cfg.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		stmts:  statements{withText: cfg.withText, m: make(map[cassandra.Statement]described)},
		sets:   make(map[setKey]attribute.Set),
	}
	meter := cfg.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	var err error
	c.duration, err = meter.Float64Histogram("db.client.operation.duration",
		metric.WithDescription("Duration of database client operations."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("otelcassandra: %w", err)
	}
	return c, nil
}

// RequestDone records a request: a span from when it was submitted until
// it was over, a child of the span in ctx (the caller's), with a child
// span for its wait in the queue and one for each attempt; and its
// duration in db.client.operation.duration.
func (c *Collector) RequestDone(ctx context.Context, r cassandra.RequestInfo) {
	d := c.stmts.get(r.Statement)
	end := r.Start.Add(r.Duration)
	// Attributes are set once the span is known to record: a request that
	// is not sampled costs the span's start and end, and the metric.
	ctx, span := c.tracer.Start(ctx, d.name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(r.Start))
	if span.IsRecording() {
		addr, port := splitHost(r.Host)
		attrs := make([]attribute.KeyValue, 0, len(d.attrs)+9)
		attrs = append(attrs, d.attrs...)
		attrs = appendServer(attrs, addr, port)
		if cl, ok := consistency(r); ok {
			attrs = append(attrs, cl)
		}
		attrs = append(attrs,
			semconv.DBResponseReturnedRows(r.Rows),
			AttemptsKey.Int(r.Attempts),
			PagesKey.Int(r.Pages))
		attrs = append(attrs, errorAttrs(r.Err, r.ErrorKind)...)
		span.SetAttributes(attrs...)
		_, queue := c.tracer.Start(ctx, QueueSpanName, trace.WithTimestamp(r.Start))
		queue.End(trace.WithTimestamp(r.Start.Add(r.QueueWait)))
		for _, a := range r.Tries {
			c.attemptSpan(ctx, a)
		}
		if r.Err != nil {
			span.SetStatus(codes.Error, r.ErrorKind)
		}
	}
	span.End(trace.WithTimestamp(end))

	c.record(ctx, r.Statement, d, r.Duration, r.Host, r.Err, r.ErrorKind)
}

// attemptSpan records one attempt as a child span of the request's span,
// which ctx carries.
func (c *Collector) attemptSpan(ctx context.Context, a cassandra.AttemptInfo) {
	addr, port := splitHost(a.Host)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, AttemptKey.Int(a.Attempt))
	attrs = appendServer(attrs, addr, port)
	attrs = append(attrs, semconv.DBResponseReturnedRows(a.Rows))
	attrs = append(attrs, errorAttrs(a.Err, a.ErrorKind)...)
	_, span := c.tracer.Start(ctx, AttemptSpanName,
		trace.WithTimestamp(a.Start), trace.WithAttributes(attrs...))
	if a.Err != nil {
		span.SetStatus(codes.Error, a.ErrorKind)
	}
	span.End(trace.WithTimestamp(a.End))
}

// AttemptDone does nothing: the Collector is an AttemptCollector so that
// the session lists each request's attempts in RequestInfo.Tries, which
// RequestDone turns into spans. The attempts of a stream's pages are not
// recorded one by one; a page's span says how many there were.
func (c *Collector) AttemptDone(context.Context, cassandra.AttemptInfo) {}

// PageDone records the fetch of one page of a stream: a span of its own,
// a child of the span in ctx (the one the stream was started with), named
// and described like a request's span, with the page's number; and its
// duration in db.client.operation.duration, each fetch counting as one
// operation. A stream has no span of its own: the library reports no
// moment at which a stream, as a whole, is over.
func (c *Collector) PageDone(ctx context.Context, p cassandra.PageFetchInfo) {
	d := c.stmts.get(p.Statement)
	ctx, span := c.tracer.Start(ctx, d.name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(p.Start))
	if span.IsRecording() {
		addr, port := splitHost(p.Host)
		attrs := make([]attribute.KeyValue, 0, len(d.attrs)+7)
		attrs = append(attrs, d.attrs...)
		attrs = appendServer(attrs, addr, port)
		attrs = append(attrs,
			PageKey.Int(p.Number),
			semconv.DBResponseReturnedRows(p.Rows),
			AttemptsKey.Int(p.Attempts))
		attrs = append(attrs, errorAttrs(p.Err, p.ErrorKind)...)
		span.SetAttributes(attrs...)
		if p.Err != nil {
			span.SetStatus(codes.Error, p.ErrorKind)
		}
	}
	span.End(trace.WithTimestamp(p.Start.Add(p.Duration)))

	c.record(ctx, p.Statement, d, p.Duration, p.Host, p.Err, p.ErrorKind)
}

// record adds one operation to db.client.operation.duration. ctx carries
// the operation's span, so that an exemplar can point to it. The
// attribute set of a statement, node and error kind is built once and
// kept, up to maxSets of them, so that recording allocates nothing for
// the usual operation.
func (c *Collector) record(ctx context.Context, st cassandra.Statement, d described, dur time.Duration, host string, err error, kind string) {
	if !c.duration.Enabled(ctx) {
		return
	}
	key := setKey{st: st, host: host, kind: kind}
	if err != nil {
		key.code = statusCode(err)
	}
	c.setsMu.RLock()
	set, ok := c.sets[key]
	c.setsMu.RUnlock()
	if !ok {
		addr, port := splitHost(host)
		attrs := make([]attribute.KeyValue, 0, len(d.metricAttrs)+4)
		attrs = append(attrs, d.metricAttrs...)
		attrs = appendServer(attrs, addr, port)
		attrs = append(attrs, errorAttrs(err, kind)...)
		set = attribute.NewSet(attrs...)
		c.setsMu.Lock()
		if len(c.sets) < maxSets {
			c.sets[key] = set
		}
		c.setsMu.Unlock()
	}
	c.duration.Record(ctx, dur.Seconds(), metric.WithAttributeSet(set))
}

// setKey names the attribute set of one metric series.
type setKey struct {
	st         cassandra.Statement
	host, kind string
	code       string // the protocol error code, when the node sent one
}

// maxSets bounds the attribute sets the Collector keeps; beyond it, sets
// are built for each operation.
const maxSets = 4096

// splitHost splits a node's "host:port" address; port is 0 when host has
// none or is empty.
func splitHost(hostport string) (addr string, port int) {
	if hostport == "" {
		return "", 0
	}
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, 0
	}
	port, _ = strconv.Atoi(p)
	return h, port
}

// appendServer appends server.address and server.port where they are
// known.
func appendServer(attrs []attribute.KeyValue, addr string, port int) []attribute.KeyValue {
	if addr != "" {
		attrs = append(attrs, semconv.ServerAddress(addr))
	}
	if port != 0 {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	return attrs
}

// errorAttrs returns error.type (the error's kind) for a failed
// operation, and db.response.status_code when the node answered with an
// error: its protocol code in hexadecimal, as the protocol's
// specification writes it ("0x2200" for an invalid request). It returns
// nil when err is nil.
func errorAttrs(err error, kind string) []attribute.KeyValue {
	if err == nil {
		return nil
	}
	if kind == "" {
		kind = semconv.ErrorTypeOther.Value.AsString()
	}
	attrs := []attribute.KeyValue{semconv.ErrorTypeKey.String(kind)}
	if code := statusCode(err); code != "" {
		attrs = append(attrs, semconv.DBResponseStatusCode(code))
	}
	return attrs
}

// consistency returns cassandra.consistency.level for r, in the
// conventions' lower-case words; ok is false when r never reached the
// driver (Attempts 0 and the zero Consistency) or the level is unknown.
func consistency(r cassandra.RequestInfo) (kv attribute.KeyValue, ok bool) {
	switch r.Consistency {
	case gocql.Any:
		if r.Attempts == 0 {
			return kv, false
		}
		return semconv.CassandraConsistencyLevelAny, true
	case gocql.One:
		return semconv.CassandraConsistencyLevelOne, true
	case gocql.Two:
		return semconv.CassandraConsistencyLevelTwo, true
	case gocql.Three:
		return semconv.CassandraConsistencyLevelThree, true
	case gocql.Quorum:
		return semconv.CassandraConsistencyLevelQuorum, true
	case gocql.All:
		return semconv.CassandraConsistencyLevelAll, true
	case gocql.LocalQuorum:
		return semconv.CassandraConsistencyLevelLocalQuorum, true
	case gocql.EachQuorum:
		return semconv.CassandraConsistencyLevelEachQuorum, true
	case gocql.LocalOne:
		return semconv.CassandraConsistencyLevelLocalOne, true
	case gocql.Serial:
		return semconv.CassandraConsistencyLevelSerial, true
	case gocql.LocalSerial:
		return semconv.CassandraConsistencyLevelLocalSerial, true
	}
	return kv, false
}

// statusCode is the protocol error code the node answered err with, in
// hexadecimal ("0x2200"), or "" when err did not come from a node.
func statusCode(err error) string {
	var re gocql.RequestError
	if errors.As(err, &re) {
		return fmt.Sprintf("0x%04X", re.Code())
	}
	return ""
}
