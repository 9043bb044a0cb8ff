package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Defaults of the retry policy that sessions use unless told otherwise
// (see DefaultRetryPolicy).
const (
	DefaultMaxRetries = 3
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = time.Second
)

// RetryPolicy decides whether the driver tries an idempotent request again
// after an attempt failed, where, and after how long. It implements
// gocql.RetryPolicy; sessions use DefaultRetryPolicy unless the
// ClusterConfig has a RetryPolicy of its own or WithRetryPolicy says
// otherwise, and Query.RetryPolicy or Batch.RetryPolicy override it for one
// request.
//
// gocql consults a retry policy only for requests marked idempotent
// (Query.Idempotent, Batch.Idempotent, or ClusterConfig.DefaultIdempotence):
// any other request fails with its first error, whatever the policy says,
// because it may have been applied before it failed.
//
// The rules, after attempt n of an idempotent request failed (n counts
// every attempt of the request, 1 for the first):
//
//   - Read timeout: tried again on the same node, once (n = 1), when enough
//     replicas answered but the one asked for the data did not
//     (Received >= BlockFor, no data); the replicas have just read the row,
//     so the retry usually succeeds at once. Otherwise the error is
//     returned: too few replicas are answering, and a retry would most
//     likely wait out the same timeout.
//   - Write timeout: tried again on the same node, once, for writes of type
//     SIMPLE, BATCH and UNLOGGED_BATCH. Never for COUNTER and CAS writes,
//     nor BATCH_LOG, VIEW or CDC: the statement may have been applied.
//   - Unavailable: tried once more on the next node, whose view of which
//     replicas are alive may differ.
//   - The node refused the request (OVERLOADED, IS_BOOTSTRAPPING), failed
//     unexpectedly (SERVER_ERROR), or failed a TRUNCATE: the next node.
//   - The connection failed (closed, reset, broken pipe, no answer within
//     the ClusterConfig's Timeout, heartbeat failure, no free stream):
//     the next node.
//   - Anything else (syntax, invalid, unauthorized, already exists, read
//     and write failures, function failures, CAS write unknown, errors
//     encoding values, the request's context ending) is returned at once.
//
// At most MaxRetries retries are made, whatever the errors; a request
// whose query plan runs out of nodes ends with the last error. Each page
// of a result is a request of its own, with its own retries.
//
// The first retry is sent at once: it goes to another node, or follows a
// timeout the server has already waited out. Before retry k >= 2 the
// policy waits a random time between half and all of
// min(MaxBackoff, MinBackoff·2^(k-2)), so that clients that failed
// together do not retry together. The wait ends as soon as the request's
// context ends, and the request then fails with an error that matches the
// context's error (and the last attempt's).
//
// Requests that this package builds (Execute, Query, Batch, Stream) hold
// the policy per request, which the rules above need: gocql asks a policy
// whether to try again (Attempt, which sees the request) before asking how
// (GetRetryType, which sees only the error). Where gocql uses the policy
// directly (a query made on AsyncSession.Gocql, or a policy set with
// Configure), it cannot tell which attempt an error belongs to: the
// once-only rules become bounded by MaxRetries alone, and a request whose
// later attempt fails for good may first wait its back-off in vain.
//
// A RetryPolicy is safe for concurrent use by multiple goroutines; do not
// change its fields once a session uses it.
type RetryPolicy struct {
	// MaxRetries is the most attempts after the first; 0 never retries.
	MaxRetries int
	// MinBackoff is the nominal wait before the second retry; each later
	// one doubles it. Zero retries without waiting.
	MinBackoff time.Duration
	// MaxBackoff caps the nominal wait; it must not be below MinBackoff.
	MaxBackoff time.Duration

	// sleep waits for d or until ctx ends; nil: sleepContext. Tests
	// replace it to see the waits without spending them.
	sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryPolicy returns the policy sessions use by default:
// DefaultMaxRetries retries, with back-off from DefaultMinBackoff up to
// DefaultMaxBackoff.
func DefaultRetryPolicy() *RetryPolicy {
	return &RetryPolicy{MaxRetries: DefaultMaxRetries, MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff}
}

// Attempt reports whether gocql may try the request again after attempt
// q.Attempts() failed, and waits the back-off first (see RetryPolicy).
// It is called before GetRetryType, for every failed attempt of an
// idempotent request.
func (p *RetryPolicy) Attempt(q gocql.RetryableQuery) bool {
	n := q.Attempts()
	if n > p.MaxRetries {
		return false
	}
	return p.wait(queryContext(q), n) == nil
}

// GetRetryType says where gocql tries the request again after it failed
// with err: gocql.Retry (the same node), gocql.RetryNextHost, or
// gocql.Rethrow (no retry). See RetryPolicy for the rules.
func (p *RetryPolicy) GetRetryType(err error) gocql.RetryType {
	rt, _ := classifyRetry(err)
	return rt
}

// decide applies the rules to attempt n failing with err.
func (p *RetryPolicy) decide(err error, n int) gocql.RetryType {
	rt, once := classifyRetry(err)
	if n > p.MaxRetries || (once && n > 1) {
		return gocql.Rethrow
	}
	return rt
}

// wait waits the back-off before the retry that follows attempt n, or
// until ctx ends.
func (p *RetryPolicy) wait(ctx context.Context, n int) error {
	if n < 2 {
		return nil
	}
	d := jitter(backoff(p.MinBackoff, p.MaxBackoff, n-2))
	if d <= 0 {
		return nil
	}
	sleep := p.sleep
	if sleep == nil {
		sleep = sleepContext
	}
	return sleep(ctx, d)
}

// bind returns the policy for one request that this package builds.
func (p *RetryPolicy) bind() gocql.RetryPolicy { return &requestRetry{p: p} }

// requestRetry is a RetryPolicy held by one request, so that GetRetryType
// knows the attempt that Attempt was just asked about: gocql calls the two
// one after the other, on the goroutine that ran the attempt. The decision
// and the back-off wait happen in GetRetryType, which sees the error;
// Attempt only enforces MaxRetries.
//
// With speculative execution, several goroutines run attempts of the
// request at once, and a GetRetryType may see another goroutine's
// Attempt: the attempt counts are then close but may be off by one. mu
// keeps that free of data races.
type requestRetry struct {
	p *RetryPolicy

	mu   sync.Mutex
	last gocql.RetryableQuery // the request Attempt was last asked about
}

func (r *requestRetry) Attempt(q gocql.RetryableQuery) bool {
	r.mu.Lock()
	r.last = q
	r.mu.Unlock()
	return q.Attempts() <= r.p.MaxRetries
}

func (r *requestRetry) GetRetryType(err error) gocql.RetryType {
	r.mu.Lock()
	q := r.last
	r.mu.Unlock()
	if q == nil { // not asked through gocql's order: decide without waiting
		return r.p.GetRetryType(err)
	}
	n := q.Attempts()
	rt := r.p.decide(err, n)
	if rt == gocql.Rethrow {
		return rt
	}
	if r.p.wait(queryContext(q), n) != nil {
		return gocql.Rethrow // the context ended: the caller gets its error
	}
	return rt
}

// classifyRetry says where an idempotent request that failed with err may
// be tried again, and whether only as its first retry.
func classifyRetry(err error) (rt gocql.RetryType, once bool) {
	var (
		readTimeout  *gocql.RequestErrReadTimeout
		writeTimeout *gocql.RequestErrWriteTimeout
		unavailable  *gocql.RequestErrUnavailable
		reqErr       gocql.RequestError
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return gocql.Rethrow, false
	case errors.As(err, &readTimeout):
		if readTimeout.Received >= readTimeout.BlockFor && readTimeout.DataPresent == 0 {
			return gocql.Retry, true
		}
		return gocql.Rethrow, false
	case errors.As(err, &writeTimeout):
		switch writeTimeout.WriteType {
		case "SIMPLE", "BATCH", "UNLOGGED_BATCH":
			return gocql.Retry, true
		}
		return gocql.Rethrow, false
	case errors.As(err, &unavailable):
		return gocql.RetryNextHost, true
	case errors.As(err, &reqErr):
		switch reqErr.Code() {
		case gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping, gocql.ErrCodeServer, gocql.ErrCodeTruncate:
			return gocql.RetryNextHost, false
		}
		return gocql.Rethrow, false
	case isConnectionError(err):
		return gocql.RetryNextHost, false
	}
	return gocql.Rethrow, false
}

// errHeartbeat is the text of the error gocql closes a connection with
// when the node stops answering its heartbeats; it is not a variable, so
// it is recognised by its text.
const errHeartbeat = "gocql: heartbeat failed"

// isConnectionError reports whether err says that the connection to the
// node failed, or that the node did not answer in time: the request may or
// may not have been executed, and another node may answer.
func isConnectionError(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, gocql.ErrConnectionClosed),
		errors.Is(err, gocql.ErrTimeoutNoResponse),
		errors.Is(err, gocql.ErrNoStreams),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr),
		heartbeatFailed(err):
		return true
	}
	return false
}

// heartbeatFailed reports whether err, or an error it wraps, is gocql's
// failed heartbeat.
func heartbeatFailed(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == errHeartbeat {
			return true
		}
	}
	return false
}

// queryContext returns the request's context.
func queryContext(q gocql.RetryableQuery) context.Context {
	if ctx := q.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// backoff returns the nominal wait before the (step+1)-th of a series of
// waits: lo·2^step, at most hi (no cap when hi is 0).
func backoff(lo, hi time.Duration, step int) time.Duration {
	if lo <= 0 {
		return 0
	}
	d := lo
	for ; step > 0 && d < hi; step-- {
		d *= 2
	}
	if hi > 0 && d > hi {
		d = hi
	}
	return d
}

// jitter returns a random duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleepContext waits for d or until ctx ends, whichever is first, and
// returns ctx.Err() in the second case.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// withContextErr makes err, the failure of a request whose context has
// ended, match the context's error too: when the context ends during a
// retry's back-off, the driver returns the last attempt's error.
func withContextErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if err == nil || cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (while waiting to retry after: %w)", cerr, err)
}

// ---- session wiring --------------------------------------------------------

// retryOptions are the session options of this file and speculative.go.
type retryOptions struct {
	retry    gocql.RetryPolicy // the session's default; nil: none
	specN    int               // WithSpeculativeExecution
	specWait time.Duration
	spec     gocql.SpeculativeExecutionPolicy // nil: none
}

func defaultRetryOptions() retryOptions {
	return retryOptions{retry: DefaultRetryPolicy()}
}

// WithRetryPolicy sets the retry policy of the sessions' requests (default
// DefaultRetryPolicy()). It fills in ClusterConfig.RetryPolicy of the
// session's copy of the configuration, so a RetryPolicy set on the
// ClusterConfig itself is kept and wins, and Query.RetryPolicy,
// Batch.RetryPolicy and Configure override it per request. nil turns
// retries off: the driver then never retries.
//
// Whatever the policy, gocql retries only requests marked idempotent.
// A *RetryPolicy with a negative field, or a MinBackoff above its
// MaxBackoff, makes NewAsyncCluster fail.
func WithRetryPolicy(p gocql.RetryPolicy) Option {
	return func(o *options) { o.retry = p }
}

// validate reports an invalid retry or speculative execution setting.
func (o *retryOptions) validate() error {
	if rp, ok := o.retry.(*RetryPolicy); ok {
		switch {
		case rp == nil:
			return errors.New("cassandra: WithRetryPolicy: nil *RetryPolicy (pass nil to turn retries off)")
		case rp.MaxRetries < 0:
			return fmt.Errorf("cassandra: WithRetryPolicy: MaxRetries must not be negative, got %d", rp.MaxRetries)
		case rp.MinBackoff < 0 || rp.MaxBackoff < 0:
			return fmt.Errorf("cassandra: WithRetryPolicy: back-off must not be negative, got %v and %v", rp.MinBackoff, rp.MaxBackoff)
		case rp.MinBackoff > rp.MaxBackoff:
			return fmt.Errorf("cassandra: WithRetryPolicy: MinBackoff %v is above MaxBackoff %v", rp.MinBackoff, rp.MaxBackoff)
		}
	}
	switch {
	case o.specN < 0:
		return fmt.Errorf("cassandra: WithSpeculativeExecution: attempts must not be negative, got %d", o.specN)
	case o.specN > 0 && o.specWait <= 0:
		return fmt.Errorf("cassandra: WithSpeculativeExecution: delay must be positive, got %v", o.specWait)
	}
	return nil
}

// installRetry fills in the session's copy of the configuration and
// returns the *RetryPolicy that the session's requests hold one by one,
// or nil when the configuration's policy is not one.
func (o *retryOptions) installRetry(cfg *gocql.ClusterConfig) *RetryPolicy {
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = o.retry
	}
	rp, _ := cfg.RetryPolicy.(*RetryPolicy)
	return rp
}

// perRequest returns the retry policy a request built by this package
// holds in place of p.
func perRequest(p gocql.RetryPolicy) gocql.RetryPolicy {
	if rp, ok := p.(*RetryPolicy); ok && rp != nil {
		return rp.bind()
	}
	return p
}

// applyPolicies gives a driver query built by the session the session's
// retry and speculative execution policies, before the caller's own
// settings, which override them.
func (s *AsyncSession) applyPolicies(q *gocql.Query) {
	if s.retry != nil {
		q.RetryPolicy(s.retry.bind())
	}
	if s.opts.spec != nil {
		q.SetSpeculativeExecutionPolicy(s.opts.spec)
	}
}

// applyBatchPolicies is applyPolicies for a batch.
func (s *AsyncSession) applyBatchPolicies(b *gocql.Batch) {
	if s.retry != nil {
		b.RetryPolicy(s.retry.bind())
	}
	if s.opts.spec != nil {
		b.SpeculativeExecutionPolicy(s.opts.spec)
	}
}
