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
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
	"github.com/async-cassandra/cassandra/test/internal/stats"
)

const (
	keyspace  = "async_cassandra_load"
	rows      = 1000
	readStmt  = `SELECT v FROM kv WHERE id = ?`
	writeStmt = `INSERT INTO kv (id, v) VALUES (?, ?)`
)

// config is what the flags ask for.
type config struct {
	op                string
	levels            []int
	pairs             int
	slice             time.Duration
	baseline, against string
	burn              time.Duration
	keep, depth       int
	profile           string
	workers           int
	batching          bool
	rawWrites         string
	timeout           time.Duration
	mutexProfile      string
	allocProfile      string
}

func main() {
	cfg := parseFlags()
	if cfg.mutexProfile != "" {
		runtime.SetMutexProfileFraction(1)
		defer writeProfile("mutex", cfg.mutexProfile)
	}
	if cfg.allocProfile != "" {
		runtime.MemProfileRate = 4096
		defer writeProfile("allocs", cfg.allocProfile)
	}

	ctx := context.Background()
	raw, wrapped, err := connect(ctx, cfg.workers, cfg.batching, cfg.rawWrites)
	if err != nil {
		log.Fatalf("abload: %v (is a node running? make cassandra-up)", err)
	}
	defer raw.Close()
	defer wrapped.Close()
	variants, closeExtra, err := chooseVariants(ctx, cfg, newOperations(ctx, cfg.op, cfg.timeout, raw), wrapped)
	if err != nil {
		log.Fatalf("abload: %v", err)
	}
	defer closeExtra()

	fmt.Printf("op=%s slice=%s pairs=%d workers=%d batching=%v raw-writes=%s hosts=%v\n", cfg.op, cfg.slice, cfg.pairs, wrapped.Stats().Workers, cfg.batching, cfg.rawWrites, node.Hosts())
	tw := tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "c\tvariant\tops\tops/s\tclient CPU µs/op\tserver CPU µs/op\tsyscalls/op\tGC CPU µs/op\tGCs per 1000 ops\tallocs/op\tB/op\tidle mark µs/op\tmutex wait µs/op\tscheds/op\tmean runnable µs\tb/raw (totals)\tb/raw per pair: median [95% CI]\tpairs")
	for _, c := range cfg.levels {
		compare(tw, cfg, c, variants, wrapped)
	}
}

// parseFlags reads and checks the flags.
func parseFlags() config {
	var cfg config
	var levels string
	flag.StringVar(&cfg.op, "op", "read", "read (one row by key) or write (one row of 100 bytes)")
	flag.StringVar(&levels, "c", "1,64,512", "concurrency levels, comma-separated")
	flag.IntVar(&cfg.pairs, "pairs", 30, "measured pairs of slices per level")
	flag.DurationVar(&cfg.slice, "slice", 200*time.Millisecond, "length of one slice")
	flag.StringVar(&cfg.baseline, "a", "raw", "the baseline: raw (gocql) or async (Execute without a collector)")
	flag.StringVar(&cfg.against, "b", "async", "what to compare with the baseline: async, async+memory, async+prom, async+otel, "+
		"async+otel1pct, async+all (Execute reporting to the in-memory collector, Prometheus, OpenTelemetry sampling every "+
		"request or 1%, or all three), raw (the method's own spread), raw+handoff (raw gocql run on another goroutine), "+
		"raw+garbage (raw plus 512 bytes and a channel per request), raw+frames (raw called 5 frames deeper), "+
		"raw+cpu (raw plus -burn of client CPU per request) "+
		"or raw+future (raw plus -keep bytes alive across the request, -depth frames further down)")
	flag.DurationVar(&cfg.burn, "burn", 2*time.Microsecond, "the client CPU raw+cpu adds to each request")
	flag.IntVar(&cfg.keep, "keep", 128, "the bytes raw+future allocates per request and keeps alive until the request ends "+
		"(128: a Future[*ResultSet] and its ResultSet)")
	flag.IntVar(&cfg.depth, "depth", 2, "the frames raw+future adds above raw gocql's, its own function included, at least 1 "+
		"(2: Await and the function that calls the driver)")
	flag.StringVar(&cfg.profile, "profile", "", "a directory to write one CPU profile per measured slice into, "+
		"named c<level>-<a|b>-<variant>-<pair>.pprof (merge them with go tool pprof -proto)")
	flag.IntVar(&cfg.workers, "workers", 0, "the wrapper's worker count (0: the default)")
	flag.BoolVar(&cfg.batching, "batching", true, "both sides write through the library's write batching (false: both use gocql's own coalescing)")
	flag.StringVar(&cfg.rawWrites, "raw-writes", "same", "how raw gocql writes: same (as the wrapper, see -batching), "+
		"off (gocql with WriteCoalesceWaitTime 0) or gocql (its default coalescing)")
	flag.DurationVar(&cfg.timeout, "timeout", 0, "give every request, on both sides, its own context.WithTimeout of this "+
		"length, as a service's request handlers do (0: context.Background for every request)")
	flag.IntVar(&cpuProfileHz, "profile-hz", 0, "CPU profile samples per second with -profile (0: the runtime's 100); "+
		"the runtime warns once that the rate was already set, which is expected")
	flag.StringVar(&cfg.mutexProfile, "mutexprofile", "", "write a mutex contention profile of the whole run (both sides) to this file")
	flag.StringVar(&cfg.allocProfile, "allocprofile", "", "write a profile of the whole run's allocations (both sides; "+
		"one sample per 4 KiB allocated) to this file")
	flag.Parse()

	if cfg.op != "read" && cfg.op != "write" {
		log.Fatalf("abload: -op must be read or write, not %q", cfg.op)
	}
	for _, f := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			log.Fatalf("abload: bad concurrency %q", f)
		}
		cfg.levels = append(cfg.levels, c)
	}
	if cfg.pairs < 2 || cfg.slice <= 0 {
		log.Fatal("abload: -pairs must be at least 2 and -slice positive")
	}
	if cfg.rawWrites != "same" && cfg.rawWrites != "off" && cfg.rawWrites != "gocql" {
		log.Fatalf("abload: -raw-writes must be same, off or gocql, not %q", cfg.rawWrites)
	}
	return cfg
}

// compare measures the two variants at c in flight: one pair of slices to
// warm up, then cfg.pairs pairs in ABBA order, and prints a row for each
// variant with the second's throughput relative to the first.
func compare(tw *tabwriter.Writer, cfg config, c int, variants [2]variant, wrapped *cassandra.AsyncSession) {
	// One pair to warm up: connections, prepared statements, stacks.
	for i := range variants {
		if _, err := run(c, cfg.slice, variants[i].op); err != nil {
			log.Fatalf("abload: %s c=%d: %v", variants[i].name, c, err)
		}
	}
	st0 := wrapped.Stats()
	var totals [2]sample
	ratios := make([]float64, 0, cfg.pairs)
	for p := range cfg.pairs {
		order := [2]int{0, 1}
		if p%2 == 1 {
			order = [2]int{1, 0}
		}
		var pair [2]sample
		for _, v := range order {
			s := runSlice(cfg, c, v, p, variants[v])
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
			t.rt.schedSum/float64(max(t.rt.schedCount, 1))*1e6, ratio, interval, cfg.pairs)
	}
	tw.Flush()
	if sub := st1.SubmitCount - st0.SubmitCount; sub > 0 {
		fmt.Printf("c=%d wrapper: %d requests, %.1f µs queued on average, %d worker goroutines at the end\n",
			c, sub, float64((st1.QueueWaitDuration-st0.QueueWaitDuration).Microseconds())/float64(sub), st1.LiveWorkers)
	}
}

// runSlice runs one measured slice of variant v (index v of the pair p),
// with its CPU profile when -profile asks for one.
func runSlice(cfg config, c, v, p int, vr variant) sample {
	var prof io.Closer
	if cfg.profile != "" {
		prof = startProfile(cfg.profile, c, v, vr.name, p)
	}
	s, err := run(c, cfg.slice, vr.op)
	if prof != nil {
		pprof.StopCPUProfile()
		if err := prof.Close(); err != nil {
			log.Fatalf("abload: %v", err)
		}
	}
	if err != nil {
		log.Fatalf("abload: %s c=%d: %v", vr.name, c, err)
	}
	return s
}
