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
)

// AsyncSession runs queries on a bounded worker pool and returns their
// results as futures. Every method returns without waiting for I/O, except
// that with the QueueWait policy a caller waits for room when the queue is
// full (that wait counts against the caller's context).
//
// At most WithWorkers requests are in flight and at most WithQueue wait;
// memory does not grow with offered load.
//
// An AsyncSession is safe for concurrent use by multiple goroutines.
type AsyncSession struct {
	gs      *gocql.Session
	pool    *pool.Pool
	opts    options
	cluster *AsyncCluster

	born time.Time // when the session was made, on its clock: see clock

	closing   atomic.Bool // Shutdown or Close has started: no new work
	closed    atomic.Bool // Close has started: the driver session is going away
	closeOnce sync.Once
	closeErr  error
}

func newSession(c *AsyncCluster, gs *gocql.Session) (*AsyncSession, error) {
	p, err := pool.New(c.opts.poolConfig())
	if err != nil {
		return nil, err
	}
	s := &AsyncSession{gs: gs, pool: p, opts: c.opts, cluster: c}
	s.born = s.now()
	return s, nil
}

// Gocql returns the driver session underneath, for what this package does
// not wrap (metadata, schema agreement, host lists). Queries run on it
// directly bypass the worker pool and its limits.
func (s *AsyncSession) Gocql() *gocql.Session { return s.gs }

// Execute runs stmt with values on the worker pool and returns a future of
// its result, which holds every page (see Query.Execute). The driver's
// query is built before Execute returns; values must not be changed until
// the future completes. For results too
// large to hold, use Stream. Execute(ctx, stmt, v...) is short for
// s.Query(stmt, v...).Execute(ctx).
func (s *AsyncSession) Execute(ctx context.Context, stmt string, values ...any) *Future[*ResultSet] {
	return s.submit(ctx, new(execution), stmt, nil, nil, values)
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

// PoolStats is a snapshot of a session's worker pool: current levels
// (Workers, BusyWorkers, QueueDepth, ...) and cumulative counts since the
// session started (SubmitCount, CompletedCount, RejectedCount, ...).
type PoolStats = pool.Stats

// Stats returns a snapshot of the session's worker pool.
func (s *AsyncSession) Stats() PoolStats { return s.pool.Stats() }

// Shutdown stops the session gracefully: it stops accepting queries (they
// complete with ErrClosed), lets queued and running ones finish, then closes
// the driver session. If ctx ends first, Shutdown returns ctx.Err() and
// leaves the remaining work running; call Close to stop it. Shutdown may be
// called more than once and concurrently with queries and with Close.
func (s *AsyncSession) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	s.closing.Store(true)
	if err := s.pool.Shutdown(ctx); err != nil {
		return err
	}
	return s.Close()
}

// Close stops the session now: queued queries complete with ErrClosed at
// once, the driver session is closed so that running queries fail promptly
// (with an error that matches ErrClosed), and Close returns when every
// worker has stopped. A request already sent may still be executed by the
// server. Close is idempotent and safe to call concurrently with queries.
func (s *AsyncSession) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.closed.Store(true)
		// Closing the driver first makes running requests return at once;
		// the pool then drops the queue and waits for its workers.
		s.gs.Close()
		s.closeErr = s.pool.Close()
		s.cluster.forget(s)
	})
	return s.closeErr
}

// closedErr turns a driver error caused by Close into one that matches
// ErrClosed, keeping the driver's error too. An error caused by the
// caller's own context (ctx is the one the request ran with) is left alone.
func (s *AsyncSession) closedErr(ctx context.Context, err error) error {
	if err == nil || !s.closed.Load() || ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// now returns the time on the session's clock.
func (s *AsyncSession) now() time.Time {
	if s.opts.now == nil {
		return time.Now()
	}
	return s.opts.now()
}

// clock returns the time on the session's clock as the time since the
// session was made: 8 bytes to keep in each request instead of a
// time.Time's 24. With the default clock it reads only the monotonic
// clock, which costs half of time.Now.
func (s *AsyncSession) clock() time.Duration {
	if s.opts.now == nil {
		return time.Since(s.born)
	}
	return s.opts.now().Sub(s.born)
}
