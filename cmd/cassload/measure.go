package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/async-cassandra/cassandra"
)

// Latencies are recorded in whole microseconds from 1 µs to one minute, to
// three significant digits (percentiles within 0.1%); a longer one counts
// as one minute. Operations end by their -timeout, which is usually shorter.
const (
	histLowest  = 1
	histHighest = int64(time.Minute / time.Microsecond)
	histDigits  = 3
)

// shardCount bounds the histograms of one level: goroutine g records into
// shard g mod shardCount, so that recording rarely waits for a lock and
// memory does not grow with the level (one histogram is about 130 KB).
const shardCount = 16

// progressEvery is how often the progress line is rewritten, and
// sampleEvery how often the session's Stats are sampled for their peaks.
const (
	progressEvery = 250 * time.Millisecond
	sampleEvery   = 20 * time.Millisecond
)

// shard is what some of a level's goroutines measured.
type shard struct {
	mu      sync.Mutex
	hist    *hdrhistogram.Histogram // successful operations only
	rows    int64
	errs    map[string]int64  // by cassandra.ErrorKind
	samples map[string]string // the first error message of each kind
}

func (sh *shard) record(d time.Duration, rows int, err error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err != nil {
		kind := cassandra.ErrorKind(err)
		sh.errs[kind]++
		if _, ok := sh.samples[kind]; !ok {
			sh.samples[kind] = err.Error()
		}
		return
	}
	sh.rows += int64(rows)
	us := max(int64(d/time.Microsecond), histLowest)
	_ = sh.hist.RecordValue(min(us, histHighest)) // in range, so it cannot fail
}

// phase is one run of a workload at one level: the warm-up or the
// measured run.
type phase struct {
	w        workload
	r        *runner
	inFlight int
	ops      int64   // operations to run; 0 means until stop is set
	rate     float64 // arrivals per second (open loop); 0 means closed loop
	timeout  time.Duration

	halt   chan struct{} // closed when stop is set
	next   atomic.Int64  // operations claimed
	done   atomic.Int64  // operations finished, failed ones included
	failed atomic.Int64
	missed atomic.Int64 // open loop: arrivals that found inFlight operations outstanding
	stop   atomic.Bool
	shards []*shard
}

func newPhase(w workload, r *runner, inFlight int, ops int64, rate float64, timeout time.Duration) *phase {
	p := &phase{w: w, r: r, inFlight: inFlight, ops: ops, rate: rate, timeout: timeout, halt: make(chan struct{})}
	for range min(inFlight, shardCount) {
		p.shards = append(p.shards, &shard{hist: hdrhistogram.New(histLowest, histHighest, histDigits),
			errs: map[string]int64{}, samples: map[string]string{}})
	}
	return p
}

// run keeps inFlight operations going (closed loop), or starts operations
// at rate per second with at most inFlight outstanding (open loop), until
// ops have been claimed, or until d has passed (when d > 0), or ctx ends,
// and returns when the last is back: a level's time runs until its
// stragglers are in. tick is called every sampleEvery meanwhile, on run's
// goroutine.
func (p *phase) run(ctx context.Context, d time.Duration, tick func()) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	if p.rate > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.arrive(ctx, start, &wg)
		}()
	} else {
		for g := range p.inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.loop(ctx, p.shards[g%len(p.shards)])
			}()
		}
	}
	if d > 0 {
		// The phase is a span of time, so a timer ends it.
		t := time.AfterFunc(d, func() {
			p.stop.Store(true)
			close(p.halt)
		})
		defer t.Stop()
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	ticker := time.NewTicker(sampleEvery)
	defer ticker.Stop()
	for {
		select {
		case <-finished:
			return time.Since(start)
		case <-ticker.C:
			tick()
		}
	}
}

func (p *phase) loop(ctx context.Context, sh *shard) {
	var backoff time.Duration
	for !p.stop.Load() && ctx.Err() == nil {
		i := p.next.Add(1) - 1
		if p.ops > 0 && i >= p.ops {
			return
		}
		counted, err := p.runOne(ctx, sh, i, time.Now())
		if !counted {
			return
		}
		// A caller refused by a full queue (QueueFailFast) backs off before
		// its next operation, as one using cassandra.Retry would, rather
		// than spin on refusals and take the CPU the accepted requests need.
		if !errors.Is(err, cassandra.ErrOverloaded) {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		if !p.pause(ctx, backoff/2+rand.N(backoff/2+1)) {
			return
		}
	}
}

// arrivalTick is how often the open loop starts the operations that have
// come due: arrivals are on a fixed schedule, and each is timed from its
// scheduled instant, so that a late start counts against the latency.
const arrivalTick = time.Millisecond

// arrive is the open loop: operation i is due at start + i/rate, whether or
// not earlier ones have finished. One that comes due with inFlight
// operations outstanding is not started and counts as missed; its
// caller, a user's request, would have had to wait or give up.
func (p *phase) arrive(ctx context.Context, start time.Time, wg *sync.WaitGroup) {
	var outstanding atomic.Int64
	t := time.NewTicker(arrivalTick)
	defer t.Stop()
	for {
		for {
			i := p.next.Load()
			if p.ops > 0 && i >= p.ops {
				return
			}
			due := start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
			if due.After(time.Now()) {
				break
			}
			p.next.Add(1)
			if outstanding.Load() >= int64(p.inFlight) {
				p.missed.Add(1)
				continue
			}
			outstanding.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer outstanding.Add(-1)
				p.runOne(ctx, p.shards[int(i)%len(p.shards)], i, due)
			}()
		}
		select {
		case <-t.C:
		case <-p.halt:
			return
		case <-ctx.Done():
			return
		}
	}
}

// runOne runs operation i and records it in sh, its latency measured from
// from: when it started (closed loop) or when it was due (open loop). It
// reports false, and records nothing, if ctx ended meanwhile.
func (p *phase) runOne(ctx context.Context, sh *shard, i int64, from time.Time) (counted bool, err error) {
	octx, cancel := context.WithTimeout(ctx, p.timeout)
	rows, err := p.w.op(p.r, octx, i)
	cancel()
	if ctx.Err() != nil {
		return false, err // interrupted: the operation is not counted
	}
	sh.record(time.Since(from), rows, err)
	if err != nil {
		p.failed.Add(1)
	}
	p.done.Add(1)
	return true, err
}

// Back-off of a caller refused with ErrOverloaded: from minBackoff,
// doubling up to maxBackoff, each wait a random time between half and all
// of it (cassandra.Backoff's defaults).
const (
	minBackoff = cassandra.DefaultOverloadMinBackoff
	maxBackoff = cassandra.DefaultOverloadMaxBackoff
)

// pause waits for d, or until the phase stops or ctx ends; it reports
// whether the phase goes on.
func (p *phase) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.halt:
		return false
	case <-ctx.Done():
		return false
	}
}

// measure runs workload name at inFlight requests in flight: a warm-up,
// then the measured run, and returns what the measured run saw. It
// returns ctx's error if ctx ends.
func measure(ctx context.Context, s *cassandra.AsyncSession, c *config, name string, inFlight int, prog *progress) (Result, error) {
	w := workloads[name]
	r := newRunner(s, c)
	label := fmt.Sprintf("%s, %d in flight", name, inFlight)
	if c.warmup > 0 {
		wp := newPhase(w, r, inFlight, 0, c.rate, c.timeout)
		prog.printf("%s: warming up", label)
		wp.run(ctx, c.warmup, func() {})
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
	}
	// Each level starts with a clean heap, so that it pays for its own
	// garbage and not for the warm-up's.
	runtime.GC()

	p := newPhase(w, r, inFlight, c.ops, c.rate, c.timeout)
	var peakQueue, peakBusy int
	sample := func() {
		st := s.Stats()
		peakQueue = max(peakQueue, st.QueueDepth)
		peakBusy = max(peakBusy, st.BusyWorkers)
	}
	st0 := s.Stats()
	cpu0 := cpuTime()
	start := time.Now()
	d := c.duration
	if c.ops > 0 {
		d = 0
	}
	var shown time.Time
	tr := &tracer{every: c.trace, start: start, last: start}
	elapsed := p.run(ctx, d, func() {
		sample()
		tr.sample(s.Stats, p)
		if time.Since(shown) < progressEvery {
			return
		}
		shown = time.Now()
		done := p.done.Load()
		of := ""
		if c.ops > 0 {
			of = fmt.Sprintf(" of %d", c.ops)
		}
		prog.printf("%s: %d%s ops, %.0f ops/s, %d errors, %.1f s", label, done, of,
			float64(done)/time.Since(start).Seconds(), p.failed.Load(), time.Since(start).Seconds())
	})
	cpu := cpuTime() - cpu0
	sample()
	st1 := s.Stats()
	prog.clear()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res := summarize(name, inFlight, elapsed, cpu, p, st0, st1, peakQueue, peakBusy)
	res.Rate = c.rate
	res.Missed = p.missed.Load()
	res.Trace = tr.points
	return res, nil
}

// tracer samples a measured run every -trace: the session's limit, busy
// workers and queue, and the rates of the operations that finished since
// the previous point.
type tracer struct {
	every        time.Duration // 0: never
	start, last  time.Time     // the run's start; the previous point's time
	done, failed int64         // the phase's counts at the previous point
	points       []TracePoint
}

// sample adds a point if every has passed since the last one.
func (t *tracer) sample(stats func() cassandra.PoolStats, p *phase) {
	now := time.Now()
	if t.every <= 0 || now.Sub(t.last) < t.every {
		return
	}
	st := stats()
	secs := now.Sub(t.last).Seconds()
	done, failed := p.done.Load(), p.failed.Load()
	t.points = append(t.points, TracePoint{
		At: now.Sub(t.start).Seconds(), Limit: st.Limit, Busy: st.BusyWorkers, Queued: st.QueueDepth,
		OpsPerSec:    float64((done-failed)-(t.done-t.failed)) / secs,
		ErrorsPerSec: float64(failed-t.failed) / secs,
	})
	t.last, t.done, t.failed = now, done, failed
}

// summarize turns a measured phase into its Result.
func summarize(name string, inFlight int, elapsed, cpu time.Duration, p *phase, st0, st1 cassandra.PoolStats, peakQueue, peakBusy int) Result {
	h := hdrhistogram.New(histLowest, histHighest, histDigits)
	res := Result{Workload: name, InFlight: inFlight, Seconds: elapsed.Seconds(), ErrorsByKind: map[string]int64{}}
	for _, sh := range p.shards {
		h.Merge(sh.hist)
		res.Rows += sh.rows
		for k, n := range sh.errs {
			res.ErrorsByKind[k] += n
			res.Errors += n
		}
		for k, m := range sh.samples {
			if res.ErrorSamples == nil {
				res.ErrorSamples = map[string]string{}
			}
			if _, ok := res.ErrorSamples[k]; !ok {
				res.ErrorSamples[k] = m
			}
		}
	}
	res.Ops = h.TotalCount()
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	if res.Ops > 0 {
		res.Latency = Latency{
			P50: h.ValueAtQuantile(50), P95: h.ValueAtQuantile(95), P99: h.ValueAtQuantile(99),
			P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: h.Mean(),
		}
	}
	if all := res.Ops + res.Errors; all > 0 {
		res.CPUPerOp = float64(cpu.Microseconds()) / float64(all)
	}
	requests := st1.CompletedCount - st0.CompletedCount
	pool := &Pool{Requests: int64(requests), PeakQueueDepth: peakQueue, PeakBusyWorkers: peakBusy}
	if requests > 0 {
		pool.QueueWaitMean = float64((st1.QueueWaitDuration - st0.QueueWaitDuration).Microseconds()) / float64(requests)
	}
	res.Pool = pool
	return res
}
