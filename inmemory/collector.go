package inmemory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/async-cassandra/cassandra"
)

// Defaults of the options.
const (
	// DefaultWindow is how far back the window's percentiles and rate
	// look (WithWindow).
	DefaultWindow = time.Minute
	// DefaultIntervals is how many intervals the window is kept in
	// (WithIntervals).
	DefaultIntervals = 6
	// DefaultMaxStatements is how many distinct statements are counted
	// apart (WithMaxStatements).
	DefaultMaxStatements = 100
	// MaxIntervals is the most intervals a window may have.
	MaxIntervals = 60
)

// An Option configures a Collector.
type Option func(*config)

type config struct {
	window        time.Duration
	intervals     int
	maxStatements int
	now           func() time.Time
}

// WithWindow sets how far back the latency percentiles and the request
// rate look (default DefaultWindow). Zero or less means the default.
func WithWindow(d time.Duration) Option { return func(c *config) { c.window = d } }

// WithIntervals sets how many intervals the window is kept in (default
// DefaultIntervals, at most MaxIntervals). The window slides by one
// interval at a time: with a window of a minute in 6 intervals, a
// snapshot covers the requests of the last 50 to 60 seconds. Each interval
// holds two histograms of about 190 KB. Zero or less means the default.
func WithIntervals(n int) Option { return func(c *config) { c.intervals = n } }

// WithMaxStatements sets how many distinct statements are counted apart
// (default DefaultMaxStatements); the requests of any further statement
// are added up in one "other" entry, so memory stays bounded whatever the
// application sends. Zero or less means the default.
func WithMaxStatements(n int) Option { return func(c *config) { c.maxStatements = n } }

// WithClock replaces time.Now for placing requests in the window and for
// the snapshot's time; it is meant for tests. The durations themselves
// come from the session (see cassandra.WithClock). Nil means time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Collector is a cassandra.Collector that keeps its measurements in
// memory, for tests, command-line tools and a service's debug page: totals
// since it was created, latency percentiles and the request rate over a
// sliding window, errors by kind, the most frequent and the most costly
// statements, and the pool statistics of the sessions open on it.
//
// It also implements cassandra.AttemptCollector (attempts and retries),
// cassandra.PageCollector (stream pages and rows) and
// cassandra.SessionCollector (pool statistics), which a cluster finds by
// itself:
//
//	c := inmemory.New()
//	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(c))
//	...
//	fmt.Print(c) // or c.Snapshot() for the numbers
//
// A Collector is safe for concurrent use by multiple goroutines. Its
// memory is bounded: the window's histograms (see WithIntervals) and at
// most WithMaxStatements statements. Recording a request takes one mutex
// and does not allocate, except the first time a statement or an error
// kind is seen.
type Collector struct {
	now           func() time.Time
	maxStatements int

	mu            sync.Mutex
	start         time.Time
	ring          ring
	latency       dist // the merged window, Snapshot's scratch space
	queueWait     dist
	requests      uint64
	errors        uint64
	rows          uint64
	pages         uint64
	errorKinds    map[string]uint64
	attempts      uint64
	retries       uint64
	attemptErrors uint64
	streamPages   uint64
	streamRows    uint64
	streamErrors  uint64
	stmts         map[cassandra.Statement]*StatementStats
	other         StatementStats // the statements beyond maxStatements

	sessMu   sync.Mutex
	sessions []*cassandra.AsyncSession // open, in the order they opened
}

// The interfaces a cluster looks for.
var (
	_ cassandra.AttemptCollector = (*Collector)(nil)
	_ cassandra.PageCollector    = (*Collector)(nil)
	_ cassandra.SessionCollector = (*Collector)(nil)
)

// New returns a Collector configured by opts.
func New(opts ...Option) *Collector {
	cfg := config{window: DefaultWindow, intervals: DefaultIntervals, maxStatements: DefaultMaxStatements, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.window <= 0 {
		cfg.window = DefaultWindow
	}
	if cfg.intervals <= 0 {
		cfg.intervals = DefaultIntervals
	}
	cfg.intervals = min(cfg.intervals, MaxIntervals)
	if cfg.window < time.Duration(cfg.intervals) { // at least 1 ns an interval
		cfg.window = time.Duration(cfg.intervals)
	}
	if cfg.maxStatements <= 0 {
		cfg.maxStatements = DefaultMaxStatements
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	start := cfg.now()
	return &Collector{
		now:           cfg.now,
		maxStatements: cfg.maxStatements,
		start:         start,
		ring:          newRing(start, cfg.window, cfg.intervals),
		latency:       newDist(),
		queueWait:     newDist(),
		errorKinds:    make(map[string]uint64),
		stmts:         make(map[cassandra.Statement]*StatementStats),
		other:         StatementStats{Other: true},
	}
}

// RequestDone records a request: it implements cassandra.Collector.
func (c *Collector) RequestDone(_ context.Context, r cassandra.RequestInfo) {
	now := c.now()
	kind := r.ErrorKind
	if r.Err != nil && kind == "" {
		kind = cassandra.ErrorKind(r.Err)
	}
	failed := kind != ""

	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.rows += uint64(max(r.Rows, 0))
	c.pages += uint64(max(r.Pages, 0))
	if failed {
		c.errors++
		c.errorKinds[kind]++
	}
	if iv := c.ring.slot(c.ring.epoch(now)); iv != nil {
		iv.requests++
		if failed {
			iv.errors++
		}
		iv.latency.record(r.Duration)
		iv.queueWait.record(r.QueueWait)
	}
	st := c.stmts[r.Statement]
	if st == nil {
		if len(c.stmts) < c.maxStatements {
			st = &StatementStats{Statement: r.Statement}
			c.stmts[r.Statement] = st
		} else {
			st = &c.other
		}
	}
	st.add(r.Duration, r.Rows, failed)
}

// AttemptDone counts one attempt of the driver: it implements
// cassandra.AttemptCollector.
func (c *Collector) AttemptDone(_ context.Context, a cassandra.AttemptInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if a.Attempt > 0 {
		c.retries++
	}
	if a.Err != nil || a.ErrorKind != "" {
		c.attemptErrors++
	}
}

// PageDone counts one page of a stream: it implements
// cassandra.PageCollector.
func (c *Collector) PageDone(_ context.Context, p cassandra.PageFetchInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streamPages++
	c.streamRows += uint64(max(p.Rows, 0))
	if p.Err != nil || p.ErrorKind != "" {
		c.streamErrors++
	}
}

// SessionOpened adds s to the sessions whose pool statistics a snapshot
// reports: it implements cassandra.SessionCollector.
func (c *Collector) SessionOpened(s *cassandra.AsyncSession) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	c.sessions = append(c.sessions, s)
}

// SessionClosed removes s from the sessions a snapshot reports: it
// implements cassandra.SessionCollector.
func (c *Collector) SessionClosed(s *cassandra.AsyncSession) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if i := slices.Index(c.sessions, s); i >= 0 {
		c.sessions = slices.Delete(c.sessions, i, i+1)
	}
}

// Snapshot returns the collector's measurements at this moment. Every
// figure except Sessions is taken under one lock, so they agree with one
// another: no request is counted in one figure and not yet in another.
// Merging the window's histograms holds that lock, and so delays the
// requests that end meanwhile, for up to about a millisecond: Snapshot is meant
// for a report or a debug page, not for every request.
func (c *Collector) Snapshot() Snapshot {
	c.sessMu.Lock()
	sessions := slices.Clone(c.sessions)
	c.sessMu.Unlock()
	var pools []cassandra.PoolStats
	for _, s := range sessions {
		pools = append(pools, s.Stats())
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	s := Snapshot{
		Time:              now,
		Start:             c.start,
		RequestCount:      c.requests,
		SuccessCount:      c.requests - c.errors,
		ErrorCount:        c.errors,
		ErrorsByKind:      make(map[string]uint64, len(c.errorKinds)),
		RowCount:          c.rows,
		PageCount:         c.pages,
		AttemptCount:      c.attempts,
		RetryCount:        c.retries,
		AttemptErrorCount: c.attemptErrors,
		StreamPageCount:   c.streamPages,
		StreamRowCount:    c.streamRows,
		StreamErrorCount:  c.streamErrors,
		Statements:        make([]StatementStats, 0, len(c.stmts)+1),
		Sessions:          pools,
	}
	for k, n := range c.errorKinds {
		s.ErrorsByKind[k] = n
	}
	for _, st := range c.stmts {
		s.Statements = append(s.Statements, *st)
	}
	if c.other.RequestCount > 0 {
		s.Statements = append(s.Statements, c.other)
	}
	sortByCount(s.Statements)

	var start time.Time
	s.Window.RequestCount, s.Window.ErrorCount, start = c.ring.window(now, &c.latency, &c.queueWait)
	s.Window.Start = start
	s.Window.Interval = c.ring.width
	if d := now.Sub(start); d > 0 {
		s.Window.Duration = d
		s.Window.RequestsPerSecond = float64(s.Window.RequestCount) / d.Seconds()
	}
	s.Window.Latency = c.latency.summary()
	s.Window.QueueWait = c.queueWait.summary()
	return s
}

// String returns the summary of a snapshot taken now (see
// Snapshot.String).
func (c *Collector) String() string {
	s := c.Snapshot()
	return s.String()
}
