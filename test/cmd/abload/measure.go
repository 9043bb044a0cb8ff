package main

import (
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-cassandra/cassandra/test/internal/proc"
)

// sample is what one slice (or the sum of several) measured.
type sample struct {
	ops      int64
	elapsed  time.Duration
	cpu      time.Duration  // the process's user and system CPU
	server   time.Duration  // the local node's CPU (0 if it is not a local process)
	syscalls int64          // the process's read and write system calls
	gcCPU    float64        // seconds of CPU the garbage collector used
	gcs      uint64         // garbage collections
	allocs   uint64         // heap objects allocated
	bytes    uint64         // heap bytes allocated
	rt       runtimeMetrics // the scheduler's and the mutexes' counters (differences)
}

func (s *sample) add(o sample) {
	s.ops += o.ops
	s.elapsed += o.elapsed
	s.cpu += o.cpu
	s.server += o.server
	s.syscalls += o.syscalls
	s.gcCPU += o.gcCPU
	s.gcs += o.gcs
	s.allocs += o.allocs
	s.bytes += o.bytes
	s.rt.idleMark += o.rt.idleMark
	s.rt.mutexWait += o.rt.mutexWait
	s.rt.schedCount += o.rt.schedCount
	s.rt.schedSum += o.rt.schedSum
}

func (s sample) rate() float64         { return float64(s.ops) / s.elapsed.Seconds() }
func (s sample) per(v float64) float64 { return v / float64(s.ops) }

// run keeps c goroutines calling op for d, then waits for the requests in
// flight. The slice's time runs until the last of them is back, so each
// variant pays for its own stragglers.
func run(c int, d time.Duration, op func(int) error) (sample, error) {
	var (
		stop   atomic.Bool
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	// Each slice starts with no garbage left by the one before, so that it
	// pays for collecting its own (all but the last, partial cycle's).
	runtime.GC()
	before, m0 := proc.CPUTime(), readMetrics()
	server0, sys0 := proc.ServerCPU(), syscallTotal()
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := op(int(next.Add(1))); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	// The slice is a span of time, so a timer ends it.
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	wg.Wait()
	s := sample{ops: next.Load(), elapsed: time.Since(start), cpu: proc.CPUTime() - before,
		server: proc.ServerCPU() - server0, syscalls: syscallTotal() - sys0}
	m1 := readMetrics()
	s.gcCPU = m1.gcCPU - m0.gcCPU
	s.allocs, s.bytes = m1.allocs-m0.allocs, m1.bytes-m0.bytes
	s.gcs = m1.gcs - m0.gcs
	s.rt = runtimeMetrics{idleMark: m1.idleMark - m0.idleMark, mutexWait: m1.mutexWait - m0.mutexWait,
		schedCount: m1.schedCount - m0.schedCount, schedSum: m1.schedSum - m0.schedSum}
	if err := failed.Load(); err != nil {
		return s, *err
	}
	return s, nil
}

// schedSampling: the runtime times one in eight of a goroutine's trips
// through the run queue for /sched/latencies (gTrackingPeriod).
const schedSampling = 8

type runtimeMetrics struct {
	gcCPU              float64
	allocs, bytes, gcs uint64
	idleMark           float64 // GC work on otherwise idle Ps: CPU the server could have had
	mutexWait          float64 // seconds goroutines spent blocked on sync.Mutex/RWMutex
	schedCount         uint64  // sampled count of goroutines made to run
	schedSum           float64 // their summed (bucket-estimated) time runnable before running
}

var metricNames = []string{"/cpu/classes/gc/total:cpu-seconds", "/gc/heap/allocs:objects", "/gc/heap/allocs:bytes", "/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/mark/idle:cpu-seconds", "/sync/mutex/wait/total:seconds", "/sched/latencies:seconds"}

func readMetrics() runtimeMetrics {
	ms := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		ms[i].Name = n
	}
	metrics.Read(ms)
	m := runtimeMetrics{gcCPU: ms[0].Value.Float64(), allocs: ms[1].Value.Uint64(), bytes: ms[2].Value.Uint64(), gcs: ms[3].Value.Uint64(),
		idleMark: ms[4].Value.Float64(), mutexWait: ms[5].Value.Float64()}
	h := ms[6].Value.Float64Histogram()
	for i, n := range h.Counts {
		m.schedCount += n
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		if math.IsInf(lo, -1) {
			lo = 0
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		m.schedSum += float64(n) * (lo + hi) / 2
	}
	return m
}

// syscallTotal returns the read and write system calls the process has made.
func syscallTotal() int64 {
	w, r := proc.Syscalls()
	return w + r
}
