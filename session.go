package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/pool"
	"github.com/async-cassandra/cassandra/internal/wire"
)

// AsyncSession runs queries on a bounded worker pool and returns their
// results as futures. Execute, Stream and Scan (and Query.Execute,
// Query.Stream and Batch.Execute) return without waiting for I/O, except
// that with the QueueWait policy Execute waits for room when the queue is
// full, and for a token when the session's rate limit (WithRateLimit) has
// none (those waits count against the caller's context). ExecuteConcurrent,
// Shutdown and Close block, as each says.
//
// At most WithWorkers requests are in flight (fewer under
// WithAdaptiveLimit) and at most WithQueue wait; memory does not grow with
// offered load.
//
// An AsyncSession is safe for concurrent use by multiple goroutines.
type AsyncSession struct {
	gs      *gocql.Session
	pool    *pool.Pool
	opts    options
	cluster *AsyncCluster
	metrics *metrics         // nil without a collector
	wire    *wire.HostDialer // the driver's connections, when they batch writes
	hosts   *hostMonitor
	limiter *limiter     // WithRateLimit; nil without a limit
	adapt   *adaptive    // WithAdaptiveLimit; nil without it
	retry   *RetryPolicy // the default each request holds its own binding of; nil: not ours (retry.go)

	closed    atomic.Bool // Close has started: the driver session is going away
	closeOnce sync.Once
}

func newSession(c *AsyncCluster, gs *gocql.Session, m *metrics, wd *wire.HostDialer, hm *hostMonitor) (*AsyncSession, error) {
	p, err := pool.New(c.opts.poolConfig())
	if err != nil {
		return nil, err
	}
	s := &AsyncSession{gs: gs, pool: p, opts: c.opts, cluster: c, metrics: m, wire: wd, hosts: hm}
	s.limiter = newLimiter(&s.opts, s.now)
	if s.opts.adaptiveSet {
		s.adapt = newAdaptive(s.opts.adaptive, s.opts.workers, s.now, p.SetLimit)
	}
	return s, nil
}

// Gocql returns the driver session underneath, for what this package does
// not wrap (metadata, schema agreement, host lists). Queries run on it
// directly bypass the worker pool and its limits.
func (s *AsyncSession) Gocql() *gocql.Session { return s.gs }

// Execute runs stmt with values on the worker pool and returns a future of
// its result, which holds every page (see Query.Execute). For results too
// large to hold, use Stream. Execute(ctx, stmt, v...) is short for
// s.Query(stmt, v...).Execute(ctx).
//
// Execute never waits for I/O. It waits only for room in a full queue
// (QueueWait) and for a rate-limit token (WithRateLimit), and never
// beyond ctx.
func (s *AsyncSession) Execute(ctx context.Context, stmt string, values ...any) *Future[*ResultSet] {
	// PageState turns the driver's own paging off: the execution fetches
	// the pages itself, each with the request's context.
	q := s.gs.Query(stmt, values...).PageSize(s.opts.pageSize).PageState(nil)
	s.applyPolicies(q)
	return s.submit(ctx, stmt, q, nil, false, nil)
}

// Query returns a builder for stmt with values, to set per-query options
// before running it.
func (s *AsyncSession) Query(stmt string, values ...any) *Query {
	return &Query{s: s, stmt: stmt, values: values}
}

// Batch returns a builder for a batch of the given kind: gocql.LoggedBatch,
// gocql.UnloggedBatch or gocql.CounterBatch. A logged batch whose statements
// have IF conditions is a conditional (lightweight transaction) batch. Any
// other kind makes Execute fail with an error, before anything is sent.
func (s *AsyncSession) Batch(kind gocql.BatchType) *Batch {
	return &Batch{s: s, kind: kind}
}

// Shutdown stops the session gracefully: it stops accepting queries (they
// complete with ErrClosed, as do callers still waiting for room in the
// queue), lets queued and running ones finish, then closes the driver
// session. If ctx ends first, Shutdown returns ctx.Err() and leaves the
// remaining work running; call Close to stop it. Shutdown may be called
// more than once and concurrently with queries and with Close.
func (s *AsyncSession) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	s.limiter.stop() // callers waiting for a token give up with ErrClosed
	if err := s.pool.Shutdown(ctx); err != nil {
		return err
	}
	return s.Close()
}

// Close stops the session now: queued queries complete with ErrClosed at
// once, the driver session is closed so that running queries fail promptly
// (with an error that matches ErrClosed), and Close returns when every
// worker has stopped. A request already sent may still be executed by the
// server. Close is idempotent and safe to call concurrently with queries;
// it returns nil.
func (s *AsyncSession) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		// Callers waiting for a rate-limit token give up with ErrClosed.
		s.limiter.stop()
		s.pool.Close() // nothing new starts; the queue is dropped
		s.hosts.stop() // no health check outlives Close, nor calls the collector
		s.gs.Close()   // running requests return
		s.pool.Wait()
		s.cluster.forget(s)
		if sc, ok := s.opts.collector.(SessionCollector); ok {
			sc.SessionClosed(s)
		}
	})
	return nil
}

// closedErr turns a driver error caused by Close into one that matches
// ErrClosed, keeping the driver's error too. An error caused by the
// request's own context is left alone.
func (s *AsyncSession) closedErr(ctx context.Context, err error) error {
	if err == nil || !s.closed.Load() || ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// now returns the time on the session's clock (see WithClock).
func (s *AsyncSession) now() time.Time {
	if s.opts.now == nil {
		return time.Now()
	}
	return s.opts.now()
}
