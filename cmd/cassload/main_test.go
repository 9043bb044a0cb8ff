package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra"
)

// These tests need no Cassandra: the tool against a real node is tested in
// test/integration (TestCassloadRunsEveryWorkload).

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlagsDefaults(t *testing.T) {
	t.Setenv("CASSANDRA_HOSTS", "10.1.1.1, 10.1.1.2")
	c, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"10.1.1.1", "10.1.1.2"}, c.hosts)
	assert.Equal(t, []string{"insert", "select", "mixed", "scan"}, c.workloads)
	assert.Equal(t, []int{1, 64, 512}, c.levels)
	assert.Equal(t, cassandra.DefaultWorkers, c.workers)
	assert.Equal(t, cassandra.DefaultQueue, c.queue)
	assert.Equal(t, cassandra.QueueWait, c.policy)
	assert.True(t, c.batching)
	assert.Equal(t, gocql.LocalOne, c.consistency)
	assert.Equal(t, int64(0), c.ops)
	assert.Equal(t, 10*time.Second, c.duration)
}

func TestFlagsSet(t *testing.T) {
	t.Setenv("CASSANDRA_HOSTS", "")
	c, err := parseFlags([]string{"-w", "scan, insert", "-c", "2,16", "-n", "300", "-workers", "8", "-queue", "0",
		"-policy", "failfast", "-batching", "off", "-consistency", "quorum", "-keyspace", "ks1", "-table", "T_2"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1"}, c.hosts)
	assert.Equal(t, []string{"scan", "insert"}, c.workloads)
	assert.Equal(t, []int{2, 16}, c.levels)
	assert.Equal(t, int64(300), c.ops)
	assert.Equal(t, 8, c.workers)
	assert.Equal(t, 0, c.queue)
	assert.Equal(t, cassandra.QueueFailFast, c.policy)
	assert.False(t, c.batching)
	assert.Equal(t, gocql.Quorum, c.consistency)
	assert.Equal(t, "ks1", c.keyspace)
	assert.Equal(t, "T_2", c.table)
	assert.False(t, c.adaptive)
	assert.Zero(t, c.rate)

	c, err = parseFlags([]string{"-rate", "25000", "-trace", "500ms", "-adaptive", "-adaptive-min", "16", "-adaptive-tolerance", "1.5"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 25000.0, c.rate)
	assert.Equal(t, 500*time.Millisecond, c.trace)
	assert.True(t, c.adaptive)
	assert.Equal(t, 16, c.adaptiveMin)
	assert.Equal(t, 1.5, c.tolerance)
}

func TestFlagsRejected(t *testing.T) {
	for _, args := range [][]string{
		{"-w", "delete"},
		{"-c", "1,0"},
		{"-c", "x"},
		{"-policy", "drop"},
		{"-batching", "maybe"},
		{"-consistency", "most"},
		{"-keyspace", "a;DROP"},
		{"-table", "1t"},
		{"-n", "-1"},
		{"-d", "0s"},
		{"-workers", "0"},
		{"-rows", "0"},
		{"-hosts", " , "},
		{"-rate", "-5"},
		{"-rate", "NaN"},
		{"-trace", "-1s"},
		{"-adaptive-min", "4"},
		{"extra"},
	} {
		_, err := parseFlags(args, &bytes.Buffer{})
		assert.Error(t, err, "%v", args)
	}
}

func TestRunExitStatus(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run([]string{"-c", "none"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "-c:")
	errOut.Reset()
	assert.Equal(t, 0, run([]string{"-h"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "Usage: cassload")
	assert.Empty(t, out.String())
}

// fakePhase runs op in a phase without a session.
func fakePhase(inFlight int, ops int64, op func(i int64) (int, error)) *phase {
	w := workload{op: func(_ *runner, _ context.Context, i int64) (int, error) { return op(i) }}
	return newPhase(w, nil, inFlight, ops, 0, time.Second)
}

func TestPhaseCountsOperationsAndErrorsByKind(t *testing.T) {
	p := fakePhase(7, 1000, func(i int64) (int, error) {
		switch i % 10 {
		case 0:
			return 0, cassandra.ErrOverloaded
		case 1:
			return 0, context.DeadlineExceeded
		}
		return 2, nil
	})
	ticks := 0
	elapsed := p.run(context.Background(), 0, func() { ticks++ })
	assert.Positive(t, elapsed)
	assert.Equal(t, int64(1000), p.done.Load(), "exactly -n operations, however many run at once")
	assert.Equal(t, int64(200), p.failed.Load())

	res := summarize("select", 7, elapsed, time.Millisecond, p, cassandra.PoolStats{}, cassandra.PoolStats{CompletedCount: 800}, 3, 7)
	assert.Equal(t, int64(800), res.Ops, "ops counts the successes")
	assert.Equal(t, int64(1600), res.Rows)
	assert.Equal(t, int64(200), res.Errors)
	assert.Equal(t, map[string]int64{"overloaded": 100, "deadline": 100}, res.ErrorsByKind)
	assert.Contains(t, res.ErrorSamples["overloaded"], "queue full")
	assert.InDelta(t, 1.0, res.CPUPerOp, 1e-9, "1 ms of CPU over 1000 operations")
	assert.Equal(t, &Pool{Requests: 800, PeakQueueDepth: 3, PeakBusyWorkers: 7}, res.Pool)
	assert.Positive(t, res.OpsPerSec)
}

// In the open loop, arrivals keep coming on schedule while operations are
// outstanding; those that find -c outstanding are missed, not queued.
func TestOpenLoopMissesArrivalsBeyondTheLevel(t *testing.T) {
	release := make(chan struct{})
	w := workload{op: func(_ *runner, _ context.Context, _ int64) (int, error) {
		<-release // the cluster answers nothing until every arrival has come
		return 1, nil
	}}
	p := newPhase(w, nil, 5, 100, 20000, time.Second)
	var once sync.Once
	p.run(context.Background(), 0, func() {
		if p.next.Load() >= 100 {
			once.Do(func() { close(release) })
		}
	})
	assert.Equal(t, int64(5), p.done.Load(), "only -c operations started")
	assert.Equal(t, int64(95), p.missed.Load())
	res := summarize("select", 5, time.Second, 0, p, cassandra.PoolStats{}, cassandra.PoolStats{}, 0, 0)
	assert.Equal(t, int64(5), res.Ops)
}

// An open loop starts its operations on a fixed schedule, however fast
// they finish.
func TestOpenLoopKeepsItsSchedule(t *testing.T) {
	w := workload{op: func(_ *runner, _ context.Context, _ int64) (int, error) { return 0, nil }}
	p := newPhase(w, nil, 10, 50, 1000, time.Second)
	elapsed := p.run(context.Background(), 0, func() {})
	assert.Equal(t, int64(50), p.done.Load()+p.missed.Load())
	assert.GreaterOrEqual(t, elapsed, 49*time.Millisecond, "50 arrivals at 1000/s take 49 ms at least")
}

// A trace point holds the pool's levels then and the rates since the
// previous point; none is taken before -trace has passed.
func TestTracer(t *testing.T) {
	p := fakePhase(1, 0, nil)
	stats := func() cassandra.PoolStats { return cassandra.PoolStats{Limit: 40, BusyWorkers: 30, QueueDepth: 5} }
	start := time.Now().Add(-2 * time.Second)
	tr := &tracer{every: time.Second, start: start, last: start}
	p.done.Store(10)
	p.failed.Store(2)
	tr.sample(stats, p)
	require.Len(t, tr.points, 1)
	pt := tr.points[0]
	assert.Equal(t, []int{40, 30, 5}, []int{pt.Limit, pt.Busy, pt.Queued})
	assert.InDelta(t, 4, pt.OpsPerSec, 0.1, "8 successes over 2 s")
	assert.InDelta(t, 1, pt.ErrorsPerSec, 0.1, "2 failures over 2 s")
	tr.sample(stats, p)
	assert.Len(t, tr.points, 1, "not again before -trace has passed")
	off := &tracer{start: start, last: start}
	off.sample(stats, p)
	assert.Empty(t, off.points, "-trace 0 traces nothing")
}

func TestPhaseRunsForDuration(t *testing.T) {
	var calls atomic.Int64
	p := fakePhase(3, 0, func(int64) (int, error) {
		calls.Add(1)
		time.Sleep(time.Millisecond) // stands for a request to the server
		return 0, nil
	})
	elapsed := p.run(context.Background(), 50*time.Millisecond, func() {})
	assert.GreaterOrEqual(t, elapsed, 50*time.Millisecond)
	assert.Equal(t, calls.Load(), p.done.Load())
	assert.Positive(t, p.done.Load())
}

func TestPhaseStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := fakePhase(4, 0, func(i int64) (int, error) {
		if i == 100 {
			cancel()
		}
		return 0, nil
	})
	p.run(ctx, time.Hour, func() {})
	assert.LessOrEqual(t, p.done.Load(), int64(104), "no operation starts after the interrupt")
}

func TestLatencyPercentiles(t *testing.T) {
	p := fakePhase(1, 0, nil)
	for us := int64(1); us <= 10000; us++ {
		p.shards[0].record(time.Duration(us)*time.Microsecond, 0, nil)
	}
	res := summarize("insert", 1, time.Second, 0, p, cassandra.PoolStats{}, cassandra.PoolStats{}, 0, 0)
	assert.InDelta(t, 5000, res.Latency.P50, 5)
	assert.InDelta(t, 9500, res.Latency.P95, 10)
	assert.InDelta(t, 9900, res.Latency.P99, 10)
	assert.InDelta(t, 9990, res.Latency.P999, 10)
	assert.InDelta(t, 10000, res.Latency.Max, 10)
	assert.InDelta(t, 5000, res.Latency.Mean, 5)
	assert.Equal(t, 10000.0, res.OpsPerSec)
}

func testReport() *Report {
	c, _ := parseFlags([]string{"-n", "500", "-hosts", "10.0.0.9"}, &bytes.Buffer{})
	rep := newReport(c)
	rep.Results = []Result{
		{Workload: "insert", InFlight: 64, Ops: 500, Seconds: 0.02, OpsPerSec: 25000,
			Latency:      Latency{P50: 1234, P95: 2000, P99: 3000, P999: 4000, Max: 5000, Mean: 1400},
			ErrorsByKind: map[string]int64{}, CPUPerOp: 21.4, Pool: &Pool{Requests: 500, QueueWaitMean: 3, PeakBusyWorkers: 64}},
		{Workload: "select", InFlight: 1, Ops: 490, Errors: 10, ErrorsByKind: map[string]int64{"read_timeout": 4, "deadline": 6},
			ErrorSamples: map[string]string{"deadline": "context deadline exceeded"}},
	}
	return rep
}

func TestReportTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeReport(&b, testReport(), false))
	out := b.String()
	assert.Contains(t, out, "hosts 10.0.0.9")
	assert.Contains(t, out, "workers 512, queue 4096, policy wait")
	assert.Contains(t, out, "500 operations per level")
	lines := strings.Split(out, "\n")
	var header, insert, sel string
	for _, l := range lines {
		switch f := strings.Fields(l); {
		case len(f) > 0 && f[0] == "workload":
			header = l
		case len(f) > 0 && f[0] == "insert":
			insert = l
		case len(f) > 0 && f[0] == "select":
			sel = l
		}
	}
	require.NotEmpty(t, header)
	assert.Equal(t, []string{"insert", "64", "500", "25000", "1.23", "2.00", "3.00", "4.00", "5.00", "21", "3", "0", "64", "0"}, strings.Fields(insert))
	assert.True(t, strings.HasSuffix(strings.TrimSpace(sel), "deadline 6, read_timeout 4"), sel)
	assert.Contains(t, out, "select, 1 in flight, first deadline error: context deadline exceeded")
}

func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeReport(&b, testReport(), true))
	var got map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	assert.Equal(t, "cassload", got["tool"])
	settings := got["settings"].(map[string]any)
	assert.Equal(t, 512.0, settings["workers"])
	assert.Equal(t, true, settings["write_batching"])
	assert.Equal(t, 500.0, settings["ops_per_level"])
	assert.NotContains(t, settings, "duration_per_level")
	results := got["results"].([]any)
	require.Len(t, results, 2)
	first := results[0].(map[string]any)
	assert.Equal(t, 1234.0, first["latency_us"].(map[string]any)["p50"])
	assert.Equal(t, 64.0, first["pool"].(map[string]any)["peak_busy_workers"])
	second := results[1].(map[string]any)
	assert.Equal(t, map[string]any{"read_timeout": 4.0, "deadline": 6.0}, second["errors_by_kind"])
	assert.NotContains(t, second, "pool", "no pool, no pool figures")
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	quiet := newProgress(&b)
	quiet.printf("insert: %d ops", 5)
	quiet.note("filled")
	quiet.clear()
	assert.Empty(t, b.String(), "quiet when not on a terminal")

	tty := &progress{w: &b, tty: true}
	tty.printf("insert: %d ops", 5)
	tty.printf("insert: %d ops", 10)
	tty.clear()
	tty.clear()
	tty.note("filled %d rows", 3)
	assert.Equal(t, "\rinsert: 5 ops\x1b[K\rinsert: 10 ops\x1b[K\r\x1b[Kcassload: filled 3 rows\n", b.String())
}

func TestIsIdent(t *testing.T) {
	for s, ok := range map[string]bool{"kv": true, "Kv_2": true, "_x": true, "": false, "2x": false, "a.b": false, `"q"`: false} {
		assert.Equal(t, ok, isIdent(s), s)
	}
	assert.False(t, isIdent(strings.Repeat("a", 49)))
}

// A caller refused with ErrOverloaded waits before its next operation, a
// little longer after each refusal in a row: ten refusals take at least the
// lower halves of 1, 2, 4, ..., 64, 100, 100, 100 ms.
func TestPhaseBacksOffWhenOverloaded(t *testing.T) {
	p := fakePhase(1, 10, func(int64) (int, error) { return 0, cassandra.ErrOverloaded })
	elapsed := p.run(context.Background(), 0, func() {})
	assert.Equal(t, int64(10), p.failed.Load())
	assert.GreaterOrEqual(t, elapsed, (1+2+4+8+16+32+64+300)*time.Millisecond/2)
}
