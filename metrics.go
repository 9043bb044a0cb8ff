package cassandra

import (
	"context"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/cqlstmt"
)

// A Collector receives what a session measures: one call per request, end
// to end. Set one with WithCollector; every session of the cluster reports
// to it (Collectors combines several). A collector may also implement
// AttemptCollector, PageCollector, SessionCollector and HostCollector,
// which the session finds by type assertion. The package's own collectors
// are in the inmemory package and in the nested modules promcassandra
// (Prometheus) and otelcassandra (OpenTelemetry).
//
// The session calls a collector synchronously, on the goroutine that ran
// the request (a worker), or on the caller's for a request refused before
// it reached the pool, and concurrently from many goroutines: its methods
// must be safe for concurrent use, quick, and must not block. They must
// not keep the info's Err beyond the call if it may be large; everything
// else in the info is theirs.
//
// With no collector set, the session measures nothing beyond what
// ResultSet reports and pays nothing for this hook.
type Collector interface {
	// RequestDone is called once for every Execute and Batch.Execute,
	// when the request is over: answered, failed, refused, or ended by its
	// context or by Future.Cancel. It is called before the request's
	// future completes, so whoever awaits the future finds the request
	// counted; the exception is a request stopped by Future.Cancel, whose
	// future completes at once and which is reported when the driver has
	// returned. ctx is the context the request was submitted with.
	RequestDone(ctx context.Context, r RequestInfo)
}

// AttemptCollector is a Collector that is also told about each attempt the
// driver makes: every request sent to a node, retries and speculative
// executions included, for queries and batches (streamed pages too).
type AttemptCollector interface {
	Collector
	// AttemptDone is called on the goroutine that ran the attempt, when
	// it is over. ctx is the context the request ran with, a child of
	// the one it was submitted with.
	AttemptDone(ctx context.Context, a AttemptInfo)
}

// PageCollector is a Collector that is also told about each page a Stream
// fetches.
type PageCollector interface {
	Collector
	// PageDone is called on the worker that fetched the page. ctx is the
	// context the stream was started with.
	PageDone(ctx context.Context, p PageFetchInfo)
}

// SessionCollector is a Collector that is told when a session of the
// cluster opens and closes, for instance to report its pool's Stats.
type SessionCollector interface {
	Collector
	// SessionOpened is called once for each session, by Connect on the
	// goroutine that called it, when the session is set up and before
	// Connect returns it; a HostCollector hears of the session's hosts
	// only after this call.
	SessionOpened(s *AsyncSession)
	// SessionClosed is called once for each session that is closed, by the
	// Close call that closes it (Shutdown and AsyncCluster.Close call
	// Close), on that call's goroutine, once the session's workers have
	// stopped and its driver session is closed; Close returns after it. If
	// the cluster was closed while Connect was setting the session up,
	// Connect closes the session at once, and SessionClosed follows
	// SessionOpened on Connect's goroutine.
	SessionClosed(s *AsyncSession)
}

// StatementKind says what a statement does, for metrics labels.
type StatementKind = cqlstmt.Kind

// The statement kinds.
const (
	KindOther  = cqlstmt.Other
	KindSelect = cqlstmt.Select
	KindInsert = cqlstmt.Insert
	KindUpdate = cqlstmt.Update
	KindDelete = cqlstmt.Delete
	KindBatch  = cqlstmt.Batch
	KindDDL    = cqlstmt.DDL
	KindUse    = cqlstmt.Use
)

// Statement describes a statement for metrics and logs, without its
// values or literals.
type Statement struct {
	// Text is the statement in normal form: literals (strings, numbers,
	// UUIDs, blobs, booleans, durations, collections, IN lists) replaced
	// by "?", comments removed, whitespace collapsed, keywords upper-cased;
	// at most 1000 bytes. See NormalizeStatement.
	Text string
	// Kind says what the statement does; a batch is KindBatch.
	Kind StatementKind
	// Keyspace and Table are those the statement names, when it names
	// them (empty otherwise; a batch names them only when all of its
	// statements name the same).
	Keyspace, Table string
}

// NormalizeStatement returns stmt with every literal replaced by "?",
// comments removed and whitespace collapsed, so that it can be logged or
// used as a metric label without leaking data: for example
// "select * from users where id=42 and name in ('a','b')" becomes
// "SELECT * FROM users WHERE id = ? AND name IN ?". The result is at most
// 1000 bytes long.
func NormalizeStatement(stmt string) string { return cqlstmt.Normalize(stmt) }

// RequestInfo describes one request, end to end, for Collector.RequestDone.
type RequestInfo struct {
	Statement Statement
	// Consistency is the request's consistency level, as the driver sent
	// it (gocql.Any, the zero value, when the request never reached the
	// driver).
	Consistency gocql.Consistency
	// Start is when Execute was called.
	Start time.Time
	// QueueWait is the time from Execute until a worker started the
	// request (or until it left the queue unsent): the wait for a rate
	// limit's token (WithRateLimit), time in the queue and the hand-over
	// to a worker. PoolStats.QueueWaitDuration counts only the time
	// requests spent in the queue.
	QueueWait time.Duration
	// Duration is the time from Execute until the request was over:
	// queue wait, every page and every attempt.
	Duration time.Duration
	// Attempts is how many requests the driver sent, over every page and
	// retry; zero when nothing was sent.
	Attempts int
	// Pages is how many pages were requested (a request that failed on
	// its first page counts one), Rows how many rows they held.
	Pages, Rows int
	// Host is the address of the node that answered last, if any.
	Host string
	// Tries are the driver's attempts, when the collector is an
	// AttemptCollector (nil otherwise), in the order they ended.
	Tries []AttemptInfo
	// Err is nil when the request succeeded, else the error its future
	// completes with (context.Canceled, wrapped, if Future.Cancel came
	// first).
	Err error
	// ErrorKind classifies Err (see ErrorKind); empty when Err is nil.
	ErrorKind string
}

// AttemptInfo describes one attempt of the driver: one request sent to one
// node.
type AttemptInfo struct {
	// Statement describes the statement (or the batch) the attempt sent,
	// as RequestInfo.Statement does.
	Statement Statement
	// Attempt numbers the attempts of one page of a request from 0.
	Attempt int
	// Start and End are the times just before the driver sent the attempt
	// and just after it returned, answered or failed. The driver reads them
	// from time.Now: WithClock does not apply.
	Start, End time.Time
	// Host is the address ("ip:port") of the node the attempt was sent to.
	Host string
	// Rows is how many rows the attempt's answer holds.
	Rows int
	// Err is nil when the node answered without an error, else the
	// attempt's error as the driver returned it (not wrapped in a
	// QueryError). A retry may still succeed after it.
	Err error
	// ErrorKind classifies Err (see ErrorKind); empty when Err is nil.
	ErrorKind string
}

// PageFetchInfo describes the fetch of one page of a Stream.
type PageFetchInfo struct {
	// Statement describes the stream's statement.
	Statement Statement
	// Number is the page's position in the stream, from 1.
	Number int
	// Start is when a worker sent the request for the page, on the
	// session's clock (see WithClock): the time the fetch waited for a
	// worker is not included.
	Start time.Time
	// Duration is the time from Start until the page arrived or the fetch
	// failed, every attempt included.
	Duration time.Duration
	// Attempts is how many requests the driver sent for the page,
	// retries and speculative executions included.
	Attempts int
	// Rows is how many rows the page holds, before any cut by the
	// stream's MaxRows; zero when the fetch failed.
	Rows int
	// Host is the address ("ip:port") of the node the driver last sent
	// the page's request to; empty if none.
	Host string
	// Err is nil when the page arrived, else the fetch's error, a
	// *QueryError.
	Err error
	// ErrorKind classifies Err (see ErrorKind); empty when Err is nil.
	ErrorKind string
}

// WithCollector makes every session of the cluster report its requests to
// c (see Collector). The session installs gocql query and batch observers
// for AttemptCollector, chained with those already set on the
// ClusterConfig, which keep being called.
// A nil c means no collector.
func WithCollector(c Collector) Option { return func(o *options) { o.collector = c } }

// Collectors returns a collector that passes everything it is told to each
// of cs, in order: for instance the in-memory collector for a debug page
// and a Prometheus exporter, on one cluster. Each optional interface
// (AttemptCollector, PageCollector, SessionCollector, HostCollector) is
// passed on only to those of cs that implement it. Nil collectors are left
// out.
func Collectors(cs ...Collector) Collector {
	f := &fanOut{}
	for _, c := range cs {
		if c == nil {
			continue
		}
		f.all = append(f.all, c)
		if a, ok := c.(AttemptCollector); ok {
			f.attempts = append(f.attempts, a)
		}
		if p, ok := c.(PageCollector); ok {
			f.pages = append(f.pages, p)
		}
		if s, ok := c.(SessionCollector); ok {
			f.sessions = append(f.sessions, s)
		}
		if h, ok := c.(HostCollector); ok {
			f.hosts = append(f.hosts, h)
		}
	}
	return f
}

// fanOut is what Collectors returns. It implements every optional
// interface, so that the session reports everything to it; an interface
// none of its collectors implements costs only the call.
type fanOut struct {
	all      []Collector
	attempts []AttemptCollector
	pages    []PageCollector
	sessions []SessionCollector
	hosts    []HostCollector
}

func (f *fanOut) RequestDone(ctx context.Context, r RequestInfo) {
	for _, c := range f.all {
		c.RequestDone(ctx, r)
	}
}

func (f *fanOut) AttemptDone(ctx context.Context, a AttemptInfo) {
	for _, c := range f.attempts {
		c.AttemptDone(ctx, a)
	}
}

func (f *fanOut) PageDone(ctx context.Context, p PageFetchInfo) {
	for _, c := range f.pages {
		c.PageDone(ctx, p)
	}
}

func (f *fanOut) SessionOpened(s *AsyncSession) {
	for _, c := range f.sessions {
		c.SessionOpened(s)
	}
}

func (f *fanOut) SessionClosed(s *AsyncSession) {
	for _, c := range f.sessions {
		c.SessionClosed(s)
	}
}

func (f *fanOut) HostChanged(s *AsyncSession, h HostStatus) {
	for _, c := range f.hosts {
		c.HostChanged(s, h)
	}
}
