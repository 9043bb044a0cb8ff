package cassandra

import (
	"context"
	"math"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// The rate limit against the in-process CQL server. Tokens never come
// back in a test unless it says so: a rate of one per hour, or a frozen
// session clock (WithClock), which the token bucket follows. Counts are
// exact; no assertion depends on how long anything took.

// hourly is a rate at which no token comes back during a test.
var hourly = rate.Every(time.Hour)

// frozenClock returns a clock that never moves.
func frozenClock() func() time.Time {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

func TestWithRateLimitValidates(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	for name, opt := range map[string]Option{
		"zero rate":     WithRateLimit(0, 1),
		"negative rate": WithRateLimit(-1, 1),
		"NaN rate":      WithRateLimit(rate.Limit(math.NaN()), 1),
		"zero burst":    WithRateLimit(10, 0),
	} {
		_, err := NewAsyncCluster(cfg, opt)
		assert.ErrorContains(t, err, "WithRateLimit", name)
	}
	_, err := NewAsyncCluster(cfg, WithRateLimit(rate.Inf, 0))
	assert.NoError(t, err, "rate.Inf: no limit")
}

// A burst of n passes at once; the next request waits for a token until
// its context ends, and nothing is submitted for it.
func TestRateLimitBurstThenWait(t *testing.T) {
	s, srv, _ := sessionServer(t, WithRateLimit(hourly, 3))
	ctx := context.Background()
	for range 3 {
		_, err := s.Execute(ctx, fastQuery).Await(ctx)
		require.NoError(t, err)
	}
	st := s.Stats()
	assert.Zero(t, st.RateLimitWaitCount, "the burst did not wait")

	waitCtx, cancel := context.WithCancel(ctx)
	returned := make(chan *Future[*ResultSet], 1)
	go func() { returned <- s.Execute(waitCtx, fastQuery) }()
	require.Eventually(t, func() bool { return s.Stats().RateLimitWaiting == 1 }, 10*time.Second, time.Millisecond)
	select {
	case <-returned:
		t.Fatal("Execute returned without a token")
	default:
	}
	cancel()
	fut := <-returned
	_, err := fut.Await(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Zero(t, qe.Attempts)

	// A deadline ends the wait the same way.
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer dcancel()
	_, err = s.Execute(dctx, fastQuery).Await(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	st = s.Stats()
	assert.Equal(t, 3, srv.Requests(fastQuery), "nothing submitted without a token")
	assert.Equal(t, uint64(3), st.SubmitCount)
	assert.Zero(t, st.CanceledSubmitCount, "held back before the pool")
	assert.Equal(t, uint64(2), st.RateLimitWaitCount)
	assert.Equal(t, uint64(2), st.RateLimitCanceledCount)
	assert.Zero(t, st.RateLimitRejectedCount)
	assert.Zero(t, st.RateLimitWaiting)
	assert.Positive(t, st.RateLimitWaitDuration)
}

// With a frozen clock, tokens after the burst are reserved one rate
// interval apart: the waits are exactly 1, 2 and 3 intervals.
func TestRateLimitWaitsForTokens(t *testing.T) {
	s, srv, _ := sessionServer(t, WithClock(frozenClock()), WithRateLimit(1000, 2))
	ctx := context.Background()
	for range 5 {
		_, err := s.Execute(ctx, fastQuery).Await(ctx)
		require.NoError(t, err)
	}
	st := s.Stats()
	assert.Equal(t, 5, srv.Requests(fastQuery))
	assert.Equal(t, uint64(3), st.RateLimitWaitCount)
	assert.Zero(t, st.RateLimitCanceledCount)
	assert.InDelta(t, float64(6*time.Millisecond), float64(st.RateLimitWaitDuration), float64(time.Microsecond))
}

// With QueueFailFast, a request that finds no token is refused at once
// with ErrRateLimited, which matches ErrOverloaded.
func TestRateLimitFailFast(t *testing.T) {
	s, srv, _ := sessionServer(t, WithQueueFullPolicy(QueueFailFast), WithRateLimit(hourly, 2))
	ctx := context.Background()
	for range 2 {
		_, err := s.Execute(ctx, fastQuery).Await(ctx)
		require.NoError(t, err)
	}
	fut := s.Execute(ctx, fastQuery)
	_, done, err := fut.TryResult()
	require.True(t, done, "refused at once")
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.ErrorIs(t, err, ErrOverloaded)
	var qe *QueryError
	assert.ErrorAs(t, err, &qe)

	st := s.Stats()
	assert.Equal(t, 2, srv.Requests(fastQuery))
	assert.Equal(t, uint64(1), st.RateLimitRejectedCount)
	assert.Zero(t, st.RejectedCount, "the pool refused nothing")
	assert.Zero(t, st.RateLimitWaitCount)
}

// A context that has already ended takes no token: the pool refuses the
// request, as without a limit, and the token is left for the next one.
func TestRateLimitDoneContextTakesNoToken(t *testing.T) {
	s, _, _ := sessionServer(t, WithRateLimit(hourly, 1))
	_, err := s.Execute(canceledContext(), fastQuery).Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, uint64(1), s.Stats().CanceledSubmitCount)
	fastQueryRuns(t, s, "the token is still there")
	assert.Zero(t, s.Stats().RateLimitWaitCount)
}

// Close and Shutdown release callers waiting for a token with ErrClosed.
func TestRateLimitWaitEndsOnClose(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			s, _, _ := sessionServer(t, WithRateLimit(hourly, 1))
			fastQueryRuns(t, s, "the burst")
			returned := make(chan *Future[*ResultSet], 1)
			go func() { returned <- s.Execute(context.Background(), fastQuery) }()
			require.Eventually(t, func() bool { return s.Stats().RateLimitWaiting == 1 }, 10*time.Second, time.Millisecond)
			if how == "Close" {
				require.NoError(t, s.Close())
			} else {
				require.NoError(t, s.Shutdown(context.Background()))
			}
			_, err := (<-returned).Await(context.Background())
			assert.ErrorIs(t, err, ErrClosed)
			st := s.Stats()
			assert.Equal(t, uint64(1), st.RateLimitCanceledCount)
			assert.Equal(t, uint64(1), st.SubmitCount)
		})
	}
}

// Each page of a stream takes a token. Prefetches take one only if it is
// there; the reader waits for the page it needs, and its context ends
// that wait.
func TestRateLimitStreamPages(t *testing.T) {
	srv, s := streamServer(t, 30, WithPageSize(10), WithRateLimit(hourly, 2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := s.Stream(ctx, streamQuery)
	type ret struct {
		got []int
		err error
	}
	done := make(chan ret, 1)
	go func() {
		got, err := readInts(st)
		done <- ret{got, err}
	}()
	require.Eventually(t, func() bool { return s.Stats().RateLimitWaiting == 1 }, 10*time.Second, time.Millisecond)
	assert.Zero(t, srv.PageRequests(streamQuery, 3), "the third page waits for a token")
	cancel()
	r := <-done
	assert.ErrorIs(t, r.err, context.Canceled)
	assert.Len(t, r.got, 20, "two pages read")
	ps := s.Stats()
	assert.Equal(t, uint64(1), ps.RateLimitWaitCount, "only the reader waits")
	assert.Equal(t, uint64(1), ps.RateLimitCanceledCount)
	assert.Equal(t, 2, srv.Requests(streamQuery))
}
