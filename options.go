package cassandra

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// Default settings of a session. DefaultWorkers is high enough that the pool
// is not what limits a service talking to a small cluster (gocql's default
// connections carry thousands of requests each), and low enough that a
// burst of callers cannot open an unbounded number of requests against the
// cluster; docs/performance.md says how to size it for yours.
const (
	DefaultWorkers  = 512
	DefaultQueue    = 4096
	DefaultPageSize = 5000
	DefaultPrefetch = 1
)

// QueueFullPolicy says what a session does with a new query when every worker
// is busy and the queue is full.
type QueueFullPolicy int

const (
	// QueueWait makes the caller wait for room until its context ends. Time
	// spent waiting counts against the caller's deadline. This is the default.
	QueueWait QueueFullPolicy = iota
	// QueueFailFast completes the query's future at once with ErrOverloaded,
	// for callers that would rather shed load than wait.
	QueueFailFast
)

// String returns "wait" or "fail-fast".
func (p QueueFullPolicy) String() string {
	switch p {
	case QueueWait:
		return "wait"
	case QueueFailFast:
		return "fail-fast"
	}
	return fmt.Sprintf("QueueFullPolicy(%d)", int(p))
}

// An Option configures an AsyncCluster and the sessions it connects.
type Option func(*options)

type options struct {
	workers   int
	queue     int
	policy    QueueFullPolicy
	pageSize  int
	prefetch  int
	now       func() time.Time // nil: time.Now
	clockSet  bool             // WithClock was used
	collector Collector        // nil: none
	batching  bool             // batch writes on the driver's connections (WithWriteBatching)

	rateLimit rate.Limit // WithRateLimit; 0 (unset) or rate.Inf: no limit
	rateBurst int

	checkInterval, checkTimeout time.Duration // WithHealthCheck; interval 0: no checks

	adaptive    AdaptiveLimit // WithAdaptiveLimit (adaptive.go)
	adaptiveSet bool

	retryOptions              // WithRetryPolicy, WithSpeculativeExecution (retry.go)
	connect      connectRetry // WithConnectRetry (connect.go)
}

func defaultOptions() options {
	return options{
		workers:  DefaultWorkers,
		queue:    DefaultQueue,
		policy:   QueueWait,
		pageSize: DefaultPageSize,
		prefetch: DefaultPrefetch,
		batching: true,

		retryOptions: defaultRetryOptions(),
		connect:      defaultConnectRetry,
	}
}

// validate reports the first invalid setting.
func (o *options) validate() error {
	if err := o.connect.validate(); err != nil {
		return err
	}
	switch {
	case o.workers < 1:
		return fmt.Errorf("cassandra: WithWorkers: need at least 1 worker, got %d", o.workers)
	case o.queue < 0:
		return fmt.Errorf("cassandra: WithQueue: capacity must not be negative, got %d", o.queue)
	case o.policy != QueueWait && o.policy != QueueFailFast:
		return fmt.Errorf("cassandra: WithQueueFullPolicy: unknown policy %d", int(o.policy))
	case o.pageSize < 1:
		return fmt.Errorf("cassandra: WithPageSize: page size must be at least 1, got %d", o.pageSize)
	case o.pageSize > maxPageSize:
		return fmt.Errorf("cassandra: WithPageSize: page size must be at most %d, got %d", maxPageSize, o.pageSize)
	case o.prefetch < 0:
		return fmt.Errorf("cassandra: WithPrefetch: prefetch must not be negative, got %d", o.prefetch)
	case o.clockSet && o.now == nil:
		return fmt.Errorf("cassandra: WithClock: clock must not be nil")
	case o.checkInterval < 0:
		return fmt.Errorf("cassandra: WithHealthCheck: interval must not be negative, got %v", o.checkInterval)
	case o.checkInterval > 0 && o.checkTimeout <= 0:
		return fmt.Errorf("cassandra: WithHealthCheck: timeout must be positive, got %v", o.checkTimeout)
	}
	if err := o.validateAdaptive(); err != nil {
		return err
	}
	if err := o.validateRateLimit(); err != nil {
		return err
	}
	return o.retryOptions.validate()
}

func (o *options) poolConfig() pool.Config {
	p := pool.Wait
	if o.policy == QueueFailFast {
		p = pool.FailFast
	}
	return pool.Config{Workers: o.workers, Queue: o.queue, Policy: p}
}

// WithWorkers sets how many requests a session runs at once (default
// DefaultWorkers); with WithAdaptiveLimit, the most it may run. Each
// request runs on a worker goroutine, which waits in the driver while the
// request is in flight. Workers start when first needed and stay until the
// session closes, so a session that never has many requests in flight has
// few goroutines.
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithQueue sets how many requests may wait for a worker (default
// DefaultQueue). Zero means a request is accepted only when a worker is idle.
func WithQueue(n int) Option { return func(o *options) { o.queue = n } }

// WithQueueFullPolicy sets what happens when the queue is full (default QueueWait).
func WithQueueFullPolicy(p QueueFullPolicy) Option { return func(o *options) { o.policy = p } }

// WithPageSize sets the page size of the session's queries and streams
// that do not set their own with Query.PageSize (default DefaultPageSize
// rows). It must be between 1 and math.MaxInt32.
func WithPageSize(n int) Option { return func(o *options) { o.pageSize = n } }

// maxPageSize is the largest page size the protocol carries (an int32):
// gocql truncates a larger one, so 1<<32 + 5 would ask for pages of 5 rows.
const maxPageSize = math.MaxInt32

// WithPrefetch sets how many pages a Stream fetches ahead of its reader,
// for the streams of the session that do not set their own with the stream
// option Prefetch (default DefaultPrefetch; zero fetches a page only when
// the reader needs it).
func WithPrefetch(n int) Option { return func(o *options) { o.prefetch = n } }

// WithClock replaces time.Now for the latencies the session measures. It is
// meant for tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now, o.clockSet = now, true }
}

// WithWriteBatching sets whether the sessions batch the driver's writes
// without a timer (default true). gocql writes each request as one frame;
// by default it holds frames for ClusterConfig.WriteCoalesceWaitTime
// (200 µs, often a millisecond in practice) so that several share a
// system call, which makes a lone request several times slower. With
// batching, the session supplies gocql's connections (as a HostDialer
// wrapping the configured HostDialer, Dialer and TLS settings) and turns
// gocql's coalescing off: a frame is written at once when the connection
// is idle, and frames that arrive while a write is in progress leave
// together when it returns. docs/performance.md has the figures. Turn it
// off to keep gocql's own writing, with WriteCoalesceWaitTime as set.
func WithWriteBatching(on bool) Option { return func(o *options) { o.batching = on } }
