// Command scan counts the rows of a table and exports them to a CSV file
// with a parallel token-range scan (AsyncSession.Scan), printing its
// progress every second. It saves a checkpoint after every page, so that
// when it is stopped (Ctrl-C, a crash, a failed node) running it again
// with the same arguments goes on where it stopped, and the CSV file holds
// every row exactly once.
//
//	cd examples && go run ./scan -table shop.orders -out orders.csv
//
// Pick it over examples/export when one stream is too slow: for a large
// table, above all on a cluster of several nodes, since it reads several
// token ranges at once, each from a node that holds it. examples/export
// reads the result of one query as a single stream, which is simpler, keeps
// the query's order, and can export any SELECT (one partition, a filter),
// at the speed of one request at a time.
//
// It connects to CASSANDRA_HOSTS (comma-separated, default 127.0.0.1). The
// checkpoint file (by default the output file's name plus
// ".checkpoint.json") records the scan's checkpoint and the length of the
// CSV file at that moment; on resuming, the CSV file is cut back to that
// length, since rows written after the checkpoint are read again. Delete
// both files to export again from the start.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// saved is what the checkpoint file holds.
type saved struct {
	Scan     cassandra.ScanCheckpoint `json:"scan"`
	CSVBytes int64                    `json:"csv_bytes"` // length of the CSV file at the checkpoint
}

func main() {
	table := flag.String("table", "", "table to export: keyspace.table")
	out := flag.String("out", "", "CSV file to write (default: the table's name + .csv)")
	cpPath := flag.String("checkpoint", "", "checkpoint file (default: the CSV file + .checkpoint.json)")
	columns := flag.String("columns", "", "comma-separated columns to export (default: all)")
	parallelism := flag.Int("parallelism", cassandra.DefaultScanParallelism, "token ranges read at once")
	pageSize := flag.Int("page", 1000, "rows per page")
	stopAfter := flag.Int64("stop-after", 0, "exit abruptly after this many rows, as a crash would (to try resuming)")
	flag.Parse()
	if *table == "" {
		fmt.Fprintln(os.Stderr, "usage: scan -table keyspace.table [-out file.csv] [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if *out == "" {
		*out = strings.ReplaceAll(*table, ".", "_") + ".csv"
	}
	if *cpPath == "" {
		*cpPath = *out + ".checkpoint.json"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, config{table: *table, out: *out, checkpoint: *cpPath, columns: *columns,
		parallelism: *parallelism, pageSize: *pageSize, stopAfter: *stopAfter})
	if errors.Is(err, context.Canceled) {
		log.Printf("interrupted; run the same command again to resume from %s", *cpPath)
		os.Exit(130)
	}
	if err != nil {
		log.Fatalf("%v\nrun the same command again to resume from %s", err, *cpPath)
	}
}

type config struct {
	table, out, checkpoint, columns string
	parallelism, pageSize           int
	stopAfter                       int64
}

func run(ctx context.Context, c config) error {
	hosts := []string{"127.0.0.1"}
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		hosts = strings.Split(h, ",")
	}
	cfg := gocql.NewCluster(hosts...)
	cfg.Timeout = 30 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	cluster, err := cassandra.NewAsyncCluster(cfg)
	if err != nil {
		return err
	}
	defer cluster.Close()
	session, err := cluster.Connect(ctx)
	if err != nil {
		return err
	}

	// A checkpoint from an earlier run, if any: go on from there.
	prev, err := load(c.checkpoint)
	if err != nil {
		return err
	}
	f, err := openOutput(c.out, prev)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(buf)

	opts := []cassandra.ScanOption{
		cassandra.ScanParallelism(c.parallelism),
		cassandra.ScanPageSize(c.pageSize),
		// After each page: the CSV rows so far reach the file, then the
		// checkpoint is replaced, so the file is never behind it.
		cassandra.ScanCheckpoints(func(cp cassandra.ScanCheckpoint) error {
			w.Flush()
			if err := w.Error(); err != nil {
				return err
			}
			if err := buf.Flush(); err != nil {
				return err
			}
			size, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			return save(c.checkpoint, saved{Scan: cp, CSVBytes: size})
		}),
	}
	if c.columns != "" {
		opts = append(opts, cassandra.ScanColumns(strings.Split(c.columns, ",")...))
	}
	if prev != nil {
		opts = append(opts, cassandra.ScanResume(&prev.Scan))
		log.Printf("resuming: %.1f%% of the ring and %d rows done before", 100*prev.Scan.Fraction(), prev.Scan.Rows)
	}
	sc := session.Scan(ctx, c.table, opts...)
	defer sc.Close()

	// Progress, every second, until the scan ends.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := sc.Progress()
				log.Printf("%5.1f%% of the ring, ranges %d/%d, %d rows, %.0f rows/s",
					100*p.Fraction, p.RangesDone, p.RangesTotal, p.Rows, p.RowsPerSecond)
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()

	wroteHeader := prev != nil && prev.CSVBytes > 0
	var record []string
	var rows int64
	for row, err := range sc.Rows() {
		if err != nil {
			return err
		}
		cols := row.Columns()
		if !wroteHeader {
			header := make([]string, len(cols))
			for i, col := range cols {
				header[i] = col.Name
			}
			if err := w.Write(header); err != nil {
				return err
			}
			wroteHeader = true
		}
		m := make(map[string]any, len(cols))
		if err := row.MapScan(m); err != nil {
			return err
		}
		record = record[:0]
		for _, col := range cols {
			record = append(record, format(m[col.Name]))
		}
		if err := w.Write(record); err != nil {
			return err
		}
		if rows++; c.stopAfter > 0 && rows == c.stopAfter {
			// A crash: what was written since the last checkpoint may or
			// may not have reached the file. Write it, the worse case.
			w.Flush()
			_ = buf.Flush()
			log.Printf("stopping abruptly after %d rows, as asked", rows)
			os.Exit(3)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	cp := sc.Checkpoint()
	p := sc.Progress()
	log.Printf("done: %d rows in %s (%d in this run, %.0f rows/s over %d ranges); checkpoint complete: %v",
		cp.Rows, c.out, p.Rows, p.RowsPerSecond, p.RangesTotal, cp.Complete())
	fmt.Println(cp.Rows)
	return nil
}

// load reads the checkpoint file; nil if there is none.
func load(path string) (*saved, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return &s, nil
}

// save replaces the checkpoint file in one step (write, then rename), so a
// crash leaves the old one or the new one, never half of one.
func save(path string, s saved) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep the statement readable
	if err := enc.Encode(s); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// openOutput opens the CSV file for writing: a new file, or, when resuming,
// the old one cut back to its length at the checkpoint.
func openOutput(path string, prev *saved) (*os.File, error) {
	if prev == nil {
		return os.Create(path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("resuming needs the CSV file of the earlier run: %w", err)
	}
	if err := f.Truncate(prev.CSVBytes); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(prev.CSVBytes, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// format writes a value as CSV text: blobs in hex, times in RFC 3339,
// nulls empty, everything else as Go prints it.
func format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return hex.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
