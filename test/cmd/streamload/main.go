// Command streamload measures streaming a large table: rows per second,
// peak Go heap above the baseline and peak RSS, for this library's Stream,
// its parallel TableScan, and raw gocql's Iter over the same rows in the
// same process set-up.
//
//	go run ./cmd/streamload -rows 1000000 -setup          # fill the table once
//	go run ./cmd/streamload -rows 1000000 -mode stream -prefetch 1
//	go run ./cmd/streamload -rows 1000000 -mode raw
//	go run ./cmd/streamload -rows 1000000 -mode scan -parallelism 8
//	go run ./cmd/streamload -rows 100000 -mode stream -work 20us -prefetch 0
//
// -work makes the reader spend that long on each row (a busy loop, since
// sleeping that briefly is far less precise), to show how prefetching
// overlaps the next page's request with the reader's work. It talks only to
// CASSANDRA_HOSTS (default 127.0.0.1) and stops after one pass.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

const keyspace = "async_cassandra_load"

func main() {
	rows := flag.Int("rows", 100_000, "rows in the table to stream")
	payload := flag.Int("payload", 100, "bytes of text per row")
	setup := flag.Bool("setup", false, "create and fill the table, then exit")
	mode := flag.String("mode", "stream", "stream (this library), scan (its parallel table scan) or raw (gocql Iter)")
	parallelism := flag.Int("parallelism", cassandra.DefaultScanParallelism, "token ranges read at once (scan mode)")
	pageSize := flag.Int("page", 5000, "rows per page")
	prefetch := flag.Int("prefetch", 1, "pages fetched ahead (stream mode)")
	work := flag.Duration("work", 0, "time the reader spends on each row")
	flag.Parse()

	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Timeout = 30 * time.Second
	cfg.Consistency = gocql.One
	table := fmt.Sprintf("%s.rows_%d", keyspace, *rows)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cluster, err := cassandra.NewAsyncCluster(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	session, err := cluster.Connect(ctx)
	if err != nil {
		log.Fatal(err)
	}

	if *setup {
		if err := fill(ctx, session, table, *rows, *payload); err != nil {
			log.Fatal(err)
		}
		return
	}

	stmt := "SELECT id, payload FROM " + table
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	liveBase := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(liveBase)
	peak := sampleHeap()

	start := time.Now()
	var n, bytes int
	var inNext time.Duration
	var id int
	var text []byte
	consume := func() {
		n++
		bytes += len(text)
		if *work > 0 {
			for t := time.Now(); time.Since(t) < *work; {
			}
		}
	}
	switch *mode {
	case "stream":
		st := session.Query(stmt).PageSize(*pageSize).Stream(ctx, cassandra.Prefetch(*prefetch))
		for {
			// Time in Next is time the reader waits for a page (plus
			// moving to the next row, which is cheap).
			t0 := time.Now()
			ok := st.Next()
			inNext += time.Since(t0)
			if !ok {
				break
			}
			if err := st.Scan(&id, &text); err != nil {
				log.Fatal(err)
			}
			consume()
		}
		err = st.Err()
	case "scan":
		// The same table read by a parallel token-range scan: ranges
		// read at once, each with its pages and prefetch.
		sc := session.Scan(ctx, table, cassandra.ScanColumns("id", "payload"), cassandra.ScanPageSize(*pageSize),
			cassandra.ScanPrefetch(*prefetch), cassandra.ScanParallelism(*parallelism))
		for {
			t0 := time.Now()
			ok := sc.Next()
			inNext += time.Since(t0)
			if !ok {
				break
			}
			if err := sc.Scan(&id, &text); err != nil {
				log.Fatal(err)
			}
			consume()
		}
		err = sc.Err()
	case "raw":
		it := session.Gocql().Query(stmt).PageSize(*pageSize).IterContext(ctx)
		for it.Scan(&id, &text) {
			consume()
		}
		err = it.Close()
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
	elapsed := time.Since(start)
	heapPeak := peak()
	if err != nil {
		log.Fatal(err)
	}
	if n != *rows {
		log.Fatalf("read %d rows, want %d (run with -setup first)", n, *rows)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	growth := int64(heapPeak) - int64(base.HeapInuse)
	liveGrowth := int64(livePeak.Load()) - int64(liveBase[0].Value.Uint64())
	// A page's frame holds, per row, a 4-byte length and the value of each
	// column: here a 4-byte int and the payload.
	pageBytes := float64(*pageSize * (4 + 4 + 4 + *payload))
	if *mode == "scan" {
		fmt.Printf("parallelism=%d ", *parallelism)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("mode=%s rows=%d page=%d prefetch=%d work=%v elapsed=%.2fs rows/s=%.0f time_in_next=%v heap_inuse_peak_above_base=%.1fMiB live_heap_peak_above_base=%.1fMiB (%.1f pages) peak_rss=%.1fMiB client_cpu=%.2fs\n",
		*mode, n, *pageSize, *prefetch, *work, elapsed.Seconds(), float64(n)/elapsed.Seconds(), inNext.Round(time.Millisecond),
		float64(growth)/(1<<20), float64(liveGrowth)/(1<<20), float64(liveGrowth)/pageBytes, float64(ru.Maxrss)/1024, cpu.Seconds())
}

// sampleHeap samples HeapInuse every 5 ms until the returned function is
// called, which reports the peak. It also records the peak live heap (what
// the last collection found reachable), the measure of what the reader
// really holds, in livePeak.
var livePeak atomic.Uint64

func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			metrics.Read(live)
			if v := live[0].Value.Uint64(); v > livePeak.Load() {
				livePeak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}

// fill creates the table and writes rows 0..n-1, skipping the work when the
// table already holds n rows.
func fill(ctx context.Context, s *cassandra.AsyncSession, table string, n, payload int) error {
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + table + ` (id int PRIMARY KEY, payload text)`,
	} {
		if _, err := s.Execute(ctx, stmt).Await(ctx); err != nil {
			return err
		}
	}
	count := 0
	st := s.Query("SELECT id FROM " + table).PageSize(10000).Stream(ctx)
	for st.Next() {
		count++
	}
	if err := st.Err(); err != nil {
		return err
	}
	if count == n {
		fmt.Printf("%s already holds %d rows\n", table, n)
		return nil
	}
	value := strings.Repeat("p", payload)
	start := time.Now()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, 2000)
	for i := range n {
		futs = append(futs, s.Query(`INSERT INTO `+table+` (id, payload) VALUES (?, ?)`, i, value).Idempotent(true).Execute(ctx))
		if len(futs) == cap(futs) || i == n-1 {
			if _, err := cassandra.AwaitAll(ctx, futs...); err != nil {
				return err
			}
			futs = futs[:0]
		}
	}
	fmt.Printf("wrote %d rows to %s in %v\n", n, table, time.Since(start).Round(time.Second))
	return nil
}
