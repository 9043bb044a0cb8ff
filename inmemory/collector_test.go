package inmemory_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
)

func TestMain(m *testing.M) {
	// gocql v2.1.2 may leave its control connection's heartbeat goroutine
	// behind when a session closes right after it opened (see the core
	// package's tests).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(
		"github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat"))
}

// clock is a fake clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	insertUsers = cassandra.Statement{Text: "INSERT INTO users (id, name) VALUES (?, ?)", Kind: cassandra.KindInsert, Keyspace: "app", Table: "users"}
	selectUsers = cassandra.Statement{Text: "SELECT name FROM users WHERE id = ?", Kind: cassandra.KindSelect, Keyspace: "app", Table: "users"}
)

// done is a request that took d and returned rows rows.
func done(st cassandra.Statement, d time.Duration, rows int) cassandra.RequestInfo {
	return cassandra.RequestInfo{Statement: st, Duration: d, Attempts: 1, Pages: 1, Rows: rows}
}

// failed is a request that failed with an error of the given kind.
func failed(st cassandra.Statement, d time.Duration, kind string) cassandra.RequestInfo {
	return cassandra.RequestInfo{Statement: st, Duration: d, Attempts: 1, Err: errors.New(kind), ErrorKind: kind}
}

// exactQuantile is the q-th percentile of sorted values, by the
// nearest-rank definition (the HDR histogram's too).
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q/100*float64(len(sorted)) - 1e-9))
	return sorted[max(rank, 1)-1]
}

// checkDistribution records values in a collector and compares its
// percentiles with the exact ones, to within 1 µs or 0.1%.
func checkDistribution(t *testing.T, values []time.Duration) {
	t.Helper()
	c := inmemory.New(inmemory.WithClock(newClock().Now))
	var sum time.Duration
	for _, v := range values {
		c.RequestDone(context.Background(), cassandra.RequestInfo{Statement: selectUsers, Duration: v, QueueWait: v / 10})
		sum += v
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	lat := c.Snapshot().Window.Latency

	require.Equal(t, uint64(len(values)), lat.Count)
	assert.Equal(t, sorted[0], lat.Min, "exact")
	assert.Equal(t, sorted[len(sorted)-1], lat.Max, "exact")
	assert.Equal(t, sum/time.Duration(len(values)), lat.Mean, "exact")
	for q, got := range map[float64]time.Duration{50: lat.P50, 95: lat.P95, 99: lat.P99, 99.9: lat.P999} {
		want := exactQuantile(sorted, q)
		tolerance := max(time.Microsecond, want/1000)
		assert.InDelta(t, want, got, float64(tolerance), "p%v: exact %v, histogram %v", q, want, got)
	}
}

// Whole microseconds, so that the only error is the histogram's.
func micros(f float64) time.Duration { return time.Duration(f) * time.Microsecond }

func TestPercentilesUniform(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]time.Duration, 100_000)
	for i := range values {
		values[i] = micros(100 + r.Float64()*99_900) // 100 µs to 100 ms
	}
	checkDistribution(t, values)
}

func TestPercentilesExponential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := make([]time.Duration, 100_000)
	for i := range values {
		values[i] = micros(1 + r.ExpFloat64()*2000) // mean 2 ms, a long tail
	}
	checkDistribution(t, values)
}

// A duration beyond the histogram's range (an hour) still counts, as the
// exact maximum and in the mean.
func TestPercentilesBeyondRange(t *testing.T) {
	c := inmemory.New(inmemory.WithClock(newClock().Now))
	c.RequestDone(context.Background(), done(selectUsers, 2*time.Hour, 0))
	c.RequestDone(context.Background(), done(selectUsers, -time.Second, 0)) // a clock that went back
	lat := c.Snapshot().Window.Latency
	assert.Equal(t, uint64(2), lat.Count)
	assert.Equal(t, 2*time.Hour, lat.Max)
	assert.Zero(t, lat.Min, "a negative duration counts as zero")
	assert.InDelta(t, float64(time.Hour), float64(lat.P999), float64(time.Hour/1000))
}

func TestEmptySnapshot(t *testing.T) {
	clk := newClock()
	c := inmemory.New(inmemory.WithClock(clk.Now))
	s := c.Snapshot()
	assert.Zero(t, s.RequestCount)
	assert.Equal(t, inmemory.Distribution{}, s.Window.Latency)
	assert.Empty(t, s.Statements)
	assert.NotNil(t, s.ErrorsByKind)
	assert.Zero(t, s.Window.RequestsPerSecond, "no time has passed: no rate")
	assert.Contains(t, s.String(), "latency     none")
}

// The window slides by whole intervals: requests leave it once their
// interval is more than a window old, their slot is reused, and the
// totals keep them.
func TestWindowExpiry(t *testing.T) {
	clk := newClock()
	origin := clk.Now()
	c := inmemory.New(inmemory.WithClock(clk.Now), inmemory.WithWindow(time.Minute), inmemory.WithIntervals(6))
	ctx := context.Background()

	for range 10 { // interval 0
		c.RequestDone(ctx, done(selectUsers, time.Millisecond, 1))
	}
	clk.Add(25 * time.Second) // interval 2
	for range 5 {
		c.RequestDone(ctx, done(selectUsers, 100*time.Millisecond, 1))
	}
	clk.Add(5 * time.Second)
	s := c.Snapshot()
	assert.Equal(t, origin, s.Window.Start, "a young collector's window starts at its creation")
	assert.Equal(t, 30*time.Second, s.Window.Duration)
	assert.Equal(t, 10*time.Second, s.Window.Interval)
	assert.Equal(t, uint64(15), s.Window.RequestCount)
	assert.InDelta(t, 0.5, s.Window.RequestsPerSecond, 1e-9)
	assert.Equal(t, time.Millisecond, s.Window.Latency.Min)
	assert.Equal(t, time.Millisecond, s.Window.Latency.P50)
	assert.Equal(t, 100*time.Millisecond, s.Window.Latency.Max)

	clk.Add(31 * time.Second) // 61 s: interval 6, the window is intervals 1 to 6
	c.RequestDone(ctx, done(selectUsers, 3*time.Millisecond, 1))
	s = c.Snapshot()
	assert.Equal(t, origin.Add(10*time.Second), s.Window.Start)
	assert.Equal(t, 51*time.Second, s.Window.Duration)
	assert.Equal(t, uint64(6), s.Window.RequestCount, "interval 0 left the window")
	assert.Equal(t, 3*time.Millisecond, s.Window.Latency.Min, "its slot was reset for interval 6")
	assert.Equal(t, 100*time.Millisecond, s.Window.Latency.P50)
	assert.InDelta(t, 6.0/51, s.Window.RequestsPerSecond, 1e-9)
	assert.Equal(t, uint64(16), s.RequestCount, "totals keep everything")

	clk.Add(50 * time.Second) // 111 s: interval 11, window 6 to 11
	s = c.Snapshot()
	assert.Equal(t, uint64(1), s.Window.RequestCount)
	assert.Equal(t, 3*time.Millisecond, s.Window.Latency.P999)

	clk.Add(10 * time.Minute)
	s = c.Snapshot()
	assert.Zero(t, s.Window.RequestCount)
	assert.Zero(t, s.Window.Latency)
	assert.Zero(t, s.Window.QueueWait)
	assert.Zero(t, s.Window.RequestsPerSecond)
	assert.Equal(t, 51*time.Second, s.Window.Duration, "711 s: intervals 66 to 71")
	assert.Equal(t, uint64(16), s.RequestCount)
	assert.Equal(t, uint64(16), s.RowCount)
}

// A clock that goes back puts the request in the first interval or keeps
// it out of the window, never corrupts it.
func TestWindowClockGoesBack(t *testing.T) {
	clk := newClock()
	c := inmemory.New(inmemory.WithClock(clk.Now), inmemory.WithWindow(time.Minute), inmemory.WithIntervals(6))
	ctx := context.Background()
	clk.Add(2 * time.Minute)
	c.RequestDone(ctx, done(selectUsers, time.Millisecond, 0)) // interval 12, slot 0
	clk.Add(-2*time.Minute - time.Hour)
	c.RequestDone(ctx, done(selectUsers, time.Second, 0)) // before the start: interval 0, slot 0, older
	clk.Add(time.Hour + 2*time.Minute)
	s := c.Snapshot()
	assert.Equal(t, uint64(2), s.RequestCount)
	assert.Equal(t, uint64(1), s.Window.RequestCount, "the stale request is kept out of the window")
	assert.Equal(t, time.Millisecond, s.Window.Latency.Max)
}

func TestOptionDefaults(t *testing.T) {
	for name, opts := range map[string][]inmemory.Option{
		"none":  nil,
		"zeros": {inmemory.WithWindow(0), inmemory.WithIntervals(0), inmemory.WithMaxStatements(0), inmemory.WithClock(nil)},
		"below": {inmemory.WithWindow(-time.Second), inmemory.WithIntervals(-1), inmemory.WithMaxStatements(-5)},
	} {
		t.Run(name, func(t *testing.T) {
			c := inmemory.New(opts...)
			c.RequestDone(context.Background(), done(selectUsers, time.Millisecond, 0))
			s := c.Snapshot()
			assert.Equal(t, inmemory.DefaultWindow/inmemory.DefaultIntervals, s.Window.Interval)
			assert.WithinDuration(t, time.Now(), s.Time, time.Minute, "time.Now by default")
			assert.Equal(t, uint64(1), s.Window.RequestCount)
		})
	}
	c := inmemory.New(inmemory.WithIntervals(1000), inmemory.WithWindow(time.Hour))
	assert.Equal(t, time.Minute, c.Snapshot().Window.Interval, "at most MaxIntervals")
}

// Statements are counted apart up to the limit; the rest go to one Other
// entry, and the entries always add up to the totals.
func TestBoundedStatements(t *testing.T) {
	c := inmemory.New(inmemory.WithClock(newClock().Now), inmemory.WithMaxStatements(3))
	ctx := context.Background()
	stmt := func(i int) cassandra.Statement {
		return cassandra.Statement{Text: fmt.Sprintf("SELECT v FROM t%d WHERE k = ?", i), Kind: cassandra.KindSelect, Keyspace: "ks", Table: fmt.Sprintf("t%d", i)}
	}
	// Statement i runs i+1 times, i ms each; statements 3 and 4 come
	// after the limit is reached.
	for i := range 5 {
		for range i + 1 {
			c.RequestDone(ctx, done(stmt(i), time.Duration(i)*time.Millisecond, 2))
		}
	}
	// The same text with another keyspace is another statement.
	other := stmt(0)
	other.Keyspace = "ks2"
	c.RequestDone(ctx, failed(other, 50*time.Millisecond, "syntax"))

	s := c.Snapshot()
	require.Len(t, s.Statements, 4)
	byCount := s.TopByCount(10)
	assert.True(t, byCount[0].Other, "statements 3, 4 and the other keyspace's, 10 requests")
	assert.Equal(t, "(other statements)", byCount[0].Label())
	assert.Zero(t, byCount[0].Statement)
	assert.Equal(t, uint64(4+5+1), byCount[0].RequestCount)
	assert.Equal(t, uint64(1), byCount[0].ErrorCount)
	assert.Equal(t, uint64(18), byCount[0].RowCount)
	assert.Equal(t, (3*4+4*5+50)*time.Millisecond, byCount[0].TotalDuration)
	assert.Equal(t, 50*time.Millisecond, byCount[0].MaxDuration)
	for i, st := range byCount[1:] {
		n := 2 - i
		assert.Equal(t, stmt(n), st.Statement)
		assert.Equal(t, uint64(n+1), st.RequestCount)
		assert.Equal(t, time.Duration(n*(n+1))*time.Millisecond, st.TotalDuration)
		assert.Equal(t, time.Duration(n)*time.Millisecond, st.MeanDuration())
	}
	var total uint64
	for _, st := range s.Statements {
		total += st.RequestCount
	}
	assert.Equal(t, s.RequestCount, total)

	assert.Len(t, s.TopByCount(2), 2)
	assert.Empty(t, s.TopByCount(-1))
	byTime := s.TopByTime(2)
	require.Len(t, byTime, 2)
	assert.True(t, byTime[0].Other)
	assert.Equal(t, stmt(2), byTime[1].Statement, "6 ms in all, before statement 1's 2 ms")
	assert.True(t, s.Statements[0].Other, "TopByTime leaves the snapshot's order alone")
	assert.Equal(t, map[string]uint64{"syntax": 1}, s.ErrorsByKind)
}

// Counters: successes, errors by kind (taken from the error if the info
// has no kind), rows, pages, attempts, retries and stream pages.
func TestCounters(t *testing.T) {
	c := inmemory.New(inmemory.WithClock(newClock().Now))
	ctx := context.Background()
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers, Duration: time.Millisecond, Pages: 3, Rows: 250})
	c.RequestDone(ctx, failed(selectUsers, time.Millisecond, "read_timeout"))
	c.RequestDone(ctx, failed(insertUsers, time.Millisecond, "read_timeout"))
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: insertUsers, Err: context.DeadlineExceeded})
	for _, a := range []int{0, 1, 2, 0} {
		info := cassandra.AttemptInfo{Statement: selectUsers, Attempt: a}
		if a < 2 {
			info.Err, info.ErrorKind = &gocql.RequestErrReadTimeout{}, "read_timeout"
		}
		c.AttemptDone(ctx, info)
	}
	c.PageDone(ctx, cassandra.PageFetchInfo{Statement: selectUsers, Number: 1, Rows: 100})
	c.PageDone(ctx, cassandra.PageFetchInfo{Statement: selectUsers, Number: 2, Rows: 40})
	c.PageDone(ctx, cassandra.PageFetchInfo{Statement: selectUsers, Number: 3, Err: context.Canceled, ErrorKind: "canceled"})

	s := c.Snapshot()
	assert.Equal(t, uint64(4), s.RequestCount)
	assert.Equal(t, uint64(1), s.SuccessCount)
	assert.Equal(t, uint64(3), s.ErrorCount)
	assert.Equal(t, map[string]uint64{"read_timeout": 2, "deadline": 1}, s.ErrorsByKind)
	assert.Equal(t, uint64(250), s.RowCount)
	assert.Equal(t, uint64(3), s.PageCount)
	assert.Equal(t, uint64(4), s.AttemptCount)
	assert.Equal(t, uint64(2), s.RetryCount)
	assert.Equal(t, uint64(3), s.AttemptErrorCount)
	assert.Equal(t, uint64(3), s.StreamPageCount)
	assert.Equal(t, uint64(140), s.StreamRowCount)
	assert.Equal(t, uint64(1), s.StreamErrorCount)
	assert.Equal(t, uint64(3), s.Window.ErrorCount)

	// The snapshot is a copy: what comes later does not change it.
	c.RequestDone(ctx, failed(selectUsers, time.Millisecond, "syntax"))
	assert.Equal(t, map[string]uint64{"read_timeout": 2, "deadline": 1}, s.ErrorsByKind)
	assert.Equal(t, uint64(2), s.TopByCount(1)[0].RequestCount)
}

func TestString(t *testing.T) {
	clk := newClock()
	c := inmemory.New(inmemory.WithClock(clk.Now))
	ctx := context.Background()
	for i := range 100 {
		c.RequestDone(ctx, done(insertUsers, time.Duration(i+1)*10*time.Microsecond, 0))
	}
	c.RequestDone(ctx, failed(selectUsers, 5*time.Millisecond, "syntax"))
	deleteUsers := cassandra.Statement{Text: "DELETE FROM users WHERE id = ?", Kind: cassandra.KindDelete, Keyspace: "app", Table: "users"}
	c.RequestDone(ctx, done(deleteUsers, 100*time.Millisecond, 0))
	c.RequestDone(ctx, done(deleteUsers, 100*time.Millisecond, 0))
	clk.Add(10 * time.Second)
	out := c.String()
	for _, want := range []string{
		"requests    103 in 10s: 102 ok, 1 failed (syntax 1)\n",
		"window      last 10s: 103 requests, 10.3/s, 1 failed\n",
		"latency     p50 520µs  p95 980µs  p99 100ms  p99.9 100ms  max 100ms  mean 2.48ms\n",
		"top statements by count:\n" +
			"  requests  failed   total   mean  statement\n" +
			"       100       0  50.5ms  505µs  INSERT INTO users (id, name) VALUES (?, ?)\n" +
			"         2       0   200ms  100ms  DELETE FROM users WHERE id = ?\n" +
			"         1       1     5ms    5ms  SELECT name FROM users WHERE id = ?\n",
		"top statements by total time:\n" +
			"  requests  failed   total   mean  statement\n" +
			"         2       0   200ms  100ms  DELETE FROM users WHERE id = ?\n" +
			"       100       0  50.5ms  505µs  INSERT INTO users (id, name) VALUES (?, ?)\n" +
			"         1       1     5ms    5ms  SELECT name FROM users WHERE id = ?\n",
	} {
		assert.Contains(t, out, want)
	}
	t.Log("\n" + out)
}

// Many goroutines record at once while snapshots are taken: every
// snapshot is consistent, and the last one holds exactly what was
// recorded.
func TestConcurrentRecording(t *testing.T) {
	const (
		goroutines = 8
		perG       = 5000
	)
	clk := newClock()
	c := inmemory.New(inmemory.WithClock(clk.Now), inmemory.WithMaxStatements(4))
	stmts := make([]cassandra.Statement, 6) // more than the limit
	for i := range stmts {
		stmts[i] = cassandra.Statement{Text: fmt.Sprintf("SELECT * FROM t%d", i), Kind: cassandra.KindSelect, Table: fmt.Sprintf("t%d", i)}
	}
	kinds := []string{"syntax", "read_timeout", "deadline"}

	check := func(s inmemory.Snapshot) {
		assert.Equal(t, s.RequestCount, s.SuccessCount+s.ErrorCount)
		var errs, stmtRequests, stmtErrors, stmtRows uint64
		for _, n := range s.ErrorsByKind {
			errs += n
		}
		for _, st := range s.Statements {
			stmtRequests += st.RequestCount
			stmtErrors += st.ErrorCount
			stmtRows += st.RowCount
		}
		assert.Equal(t, s.ErrorCount, errs)
		assert.Equal(t, s.RequestCount, stmtRequests)
		assert.Equal(t, s.ErrorCount, stmtErrors)
		assert.Equal(t, s.RowCount, stmtRows)
		assert.Equal(t, s.RequestCount, s.Window.RequestCount, "the clock stands still: all in the window")
		assert.Equal(t, s.RequestCount, s.Window.Latency.Count)
		assert.Equal(t, s.RequestCount, s.Window.QueueWait.Count)
		assert.Equal(t, s.ErrorCount, s.Window.ErrorCount)
		assert.Equal(t, s.StreamPageCount*3, s.StreamRowCount)
		// Each goroutine records attempt 0, then 1, then 0...: at most
		// one of them is between the two.
		assert.LessOrEqual(t, 2*s.RetryCount, s.AttemptCount)
		assert.LessOrEqual(t, s.AttemptCount, 2*s.RetryCount+goroutines)
	}

	stop := make(chan struct{})
	var snapshots sync.WaitGroup
	snapshots.Add(1)
	go func() {
		defer snapshots.Done()
		for {
			select {
			case <-stop:
				return
			default:
				check(c.Snapshot())
			}
		}
	}()

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range perG {
				info := done(stmts[(g+i)%len(stmts)], time.Duration(1+i%1000)*time.Microsecond, i%5)
				info.QueueWait = time.Duration(i%7) * time.Microsecond
				if i%10 == 0 {
					info.Err, info.ErrorKind = errors.New("boom"), kinds[i%len(kinds)]
				}
				c.RequestDone(ctx, info)
				c.AttemptDone(ctx, cassandra.AttemptInfo{Attempt: i % 2})
				c.PageDone(ctx, cassandra.PageFetchInfo{Rows: 3})
			}
		}()
	}
	wg.Wait()
	close(stop)
	snapshots.Wait()

	s := c.Snapshot()
	check(s)
	const total = goroutines * perG
	assert.Equal(t, uint64(total), s.RequestCount)
	assert.Equal(t, uint64(total/10), s.ErrorCount)
	var rows uint64
	for i := range perG {
		rows += uint64(i % 5)
	}
	assert.Equal(t, goroutines*rows, s.RowCount)
	assert.Equal(t, uint64(total), s.AttemptCount)
	assert.Equal(t, uint64(total/2), s.RetryCount)
	assert.Equal(t, uint64(total), s.StreamPageCount)
	assert.Len(t, s.Statements, 5, "4 statements and the others")
	assert.Equal(t, time.Microsecond, s.Window.Latency.Min)
	assert.Equal(t, time.Millisecond, s.Window.Latency.Max)
	assert.Equal(t, 6*time.Microsecond, s.Window.QueueWait.Max)
}
