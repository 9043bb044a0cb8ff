// Command cassload puts a Cassandra cluster under load through this library
// and reports what a client sees, so that you can size a session (workers,
// queue, queue-full policy, page size, write batching) for your cluster.
//
// It runs each workload at each number of requests in flight, for a number
// of operations or a duration:
//
//	insert  one row by key (a blob of -size bytes)
//	select  one row by key
//	mixed   90% select, 10% insert, by key
//	scan    a stream of -scan-rows rows, page by page (one operation per stream)
//
// It prints, per workload and level, the operations per second, latency
// percentiles (p50, p95, p99, p99.9, from an HDR histogram), errors by kind
// (cassandra.ErrorKind), the client's CPU time per operation (getrusage),
// and what the session's pool saw (mean time queued, peak queue depth, peak
// busy workers): as a table, or as JSON with -json. Throughput and
// latencies are those of the operations that succeeded; the others are
// counted by kind.
//
//	cassload                                        # every workload at 1, 64 and 512 in flight, 10 s each
//	cassload -w select -c 16,64,256,1024 -d 30s     # where does latency start to climb?
//	cassload -w insert -c 512 -workers 64 -queue 256 -policy failfast -json
//
// With -policy failfast, an operation refused with ErrOverloaded counts as an
// error of kind "overloaded", and its caller backs off before the next one
// (1 ms, doubling up to 100 ms while refusals go on), as one using
// cassandra.Retry would.
//
// It talks to -hosts (default CASSANDRA_HOSTS, else 127.0.0.1) and creates
// its own keyspace and table (-keyspace, -table) if they do not exist.
// Before select, mixed and scan it writes the -rows rows they read. While it
// runs, a terminal shows one progress line on standard error; otherwise it
// is quiet until the results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// exitInterrupted is the exit status after an interrupt (128 + SIGINT),
// with the results measured so far printed.
const exitInterrupted = 130

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, runs every workload at every
// level, writes the report to stdout, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cassload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	rep, err := load(ctx, cfg, newProgress(stderr))
	if rep != nil {
		if werr := writeReport(stdout, rep, cfg.json); werr != nil && err == nil {
			err = werr
		}
	}
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "cassload: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintln(stderr, "cassload:", err)
		return 1
	}
}

// config is what the flags say.
type config struct {
	hosts       []string
	keyspace    string
	table       string
	replication string

	workloads []string
	levels    []int
	ops       int64         // operations per level; 0 means run for duration
	rate      float64       // open loop: operations started per second; 0 means closed loop
	trace     time.Duration // how often the limit and the rates are traced; 0 means never
	duration  time.Duration // per level, when ops is 0
	warmup    time.Duration
	timeout   time.Duration // per operation

	workers     int
	queue       int
	adaptive    bool
	adaptiveMin int
	tolerance   float64
	policy      cassandra.QueueFullPolicy
	pageSize    int
	prefetch    int
	batching    bool
	conns       int
	consistency gocql.Consistency

	size     int // bytes in each row's value
	rows     int // keys written and read
	scanRows int // rows per scan
	fill     bool

	json bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("cassload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: cassload [flags]\n\nPuts Cassandra under load through github.com/async-cassandra/cassandra and reports\nthroughput, latency percentiles, errors by kind and client CPU per operation.\n\nFlags:")
		fs.PrintDefaults()
	}
	defHosts := os.Getenv("CASSANDRA_HOSTS")
	if defHosts == "" {
		defHosts = "127.0.0.1"
	}
	var (
		c        config
		hosts    = fs.String("hosts", defHosts, "contact points, comma-separated (default: CASSANDRA_HOSTS, else 127.0.0.1)")
		work     = fs.String("w", "insert,select,mixed,scan", "workloads, comma-separated: insert, select, mixed (90% select, 10% insert), scan")
		levels   = fs.String("c", "1,64,512", "requests in flight, comma-separated: each workload runs at each level")
		policy   = fs.String("policy", "wait", "what a request does when the queue is full: wait (QueueWait) or failfast (QueueFailFast, ErrOverloaded)")
		cons     = fs.String("consistency", "LOCAL_ONE", "consistency level of every request")
		batching = fs.String("batching", "on", "the session's write batching (WithWriteBatching): on or off")
	)
	fs.StringVar(&c.keyspace, "keyspace", "cassload", "keyspace to use, created if it does not exist")
	fs.StringVar(&c.table, "table", "kv", "table to use, created if it does not exist: (id int PRIMARY KEY, v blob)")
	fs.StringVar(&c.replication, "replication", "{'class': 'SimpleStrategy', 'replication_factor': 1}", "replication of the keyspace, if cassload creates it")
	fs.Int64Var(&c.ops, "n", 0, "operations per workload and level (0: run for -d)")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "how long each workload runs at each level, unless -n is set")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before each level (connections, prepared statements, caches)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "deadline of each operation (a whole stream, for scan)")
	fs.IntVar(&c.workers, "workers", cassandra.DefaultWorkers, "WithWorkers: requests the session runs at once")
	fs.IntVar(&c.queue, "queue", cassandra.DefaultQueue, "WithQueue: requests that may wait for a worker")
	fs.BoolVar(&c.adaptive, "adaptive", false, "WithAdaptiveLimit: the requests the session runs at once follow the cluster's latency, up to -workers")
	fs.IntVar(&c.adaptiveMin, "adaptive-min", 0, "with -adaptive, AdaptiveLimit.Min (0: the default)")
	fs.Float64Var(&c.tolerance, "adaptive-tolerance", 0, "with -adaptive, AdaptiveLimit.Tolerance (0: the default)")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: start this many operations per second whether or not earlier ones are done, with at most -c outstanding (0: closed loop, -c always in flight)")
	fs.DurationVar(&c.trace, "trace", 0, "print the session's limit, busy workers, queue and rates every this often (0: never)")
	fs.IntVar(&c.pageSize, "page-size", cassandra.DefaultPageSize, "WithPageSize: rows per page")
	fs.IntVar(&c.prefetch, "prefetch", cassandra.DefaultPrefetch, "WithPrefetch: pages a stream fetches ahead of its reader")
	fs.IntVar(&c.conns, "conns", 2, "gocql's NumConns: connections per host")
	fs.IntVar(&c.size, "size", 100, "bytes in each row's value")
	fs.IntVar(&c.rows, "rows", 10000, "keys: insert writes, select reads, keys 0 to rows-1 in turn")
	fs.IntVar(&c.scanRows, "scan-rows", 1000, "rows each scan reads (LIMIT); with -page-size below it a scan streams several pages")
	fs.BoolVar(&c.fill, "fill", true, "write the -rows rows before select, mixed and scan")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.hosts = append(c.hosts, h)
		}
	}
	if len(c.hosts) == 0 {
		return nil, errors.New("-hosts names no host")
	}
	for _, w := range strings.Split(*work, ",") {
		w = strings.TrimSpace(w)
		if _, ok := workloads[w]; !ok {
			return nil, fmt.Errorf("-w: unknown workload %q (insert, select, mixed, scan)", w)
		}
		c.workloads = append(c.workloads, w)
	}
	var err error
	if c.levels, err = parseLevels(*levels); err != nil {
		return nil, err
	}
	switch *policy {
	case "wait":
		c.policy = cassandra.QueueWait
	case "failfast":
		c.policy = cassandra.QueueFailFast
	default:
		return nil, fmt.Errorf("-policy: %q is neither wait nor failfast", *policy)
	}
	switch *batching {
	case "on":
		c.batching = true
	case "off":
	default:
		return nil, fmt.Errorf("-batching: %q is neither on nor off", *batching)
	}
	if c.consistency, err = gocql.ParseConsistencyWrapper(strings.ToUpper(*cons)); err != nil {
		return nil, fmt.Errorf("-consistency: %w", err)
	}
	if !isIdent(c.keyspace) || !isIdent(c.table) {
		return nil, errors.New("-keyspace and -table take plain CQL names (letters, digits, underscore)")
	}
	switch {
	case c.ops < 0:
		return nil, errors.New("-n must not be negative")
	case c.ops == 0 && c.duration <= 0:
		return nil, errors.New("-d must be positive when -n is not set")
	case c.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case c.timeout <= 0:
		return nil, errors.New("-timeout must be positive")
	case c.workers < 1 || c.queue < 0 || c.pageSize < 1 || c.prefetch < 0 || c.conns < 1:
		return nil, errors.New("-workers, -page-size and -conns must be at least 1, -queue and -prefetch at least 0")
	case c.size < 0 || c.rows < 1 || c.scanRows < 1:
		return nil, errors.New("-rows and -scan-rows must be at least 1, -size at least 0")
	case c.rate < 0 || c.rate != c.rate || c.rate > 1e7:
		return nil, errors.New("-rate must be between 0 and 10,000,000 operations per second")
	case c.trace < 0:
		return nil, errors.New("-trace must not be negative")
	case !c.adaptive && (c.adaptiveMin != 0 || c.tolerance != 0):
		return nil, errors.New("-adaptive-min and -adaptive-tolerance need -adaptive")
	}
	return &c, nil
}

// parseLevels parses a list of positive integers such as "1,64,512".
func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-c: %q is not a positive number of requests in flight", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// isIdent reports whether s is an unquoted CQL name, safe to splice into a
// statement.
func isIdent(s string) bool {
	if s == "" || len(s) > 48 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// load connects, prepares the table and runs every workload at every level.
// It returns the report of what it measured, also when it stops early.
func load(ctx context.Context, c *config, prog *progress) (*Report, error) {
	cc := gocql.NewCluster(c.hosts...)
	cc.Consistency = c.consistency
	cc.NumConns = c.conns
	cc.Timeout = c.timeout + time.Second // the operation's deadline ends it first
	cc.ConnectTimeout = 10 * time.Second
	opts := []cassandra.Option{
		cassandra.WithWorkers(c.workers),
		cassandra.WithQueue(c.queue),
		cassandra.WithQueueFullPolicy(c.policy),
		cassandra.WithPageSize(c.pageSize),
		cassandra.WithPrefetch(c.prefetch),
		cassandra.WithWriteBatching(c.batching),
	}
	if c.adaptive {
		opts = append(opts, cassandra.WithAdaptiveLimit(cassandra.AdaptiveLimit{Min: c.adaptiveMin, Tolerance: c.tolerance}))
	}
	cluster, err := cassandra.NewAsyncCluster(cc, opts...)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := cluster.Connect(cctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(c.hosts, ","), err)
	}
	defer s.Close()
	if err := createSchema(cctx, s, c); err != nil {
		return nil, err
	}

	rep := newReport(c)
	filled := false
	for _, name := range c.workloads {
		w := workloads[name]
		if w.reads && c.fill && !filled {
			if err := fill(ctx, s, c, prog); err != nil {
				return rep, err
			}
			filled = true
		}
		for _, level := range c.levels {
			res, err := measure(ctx, s, c, name, level, prog)
			if err != nil {
				return rep, err
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

// createSchema makes the keyspace and table if they are missing. DDL waits
// for schema agreement, which gocql does for us.
func createSchema(ctx context.Context, s *cassandra.AsyncSession, c *config) error {
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + c.keyspace + ` WITH replication = ` + c.replication,
		`CREATE TABLE IF NOT EXISTS ` + c.keyspace + `.` + c.table + ` (id int PRIMARY KEY, v blob)`,
	} {
		if _, err := s.Execute(ctx, stmt).Await(ctx); err != nil {
			return fmt.Errorf("create the schema: %w", err)
		}
	}
	return nil
}

// fill writes rows 0 to rows-1, so that select, mixed and scan find them.
func fill(ctx context.Context, s *cassandra.AsyncSession, c *config, prog *progress) error {
	value := make([]byte, c.size)
	args := func(yield func([]any) bool) {
		for i := range c.rows {
			if !yield([]any{i, value}) {
				return
			}
		}
	}
	start := time.Now()
	_, err := s.ExecuteConcurrent(ctx, insertStmt(c), args, cassandra.InFlight(min(c.workers, 256)),
		cassandra.OnProgress(progressEvery, func(p cassandra.ConcurrentStats) {
			prog.printf("filling %s.%s: %d of %d rows", c.keyspace, c.table, p.Succeeded, c.rows)
		}))
	prog.clear()
	if err != nil {
		return fmt.Errorf("write the %d rows: %w", c.rows, err)
	}
	prog.note("filled %s.%s with %d rows in %s", c.keyspace, c.table, c.rows, time.Since(start).Round(time.Millisecond))
	return nil
}

// clientVersion names the Go release and the library's module version.
func clientVersion() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/async-cassandra/cassandra" && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/async-cassandra/cassandra" {
				v = d.Version
			}
		}
	}
	return fmt.Sprintf("github.com/async-cassandra/cassandra %s, %s, GOMAXPROCS %d", v, runtime.Version(), runtime.GOMAXPROCS(0))
}
