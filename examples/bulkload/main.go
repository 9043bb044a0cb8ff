// Command bulkload loads a CSV file into a table, many rows in flight at
// once, in constant memory, with a progress bar.
//
//	cd examples && go run ./bulkload -table shop.users -in users.csv
//
// The file's first record names the table's columns; every other record is
// one row. Each row is sent as its own INSERT ... JSON statement, so that
// Cassandra itself turns the text of each field into the column's type:
// numbers, booleans, text, uuids, timestamps ("2024-05-01T12:30:00.000Z"),
// dates, blobs ("0x" then hex) and inet addresses are written as they would
// be in CQL. An empty field leaves its column unset (no value, and no
// tombstone).
//
// It reads the file as the load goes, one record for each place that frees
// up (ExecuteConcurrent with InFlight), so memory does not grow with the
// file. By default it stops at the first row that fails, naming it;
// with -keep-going it loads every row it can and lists the first failures.
// An INSERT of fixed values can be run twice with the same outcome, so
// the statement is marked idempotent and the driver retries a row that
// timed out; running the whole load again is safe too.
//
// It connects to CASSANDRA_HOSTS (comma-separated, default 127.0.0.1).
// Output: progress on standard error, and, at the end, the number of rows
// loaded on standard output.
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/time/rate"

	"github.com/async-cassandra/cassandra"
)

type config struct {
	table, in        string
	inFlight         int
	rowsPerSecond    float64
	keepGoing        bool
	maxErrorsToPrint int
}

func main() {
	table := flag.String("table", "", "table to load into: keyspace.table")
	in := flag.String("in", "", "CSV file to load; its first record names the columns")
	inFlight := flag.Int("in-flight", 256, "rows sent at once")
	rowsPerSecond := flag.Float64("rate", 0, "at most this many rows per second (0: no limit)")
	keepGoing := flag.Bool("keep-going", false, "load every row that can be, instead of stopping at the first failure")
	flag.Parse()
	if *table == "" || *in == "" {
		fmt.Fprintln(os.Stderr, "usage: bulkload -table keyspace.table -in file.csv [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := run(ctx, config{table: *table, in: *in, inFlight: *inFlight, rowsPerSecond: *rowsPerSecond,
		keepGoing: *keepGoing, maxErrorsToPrint: 20})
	if st.Items > 0 { // the load started
		log.Printf("%d rows loaded, %d failed, %d not sent, in %v (%.0f rows/s)",
			st.Succeeded, st.Failed, st.Canceled, st.Elapsed.Round(time.Millisecond), st.Rate())
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Succeeded)
}

func run(ctx context.Context, c config) (cassandra.ConcurrentStats, error) {
	var none cassandra.ConcurrentStats
	f, err := os.Open(c.in)
	if err != nil {
		return none, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return none, err
	}
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true // each record is turned into JSON before the next is read
	header, err := r.Read()
	if err != nil {
		return none, fmt.Errorf("%s: reading the header: %w", c.in, err)
	}
	columns := append([]string(nil), header...) // ReuseRecord: keep a copy

	hosts := []string{"127.0.0.1"}
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		hosts = strings.Split(h, ",")
	}
	var opts []cassandra.Option
	if c.rowsPerSecond > 0 {
		// Each session's requests are held to this rate: a load that
		// leaves room for the cluster's other clients.
		opts = append(opts, cassandra.WithRateLimit(rate.Limit(c.rowsPerSecond), max(1, int(c.rowsPerSecond/10))))
	}
	cluster, err := cassandra.NewAsyncCluster(gocql.NewCluster(hosts...), opts...)
	if err != nil {
		return none, err
	}
	defer cluster.Close()
	session, err := cluster.Connect(ctx)
	if err != nil {
		return none, err
	}
	defer session.Close()

	// The rows, one at a time, as ExecuteConcurrent asks for them. An
	// iterator cannot return an error: a record that cannot be read ends
	// it, and readErr says why.
	var readErr error
	rows := func(yield func([]any) bool) {
		for {
			fields, err := r.Read()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				readErr = err
				return
			}
			row := make(map[string]string, len(fields))
			for i, v := range fields {
				if v != "" {
					row[columns[i]] = v
				}
			}
			doc, err := json.Marshal(row)
			if err != nil {
				readErr = err
				return
			}
			if !yield([]any{string(doc)}) { // a new slice for every row
				return
			}
		}
	}

	// The bar follows the bytes of the file read so far; its description
	// counts the rows loaded.
	bar := progressbar.NewOptions64(info.Size(),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("loading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
	)
	defer func() { // ends the bar's line, on an error too
		if !bar.IsFinished() {
			_ = bar.Exit()
		}
	}()

	copts := []cassandra.ConcurrentOption{
		cassandra.InFlight(c.inFlight),
		// OnProgress and OnResult run on this goroutine, as the iterator
		// does, one at a time: they may read r without a lock.
		cassandra.OnProgress(200*time.Millisecond, func(st cassandra.ConcurrentStats) {
			bar.Describe(fmt.Sprintf("%d rows loaded, %d failed", st.Succeeded, st.Failed))
			_ = bar.Set64(r.InputOffset())
		}),
	}
	if c.keepGoing {
		printed := 0
		copts = append(copts,
			cassandra.ContinueOnError(c.maxErrorsToPrint),
			cassandra.OnResult(func(res cassandra.ItemResult) {
				if res.Err != nil && printed < c.maxErrorsToPrint {
					printed++
					// Index counts from 0, records after the header from 1.
					_ = bar.Clear() // the next update draws it again
					log.Printf("record %d: %v", res.Index+1, res.Err)
				}
			}))
	}
	st, err := session.Query(`INSERT INTO `+c.table+` JSON ? DEFAULT UNSET`).Idempotent(true).
		ExecuteConcurrent(ctx, rows, copts...)
	var failures *cassandra.ConcurrentError
	var failed *cassandra.ItemError
	if readErr != nil {
		readErr = fmt.Errorf("%s: %w (the records before it were sent)", c.in, readErr)
	}
	switch {
	case err == nil && readErr == nil:
		_ = bar.Finish()
		return st, nil
	case err == nil:
		return st, readErr
	case errors.As(err, &failures): // -keep-going
		return st, errors.Join(fmt.Errorf("%d records failed; the first are listed above", failures.Failed), readErr)
	case errors.As(err, &failed):
		return st, fmt.Errorf("record %d: %w (stopped there; -keep-going loads the others)", failed.Index+1, failed.Err)
	}
	return st, err
}
