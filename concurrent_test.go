package cassandra

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// ExecuteConcurrent against the in-process CQL server. Items bind an int;
// the server answers each with the value it was given, so every item's
// result can be told apart. An item fails by binding a value the driver
// cannot encode as an int (badValue): deterministic, and per item.

const concStmt = "SELECT arg0 FROM ks.conc WHERE k = ?"

// badValue cannot be encoded as a CQL int: the item that binds it fails.
type badValue struct{}

// concServer serves concStmt (echoing its value) and connects a session
// with opts; everything is closed and leaks checked when the test ends.
func concServer(t *testing.T, opts ...Option) (*AsyncSession, *cqltest.Server) {
	t.Helper()
	srv := cqltest.NewServer(t)
	srv.EchoValues(concStmt, cqltest.Int)
	srv.SetRows(fastQuery, cqltest.Cols("id", cqltest.Int), [][]any{{2}})
	cfg := srv.ClusterConfig()
	cfg.Timeout = time.Minute // -race on two shared cores; no test waits for it
	cluster, err := NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, cluster.Close())
		srv.Close()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	})
	return s, srv
}

// items yields n items, {i} for the i-th, or {badValue{}} when bad(i);
// pulled counts the items taken (atomic: tests read it while a call runs).
func items(n int, bad func(int) bool, pulled *atomic.Int64) iter.Seq[[]any] {
	return func(yield func([]any) bool) {
		for i := range n {
			pulled.Store(int64(i + 1))
			v := []any{i}
			if bad != nil && bad(i) {
				v = []any{badValue{}}
			}
			if !yield(v) {
				return
			}
		}
	}
}

// outcomes records OnResult calls by index; it fails the test if an index
// is reported twice. The callbacks run on the caller's goroutine, so no
// lock is needed.
type outcomes struct {
	t    *testing.T
	errs map[int]error
}

func newOutcomes(t *testing.T) *outcomes { return &outcomes{t: t, errs: map[int]error{}} }

func (o *outcomes) record(r ItemResult) {
	_, dup := o.errs[r.Index]
	assert.False(o.t, dup, "item %d reported twice", r.Index)
	o.errs[r.Index] = r.Err
}

// assertSettled checks the summary's identity and that every item taken
// was reported once.
func assertSettled(t *testing.T, st ConcurrentStats, o *outcomes) {
	t.Helper()
	assert.Zero(t, st.InFlight)
	assert.Equal(t, st.Items, st.Succeeded+st.Failed+st.Canceled)
	if o != nil {
		assert.Len(t, o.errs, st.Items, "OnResult once per item taken")
		for i := range st.Items {
			assert.Contains(t, o.errs, i)
		}
	}
}

func TestExecuteConcurrentRunsEveryItem(t *testing.T) {
	s, srv := concServer(t)
	const n = 2000
	before := s.Stats()
	var pulled atomic.Int64
	var calls int
	o := newOutcomes(t)
	var last ConcurrentStats
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, items(n, nil, &pulled),
		InFlight(16),
		OnResult(func(r ItemResult) {
			o.record(r)
			if !assert.NoError(t, r.Err) {
				return
			}
			var got int
			require.NoError(t, r.Result.One(&got))
			assert.Equal(t, r.Index, got, "each item gets its own answer")
			assert.Equal(t, []any{r.Index}, r.Values)
		}),
		OnProgress(0, func(p ConcurrentStats) {
			calls++
			assert.LessOrEqual(t, p.InFlight, 16)
			assert.Equal(t, p.Items, p.Succeeded+p.Failed+p.Canceled+p.InFlight)
			assert.GreaterOrEqual(t, p.Succeeded, last.Succeeded)
			last = p
		}))
	require.NoError(t, err)
	assert.Equal(t, ConcurrentStats{Items: n, Succeeded: n, Elapsed: st.Elapsed}, st)
	assertSettled(t, st, o)
	assert.Equal(t, int64(n), pulled.Load())
	assert.Equal(t, n+1, calls, "OnProgress(0) after every item, and once at the end")
	assert.Equal(t, st, last, "the last progress report is the summary")
	assert.Equal(t, n, srv.Requests(concStmt))
	after := s.Stats()
	assert.Equal(t, uint64(n), after.SubmitCount-before.SubmitCount)
	assert.Equal(t, uint64(n), after.CompletedCount-before.CompletedCount)
	assert.Zero(t, after.BusyWorkers, "nothing of the call is left in the pool")
}

// At most InFlight items are submitted; the next one is taken from the
// input and waits for a place, and no further item is taken.
func TestExecuteConcurrentBoundsInFlight(t *testing.T) {
	s, srv := concServer(t)
	hold := make(chan struct{})
	srv.DelayPage(concStmt, 1, hold)
	before := s.Stats()
	var pulled atomic.Int64
	in := items(10, nil, &pulled)
	type ret struct {
		st  ConcurrentStats
		err error
	}
	done := make(chan ret, 1)
	go func() {
		st, err := s.ExecuteConcurrent(context.Background(), concStmt, in, InFlight(3))
		done <- ret{st, err}
	}()
	require.Eventually(t, func() bool {
		return pulled.Load() == 4 && srv.Requests(concStmt) == 3
	}, 10*time.Second, time.Millisecond)
	// The fourth item was taken after the third was submitted, and cannot
	// be submitted before one of the three completes: none can while held.
	st := s.Stats()
	assert.Equal(t, uint64(3), st.SubmitCount-before.SubmitCount)
	assert.Equal(t, 3, st.BusyWorkers)
	close(hold)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, 10, r.st.Succeeded)
	assert.Equal(t, 10, srv.Requests(concStmt))
}

func TestExecuteConcurrentStopsAtFirstError(t *testing.T) {
	s, _ := concServer(t)
	const n, bad, inFlight = 1000, 500, 8
	var pulled atomic.Int64
	o := newOutcomes(t)
	pulledAtFailure := int64(-1)
	st, err := s.ExecuteConcurrent(context.Background(), concStmt,
		items(n, func(i int) bool { return i == bad }, &pulled),
		InFlight(inFlight), OnResult(func(r ItemResult) {
			if r.Index == bad {
				pulledAtFailure = pulled.Load()
			}
			o.record(r)
		}))

	var ie *ItemError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, bad, ie.Index)
	var me gocql.MarshalError
	assert.ErrorAs(t, err, &me, "the driver's error is reachable")
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, concStmt, qe.Statement)
	assert.NotContains(t, err.Error(), "badValue", "no bound value in the message")

	assert.Equal(t, 1, st.Failed)
	assertSettled(t, st, o)
	// No item was taken once the failure was reported. (Before that, other
	// items go on completing and being replaced while the failing one is
	// still on its worker, so how many follow it depends on scheduling.)
	assert.Equal(t, int64(st.Items), pulled.Load(), "no item taken without being reported")
	assert.Greater(t, st.Items, bad)
	assert.Equal(t, pulledAtFailure, pulled.Load(), "no item taken after the failure was reported")
	assert.ErrorIs(t, o.errs[bad], me)
	for i, err := range o.errs {
		if i != bad && err != nil {
			assert.ErrorIs(t, err, context.Canceled, "item %d: only cancelled by the stop", i)
		}
	}
}

func TestExecuteConcurrentCollectsAll(t *testing.T) {
	s, _ := concServer(t)
	const n = 1000
	badSet := map[int]bool{100: true, 200: true, 300: true}
	var pulled atomic.Int64
	o := newOutcomes(t)
	st, err := s.ExecuteConcurrent(context.Background(), concStmt,
		items(n, func(i int) bool { return badSet[i] }, &pulled),
		InFlight(4), ContinueOnError(2), OnResult(o.record))

	var ce *ConcurrentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 3, ce.Failed)
	require.Len(t, ce.Errors, 2, "keeps only as many as asked")
	assert.True(t, sort.SliceIsSorted(ce.Errors, func(i, j int) bool { return ce.Errors[i].Index < ce.Errors[j].Index }))
	for _, e := range ce.Errors {
		assert.True(t, badSet[e.Index], "kept error for item %d", e.Index)
	}
	var ie *ItemError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, ce.Errors[0], ie, "errors.As finds the lowest kept index")
	var me gocql.MarshalError
	assert.ErrorAs(t, err, &me)
	assert.Contains(t, err.Error(), "3 items failed")

	assert.Equal(t, ConcurrentStats{Items: n, Succeeded: n - 3, Failed: 3, Elapsed: st.Elapsed}, st)
	assertSettled(t, st, o)
	assert.Equal(t, int64(n), pulled.Load())
	for i, err := range o.errs {
		assert.Equal(t, badSet[i], err != nil, "item %d", i)
	}

	// Keeping none still reports the count.
	st, err = s.ExecuteConcurrent(context.Background(), concStmt,
		items(10, func(i int) bool { return i%2 == 0 }, &pulled), ContinueOnError(0))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 5, ce.Failed)
	assert.Empty(t, ce.Errors)
	assert.Equal(t, 5, st.Succeeded)
}

// Cancelling the context stops taking items and cancels those in flight;
// the call returns ctx.Err() once none is left.
func TestExecuteConcurrentCancel(t *testing.T) {
	s, srv := concServer(t)
	srv.DelayPage(concStmt, 1, make(chan struct{})) // never answered
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pulled atomic.Int64
	o := newOutcomes(t)
	// The test cancels from a goroutine of its own once four requests are
	// held at the server and a fifth item waits for a place.
	go func() {
		if assert.Eventually(t, func() bool { return srv.Requests(concStmt) == 4 && pulled.Load() == 5 }, 10*time.Second, time.Millisecond) {
			cancel()
		}
	}()
	st, err := s.ExecuteConcurrent(ctx, concStmt, items(1000, nil, &pulled), InFlight(4), OnResult(o.record))
	assert.Equal(t, context.Canceled, err)
	assert.Equal(t, ConcurrentStats{Items: 5, Canceled: 5, Elapsed: st.Elapsed}, st,
		"four in flight and one waiting for a place")
	assertSettled(t, st, o)
	assert.Equal(t, int64(5), pulled.Load())
	for i, err := range o.errs {
		assert.ErrorIs(t, err, context.Canceled, "item %d", i)
	}
	ps := s.Stats()
	assert.Zero(t, ps.BusyWorkers)
	assert.Zero(t, ps.QueueDepth)
	fastQueryRuns(t, s, "every place is back")
}

func TestExecuteConcurrentIteratorPanics(t *testing.T) {
	s, _ := concServer(t)
	o := newOutcomes(t)
	in := func(yield func([]any) bool) {
		for i := range 20 {
			if !yield([]any{i}) {
				return
			}
		}
		panic("boom")
	}
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, in, InFlight(4), OnResult(o.record))
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "TestExecuteConcurrentIteratorPanics")
	assert.Equal(t, 20, st.Items)
	assertSettled(t, st, o)
	assert.Zero(t, st.Failed)
}

// An iterator that ignores yield's false goes on after the call stopped:
// the call still returns the failure that stopped it.
func TestExecuteConcurrentIteratorIgnoresStop(t *testing.T) {
	s, _ := concServer(t)
	in := func(yield func([]any) bool) {
		yield([]any{badValue{}})
		for i := range 5 {
			yield([]any{i})
		}
	}
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, in, InFlight(1))
	var ie *ItemError
	require.ErrorAs(t, err, &ie)
	assert.Zero(t, ie.Index)
	// The second item was taken while the first ran, and never sent.
	assert.Equal(t, ConcurrentStats{Items: 2, Failed: 1, Canceled: 1, Elapsed: st.Elapsed}, st)
}

func TestExecuteConcurrentCallbackPanics(t *testing.T) {
	s, _ := concServer(t)
	calls := 0
	var pulled atomic.Int64
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, items(100, nil, &pulled), InFlight(4),
		OnResult(func(r ItemResult) {
			calls++
			if calls == 5 {
				panic(errors.New("callback failed"))
			}
		}))
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, pe.Unwrap(), "callback failed")
	assert.Equal(t, 5, calls, "no callback after the one that panicked")
	assertSettled(t, st, nil)
	assert.Less(t, st.Items, 100)
}

func TestExecuteConcurrentEmptyInput(t *testing.T) {
	s, srv := concServer(t)
	var reports []ConcurrentStats
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, func(func([]any) bool) {},
		OnProgress(time.Hour, func(p ConcurrentStats) { reports = append(reports, p) }))
	require.NoError(t, err)
	assert.Equal(t, ConcurrentStats{Elapsed: st.Elapsed}, st)
	assert.Equal(t, []ConcurrentStats{st}, reports, "only the final report")
	assert.Zero(t, srv.Requests(concStmt))
}

func TestExecuteConcurrentBadArguments(t *testing.T) {
	s, srv := concServer(t)
	one := func(yield func([]any) bool) { yield([]any{1}) }
	cases := map[string]struct {
		ctx  context.Context
		args iter.Seq[[]any]
		opts []ConcurrentOption
		want string
	}{
		"nil ctx":        {nil, one, nil, "nil Context"},
		"nil iterator":   {context.Background(), nil, nil, "nil iterator"},
		"nil option":     {context.Background(), one, []ConcurrentOption{nil}, "nil ConcurrentOption"},
		"in flight":      {context.Background(), one, []ConcurrentOption{InFlight(0)}, "InFlight"},
		"keep":           {context.Background(), one, []ConcurrentOption{ContinueOnError(-1)}, "ContinueOnError"},
		"nil result fn":  {context.Background(), one, []ConcurrentOption{OnResult(nil)}, "OnResult"},
		"nil progress":   {context.Background(), one, []ConcurrentOption{OnProgress(0, nil)}, "OnProgress"},
		"neg. interval":  {context.Background(), one, []ConcurrentOption{OnProgress(-1, func(ConcurrentStats) {})}, "OnProgress"},
		"ctx done first": {canceledContext(), one, nil, "context canceled"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := s.ExecuteConcurrent(c.ctx, concStmt, c.args, c.opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Zero(t, st)
		})
	}
	assert.Zero(t, srv.Requests(concStmt), "nothing ran")
}

func canceledContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// With QueueFailFast, an item refused with ErrOverloaded is submitted
// again (it was never sent), once a place frees up.
func TestExecuteConcurrentRetriesOverloaded(t *testing.T) {
	s, srv := concServer(t, WithWorkers(2), WithQueue(0), WithQueueFullPolicy(QueueFailFast))
	hold := make(chan struct{})
	// Another caller's request holds one worker, the call's first item
	// the other: the second item is refused until they are released.
	srv.SetRows(slowQuery, cqltest.Cols("id", cqltest.Int), [][]any{{1}})
	srv.DelayPage(slowQuery, 1, hold)
	srv.DelayPage(concStmt, 1, hold).Times(1)
	other := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	var pulled atomic.Int64
	type ret struct {
		st  ConcurrentStats
		err error
	}
	done := make(chan ret, 1)
	go func() {
		st, err := s.ExecuteConcurrent(context.Background(), concStmt, items(6, nil, &pulled), InFlight(4))
		done <- ret{st, err}
	}()
	require.Eventually(t, func() bool { return s.Stats().RejectedCount >= 2 }, 10*time.Second, time.Millisecond)
	close(hold)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, 6, r.st.Succeeded)
	assert.Equal(t, int(s.Stats().RejectedCount), r.st.Retries, "one retry per refusal")
	assert.Equal(t, 6, srv.Requests(concStmt), "a refused item was never sent")
	_, err := other.Await(context.Background())
	assert.NoError(t, err)
}

// A session closed during a collect-all call stops it: no later item
// could run.
func TestExecuteConcurrentSessionClosed(t *testing.T) {
	s, _ := concServer(t)
	var pulled atomic.Int64
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, items(1000, nil, &pulled),
		InFlight(2), ContinueOnError(0),
		OnResult(func(r ItemResult) {
			if r.Index == 10 {
				require.NoError(t, s.Close())
			}
		}))
	require.ErrorIs(t, err, ErrClosed)
	var ce *ConcurrentError
	require.ErrorAs(t, err, &ce)
	assert.Len(t, ce.Errors, 1, "the failure that found the session closed is kept")
	assert.Less(t, st.Items, 1000)
	assertSettled(t, st, nil)
}

// Each item takes a rate-limit token before it is submitted; a call whose
// context ends while an item waits for one returns at once.
func TestExecuteConcurrentRateLimited(t *testing.T) {
	s, srv := concServer(t, WithRateLimit(rate.Every(time.Hour), 5))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the five items with a token have completed and the
	// sixth waits for a token.
	go func() {
		if assert.Eventually(t, func() bool {
			st := s.Stats()
			return st.CompletedCount == 5 && st.RateLimitWaiting == 1
		}, 10*time.Second, time.Millisecond) {
			cancel()
		}
	}()
	var pulled atomic.Int64
	st, err := s.ExecuteConcurrent(ctx, concStmt, items(10, nil, &pulled), InFlight(8))
	assert.Equal(t, context.Canceled, err)
	assert.Equal(t, ConcurrentStats{Items: 6, Succeeded: 5, Canceled: 1, Elapsed: st.Elapsed}, st)
	assert.Equal(t, 5, srv.Requests(concStmt))
	ps := s.Stats()
	assert.Equal(t, uint64(1), ps.RateLimitWaitCount)
	assert.Equal(t, uint64(1), ps.RateLimitCanceledCount)
}

func TestConcurrentStatsRate(t *testing.T) {
	assert.Equal(t, 20.0, ConcurrentStats{Succeeded: 30, Failed: 10, Canceled: 7, Elapsed: 2 * time.Second}.Rate())
	assert.Zero(t, ConcurrentStats{Succeeded: 30}.Rate())
}

// Memory stays bounded whatever the size of the input: the live heap,
// sampled after a collection as the input is read, does not grow with the
// number of items run. A call that kept ten bytes or more per item
// (results, errors, the input) would grow by a megabyte over this run.
func TestExecuteConcurrentBoundedMemory(t *testing.T) {
	s, _ := concServer(t)
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	const sampleEvery = 5_000
	var samples []uint64
	in := func(yield func([]any) bool) {
		for i := range n {
			if i%sampleEvery == 0 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				samples = append(samples, ms.HeapAlloc)
			}
			v := []any{badValue{}} // every other item fails: all counted, few kept
			if i%2 == 0 {
				v = []any{i}
			}
			if !yield(v) {
				return
			}
		}
	}
	st, err := s.ExecuteConcurrent(context.Background(), concStmt, in, InFlight(64), ContinueOnError(100))
	var ce *ConcurrentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, n/2, ce.Failed)
	assert.Len(t, ce.Errors, 100)
	assert.Equal(t, ConcurrentStats{Items: n, Succeeded: n / 2, Failed: n / 2, Elapsed: st.Elapsed}, st)

	// Compare the second sample (the pool and connections warmed up) with
	// the highest later one.
	require.Greater(t, len(samples), 3)
	base, peak := samples[1], samples[1]
	for _, m := range samples[2:] {
		peak = max(peak, m)
	}
	t.Logf("live heap after GC: %d samples, base %d KiB, peak %d KiB, over %d items", len(samples), base>>10, peak>>10, n)
	assert.Less(t, int64(peak)-int64(base), int64(1<<20), "live heap grew by %d KiB", (int64(peak)-int64(base))>>10)
}
