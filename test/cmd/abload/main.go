// Command abload compares Execute with raw gocql under sustained load on
// the real node, in short alternating slices: raw for one slice, the wrapper
// for the next, in the order ABBA so that neither always goes first. On a
// machine whose speed drifts (a virtual machine, a server sharing the
// client's cores) a benchmark that runs one variant for seconds and then the
// other measures the drift as much as the variants; slices of 200 ms, paired
// with their neighbours, put both through the same conditions. A collection
// is forced between slices, outside their time, so that each slice pays for
// collecting its own garbage rather than its neighbour's.
//
//	go run ./cmd/abload -op read -c 1,64,512 -pairs 150
//	go run ./cmd/abload -op write -c 64 -pairs 300 -slice 100ms
//	go run ./cmd/abload -op read -c 512 -b raw      # the method's own spread
//	go run ./cmd/abload -op read -c 64,512 -b raw+cpu -burn 1us  # what 1 µs of client CPU costs
//	go run ./cmd/abload -op write -c 64,512 -b raw+future       # the least any Future API costs
//
// For each concurrency it prints both variants' throughput, client CPU, the
// node's CPU (when one node runs on this machine), the client's read and
// write system calls, garbage-collector CPU, collections, allocations and
// bytes per operation,
// and the second variant's throughput relative to raw: the ratio of the
// totals, and the median of the per-pair ratios with a 95% bootstrap
// interval. It talks only to CASSANDRA_HOSTS (default 127.0.0.1).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
	"github.com/async-cassandra/cassandra/internal/wire"
	"github.com/async-cassandra/cassandra/otelcassandra"
	"github.com/async-cassandra/cassandra/promcassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
	"github.com/async-cassandra/cassandra/test/internal/proc"
	"github.com/async-cassandra/cassandra/test/internal/stats"
)

const (
	keyspace  = "async_cassandra_load"
	rows      = 1000
	readStmt  = `SELECT v FROM kv WHERE id = ?`
	writeStmt = `INSERT INTO kv (id, v) VALUES (?, ?)`
)

func main() {
	opName := flag.String("op", "read", "read (one row by key) or write (one row of 100 bytes)")
	levels := flag.String("c", "1,64,512", "concurrency levels, comma-separated")
	pairs := flag.Int("pairs", 30, "measured pairs of slices per level")
	slice := flag.Duration("slice", 200*time.Millisecond, "length of one slice")
	baseline := flag.String("a", "raw", "the baseline: raw (gocql) or async (Execute without a collector)")
	against := flag.String("b", "async", "what to compare with the baseline: async, async+memory, async+prom, async+otel, "+
		"async+otel1pct, async+all (Execute reporting to the in-memory collector, Prometheus, OpenTelemetry sampling every "+
		"request or 1%, or all three), raw (the method's own spread), raw+handoff (raw gocql run on another goroutine), "+
		"raw+garbage (raw plus 512 bytes and a channel per request), raw+frames (raw called 5 frames deeper), "+
		"raw+cpu (raw plus -burn of client CPU per request) "+
		"or raw+future (raw plus -keep bytes alive across the request, -depth frames further down)")
	burn := flag.Duration("burn", 2*time.Microsecond, "the client CPU raw+cpu adds to each request")
	keep := flag.Int("keep", 128, "the bytes raw+future allocates per request and keeps alive until the request ends "+
		"(128: a Future[*ResultSet] and its ResultSet)")
	depth := flag.Int("depth", 2, "the frames raw+future adds above raw gocql's, its own function included, at least 1 "+
		"(2: Await and the function that calls the driver)")
	profile := flag.String("profile", "", "a directory to write one CPU profile per measured slice into, "+
		"named c<level>-<a|b>-<variant>-<pair>.pprof (merge them with go tool pprof -proto)")
	workers := flag.Int("workers", 0, "the wrapper's worker count (0: the default)")
	batching := flag.Bool("batching", true, "both sides write through the library's write batching (false: both use gocql's own coalescing)")
	rawWrites := flag.String("raw-writes", "same", "how raw gocql writes: same (as the wrapper, see -batching), "+
		"off (gocql with WriteCoalesceWaitTime 0) or gocql (its default coalescing)")
	timeout := flag.Duration("timeout", 0, "give every request, on both sides, its own context.WithTimeout of this "+
		"length, as a service's request handlers do (0: context.Background for every request)")
	profileHz := flag.Int("profile-hz", 0, "CPU profile samples per second with -profile (0: the runtime's 100); "+
		"the runtime warns once that the rate was already set, which is expected")
	mutexProfile := flag.String("mutexprofile", "", "write a mutex contention profile of the whole run (both sides) to this file")
	allocProfile := flag.String("allocprofile", "", "write a profile of the whole run's allocations (both sides; "+
		"one sample per 4 KiB allocated) to this file")
	flag.Parse()
	cpuProfileHz = *profileHz
	if *mutexProfile != "" {
		runtime.SetMutexProfileFraction(1)
		defer writeProfile("mutex", *mutexProfile)
	}
	if *allocProfile != "" {
		runtime.MemProfileRate = 4096
		defer writeProfile("allocs", *allocProfile)
	}
	if *opName != "read" && *opName != "write" {
		log.Fatalf("abload: -op must be read or write, not %q", *opName)
	}
	var cs []int
	for _, f := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			log.Fatalf("abload: bad concurrency %q", f)
		}
		cs = append(cs, c)
	}
	if *pairs < 2 || *slice <= 0 {
		log.Fatal("abload: -pairs must be at least 2 and -slice positive")
	}

	ctx := context.Background()
	if *rawWrites != "same" && *rawWrites != "off" && *rawWrites != "gocql" {
		log.Fatalf("abload: -raw-writes must be same, off or gocql, not %q", *rawWrites)
	}
	raw, wrapped, err := connect(ctx, *workers, *batching, *rawWrites)
	if err != nil {
		log.Fatalf("abload: %v (is a node running? make cassandra-up)", err)
	}
	defer raw.Close()
	defer wrapped.Close()

	value := strings.Repeat("y", 100)
	// requestCtx is the context of one request. Each operation below calls
	// it itself rather than through a wrapper, so that a request waits
	// under as many frames as in the measurements without -timeout.
	requestCtx := func() (context.Context, context.CancelFunc) { return ctx, noCancel }
	if *timeout > 0 {
		requestCtx = func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, *timeout) }
	}
	var rawOp func(i int) error
	var asyncOpOf func(s *cassandra.AsyncSession) func(i int) error
	if *opName == "read" {
		rawOp = func(i int) error {
			ctx, cancel := requestCtx()
			defer cancel()
			var v string
			return raw.Query(readStmt, i%rows).ScanContext(ctx, &v)
		}
		asyncOpOf = func(s *cassandra.AsyncSession) func(i int) error {
			return func(i int) error {
				ctx, cancel := requestCtx()
				defer cancel()
				rs, err := s.Execute(ctx, readStmt, i%rows).Await(ctx)
				if err != nil {
					return err
				}
				var v string
				return rs.One(&v)
			}
		}
	} else {
		rawOp = func(i int) error {
			ctx, cancel := requestCtx()
			defer cancel()
			return raw.Query(writeStmt, i%rows, value).ExecContext(ctx)
		}
		asyncOpOf = func(s *cassandra.AsyncSession) func(i int) error {
			return func(i int) error {
				ctx, cancel := requestCtx()
				defer cancel()
				_, err := s.Execute(ctx, writeStmt, i%rows, value).Await(ctx)
				return err
			}
		}
	}
	asyncOp := asyncOpOf(wrapped)
	variants := [2]variant{{"raw", rawOp}, {*against, nil}}
	switch *baseline {
	case "raw":
	case "async":
		variants[0] = variant{"async", asyncOp}
	default:
		log.Fatalf("abload: -a must be raw or async, not %q", *baseline)
	}
	switch *against {
	case "async":
		variants[1].op = asyncOp
	case "async+memory", "async+prom", "async+otel", "async+otel1pct", "async+all":
		// The same requests through a session that reports to collectors.
		col, err := newCollector(strings.TrimPrefix(*against, "async+"))
		if err != nil {
			log.Fatalf("abload: %v", err)
		}
		s, err := connectWith(ctx, *workers, *batching, cassandra.WithCollector(col))
		if err != nil {
			log.Fatalf("abload: %v", err)
		}
		defer s.Close()
		variants[1].op = asyncOpOf(s)
	case "raw":
		// Raw against itself: the spread of the ratio is the method's own.
		variants[1].op = rawOp
	case "raw+garbage":
		variants[1].op = func(i int) error {
			garbage.obj, garbage.ch = new([64]*int), make(chan struct{})
			return rawOp(i)
		}
	case "raw+future":
		// The least that any wrapper returning a Future pays on top of the
		// driver: the future and its result, allocated per request and
		// alive until the request ends, and the frames of awaiting it
		// above the driver's, which every collection walks while the
		// request waits for the server.
		words, d := max(*keep, 0)/8, max(*depth, 1)
		variants[1].op = func(i int) error {
			f := make([]*int, words)
			var err error
			if d == 1 {
				err = rawOp(i) // this function is the one frame
			} else {
				err = deeper(d-2, rawOp, i) // this one, then deeper(d-2) ... deeper(0)
			}
			garbage.future = f
			return err
		}
	case "raw+handoff":
		// Raw gocql run on a goroutine of its own and awaited on a
		// channel: the least that any wrapper running requests on other
		// goroutines pays, with none of this library's code (no pool, no
		// context, no future, no result).
		variants[1].op = func(i int) error {
			done := make(chan error, 1)
			go func() { done <- rawOp(i) }()
			return <-done
		}
	case "raw+frames":
		variants[1].op = func(i int) error { return deeper(5, rawOp, i) }
	case "raw+cpu":
		n := spinsFor(*burn)
		variants[1].op = func(i int) error {
			spin(n)
			return rawOp(i)
		}
	default:
		log.Fatalf("abload: -b must be async, async+memory, async+prom, async+otel, async+all, raw, raw+garbage, raw+frames, raw+cpu or raw+future, not %q", *against)
	}

	fmt.Printf("op=%s slice=%s pairs=%d workers=%d batching=%v raw-writes=%s hosts=%v\n", *opName, *slice, *pairs, wrapped.Stats().Workers, *batching, *rawWrites, node.Hosts())
	tw := tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "c\tvariant\tops\tops/s\tclient CPU µs/op\tserver CPU µs/op\tsyscalls/op\tGC CPU µs/op\tGCs per 1000 ops\tallocs/op\tB/op\tidle mark µs/op\tmutex wait µs/op\tscheds/op\tmean runnable µs\tb/raw (totals)\tb/raw per pair: median [95% CI]\tpairs")
	for _, c := range cs {
		// One pair to warm up: connections, prepared statements, stacks.
		for i := range variants {
			if _, err := run(c, *slice, variants[i].op); err != nil {
				log.Fatalf("abload: %s c=%d: %v", variants[i].name, c, err)
			}
		}
		st0 := wrapped.Stats()
		var totals [2]sample
		ratios := make([]float64, 0, *pairs)
		for p := range *pairs {
			order := [2]int{0, 1}
			if p%2 == 1 {
				order = [2]int{1, 0}
			}
			var pair [2]sample
			for _, v := range order {
				var prof *os.File
				if *profile != "" {
					prof = startProfile(*profile, c, v, variants[v].name, p)
				}
				s, err := run(c, *slice, variants[v].op)
				if prof != nil {
					pprof.StopCPUProfile()
					if err := prof.Close(); err != nil {
						log.Fatalf("abload: %v", err)
					}
				}
				if err != nil {
					log.Fatalf("abload: %s c=%d: %v", variants[v].name, c, err)
				}
				pair[v] = s
				totals[v].add(s)
			}
			ratios = append(ratios, pair[1].rate()/pair[0].rate())
		}
		st1 := wrapped.Stats()
		med, lo, hi := stats.MedianCI(ratios)
		for v := range variants {
			t := totals[v]
			ratio, interval := "", ""
			if v == 1 {
				ratio = fmt.Sprintf("%.3f", t.rate()/totals[0].rate())
				interval = fmt.Sprintf("%.3f [%.3f, %.3f]", med, lo, hi)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t%d\n", c, variants[v].name, t.ops, t.rate(),
				t.per(t.cpu.Seconds()*1e6), t.per(t.server.Seconds()*1e6), t.per(float64(t.syscalls)), t.per(t.gcCPU*1e6), t.per(float64(t.gcs)*1000), t.per(float64(t.allocs)), t.per(float64(t.bytes)),
				t.per(t.rt.idleMark*1e6), t.per(t.rt.mutexWait*1e6), t.per(float64(t.rt.schedCount)*schedSampling),
				t.rt.schedSum/float64(max(t.rt.schedCount, 1))*1e6, ratio, interval, *pairs)
		}
		tw.Flush()
		if sub := st1.SubmitCount - st0.SubmitCount; sub > 0 {
			fmt.Printf("c=%d wrapper: %d requests, %.1f µs queued on average, %d worker goroutines at the end\n",
				c, sub, float64((st1.QueueWaitDuration-st0.QueueWaitDuration).Microseconds())/float64(sub), st1.LiveWorkers)
		}
	}
}

// writeProfile writes the named runtime profile to a file.
func writeProfile(name, file string) {
	f, err := os.Create(file)
	if err != nil {
		log.Fatalf("abload: %v", err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		log.Fatalf("abload: %v", err)
	}
	if err := f.Close(); err != nil {
		log.Fatalf("abload: %v", err)
	}
}

// cpuProfileHz is the -profile-hz flag.
var cpuProfileHz int

// startProfile starts the CPU profile of one slice, written to the file it
// returns when the profile stops.
func startProfile(dir string, c, v int, variant string, pair int) *os.File {
	name := fmt.Sprintf("c%d-%c-%s-%03d.pprof", c, "ab"[v], variant, pair)
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Fatalf("abload: %v", err)
	}
	if cpuProfileHz > 0 {
		runtime.SetCPUProfileRate(cpuProfileHz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatalf("abload: %v", err)
	}
	return f
}

// garbage keeps the controls' allocations on the heap: raw+garbage's
// object of 512 bytes and channel, what the wrapper allocated beyond raw
// gocql before its Done channels were reused, and raw+future's future.
var garbage struct {
	obj    *[64]*int
	ch     chan struct{}
	future []*int
}

// deeper calls op(i) n frames further down the stack. A goroutine waiting
// for the server has its whole stack walked by every garbage collection.
//
//go:noinline
func deeper(n int, op func(int) error, i int) error {
	if n == 0 {
		return op(i)
	}
	return deeper(n-1, op, i)
}

// spinSink keeps spin's work from being optimised away.
var spinSink atomic.Uint64

// spin burns CPU for n rounds of a small computation, touching no memory.
//
//go:noinline
func spin(n int) {
	x := uint64(n)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink.Store(x)
}

// spinsFor calibrates spin, before any load, to the rounds that take d of
// CPU: a fixed count burns the same CPU whether or not the goroutine is
// descheduled halfway, which a loop watching the clock would not.
func spinsFor(d time.Duration) int {
	const rounds = 1 << 24
	best := time.Duration(math.MaxInt64)
	for range 5 {
		start := time.Now()
		spin(rounds)
		best = min(best, time.Since(start))
	}
	return int(float64(rounds) * float64(d) / float64(best))
}

type variant struct {
	name string
	op   func(i int) error
}

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

// noCancel is the cancel function of a request run with context.Background.
func noCancel() {}

// connect makes the table and the two sessions, with identical driver
// settings, and fills the rows the reads ask for.
//
// With batching both write through the library's write batching (raw gocql
// gets it by the same internal/wire.Install the sessions use); without,
// both use gocql's own coalescing. Either way the two sides write alike and
// the difference is the wrapper's.
func connect(ctx context.Context, workers int, batching bool, rawWrites string) (*gocql.Session, *cassandra.AsyncSession, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	boot, err := gocql.NewCluster(node.Hosts()...).CreateSession()
	if err != nil {
		return nil, nil, err
	}
	defer boot.Close()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.kv (id int PRIMARY KEY, v text)`,
	} {
		if err := boot.Query(stmt).ExecContext(ctx); err != nil {
			return nil, nil, err
		}
	}
	config := func() *gocql.ClusterConfig {
		cfg := gocql.NewCluster(node.Hosts()...)
		cfg.Keyspace = keyspace
		cfg.Timeout = 10 * time.Second
		return cfg
	}
	rawCfg := config()
	switch {
	case rawWrites == "off":
		rawCfg.WriteCoalesceWaitTime = 0
	case rawWrites == "same" && batching:
		if _, err := wire.Install(rawCfg); err != nil {
			return nil, nil, err
		}
	}
	raw, err := rawCfg.CreateSession()
	if err != nil {
		return nil, nil, err
	}
	opts := []cassandra.Option{cassandra.WithWriteBatching(batching)}
	if workers > 0 {
		opts = append(opts, cassandra.WithWorkers(workers))
	}
	cluster, err := cassandra.NewAsyncCluster(config(), opts...)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	wrapped, err := cluster.Connect(ctx)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	value := strings.Repeat("x", 100)
	for i := range rows {
		if err := raw.Query(writeStmt, i, value).ExecContext(ctx); err != nil {
			raw.Close()
			wrapped.Close()
			return nil, nil, err
		}
	}
	return raw, wrapped, nil
}

// connectWith opens one more session like connect's, with opts added.
func connectWith(ctx context.Context, workers int, batching bool, opts ...cassandra.Option) (*cassandra.AsyncSession, error) {
	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Keyspace = keyspace
	cfg.Timeout = 10 * time.Second
	opts = append(opts, cassandra.WithWriteBatching(batching))
	if workers > 0 {
		opts = append(opts, cassandra.WithWorkers(workers))
	}
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return cluster.Connect(ctx)
}

// newCollector makes the collector a -b async+NAME variant reports to.
// Prometheus and OpenTelemetry record into providers of their own, as a
// service's would (a registry nobody scrapes during the run; SDK providers
// whose spans are sampled and dropped by a no-op exporter).
func newCollector(name string) (cassandra.Collector, error) {
	switch name {
	case "memory":
		return inmemory.New(), nil
	case "prom":
		c, err := promcassandra.New()
		if err != nil {
			return nil, err
		}
		prometheus.NewRegistry().MustRegister(c)
		return c, nil
	case "otel", "otel1pct":
		sampler := sdktrace.AlwaysSample()
		if name == "otel1pct" { // what a busy service samples
			sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler),
			sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(discardExporter{})))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		return otelcassandra.New(otelcassandra.WithTracerProvider(tp), otelcassandra.WithMeterProvider(mp))
	case "all":
		var cs []cassandra.Collector
		for _, n := range []string{"memory", "prom", "otel"} {
			c, err := newCollector(n)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		return cassandra.Collectors(cs...), nil
	}
	return nil, fmt.Errorf("unknown collector %q", name)
}

// discardExporter drops the spans it is given, after the SDK has built
// and batched them as it would for a real exporter.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// syscallTotal returns the read and write system calls the process has made.
func syscallTotal() int64 {
	w, r := proc.Syscalls()
	return w + r
}
