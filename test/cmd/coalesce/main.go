// Command coalesce compares three ways gocql can write its frames, on the
// real node, with raw gocql sessions only:
//
//   - default: gocql's write coalescing (WriteCoalesceWaitTime 200 µs),
//     which holds every frame until a timer fires;
//   - off: WriteCoalesceWaitTime 0, one write system call per frame;
//   - wire: coalescing off and the batching connections of internal/wire,
//     which send a frame at once when the socket is idle and gather the
//     frames that arrive during a write into the next one;
//   - library (with -configs): this library's AsyncSession with its
//     defaults (write batching through internal/wire, 512 workers), each
//     request an Execute awaited by its caller: what a user gets end to end.
//
// For each operation and number of requests in flight it runs the three in
// rotation: one short slice each per round, in an order that changes every
// round (all six orders over six rounds), so that a machine whose speed
// drifts, or a node that shares the client's cores, weighs on all three
// alike. A collection is forced before each slice, outside its time.
//
//	go run ./cmd/coalesce                                  # insert and select at 1, 64 and 512, 6 rounds of 1 s
//	go run ./cmd/coalesce -op select -c 64 -rounds 12 -slice 500ms
//
// It prints, per configuration: throughput over all its slices and the
// range of its per-round throughputs; the median and range of its
// per-round throughput relative to default; latency p50 and p99 over all
// slices; client CPU per request (getrusage of this process, so the
// harness's own small cost is in all three alike) with its per-round range;
// the node's CPU per request when one local node runs here; write and read
// system calls per request; for wire, frames per write; and the cores
// that other processes kept busy meanwhile (a run on a machine that was not
// quiet says so there). It talks only
// to CASSANDRA_HOSTS (default 127.0.0.1) and uses its own keyspace.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/internal/wire"
	"github.com/async-cassandra/cassandra/test/internal/node"
	"github.com/async-cassandra/cassandra/test/internal/proc"
	"github.com/async-cassandra/cassandra/test/internal/stats"
)

const (
	rows       = 1000
	insertStmt = `INSERT INTO kv (id, v) VALUES (?, ?)`
	selectStmt = `SELECT v FROM kv WHERE id = ?`
)

// config is one way of writing frames: a session and, for wire, its dialer.
type config struct {
	name    string
	session *gocql.Session
	dialer  *wire.HostDialer        // nil except for wire
	async   *cassandra.AsyncSession // the library's session, for library; session is its driver session
	cluster *cassandra.AsyncCluster
}

// close closes the config's sessions.
func (c config) close() {
	if c.cluster != nil {
		_ = c.cluster.Close()
		return
	}
	c.session.Close()
}

func main() {
	ops := flag.String("op", "insert,select", "operations, comma-separated: insert (one 100-byte row) and select (one row by key)")
	levels := flag.String("c", "1,64,512", "requests in flight, comma-separated")
	rounds := flag.Int("rounds", 6, "measured rounds per operation and level; each round runs one slice of every configuration")
	slice := flag.Duration("slice", time.Second, "length of one slice")
	keyspace := flag.String("keyspace", "wirebench", "the keyspace to create and use")
	names := flag.String("configs", "default,off,wire", "configurations, comma-separated; the first is the one the others are compared with")
	flag.Parse()

	var cs []int
	for _, f := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			log.Fatalf("coalesce: bad level %q", f)
		}
		cs = append(cs, c)
	}
	if *rounds < 1 || *slice <= 0 {
		log.Fatal("coalesce: -rounds must be at least 1 and -slice positive")
	}

	configs, err := connect(*keyspace, strings.Split(*names, ","))
	if err != nil {
		log.Fatalf("coalesce: %v (is a node running?)", err)
	}
	defer func() {
		for _, c := range configs {
			c.close()
		}
	}()

	fmt.Printf("coalesce: %s, GOMAXPROCS %d, hosts %v, slice %s, %d rounds, %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), node.Hosts(), *slice, *rounds, time.Now().UTC().Format(time.RFC3339))
	value := strings.Repeat("y", 100)
	for _, op := range strings.Split(*ops, ",") {
		op = strings.TrimSpace(op)
		var run func(c *config, i int) error
		ctx := context.Background()
		switch op {
		case "insert":
			run = func(c *config, i int) error {
				if c.async != nil {
					_, err := c.async.Execute(ctx, insertStmt, i%rows, value).Await(ctx)
					return err
				}
				return c.session.Query(insertStmt, i%rows, value).ExecContext(ctx)
			}
		case "select":
			run = func(c *config, i int) error {
				var v string
				if c.async != nil {
					rs, err := c.async.Execute(ctx, selectStmt, i%rows).Await(ctx)
					if err != nil {
						return err
					}
					return rs.One(&v)
				}
				return c.session.Query(selectStmt, i%rows).ScanContext(ctx, &v)
			}
		default:
			log.Fatalf("coalesce: -op takes insert and select, not %q", op)
		}
		for _, c := range cs {
			measure(op, c, *rounds, *slice, configs, run)
		}
	}
}

// order returns the order in which round r runs n configurations: rotated
// by r, and reversed every other n rounds (for three: all six orders in
// six rounds).
func order(r, n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = (r + i) % n
	}
	if (r/n)%2 == 1 {
		slices.Reverse(o)
	}
	return o
}

// measure runs one operation at one level for every configuration in
// rotation and prints the table.
func measure(op string, c, rounds int, slice time.Duration, configs []config, run func(*config, int) error) {
	h := newHistograms(c)
	// Warm up: connections, prepared statements, goroutine stacks.
	for _, cfg := range configs {
		if _, err := h.slice(c, slice/2, &cfg, run); err != nil {
			log.Fatalf("coalesce: %s %s c=%d: %v", op, cfg.name, c, err)
		}
	}
	totals := make([]sample, len(configs))
	perRound := make([][]sample, len(configs))
	lat := make([]*hdrhistogram.Histogram, len(configs))
	frames0 := make([]wire.Stats, len(configs))
	for i := range configs {
		lat[i] = newHistogram()
		if configs[i].dialer != nil {
			frames0[i] = configs[i].dialer.Stats()
		}
	}
	for r := range rounds {
		for _, i := range order(r, len(configs)) {
			h.reset()
			s, err := h.slice(c, slice, &configs[i], run)
			if err != nil {
				log.Fatalf("coalesce: %s %s c=%d: %v", op, configs[i].name, c, err)
			}
			h.mergeInto(lat[i])
			totals[i].add(s)
			perRound[i] = append(perRound[i], s)
		}
	}

	fmt.Printf("\nop=%s c=%d\n", op, c)
	tw := tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "config\tops\tops/s\tops/s per round\tvs "+configs[0].name+" per round: median [range]\tp50 µs\tp99 µs\tclient CPU µs/op\tper round\tnode CPU µs/op\twrites/op\treads/op\tframes/write\tother cores")
	for i, cfg := range configs {
		t := totals[i]
		rates := make([]float64, rounds)
		cpus := make([]float64, rounds)
		ratios := make([]float64, rounds)
		for r := range rounds {
			rates[r] = perRound[i][r].rate()
			cpus[r] = perRound[i][r].cpuPerOp()
			ratios[r] = rates[r] / perRound[0][r].rate()
		}
		perWrite := "-"
		if cfg.dialer != nil {
			st := cfg.dialer.Stats()
			perWrite = fmt.Sprintf("%.1f", float64(st.FrameCount-frames0[i].FrameCount)/float64(max(st.FlushCount-frames0[i].FlushCount, 1)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f-%.0f\t%.3f [%.3f, %.3f]\t%d\t%d\t%.1f\t%.1f-%.1f\t%.1f\t%.2f\t%.2f\t%s\t%.2f\n",
			cfg.name, t.ops, t.rate(), slices.Min(rates), slices.Max(rates),
			stats.Median(slices.Clone(ratios)), slices.Min(ratios), slices.Max(ratios),
			lat[i].ValueAtQuantile(50), lat[i].ValueAtQuantile(99),
			t.cpuPerOp(), slices.Min(cpus), slices.Max(cpus),
			t.per(t.server.Seconds()*1e6), t.per(float64(t.writes)), t.per(float64(t.reads)), perWrite, t.others())
	}
	tw.Flush()
}

// sample is what one slice, or a sum of slices, measured.
type sample struct {
	ops           int64
	elapsed       time.Duration
	cpu           time.Duration // this process's user and system CPU
	server        time.Duration // the local node's CPU (0 if none is found)
	machine       time.Duration // every process's CPU, from /proc/stat
	writes, reads int64         // this process's write and read system calls
}

func (s *sample) add(o sample) {
	s.ops += o.ops
	s.elapsed += o.elapsed
	s.cpu += o.cpu
	s.server += o.server
	s.machine += o.machine
	s.writes += o.writes
	s.reads += o.reads
}

func (s sample) rate() float64         { return float64(s.ops) / s.elapsed.Seconds() }
func (s sample) per(v float64) float64 { return v / float64(s.ops) }
func (s sample) cpuPerOp() float64     { return s.per(s.cpu.Seconds() * 1e6) }

// others is the mean number of cores that processes other than this one
// and the node kept busy: on a shared machine, a figure that was not
// measured alone.
func (s sample) others() float64 {
	return max(s.machine-s.cpu-s.server, 0).Seconds() / s.elapsed.Seconds()
}

// histograms are one latency histogram per goroutine of a slice, so that
// recording takes no lock; they are made once per level and reused.
type histograms []*hdrhistogram.Histogram

// newHistogram records microseconds from 1 µs to 100 s with two
// significant digits: 1% resolution.
func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, 100_000_000, 2) }

func newHistograms(c int) histograms {
	h := make(histograms, c)
	for i := range h {
		h[i] = newHistogram()
	}
	return h
}

func (h histograms) reset() {
	for _, x := range h {
		x.Reset()
	}
}

func (h histograms) mergeInto(dst *hdrhistogram.Histogram) {
	for _, x := range h {
		dst.Merge(x)
	}
}

// slice keeps c goroutines calling run for d, then waits for the requests
// in flight: the slice's time runs until the last is back, so that each
// configuration pays for its own stragglers.
func (h histograms) slice(c int, d time.Duration, cfg *config, run func(*config, int) error) (sample, error) {
	var (
		stop   atomic.Bool
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	runtime.GC() // each slice collects its own garbage, not its predecessor's
	cpu0, server0, machine0 := proc.CPUTime(), proc.ServerCPU(), proc.MachineCPU()
	w0, r0 := proc.Syscalls()
	start := time.Now()
	for g := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hist := h[g]
			for !stop.Load() {
				t0 := time.Now()
				if err := run(cfg, int(next.Add(1))); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				_ = hist.RecordValue(time.Since(t0).Microseconds())
			}
		}()
	}
	// The slice is a span of time, so a timer ends it.
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	wg.Wait()
	w1, r1 := proc.Syscalls()
	smp := sample{ops: next.Load(), elapsed: time.Since(start), cpu: proc.CPUTime() - cpu0,
		server: proc.ServerCPU() - server0, machine: proc.MachineCPU() - machine0, writes: w1 - w0, reads: r1 - r0}
	if err := failed.Load(); err != nil {
		return smp, *err
	}
	return smp, nil
}

// connect makes the keyspace and table, fills the rows that select reads,
// and opens one session per configuration with otherwise equal settings.
func connect(keyspace string, names []string) ([]config, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot, err := gocql.NewCluster(node.Hosts()...).CreateSession()
	if err != nil {
		return nil, err
	}
	defer boot.Close()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.kv (id int PRIMARY KEY, v text)`,
	} {
		if err := boot.Query(stmt).ExecContext(ctx); err != nil {
			return nil, err
		}
	}
	newConfig := func() *gocql.ClusterConfig {
		cfg := gocql.NewCluster(node.Hosts()...)
		cfg.Keyspace = keyspace
		cfg.Timeout = 10 * time.Second
		return cfg
	}
	var configs []config
	closeAll := func() {
		for _, c := range configs {
			c.close()
		}
	}
	for _, name := range names {
		cfg := newConfig()
		var d *wire.HostDialer
		switch name {
		case "default":
		case "off":
			cfg.WriteCoalesceWaitTime = 0
		case "wire":
			// WriteCoalesceWaitTime keeps its default: the dialer turns
			// gocql's coalescing off per connection, as it will for users.
			if d, err = wire.Install(cfg); err != nil {
				closeAll()
				return nil, err
			}
		case "library":
			cl, err := cassandra.NewAsyncCluster(cfg)
			if err != nil {
				closeAll()
				return nil, err
			}
			as, err := cl.Connect(ctx)
			if err != nil {
				_ = cl.Close()
				closeAll()
				return nil, err
			}
			configs = append(configs, config{name: name, session: as.Gocql(), async: as, cluster: cl})
			continue
		default:
			closeAll()
			return nil, fmt.Errorf("unknown configuration %q", name)
		}
		s, err := cfg.CreateSession()
		if err != nil {
			closeAll()
			return nil, err
		}
		configs = append(configs, config{name: name, session: s, dialer: d})
	}
	value := strings.Repeat("x", 100)
	for i := range rows {
		if err := configs[0].session.Query(insertStmt, i, value).ExecContext(ctx); err != nil {
			closeAll()
			return nil, err
		}
	}
	return configs, nil
}
