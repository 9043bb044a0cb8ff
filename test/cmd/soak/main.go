// Command soak runs a bounded mixed workload against the node and checks
// that the client does not drift: reads and writes by key, and a stream
// of a 2,000-row partition now and then, at a fraction (-load, 70% by
// default) of the capacity it measures first, for -duration. Every -sample
// it records the process's resident memory, its live heap (after the last
// collection), its goroutines, the requests done and failed, and their
// latency. At the end it fits a line to each of the three series, leaving
// out the first -warmup of the load (pools, caches and the heap grow to
// their working size then), and fails if a slope is above its threshold or
// the error rate above -max-error-rate.
//
//	go run ./cmd/soak                         # about 10 minutes: make soak
//	go run ./cmd/soak -duration 2m -warmup 30s # a quick look
//	go run ./cmd/soak -capacity 8000           # skip measuring, take 8000 requests/s as capacity
//
// It talks only to CASSANDRA_HOSTS (default 127.0.0.1), in the keyspace
// async_cassandra_soak.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
	"github.com/async-cassandra/cassandra/test/internal/proc"
	"github.com/async-cassandra/cassandra/test/internal/stats"
)

const (
	keyspace   = "async_cassandra_soak"
	keys       = 10_000 // rows read and written by key
	wideRows   = 2_000  // rows of the partition the streams read
	readStmt   = `SELECT v FROM kv WHERE id = ?`
	writeStmt  = `INSERT INTO kv (id, v) VALUES (?, ?)`
	streamStmt = `SELECT c, v FROM wide WHERE p = 1`
)

// config is the command line.
type config struct {
	duration, measure, sample, warmup, streamEvery, timeout time.Duration
	capacity, load, readShare, maxErrorRate                 float64
	concurrency, inFlight                                   int
	maxRSS, maxHeap, maxGoroutines                          float64 // per minute
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the load runs, after the capacity is measured")
	flag.DurationVar(&c.measure, "measure", 30*time.Second, "how long to measure the capacity (after 5 s of warm-up)")
	flag.Float64Var(&c.capacity, "capacity", 0, "requests per second to take as the capacity instead of measuring it")
	flag.Float64Var(&c.load, "load", 0.7, "the share of the capacity to offer")
	flag.Float64Var(&c.readShare, "reads", 0.7, "the share of requests that are reads; the others are writes")
	flag.IntVar(&c.concurrency, "concurrency", 256, "requests in flight when measuring the capacity")
	flag.IntVar(&c.inFlight, "max-in-flight", 512, "the most requests in flight under load (the session's workers), "+
		"so that latency spikes do not hold the load back")
	flag.DurationVar(&c.sample, "sample", 10*time.Second, "how often to sample memory and goroutines")
	flag.DurationVar(&c.warmup, "warmup", time.Minute, "the start of the load left out of the slopes")
	flag.DurationVar(&c.streamEvery, "stream-every", 5*time.Second, "how often to stream the 2,000-row partition")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Second, "each request's deadline")
	flag.Float64Var(&c.maxRSS, "max-rss-slope", 2, "the largest resident memory slope that passes, MB per minute")
	flag.Float64Var(&c.maxHeap, "max-heap-slope", 1, "the largest live heap slope that passes, MB per minute")
	flag.Float64Var(&c.maxGoroutines, "max-goroutine-slope", 1, "the largest goroutine count slope that passes, per minute")
	flag.Float64Var(&c.maxErrorRate, "max-error-rate", 0.001, "the largest share of failed requests that passes")
	flag.Parse()
	if c.duration <= c.warmup+2*c.sample || c.sample <= 0 || c.load <= 0 || c.concurrency < 1 || c.inFlight < 1 ||
		c.readShare < 0 || c.readShare > 1 || (c.capacity <= 0 && c.measure <= 0) {
		log.Fatal("soak: need -duration longer than -warmup plus two samples, a positive -sample, -load, " +
			"-concurrency and -max-in-flight, -reads between 0 and 1, and -capacity or -measure")
	}
	if !run(c) {
		os.Exit(1)
	}
}

// sample is what is recorded every -sample.
type sample struct {
	at            time.Duration // since the load started
	rss, liveHeap int64
	goroutines    int
	ops, errs     int64 // in the interval
	p50, p99      time.Duration
}

// soak is the state of a run.
type soak struct {
	c       config
	s       *cassandra.AsyncSession
	ops     atomic.Int64 // requests completed, failed or not
	errs    atomic.Int64
	streams atomic.Int64
	missed  atomic.Int64 // requests the load could not start in time: every worker busy

	mu    sync.Mutex
	lat   *hdrhistogram.Histogram // microseconds, since the last sample
	kinds map[string]int64        // errors by ErrorKind
	first map[string]string       // the first error of each kind
}

func run(c config) bool {
	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	if err := prepare(cfg); err != nil {
		log.Fatalf("soak: preparing the keyspace: %v", err)
	}
	goroutinesBefore := runtime.NumGoroutine()
	cfg.Keyspace = keyspace
	cluster, err := cassandra.NewAsyncCluster(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s, err := cluster.Connect(ctx)
	cancel()
	if err != nil {
		log.Fatalf("soak: connecting: %v", err)
	}
	k := &soak{c: c, s: s, lat: hdrhistogram.New(1, 60_000_000, 3), kinds: map[string]int64{}, first: map[string]string{}}

	fmt.Printf("soak %s: %s/%s, %d CPUs, %s, node %s\n", time.Now().UTC().Format(time.RFC3339),
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), strings.Join(node.Hosts(), ","))
	start := time.Now()
	capacity := c.capacity
	if capacity <= 0 {
		capacity = k.measure()
		fmt.Printf("capacity: %.0f requests/s (%d in flight for %v, after 5 s of warm-up; %d errors)\n",
			capacity, c.concurrency, c.measure, k.errs.Load())
	} else {
		fmt.Printf("capacity: %.0f requests/s (given)\n", capacity)
	}
	k.ops.Store(0)
	k.errs.Store(0)
	k.mu.Lock()
	clear(k.kinds)
	clear(k.first)
	k.lat.Reset()
	k.mu.Unlock()
	rate := c.load * capacity
	fmt.Printf("load: %.0f requests/s (%.0f%%), %.0f%% reads, a stream of %d rows every %v, for %v; a sample every %v\n\n",
		rate, 100*c.load, 100*c.readShare, wideRows, c.streamEvery, c.duration, c.sample)

	samples := k.load(rate)
	elapsed := time.Since(start)

	// A request whose deadline passed has its future completed at once;
	// its worker is back when the driver returns, a moment later.
	st := s.Stats()
	for deadline := time.Now().Add(10 * time.Second); (st.BusyWorkers > 0 || st.QueueDepth > 0) && time.Now().Before(deadline); st = s.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cluster.Close(); err != nil {
		log.Printf("soak: Close: %v", err)
	}
	ok := k.report(samples, st, elapsed)
	// Every goroutine of the session has ended; give the runtime a moment
	// to retire them, without waiting on anything of the library's.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); after > goroutinesBefore && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("goroutines: %d before connecting, %d after Close\n", goroutinesBefore, after)
	if after > goroutinesBefore {
		fmt.Println("FAIL: goroutines outlived Close")
		ok = false
	}
	return ok
}

// prepare creates the keyspace and tables and writes the rows read by key
// and the partition the streams read.
func prepare(cfg *gocql.ClusterConfig) error {
	gs, err := cfg.CreateSession()
	if err != nil {
		return err
	}
	defer gs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.kv (id int PRIMARY KEY, v text)`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.wide (p int, c int, v text, PRIMARY KEY (p, c))`,
	} {
		if err := gs.Query(stmt).ExecContext(ctx); err != nil {
			return err
		}
	}
	value := strings.Repeat("v", 100)
	sem := make(chan struct{}, 64)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	write := func(stmt string, values ...any) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := gs.Query(stmt, values...).ExecContext(ctx); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	for i := range keys {
		write(`INSERT INTO `+keyspace+`.kv (id, v) VALUES (?, ?)`, i, value)
	}
	for i := range wideRows {
		write(`INSERT INTO `+keyspace+`.wide (p, c, v) VALUES (1, ?, ?)`, i, value)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// request runs one read or write, as the load's mix says, and records it.
func (k *soak) request(r *rand.Rand, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), k.c.timeout)
	defer cancel()
	id := r.IntN(keys)
	start := time.Now()
	var err error
	if r.Float64() < k.c.readShare {
		var rs *cassandra.ResultSet
		if rs, err = k.s.Execute(ctx, readStmt, id).Await(ctx); err == nil {
			var v string
			err = rs.One(&v)
		}
	} else {
		_, err = k.s.Query(writeStmt, id, value).Idempotent(true).Execute(ctx).Await(ctx)
	}
	k.record(time.Since(start), err)
}

func (k *soak) record(d time.Duration, err error) {
	k.ops.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	_ = k.lat.RecordValue(max(d.Microseconds(), 1))
	if err != nil {
		k.errs.Add(1)
		kind := cassandra.ErrorKind(err)
		if k.kinds[kind] == 0 {
			k.first[kind] = err.Error()
		}
		k.kinds[kind]++
	}
}

// measure runs the mix closed-loop with -concurrency requests in flight
// and returns the requests per second it reached.
func (k *soak) measure() float64 {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	value := strings.Repeat("m", 100)
	for w := range k.c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k.request(r, value)
			}
		}()
	}
	time.Sleep(5 * time.Second) // warm-up: connections, prepared statements, workers
	before := k.ops.Load()
	start := time.Now()
	time.Sleep(k.c.measure)
	n := k.ops.Load() - before
	rate := float64(n) / time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	return rate
}

// load offers rate requests per second for -duration: a pacer hands out
// one token per request on schedule to -max-in-flight workers (a token
// that finds every worker busy counts as missed), a streamer reads the
// wide partition every -stream-every, and a sampler records a sample every
// -sample. It returns the samples.
func (k *soak) load(rate float64) []sample {
	tokens := make(chan struct{}, k.c.inFlight)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range k.c.inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			value := strings.Repeat("w", 100)
			for range tokens {
				k.request(r, value)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.streamer(done)
	}()

	start := time.Now()
	var samples []sample
	var lastOps, lastErrs int64
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	next := time.NewTicker(k.c.sample)
	defer next.Stop()
	var issued int64
	for running := true; running; {
		select {
		case <-pace.C:
			due := int64(time.Since(start).Seconds()*rate) - issued
			for ; due > 0; due-- {
				issued++
				select {
				case tokens <- struct{}{}:
				default:
					k.missed.Add(1)
				}
			}
		case <-next.C:
			ops, errs := k.ops.Load(), k.errs.Load()
			sm := k.sample(time.Since(start))
			sm.ops, sm.errs = ops-lastOps, errs-lastErrs
			lastOps, lastErrs = ops, errs
			samples = append(samples, sm)
			fmt.Printf("%6s  rss %6.1f MB  live heap %6.1f MB  goroutines %4d  requests %7d  errors %3d  p50 %6v  p99 %6v\n",
				sm.at.Round(time.Second), mb(sm.rss), mb(sm.liveHeap), sm.goroutines, sm.ops, sm.errs,
				sm.p50.Round(10*time.Microsecond), sm.p99.Round(10*time.Microsecond))
			running = time.Since(start) < k.c.duration
		}
	}
	close(tokens)
	close(done)
	wg.Wait()
	return samples
}

// streamer reads the wide partition every -stream-every until done.
func (k *soak) streamer(done <-chan struct{}) {
	t := time.NewTicker(k.c.streamEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		st := k.s.Query(streamStmt).PageSize(200).Stream(ctx)
		n := 0
		for st.Next() {
			n++
		}
		err := st.Err()
		st.Close()
		cancel()
		if err == nil && n != wideRows {
			err = fmt.Errorf("soak: the stream gave %d rows, want %d", n, wideRows)
		}
		k.streams.Add(1)
		k.record(time.Since(start), err)
	}
}

// liveHeap is the heap the last collection found in use.
var liveHeap = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

func (k *soak) sample(at time.Duration) sample {
	metrics.Read(liveHeap)
	sm := sample{at: at, rss: proc.RSS(), goroutines: runtime.NumGoroutine()}
	if liveHeap[0].Value.Kind() == metrics.KindUint64 {
		sm.liveHeap = int64(liveHeap[0].Value.Uint64())
	}
	k.mu.Lock()
	sm.p50 = time.Duration(k.lat.ValueAtQuantile(50)) * time.Microsecond
	sm.p99 = time.Duration(k.lat.ValueAtQuantile(99)) * time.Microsecond
	k.lat.Reset()
	k.mu.Unlock()
	return sm
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// report prints the slopes and the error rate, and says whether they pass.
func (k *soak) report(samples []sample, st cassandra.PoolStats, elapsed time.Duration) bool {
	var xs, rss, heap, gor []float64
	var ops, errs int64
	for _, sm := range samples {
		ops += sm.ops
		errs += sm.errs
		if sm.at < k.c.warmup {
			continue
		}
		xs = append(xs, sm.at.Minutes())
		rss = append(rss, mb(sm.rss))
		heap = append(heap, mb(sm.liveHeap))
		gor = append(gor, float64(sm.goroutines))
	}
	ok := true
	fmt.Printf("\n%d samples, %d after the %v warm-up; the whole run took %v\n", len(samples), len(xs), k.c.warmup, elapsed.Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "series\tfirst\tlast\tmin\tmax\tslope\tr²\tlimit\t")
	row := func(name, unit string, ys []float64, limit float64) {
		b, r2 := stats.Slope(xs, ys)
		verdict := "ok"
		if b > limit {
			verdict, ok = "FAIL", false
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%+.3f %s/min\t%.2f\t%.1f\t%s\n", name, ys[0], ys[len(ys)-1],
			slices.Min(ys), slices.Max(ys), b, unit, r2, limit, verdict)
	}
	row("resident memory (MB)", "MB", rss, k.c.maxRSS)
	row("live heap (MB)", "MB", heap, k.c.maxHeap)
	row("goroutines", "", gor, k.c.maxGoroutines)
	tw.Flush()

	rate := 0.0
	if ops > 0 {
		rate = float64(errs) / float64(ops)
	}
	verdict := "ok"
	if rate > k.c.maxErrorRate {
		verdict, ok = "FAIL", false
	}
	fmt.Printf("\nrequests: %d (%.0f/s), streams: %d, errors: %d (%.4f%%, limit %.4f%%) %s\n",
		ops, float64(ops)/k.c.duration.Seconds(), k.streams.Load(), errs, 100*rate, 100*k.c.maxErrorRate, verdict)
	fmt.Printf("requests not started on time (every one of the %d in flight busy): %d\n", k.c.inFlight, k.missed.Load())
	k.mu.Lock()
	kinds := make([]string, 0, len(k.kinds))
	for kind := range k.kinds {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		fmt.Printf("  %-12s %6d  first: %s\n", kind, k.kinds[kind], k.first[kind])
	}
	k.mu.Unlock()
	fmt.Printf("pool at the end: busy %d, queued %d, submitted %d, completed %d, expired %d\n",
		st.BusyWorkers, st.QueueDepth, st.SubmitCount, st.CompletedCount, st.ExpiredCount)
	if st.BusyWorkers != 0 || st.QueueDepth != 0 {
		fmt.Println("FAIL: requests still busy or queued after the load stopped")
		ok = false
	}
	if ok {
		fmt.Println("PASS")
	}
	return ok
}
