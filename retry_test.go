package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// ---- the rules, without a server -------------------------------------------

// fakeQuery is the driver's view of a request, as a retry policy sees it.
type fakeQuery struct {
	n   int
	ctx context.Context
}

func (q *fakeQuery) Attempts() int                       { return q.n }
func (q *fakeQuery) SetConsistency(gocql.Consistency)    {}
func (q *fakeQuery) GetConsistency() gocql.Consistency   { return gocql.Quorum }
func (q *fakeQuery) Context() context.Context            { return q.ctx }
func (q *fakeQuery) String() string                      { return fmt.Sprintf("attempt %d", q.n) }
func newFakeQuery(ctx context.Context, n int) *fakeQuery { return &fakeQuery{n: n, ctx: ctx} }

// codeErr is a server error known by its code alone; the policy goes by
// the codes, which gocql sets on every error a node sends.
type codeErr int

func (c codeErr) Code() int       { return int(c) }
func (c codeErr) Message() string { return fmt.Sprintf("code %#x", int(c)) }
func (c codeErr) Error() string   { return c.Message() }

// sleepRecorder stands in for the policy's waits: it records them and
// returns at once, or returns the context's error if it has ended.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// The retry errors of the rules, by kind.
var (
	errReadTimeoutNoData   = &gocql.RequestErrReadTimeout{Received: 2, BlockFor: 2, DataPresent: 0}
	errReadTimeoutData     = &gocql.RequestErrReadTimeout{Received: 2, BlockFor: 2, DataPresent: 1}
	errReadTimeoutTooFew   = &gocql.RequestErrReadTimeout{Received: 1, BlockFor: 2, DataPresent: 0}
	errUnavailable         = &gocql.RequestErrUnavailable{Required: 2, Alive: 1}
	errNetReset            = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	errWriteTimeoutOfType  = func(wt string) error { return &gocql.RequestErrWriteTimeout{WriteType: wt} }
	errConnClosedByWriting = fmt.Errorf("wire: write failed, connection closed: %w", syscall.EPIPE)
)

// The table of the rules: every kind of error, every write type, at each
// attempt number, for a request that holds its own policy (as the
// session's requests do). Idempotency is gocql's business (a request
// that is not idempotent never reaches the policy); the tests against
// the server below cover it.
func TestRetryPolicyRules(t *testing.T) {
	type want struct {
		rt   gocql.RetryType
		once bool // retried only after the first attempt
	}
	sameOnce := want{gocql.Retry, true}
	nextOnce := want{gocql.RetryNextHost, true}
	next := want{gocql.RetryNextHost, false}
	never := want{gocql.Rethrow, false}

	cases := []struct {
		name string
		err  error
		want want
	}{
		{"read timeout, enough replicas, no data", errReadTimeoutNoData, sameOnce},
		{"read timeout, data present", errReadTimeoutData, never},
		{"read timeout, too few replicas", errReadTimeoutTooFew, never},
		{"write timeout SIMPLE", errWriteTimeoutOfType("SIMPLE"), sameOnce},
		{"write timeout BATCH", errWriteTimeoutOfType("BATCH"), sameOnce},
		{"write timeout UNLOGGED_BATCH", errWriteTimeoutOfType("UNLOGGED_BATCH"), sameOnce},
		{"write timeout COUNTER", errWriteTimeoutOfType("COUNTER"), never},
		{"write timeout CAS", errWriteTimeoutOfType("CAS"), never},
		{"write timeout BATCH_LOG", errWriteTimeoutOfType("BATCH_LOG"), never},
		{"write timeout VIEW", errWriteTimeoutOfType("VIEW"), never},
		{"write timeout CDC", errWriteTimeoutOfType("CDC"), never},
		{"unavailable", errUnavailable, nextOnce},
		{"overloaded", codeErr(gocql.ErrCodeOverloaded), next},
		{"bootstrapping", codeErr(gocql.ErrCodeBootstrapping), next},
		{"server error", codeErr(gocql.ErrCodeServer), next},
		{"truncate error", codeErr(gocql.ErrCodeTruncate), next},
		{"syntax", codeErr(gocql.ErrCodeSyntax), never},
		{"invalid", codeErr(gocql.ErrCodeInvalid), never},
		{"unauthorized", codeErr(gocql.ErrCodeUnauthorized), never},
		{"already exists", codeErr(gocql.ErrCodeAlreadyExists), never},
		{"config", codeErr(gocql.ErrCodeConfig), never},
		{"credentials", codeErr(gocql.ErrCodeCredentials), never},
		{"protocol", codeErr(gocql.ErrCodeProtocol), never},
		{"read failure", codeErr(gocql.ErrCodeReadFailure), never},
		{"write failure", codeErr(gocql.ErrCodeWriteFailure), never},
		{"CAS write unknown", codeErr(gocql.ErrCodeCASWriteUnknown), never},
		{"function failure", codeErr(gocql.ErrCodeFunctionFailure), never},
		{"unprepared", codeErr(gocql.ErrCodeUnprepared), never},
		{"connection closed", gocql.ErrConnectionClosed, next},
		{"no response in time", gocql.ErrTimeoutNoResponse, next},
		{"no free stream", gocql.ErrNoStreams, next},
		{"EOF", io.EOF, next},
		{"connection reset", errNetReset, next},
		{"broken pipe, wrapped", errConnClosedByWriting, next},
		{"heartbeat failed", errors.New(errHeartbeat), next},
		{"heartbeat failed, wrapped", fmt.Errorf("gocql: closing connection: %w", errors.New(errHeartbeat)), next},
		{"context canceled", context.Canceled, never},
		{"context deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), never},
		{"a value that cannot be encoded", gocql.MarshalError("cannot marshal"), never},
		{"an error nobody knows", errors.New("something else"), never},
	}
	const maxRetries = 3
	for _, c := range cases {
		// The driver's view: attempt n has failed. n runs past MaxRetries.
		for n := 1; n <= maxRetries+1; n++ {
			t.Run(fmt.Sprintf("%s/attempt %d", c.name, n), func(t *testing.T) {
				rec := &sleepRecorder{}
				p := &RetryPolicy{MaxRetries: maxRetries, MinBackoff: 40 * time.Millisecond, MaxBackoff: time.Second, sleep: rec.sleep}
				expect := c.want.rt
				if n > maxRetries || (c.want.once && n > 1) {
					expect = gocql.Rethrow
				}

				// As the session's requests hold it: gocql calls Attempt,
				// then GetRetryType, on the goroutine of the attempt.
				r := p.bind()
				q := newFakeQuery(context.Background(), n)
				again := r.Attempt(q)
				got := r.GetRetryType(c.err)
				retried := again && got != gocql.Rethrow
				assert.Equal(t, expect != gocql.Rethrow, retried, "retried")
				if retried {
					assert.Equal(t, expect, got)
				}
				waits := rec.get()
				switch {
				case !retried, n == 1:
					assert.Empty(t, waits, "no wait before the first retry, nor before giving up")
				default:
					require.Len(t, waits, 1)
					nominal := backoff(p.MinBackoff, p.MaxBackoff, n-2)
					assert.GreaterOrEqual(t, waits[0], nominal/2)
					assert.LessOrEqual(t, waits[0], nominal)
				}

				// Used by gocql directly, the policy cannot pair the
				// error with its attempt: the kind rules hold, the
				// once-only ones become bounded by MaxRetries.
				assert.Equal(t, c.want.rt, p.GetRetryType(c.err), "shared policy's kind")
				assert.Equal(t, n <= maxRetries, p.Attempt(q), "shared policy's bound")
			})
		}
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	assert.Equal(t, 10*time.Millisecond, backoff(10*time.Millisecond, time.Second, 0))
	assert.Equal(t, 20*time.Millisecond, backoff(10*time.Millisecond, time.Second, 1))
	assert.Equal(t, 80*time.Millisecond, backoff(10*time.Millisecond, time.Second, 3))
	assert.Equal(t, time.Second, backoff(10*time.Millisecond, time.Second, 20))
	assert.Equal(t, time.Second, backoff(10*time.Millisecond, time.Second, 1<<20), "no overflow")
	assert.Equal(t, 10*time.Millisecond, backoff(10*time.Millisecond, 0, 5), "no cap: no growth past min")
	assert.Zero(t, backoff(0, time.Second, 3))
	for range 100 {
		d := jitter(100 * time.Millisecond)
		assert.GreaterOrEqual(t, d, 50*time.Millisecond)
		assert.LessOrEqual(t, d, 100*time.Millisecond)
	}
	assert.Zero(t, jitter(0))
}

func TestDefaultRetryPolicy(t *testing.T) {
	p := DefaultRetryPolicy()
	assert.Equal(t, DefaultMaxRetries, p.MaxRetries)
	assert.Equal(t, DefaultMinBackoff, p.MinBackoff)
	assert.Equal(t, DefaultMaxBackoff, p.MaxBackoff)
	assert.NotSame(t, p, DefaultRetryPolicy(), "each call returns a policy of its own")
}

func TestWithRetryPolicyValidates(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	var nilPolicy *RetryPolicy
	for name, p := range map[string]gocql.RetryPolicy{
		"typed nil":        nilPolicy,
		"negative retries": &RetryPolicy{MaxRetries: -1},
		"negative backoff": &RetryPolicy{MinBackoff: -time.Second},
		"min above max":    &RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		_, err := NewAsyncCluster(cfg, WithRetryPolicy(p))
		assert.Error(t, err, name)
	}
	for name, opt := range map[string]Option{
		"negative attempts": WithSpeculativeExecution(-1, time.Millisecond),
		"no delay":          WithSpeculativeExecution(1, 0),
	} {
		_, err := NewAsyncCluster(cfg, opt)
		assert.Error(t, err, name)
	}
	for name, opt := range map[string]Option{
		"off":                 WithRetryPolicy(nil),
		"gocql's own":         WithRetryPolicy(&gocql.SimpleRetryPolicy{NumRetries: 2}),
		"ours":                WithRetryPolicy(&RetryPolicy{MaxRetries: 1}),
		"speculation off":     WithSpeculativeExecution(0, 0),
		"speculation enabled": WithSpeculativeExecution(2, time.Millisecond),
	} {
		_, err := NewAsyncCluster(cfg, opt)
		assert.NoError(t, err, name)
	}
}

// A back-off wait ends as soon as the request's context ends, and the
// policy then gives up.
func TestRetryPolicyWaitEndsWithContext(t *testing.T) {
	started := make(chan struct{})
	p := &RetryPolicy{MaxRetries: 3, MinBackoff: time.Hour, MaxBackoff: time.Hour,
		sleep: func(ctx context.Context, d time.Duration) error {
			close(started)
			return sleepContext(ctx, d)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	r := p.bind()
	done := make(chan gocql.RetryType)
	go func() {
		r.Attempt(newFakeQuery(ctx, 2))
		done <- r.GetRetryType(codeErr(gocql.ErrCodeOverloaded))
	}()
	<-started
	cancel()
	select {
	case rt := <-done:
		assert.Equal(t, gocql.Rethrow, rt)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not end with the context")
	}
}

func TestWithContextErr(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	last := codeErr(gocql.ErrCodeOverloaded)
	assert.NoError(t, withContextErr(ctx, nil))
	assert.Equal(t, error(last), withContextErr(ctx, last), "context alive: unchanged")
	cancel()
	err := withContextErr(ctx, last)
	assert.ErrorIs(t, err, context.Canceled)
	var re gocql.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, gocql.ErrCodeOverloaded, re.Code())
	assert.Equal(t, context.Canceled, withContextErr(ctx, context.Canceled), "already the context's error")
}

// ---- against the in-process cluster ----------------------------------------

// retryCluster starts three in-process nodes and connects a session with
// opts, after configure (if not nil) changes the driver's configuration.
// Every node has a connection before it returns.
func retryCluster(t *testing.T, configure func(*gocql.ClusterConfig), opts ...Option) (*AsyncSession, []*cqltest.Server) {
	t.Helper()
	// Distinct addresses: gocql's query plans key nodes by IP.
	servers := cqltest.NewCluster(t, 3, cqltest.DistinctAddresses())
	s, closeAll := connectTo(t, servers[0], servers, configure, opts...)
	t.Cleanup(func() {
		closeAll()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	})
	waitPools(t, s, servers)
	return s, servers
}

// waitPools waits until the session can send a request to every server:
// gocql fills its connection pools in the background, and a request skips
// a node with none.
func waitPools(t *testing.T, s *AsyncSession, servers []*cqltest.Server) {
	t.Helper()
	const probe = "SELECT id FROM ks.probe"
	for _, srv := range servers {
		srv.SetRows(probe, cqltest.Cols("id", cqltest.Int), [][]any{{1}})
		require.Eventually(t, func() bool {
			_, err := s.Query(probe).HostID(srv.HostID()).Execute(context.Background()).Await(context.Background())
			return err == nil
		}, 10*time.Second, time.Millisecond, "a connection to %s", srv.Addr())
	}
}

// requestsPerNode returns how many requests for stmt each server got,
// largest first, and the address of the server that got the most.
func requestsPerNode(servers []*cqltest.Server, stmt string) ([]int, string) {
	counts := make([]int, len(servers))
	top := ""
	for i, srv := range servers {
		counts[i] = srv.Requests(stmt)
		if counts[i] > 0 && (top == "" || counts[i] > counts[indexOf(servers, top)]) {
			top = srv.Addr()
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	return counts, top
}

func indexOf(servers []*cqltest.Server, addr string) int {
	for i, srv := range servers {
		if srv.Addr() == addr {
			return i
		}
	}
	return -1
}

// The rules end to end, through the session: each kind of error the node
// may answer, for idempotent and non-idempotent statements, with the
// attempts the request made and the nodes they went to.
func TestRetriesAgainstServers(t *testing.T) {
	rec := &sleepRecorder{}
	policy := &RetryPolicy{MaxRetries: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: time.Second, sleep: rec.sleep}
	s, servers := retryCluster(t, nil, WithRetryPolicy(policy))

	custom := func(m func() message.Error) cqltest.ServerError { return cqltest.CustomError(m) }
	// perNode: requests per node, largest first, for an idempotent
	// statement; a non-idempotent one is always sent once.
	same2 := []int{2, 0, 0}  // retried once on the same node
	next2 := []int{1, 1, 0}  // retried once on the next node
	every := []int{1, 1, 1}  // retried on each node until the plan ran out
	single := []int{1, 0, 0} // not retried
	cases := []struct {
		name    string
		fault   cqltest.ServerError
		perNode []int
		check   func(t *testing.T, err error)
	}{
		{"read timeout, no data", cqltest.ReadTimeoutOf(1, 1, false), same2, isType[*gocql.RequestErrReadTimeout]},
		{"read timeout, data present", cqltest.ReadTimeoutOf(1, 1, true), single, isType[*gocql.RequestErrReadTimeout]},
		{"read timeout, too few replicas", cqltest.ReadTimeoutOf(0, 1, false), single, isType[*gocql.RequestErrReadTimeout]},
		{"write timeout SIMPLE", cqltest.WriteTimeoutOf("SIMPLE"), same2, isType[*gocql.RequestErrWriteTimeout]},
		{"write timeout BATCH", cqltest.WriteTimeoutOf("BATCH"), same2, isType[*gocql.RequestErrWriteTimeout]},
		{"write timeout UNLOGGED_BATCH", cqltest.WriteTimeoutOf("UNLOGGED_BATCH"), same2, isType[*gocql.RequestErrWriteTimeout]},
		{"write timeout COUNTER", cqltest.WriteTimeoutOf("COUNTER"), single, isType[*gocql.RequestErrWriteTimeout]},
		{"write timeout CAS", cqltest.WriteTimeoutOf("CAS"), single, isType[*gocql.RequestErrWriteTimeout]},
		{"write timeout BATCH_LOG", cqltest.WriteTimeoutOf("BATCH_LOG"), single, isType[*gocql.RequestErrWriteTimeout]},
		{"unavailable", cqltest.Unavailable(), next2, isType[*gocql.RequestErrUnavailable]},
		{"overloaded", cqltest.Overloaded(), every, isCode(gocql.ErrCodeOverloaded)},
		{"bootstrapping", cqltest.IsBootstrapping(), every, isCode(gocql.ErrCodeBootstrapping)},
		{"server error", cqltest.ServerFailure("boom"), every, isCode(gocql.ErrCodeServer)},
		{"truncate error", custom(func() message.Error { return &message.TruncateError{ErrorMessage: "no"} }), every, isCode(gocql.ErrCodeTruncate)},
		{"syntax", cqltest.SyntaxError("line 1"), single, isCode(gocql.ErrCodeSyntax)},
		{"invalid", cqltest.Invalid("no such table"), single, isCode(gocql.ErrCodeInvalid)},
		{"unauthorized", custom(func() message.Error { return &message.Unauthorized{ErrorMessage: "no"} }), single, isCode(gocql.ErrCodeUnauthorized)},
		{"already exists", custom(func() message.Error { return &message.AlreadyExists{ErrorMessage: "no", Keyspace: "ks", Table: "t"} }), single, isCode(gocql.ErrCodeAlreadyExists)},
		{"read failure", custom(func() message.Error { return &message.ReadFailure{ErrorMessage: "no", BlockFor: 1} }), single, isType[*gocql.RequestErrReadFailure]},
		{"write failure", custom(func() message.Error {
			return &message.WriteFailure{ErrorMessage: "no", BlockFor: 1, WriteType: "SIMPLE"}
		}), single, isType[*gocql.RequestErrWriteFailure]},
	}
	for i, c := range cases {
		for _, idempotent := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/idempotent=%v", c.name, idempotent), func(t *testing.T) {
				stmt := fmt.Sprintf("INSERT INTO ks.retry_%d_%v (id) VALUES (1)", i, idempotent)
				for _, srv := range servers {
					srv.FailPage(stmt, 1, c.fault)
				}
				_, err := s.Query(stmt).Idempotent(idempotent).Execute(context.Background()).Await(context.Background())
				require.Error(t, err)
				c.check(t, err)

				want := c.perNode
				if !idempotent {
					want = single
				}
				perNode, top := requestsPerNode(servers, stmt)
				assert.Equal(t, want, perNode, "requests per node")
				var qe *QueryError
				require.ErrorAs(t, err, &qe)
				attempts := 0
				for _, n := range want {
					attempts += n
				}
				assert.Equal(t, attempts, qe.Attempts, "QueryError.Attempts")
				if want[0] > 1 {
					assert.Equal(t, top, qe.Host, "retried on the node that answered first")
				}
			})
		}
	}
	// Waits: none before a first retry, so only the four kinds that go
	// from node to node waited: before the third attempt (5 to 10 ms),
	// and after it, before the driver found no node left (10 to 20 ms).
	waits := rec.get()
	assert.Len(t, waits, 8)
	for _, d := range waits {
		assert.GreaterOrEqual(t, d, 5*time.Millisecond)
		assert.LessOrEqual(t, d, 20*time.Millisecond)
	}
}

func isType[E error](t *testing.T, err error) {
	t.Helper()
	var target E
	assert.ErrorAs(t, err, &target)
}

func isCode(code int) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var re gocql.RequestError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, code, re.Code())
	}
}

// A retry that succeeds: the result says how many attempts it took, and
// which node answered.
func TestRetrySucceeds(t *testing.T) {
	s, servers := retryCluster(t, nil, WithRetryPolicy(&RetryPolicy{MaxRetries: 3}))

	t.Run("same node", func(t *testing.T) {
		const stmt = "INSERT INTO ks.retry_ok_same (id) VALUES (1)"
		for _, srv := range servers {
			srv.FailPage(stmt, 1, cqltest.WriteTimeoutOf("SIMPLE")).Times(1)
		}
		rs, err := s.Query(stmt).Idempotent(true).Execute(context.Background()).Await(context.Background())
		require.NoError(t, err)
		perNode, top := requestsPerNode(servers, stmt)
		assert.Equal(t, []int{2, 0, 0}, perNode)
		assert.Equal(t, 2, rs.Attempts())
		assert.Equal(t, top, rs.Host().ConnectAddressAndPort())
	})

	t.Run("next node", func(t *testing.T) {
		// Two nodes refuse, the third answers, whatever the order the
		// driver tries them in.
		const stmt = "INSERT INTO ks.retry_ok_next (id) VALUES (1)"
		servers[0].FailPage(stmt, 1, cqltest.Overloaded())
		servers[1].FailPage(stmt, 1, cqltest.IsBootstrapping())
		rs, err := s.Query(stmt).Idempotent(true).Execute(context.Background()).Await(context.Background())
		require.NoError(t, err)
		assert.Equal(t, servers[2].Addr(), rs.Host().ConnectAddressAndPort())
		assert.Equal(t, 1, servers[2].Requests(stmt))
		assert.LessOrEqual(t, servers[0].Requests(stmt), 1)
		assert.LessOrEqual(t, servers[1].Requests(stmt), 1)
		assert.Equal(t, 1+servers[0].Requests(stmt)+servers[1].Requests(stmt), rs.Attempts())
	})

	t.Run("batch", func(t *testing.T) {
		const stmt = "INSERT INTO ks.retry_ok_batch (id) VALUES (1)"
		for _, srv := range servers {
			srv.FailPage(stmt, 1, cqltest.WriteTimeoutOf("BATCH")).Times(1)
		}
		rs, err := s.Batch(gocql.LoggedBatch).Query(stmt).Query(stmt).Idempotent(true).
			Execute(context.Background()).Await(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 2, rs.Attempts())
	})

	t.Run("stream page", func(t *testing.T) {
		const stmt = "SELECT id FROM ks.retry_ok_stream"
		for _, srv := range servers {
			srv.SetRows(stmt, cqltest.Cols("id", cqltest.Int), [][]any{{1}, {2}, {3}})
			srv.FailPage(stmt, 2, cqltest.ReadTimeoutOf(1, 1, false)).Times(1)
		}
		st := s.Query(stmt).Idempotent(true).PageSize(2).Stream(context.Background())
		defer st.Close()
		n := 0
		for _, err := range st.Rows() {
			require.NoError(t, err)
			n++
		}
		assert.Equal(t, 3, n)
	})
}

// The once-only rules hold for a request's first retry only: a read
// timeout that follows a refusal is not retried. Node 1 refuses, the
// others time out reading; whatever node a request starts on, it makes
// two attempts (1 then 2 or 3, or 2 or 3 twice), never three.
func TestRetryOnceOnlyAsFirstRetry(t *testing.T) {
	s, servers := retryCluster(t, nil, WithRetryPolicy(&RetryPolicy{MaxRetries: 3}))
	const stmt = "SELECT id FROM ks.retry_once"
	for _, srv := range servers {
		srv.SetRows(stmt, cqltest.Cols("id", cqltest.Int), [][]any{{1}})
	}
	servers[0].FailPage(stmt, 1, cqltest.Overloaded())
	servers[1].FailPage(stmt, 1, cqltest.ReadTimeoutOf(1, 1, false))
	servers[2].FailPage(stmt, 1, cqltest.ReadTimeoutOf(1, 1, false))
	for i := range 3 { // round robin: one of them starts on node 1
		_, err := s.Query(stmt).Idempotent(true).Execute(context.Background()).Await(context.Background())
		isType[*gocql.RequestErrReadTimeout](t, err)
		var qe *QueryError
		require.ErrorAs(t, err, &qe)
		assert.Equal(t, 2, qe.Attempts, "execution %d", i+1)
	}
	require.Equal(t, 1, servers[0].Requests(stmt), "one execution started on node 1")
	assert.Equal(t, 5, servers[1].Requests(stmt)+servers[2].Requests(stmt))
}

// MaxRetries bounds the retries even when nodes are left to try.
func TestRetryPolicyMaxRetries(t *testing.T) {
	s, servers := retryCluster(t, nil, WithRetryPolicy(&RetryPolicy{MaxRetries: 1}))
	const stmt = "INSERT INTO ks.retry_max (id) VALUES (1)"
	for _, srv := range servers {
		srv.FailPage(stmt, 1, cqltest.Overloaded())
	}
	_, err := s.Query(stmt).Idempotent(true).Execute(context.Background()).Await(context.Background())
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 2, qe.Attempts)
	perNode, _ := requestsPerNode(servers, stmt)
	assert.Equal(t, []int{1, 1, 0}, perNode)
}

// A node that drops the connection mid-request: an idempotent statement
// goes to the next node; a non-idempotent one, which the node may have
// applied, is never sent again.
func TestRetryAfterConnectionLoss(t *testing.T) {
	for _, idempotent := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			s, servers := retryCluster(t, nil)
			const stmt = "INSERT INTO ks.retry_drop (id) VALUES (1)"
			// Node 1 drops it; the others answer.
			servers[0].DropConnectionOnPage(stmt, 1)
			// Round robin: with three tries, one starts on node 1.
			var sawDrop bool
			for range 3 {
				before := servers[0].Requests(stmt)
				rs, err := s.Query(stmt).Idempotent(idempotent).Execute(context.Background()).Await(context.Background())
				if servers[0].Requests(stmt) == before {
					require.NoError(t, err, "node 1 not involved")
					continue
				}
				sawDrop = true
				if idempotent {
					require.NoError(t, err)
					assert.Equal(t, 2, rs.Attempts())
					assert.NotEqual(t, servers[0].Addr(), rs.Host().ConnectAddressAndPort())
					continue
				}
				require.Error(t, err)
				var qe *QueryError
				require.ErrorAs(t, err, &qe)
				assert.Equal(t, 1, qe.Attempts, "sent once")
				assert.Equal(t, servers[0].Addr(), qe.Host)
				assert.True(t, isConnectionError(err), "a connection error: %v", err)
			}
			require.True(t, sawDrop, "one execution started on node 1")
			total := 0
			for _, srv := range servers {
				total += srv.Requests(stmt)
			}
			if idempotent {
				assert.Equal(t, 4, total, "three executions, one of them retried")
			} else {
				assert.Equal(t, 3, total, "three executions, none retried")
			}
		})
	}
}

// When the request's context ends during a back-off wait, the request
// ends at once, with an error that matches the context's and the last
// attempt's.
func TestRetryBackoffEndsWithContext(t *testing.T) {
	waiting := make(chan struct{})
	var once sync.Once
	policy := &RetryPolicy{MaxRetries: 3, MinBackoff: time.Hour, MaxBackoff: time.Hour,
		sleep: func(ctx context.Context, d time.Duration) error {
			once.Do(func() { close(waiting) })
			return sleepContext(ctx, d)
		}}
	s, servers := retryCluster(t, nil, WithRetryPolicy(policy))
	const stmt = "INSERT INTO ks.retry_ctx (id) VALUES (1)"
	for _, srv := range servers {
		srv.FailPage(stmt, 1, cqltest.Overloaded())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fut := s.Query(stmt).Idempotent(true).Execute(ctx)
	select {
	case <-waiting: // the first retry went at once; the second waits an hour
	case <-fut.Done():
		t.Fatalf("the request ended without waiting: %v", fut.Err())
	}
	cancel()
	select {
	case <-fut.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the back-off did not end with the context")
	}
	_, err := fut.Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
	isCode(gocql.ErrCodeOverloaded)(t, err)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 2, qe.Attempts)
	assert.Equal(t, 0, s.Stats().BusyWorkers+s.Stats().QueueDepth, "the worker is free")
}

// countingPolicy is a gocql retry policy that counts how often it is asked.
type countingPolicy struct {
	mu    sync.Mutex
	asked int
}

func (c *countingPolicy) Attempt(q gocql.RetryableQuery) bool {
	c.mu.Lock()
	c.asked++
	c.mu.Unlock()
	return false
}

func (c *countingPolicy) GetRetryType(error) gocql.RetryType { return gocql.Rethrow }

func (c *countingPolicy) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked
}

// The user's policy wins over the session's default: on the
// ClusterConfig, on the Query, through Configure, and WithRetryPolicy(nil)
// turns retries off.
func TestRetryPolicyPrecedence(t *testing.T) {
	const stmt = "INSERT INTO ks.retry_prec (id) VALUES (1)"
	overloaded := func(servers []*cqltest.Server) {
		for _, srv := range servers {
			srv.FailPage(stmt, 1, cqltest.Overloaded())
		}
	}
	attempts := func(t *testing.T, err error) int {
		t.Helper()
		var qe *QueryError
		require.ErrorAs(t, err, &qe)
		return qe.Attempts
	}
	bg := context.Background()

	t.Run("default", func(t *testing.T) {
		s, servers := retryCluster(t, nil)
		require.NotNil(t, s.retry)
		assert.Equal(t, *DefaultRetryPolicy(), *s.retry)
		overloaded(servers)
		_, err := s.Query(stmt).Idempotent(true).Execute(bg).Await(bg)
		assert.Equal(t, 3, attempts(t, err), "every node tried")
		_, err = s.Query(stmt).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err), "not idempotent: sent once")
	})
	t.Run("cluster config", func(t *testing.T) {
		user := &countingPolicy{}
		var cfg *gocql.ClusterConfig
		s, servers := retryCluster(t, func(c *gocql.ClusterConfig) { c.RetryPolicy = user; cfg = c })
		overloaded(servers)
		_, err := s.Query(stmt).Idempotent(true).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err))
		assert.Equal(t, 1, user.count())
		assert.Same(t, user, cfg.RetryPolicy, "the caller's configuration is left as it was")
		assert.Nil(t, s.retry)
	})
	t.Run("query and batch", func(t *testing.T) {
		s, servers := retryCluster(t, nil)
		overloaded(servers)
		user := &countingPolicy{}
		_, err := s.Query(stmt).Idempotent(true).RetryPolicy(user).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err))
		assert.Equal(t, 1, user.count())
		_, err = s.Batch(gocql.UnloggedBatch).Query(stmt).Idempotent(true).RetryPolicy(user).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err))
		assert.Equal(t, 2, user.count())
	})
	t.Run("configure", func(t *testing.T) {
		s, servers := retryCluster(t, nil)
		overloaded(servers)
		user := &countingPolicy{}
		_, err := s.Query(stmt).Idempotent(true).
			Configure(func(q *gocql.Query) *gocql.Query { return q.RetryPolicy(user) }).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err))
		assert.Equal(t, 1, user.count())
		_, err = s.Query(stmt).Idempotent(true).
			Configure(func(q *gocql.Query) *gocql.Query { return q.RetryPolicy(nil) }).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err), "Configure turns retries off for one query")
	})
	t.Run("off", func(t *testing.T) {
		s, servers := retryCluster(t, nil, WithRetryPolicy(nil))
		overloaded(servers)
		_, err := s.Query(stmt).Idempotent(true).Execute(bg).Await(bg)
		assert.Equal(t, 1, attempts(t, err))
		assert.Nil(t, s.retry)
	})
	t.Run("raw gocql query", func(t *testing.T) {
		// A query made on the driver's session gets the policy from the
		// session's configuration, used by gocql directly.
		s, servers := retryCluster(t, nil)
		overloaded(servers)
		err := s.Gocql().Query(stmt).Idempotent(true).ExecContext(bg)
		isCode(gocql.ErrCodeOverloaded)(t, err)
		perNode, _ := requestsPerNode(servers, stmt)
		assert.Equal(t, []int{1, 1, 1}, perNode)
	})
}
