package cassandra

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// The adaptive limit is tested on its own with a clock the test moves, so
// that every figure is exact, and then on a session against the in-process
// server. docs/performance.md has it against a real node.

// fakeLimiter is an adaptive limit on a manual clock, and the limits it set.
type fakeLimiter struct {
	*adaptive
	clock time.Time
	set   []int
}

func newFakeLimiter(l AdaptiveLimit, workers int) *fakeLimiter {
	f := &fakeLimiter{clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.adaptive = newAdaptive(l, workers, func() time.Time { return f.clock },
		func(n int) int { n = min(max(n, 1), workers); f.set = append(f.set, n); return n })
	return f
}

// window runs one window: n requests at once, each taking latency and
// ending with err; the clock reaches the window's end as the last one
// ends, which revises the limit. It returns the limit then.
func (f *fakeLimiter) window(n int, latency time.Duration, err error) int {
	for range n {
		f.begin()
	}
	for i := range n {
		if i == n-1 {
			f.clock = f.clock.Add(f.adaptive.window)
		}
		f.end(f.clock.Add(-latency), 1, err)
	}
	return f.limitNow()
}

func (f *fakeLimiter) limitNow() int { return f.set[len(f.set)-1] }

func TestAdaptiveStartsAtMin(t *testing.T) {
	f := newFakeLimiter(AdaptiveLimit{}, 512)
	assert.Equal(t, []int{DefaultAdaptiveMin}, f.set)
	small := newFakeLimiter(AdaptiveLimit{}, 4)
	assert.Equal(t, []int{4}, small.set, "Min defaults to WithWorkers when that is less")
}

// While latency stays at the quiet latency and the session uses the limit,
// the limit grows by its square root per window, up to WithWorkers.
func TestAdaptiveGrowsWhileLatencyIsFlat(t *testing.T) {
	f := newFakeLimiter(AdaptiveLimit{Min: 16}, 40)
	assert.Equal(t, 20, f.window(16, time.Millisecond, nil), "16 + sqrt(16)")
	assert.Equal(t, 24, f.window(20, time.Millisecond, nil), "20 + sqrt(20), rounded")
	for range 10 {
		f.window(f.limitNow(), time.Millisecond, nil)
	}
	assert.Equal(t, 40, f.limitNow(), "capped at WithWorkers")
}

// A session using less than half its limit does not grow it: the latency it
// sees says nothing about more.
func TestAdaptiveDoesNotGrowWhenIdle(t *testing.T) {
	f := newFakeLimiter(AdaptiveLimit{Min: 16}, 512)
	f.window(16, time.Millisecond, nil)
	for range 5 {
		assert.Equal(t, 20, f.window(9, time.Millisecond, nil))
	}
}

// Latency beyond Tolerance times the quiet latency shrinks the limit by half
// the shortfall, by at most a quarter per window, never below Min.
func TestAdaptiveShrinksWithLatency(t *testing.T) {
	f := newFakeLimiter(AdaptiveLimit{Min: 10, Tolerance: 2}, 512)
	f.window(10, time.Millisecond, nil) // quiet latency 1 ms; limit 13
	for f.limitNow() < 100 {
		f.window(f.limitNow(), time.Millisecond, nil)
	}
	before := f.limitNow()
	got := f.window(before, 3*time.Millisecond, nil)
	assert.InDelta(t, float64(before)*5/6, got, 1, "3 ms against 2 x 1 ms: a third short, a sixth off")
	before = got
	got = f.window(before, 50*time.Millisecond, nil)
	assert.InDelta(t, float64(before)*3/4, got, 1, "at most a quarter per window")
	lowest := f.limitNow()
	for range 10 {
		lowest = min(lowest, f.window(f.limitNow(), 50*time.Millisecond, nil))
	}
	assert.Equal(t, 10, lowest, "never below Min")
}

// A sign of overload cuts the limit by a fifth, whatever the latency; other
// failures, and cancellations, move nothing.
func TestAdaptiveOverloadSignals(t *testing.T) {
	signals := []error{
		&gocql.RequestErrReadTimeout{}, &gocql.RequestErrWriteTimeout{},
		gocql.ErrTimeoutNoResponse, context.DeadlineExceeded,
		fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
	}
	for _, err := range signals {
		f := newFakeLimiter(AdaptiveLimit{Min: 10}, 512)
		f.window(10, time.Millisecond, nil)
		for f.limitNow() < 100 {
			f.window(f.limitNow(), time.Millisecond, nil)
		}
		before := f.limitNow()
		assert.Equal(t, int(float64(before)*0.8+0.5), f.window(1, time.Millisecond, err), "%v", err)
	}
	for _, err := range []error{context.Canceled, ErrClosed, &gocql.RequestErrUnavailable{}, ErrNotFound, ErrOverloaded} {
		f := newFakeLimiter(AdaptiveLimit{Min: 10}, 512)
		f.window(10, time.Millisecond, nil)
		n := len(f.set)
		f.window(20, time.Millisecond, err)
		assert.Len(t, f.set, n, "%v: no window closes on errors that say nothing of load", err)
	}
}

// A quiet latency that became too low (the work got slower for good) is
// learnt afresh once the limit has shrunk to Min; a busier window that is
// faster lowers it at once.
func TestAdaptiveQuietLatencyFollowsTheCluster(t *testing.T) {
	f := newFakeLimiter(AdaptiveLimit{Min: 8}, 512)
	f.window(8, time.Millisecond, nil)
	for range 30 { // the work is now 10 times slower at any load
		f.window(f.limitNow(), 10*time.Millisecond, nil)
	}
	assert.Equal(t, 10*time.Millisecond, f.quiet, "learnt afresh at Min")
	grown := f.limitNow()
	for range 10 {
		f.window(f.limitNow(), 10*time.Millisecond, nil)
	}
	assert.Greater(t, f.limitNow(), grown, "grows again at the new quiet latency")

	f.window(f.limitNow(), 2*time.Millisecond, nil)
	assert.Equal(t, 2*time.Millisecond, f.quiet, "a faster busy window lowers it")
}

// Against a node that serves knee requests at its quiet latency and queues
// the rest (latency grows with what is in flight beyond the knee), the limit
// settles where latency is about Tolerance times the quiet latency: near
// Tolerance x knee, and stays there.
func TestAdaptiveSettlesNearTheKnee(t *testing.T) {
	const knee = 64
	base := 2 * time.Millisecond
	latency := func(inflight int) time.Duration {
		if inflight <= knee {
			return base
		}
		return base * time.Duration(inflight) / knee
	}
	for _, tol := range []float64{1.5, 2, 3} {
		f := newFakeLimiter(AdaptiveLimit{Min: 8, Tolerance: tol}, 4096)
		var seen []int
		for i := range 300 {
			l := f.limitNow()
			f.window(l, latency(l), nil)
			if i >= 200 {
				seen = append(seen, f.limitNow())
			}
		}
		for _, l := range seen {
			assert.GreaterOrEqual(t, l, knee, "tolerance %v: below the knee, throughput is lost", tol)
			assert.LessOrEqual(t, float64(l), tol*knee*1.25, "tolerance %v: latency beyond the tolerance", tol)
		}
	}
}

func TestWithAdaptiveLimitValidates(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	for name, opts := range map[string][]Option{
		"negative min":       {WithAdaptiveLimit(AdaptiveLimit{Min: -1})},
		"min over workers":   {WithWorkers(4), WithAdaptiveLimit(AdaptiveLimit{Min: 5})},
		"tolerance 1":        {WithAdaptiveLimit(AdaptiveLimit{Tolerance: 1})},
		"negative tolerance": {WithAdaptiveLimit(AdaptiveLimit{Tolerance: -2})},
		"negative window":    {WithAdaptiveLimit(AdaptiveLimit{Window: -time.Second})},
	} {
		_, err := NewAsyncCluster(cfg, opts...)
		assert.ErrorContains(t, err, "WithAdaptiveLimit", name)
	}
	_, err := NewAsyncCluster(cfg, WithWorkers(4), WithAdaptiveLimit(AdaptiveLimit{Min: 4, Tolerance: 1.2}))
	assert.NoError(t, err)
}

// On a session, the limit starts at Min, shows in Stats, grows with
// requests that succeed, and shrinks when the node answers Overloaded.
func TestAdaptiveLimitOnASession(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex // the workers read the clock
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	s, srv, _ := sessionServer(t, WithWorkers(64), WithClock(now),
		WithAdaptiveLimit(AdaptiveLimit{Min: 4, Window: time.Second}))
	ctx := context.Background()
	st := s.Stats()
	assert.Equal(t, 64, st.Workers)
	assert.Equal(t, 4, st.Limit)

	// Four at once for a window: the limit is used, latency is flat.
	run := func(n int) {
		futs := make([]*Future[*ResultSet], n)
		for i := range futs {
			futs[i] = s.Execute(ctx, fastQuery)
		}
		for _, f := range futs {
			_, err := f.Await(ctx)
			require.NoError(t, err)
		}
	}
	for range 2 {
		run(4)
	}
	advance(time.Second)
	run(4) // the window closes on the first of these
	assert.Equal(t, 6, s.Stats().Limit, "4 + sqrt(4)")

	srv.FailPage(fastQuery, 1, cqltest.Overloaded()).Times(1)
	advance(time.Second)
	_, err := s.Execute(ctx, fastQuery).Await(ctx)
	require.Error(t, err)
	assert.Equal(t, "server_overloaded", ErrorKind(err))
	assert.Equal(t, 5, s.Stats().Limit, "6 x 0.8, rounded")
}
