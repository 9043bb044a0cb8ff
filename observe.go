package cassandra

import (
	"context"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/cqlstmt"
)

// metrics is a session's side of the hook: nil when no collector is set.
type metrics struct {
	c        Collector
	attempts AttemptCollector // c, if it is one
	pages    PageCollector    // c, if it is one
	keyspace string           // the session's keyspace, for statements that name none

	mu    sync.RWMutex
	stmts map[string]Statement // by statement text; at most maxStatements

	hosts sync.Map // *gocql.HostInfo -> its address, formatted once
}

// maxStatements bounds the normalised statements a session keeps; beyond
// it, statements are normalised on every request.
const maxStatements = 4096

func newMetrics(c Collector, keyspace string) *metrics {
	if c == nil {
		return nil
	}
	m := &metrics{c: c, keyspace: keyspace, stmts: make(map[string]Statement)}
	m.attempts, _ = c.(AttemptCollector)
	m.pages, _ = c.(PageCollector)
	if f, ok := c.(*fanOut); ok { // it implements them all: keep what is wanted
		if len(f.attempts) == 0 {
			m.attempts = nil
		}
		if len(f.pages) == 0 {
			m.pages = nil
		}
	}
	return m
}

// statement describes stmt, from the cache if it is there.
func (m *metrics) statement(stmt string) Statement {
	m.mu.RLock()
	st, ok := m.stmts[stmt]
	m.mu.RUnlock()
	if ok {
		return st
	}
	info := cqlstmt.Classify(stmt)
	st = Statement{Text: cqlstmt.Normalize(stmt), Kind: info.Kind, Keyspace: info.Keyspace, Table: info.Table}
	if st.Keyspace == "" && st.Table != "" {
		st.Keyspace = m.keyspace
	}
	m.mu.Lock()
	if len(m.stmts) < maxStatements {
		m.stmts[stmt] = st
	}
	m.mu.Unlock()
	return st
}

// batchCQL is the text of a batch of stmts as CQL writes it, for
// describing it (errors use batchStatement).
func batchCQL(stmts []string) string {
	return "BEGIN BATCH " + strings.Join(stmts, "; ") + " APPLY BATCH"
}

// execKey is the context key under which a request's context carries its
// execution, for the observers to find it.
type execKey struct{}

// observer is the query and batch observer the session installs for an
// AttemptCollector: it reports each attempt, records it in the request's
// execution, and calls the observers that were set on the ClusterConfig.
type observer struct {
	m         *metrics
	nextQuery gocql.QueryObserver
	nextBatch gocql.BatchObserver
}

func (o *observer) ObserveQuery(ctx context.Context, q gocql.ObservedQuery) {
	o.observe(ctx, q.Statement, q.Attempt, q.Start, q.End, q.Host, q.Rows, q.Err)
	if o.nextQuery != nil {
		o.nextQuery.ObserveQuery(ctx, q)
	}
}

func (o *observer) ObserveBatch(ctx context.Context, b gocql.ObservedBatch) {
	o.observe(ctx, batchCQL(b.Statements), b.Attempt, b.Start, b.End, b.Host, 0, b.Err)
	if o.nextBatch != nil {
		o.nextBatch.ObserveBatch(ctx, b)
	}
}

func (o *observer) observe(ctx context.Context, stmt string, attempt int, start, end time.Time, host *gocql.HostInfo, rows int, err error) {
	a := AttemptInfo{Attempt: attempt, Start: start, End: end, Host: o.m.host(host), Rows: rows, Err: err, ErrorKind: ErrorKind(err)}
	if e, ok := ctx.Value(execKey{}).(*execution); ok {
		a.Statement = e.rec.info.Statement
		e.rec.addTry(a)
	} else {
		a.Statement = o.m.statement(stmt)
	}
	o.m.attempts.AttemptDone(ctx, a)
}

// install sets the session's observers on cfg, a copy of the cluster's
// configuration, chaining those cfg already has.
func (m *metrics) install(cfg *gocql.ClusterConfig) {
	if m == nil || m.attempts == nil {
		return
	}
	o := &observer{m: m, nextQuery: cfg.QueryObserver, nextBatch: cfg.BatchObserver}
	cfg.QueryObserver = o
	cfg.BatchObserver = o
}

// host is the address of h, or "" for nil. The driver keeps one HostInfo
// per host (and makes a new one when a host's address changes), so the
// address is formatted once per HostInfo rather than once per request.
func (m *metrics) host(h *gocql.HostInfo) string {
	if h == nil {
		return ""
	}
	if v, ok := m.hosts.Load(h); ok {
		return v.(string)
	}
	a := h.ConnectAddressAndPort()
	m.hosts.Store(h, a)
	return a
}

// record is what a request keeps for its collector; only requests of a
// session with a collector have one.
type record struct {
	ctx  context.Context // the context the request was submitted with
	mu   sync.Mutex      // guards info.Tries: speculative attempts may end together
	info RequestInfo
}

// addTry records one of the driver's attempts.
func (r *record) addTry(a AttemptInfo) {
	r.mu.Lock()
	r.info.Tries = append(r.info.Tries, a)
	r.mu.Unlock()
}

// newRecord starts the record of a request for stmt submitted with ctx.
func (m *metrics) newRecord(ctx context.Context, stmt string, start time.Time) *record {
	if ctx == nil {
		ctx = context.Background()
	}
	return &record{ctx: ctx, info: RequestInfo{Statement: m.statement(stmt), Start: start}}
}

// requestDone reports a request that ended with err at end.
func (m *metrics) requestDone(r *record, end time.Time, err error) {
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	info.Duration = end.Sub(info.Start)
	info.Err, info.ErrorKind = err, ErrorKind(err)
	m.c.RequestDone(r.ctx, info)
}
