// Command export writes every row of a table, or the result of any SELECT,
// to a CSV file in constant memory, with a progress bar. When it is stopped
// (Ctrl-C, a crash, a lost connection), running it again with the same
// arguments goes on where it stopped, and the CSV file holds every row
// exactly once.
//
//	cd examples && go run ./export -table shop.orders -out orders.csv
//	cd examples && go run ./export -query "SELECT id, total FROM shop.orders WHERE customer = 42" -out c42.csv
//
// It reads the result as one Stream: each page is one request, the next
// page is fetched while this one is written, and no more than two pages are
// in memory, whatever the size of the table. After each page it has
// written, it flushes the CSV file and saves a checkpoint: the page's
// PageState (where the result goes on) and the CSV file's length at that
// moment. On resuming, it cuts the CSV file back to that length, since
// rows written after the checkpoint are read again, and starts the query
// from the saved PageState. Delete the CSV and checkpoint files to export
// again from the start.
//
// Pick it for one partition, a filtered query, or a table one stream reads
// fast enough: it is simple, and keeps the query's order. examples/scan
// exports a whole table faster, above all from a cluster of several nodes,
// by reading several token ranges at once, each from a node that holds it.
//
// It connects to CASSANDRA_HOSTS (comma-separated, default 127.0.0.1).
// Output: progress on standard error, and, at the end, the number of rows
// in the file on standard output.
package main

import (
	"bufio"
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
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/schollz/progressbar/v3"

	"github.com/async-cassandra/cassandra"
)

// checkpoint is what the checkpoint file holds.
type checkpoint struct {
	// Statement is the exported query: a checkpoint of another one is
	// refused.
	Statement string `json:"statement"`
	// PageState is where the result goes on after the last page written
	// (base64 in the file); nil with Done.
	PageState []byte `json:"page_state"`
	// CSVBytes is the length of the CSV file when the checkpoint was saved.
	CSVBytes int64 `json:"csv_bytes"`
	// Rows is how many rows the CSV file holds up to CSVBytes.
	Rows int64 `json:"rows"`
	// Done says that the last page has been written.
	Done bool `json:"done"`
}

type config struct {
	statement, out, checkpoint string
	pageSize                   int
	stopAfter                  int64
}

func main() {
	table := flag.String("table", "", "table to export, keyspace.table (or give -query)")
	columns := flag.String("columns", "*", "comma-separated columns to export, with -table")
	query := flag.String("query", "", "SELECT statement to export instead of a whole table")
	out := flag.String("out", "", "CSV file to write (default: the table's name + .csv)")
	cpPath := flag.String("checkpoint", "", "checkpoint file (default: the CSV file + .checkpoint.json)")
	pageSize := flag.Int("page", 1000, "rows per page, and so per checkpoint")
	stopAfter := flag.Int64("stop-after", 0, "exit abruptly after this many rows, as a crash would (to try resuming)")
	flag.Parse()

	stmt := *query
	if stmt == "" && *table != "" {
		stmt = "SELECT " + *columns + " FROM " + *table
	}
	if stmt == "" || (*out == "" && *table == "") {
		fmt.Fprintln(os.Stderr, "usage: export -table keyspace.table [-out file.csv] [flags]\n"+
			"       export -query 'SELECT ...' -out file.csv [flags]")
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
	rows, err := run(ctx, config{statement: stmt, out: *out, checkpoint: *cpPath, pageSize: *pageSize, stopAfter: *stopAfter})
	if errors.Is(err, context.Canceled) {
		log.Printf("interrupted; run the same command again to resume from %s", *cpPath)
		os.Exit(130)
	}
	if err != nil {
		log.Fatalf("%v\nrun the same command again to resume from %s", err, *cpPath)
	}
	log.Printf("done: %d rows in %s", rows, *out)
	fmt.Println(rows)
}

// run exports, and returns how many rows the CSV file holds.
func run(ctx context.Context, c config) (int64, error) {
	prev, err := load(c.checkpoint)
	if err != nil {
		return 0, err
	}
	if prev != nil && prev.Statement != c.statement {
		return 0, fmt.Errorf("checkpoint %s is of another query (%q); delete it to start again", c.checkpoint, prev.Statement)
	}
	if prev != nil && prev.Done {
		log.Printf("%s is complete already", c.out)
		return prev.Rows, nil
	}

	hosts := []string{"127.0.0.1"}
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		hosts = strings.Split(h, ",")
	}
	cfg := gocql.NewCluster(hosts...)
	cfg.Timeout = 30 * time.Second // pages of a large scan can take a while on a busy node
	cluster, err := cassandra.NewAsyncCluster(cfg)
	if err != nil {
		return 0, err
	}
	defer cluster.Close()
	session, err := cluster.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer session.Close()

	f, err := openOutput(c.out, prev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(buf)

	// Where to start: the beginning, or after the last page of the
	// earlier run. A SELECT is safe to retry, hence Idempotent.
	cp := checkpoint{Statement: c.statement}
	q := session.Query(c.statement).PageSize(c.pageSize).Idempotent(true)
	if prev != nil {
		cp = *prev
		q = q.PageState(prev.PageState)
		log.Printf("resuming after %d rows", prev.Rows)
	}

	// A spinner with this run's row count and rate: the total is not known
	// without reading the table once more. It is drawn as rows arrive (no
	// timer).
	desc := "exporting"
	if prev != nil {
		desc = fmt.Sprintf("exporting after row %d", prev.Rows)
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
	)
	defer func() { // ends the bar's line, on an error too
		if !bar.IsFinished() {
			_ = bar.Exit()
		}
	}()

	stream := q.Stream(ctx)
	defer stream.Close()
	var names, record []string
	for page, err := range stream.Pages() {
		if err != nil {
			return 0, err // the rows since the last checkpoint are read again next time
		}
		if names == nil {
			names = columnNames(page.Columns())
			if prev == nil { // a new file: the header first
				if err := w.Write(names); err != nil {
					return 0, err
				}
			}
		}
		for page.Next() {
			m, err := cassandra.RowToMap(page)
			if err != nil {
				return 0, err
			}
			record = record[:0]
			for _, name := range names {
				record = append(record, format(m[name]))
			}
			if err := w.Write(record); err != nil {
				return 0, err
			}
			cp.Rows++
			_ = bar.Add(1)
			if cp.Rows == c.stopAfter {
				crash(w, buf, cp.Rows)
			}
		}
		if err := page.Err(); err != nil {
			return 0, err
		}

		// The page is written: the CSV file reaches the disk up to here,
		// then the checkpoint moves on, so the file is never behind it.
		w.Flush()
		if err := errors.Join(w.Error(), buf.Flush(), f.Sync()); err != nil {
			return 0, err
		}
		if cp.CSVBytes, err = f.Seek(0, io.SeekCurrent); err != nil {
			return 0, err
		}
		cp.PageState = page.PageState()
		cp.Done = cp.PageState == nil // nil after the last page
		if err := save(c.checkpoint, cp); err != nil {
			return 0, err
		}
	}
	_ = bar.Finish() // draws the final count
	// A result without a single page has nothing to resume either.
	if !cp.Done {
		cp.Done = true
		if err := save(c.checkpoint, cp); err != nil {
			return 0, err
		}
	}
	return cp.Rows, nil
}

// crash ends the process at once, as a crash would, to try resuming. What
// was written since the last checkpoint may or may not have reached the
// file after a real crash: it is written here, the worse case.
func crash(w *csv.Writer, buf *bufio.Writer, rows int64) {
	w.Flush()
	_ = buf.Flush()
	fmt.Fprintf(os.Stderr, "\nstopping abruptly after %d rows, as asked\n", rows)
	os.Exit(3)
}

// columnNames returns the names of the result's columns, in the order
// RowToMap keys them: a tuple column is one column per element.
func columnNames(cols []gocql.ColumnInfo) []string {
	var names []string
	for _, col := range cols {
		if tuple, ok := col.TypeInfo.(gocql.TupleTypeInfo); ok {
			for i := range tuple.Elems {
				names = append(names, gocql.TupleColumnName(col.Name, i))
			}
			continue
		}
		names = append(names, col.Name)
	}
	return names
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

// load reads the checkpoint file; nil if there is none.
func load(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return &cp, nil
}

// save replaces the checkpoint file in one step (write, then rename), so a
// crash leaves the old one or the new one, never half of one.
func save(path string, cp checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// openOutput opens the CSV file for writing: a new file, or, when resuming,
// the old one cut back to its length at the checkpoint.
func openOutput(path string, prev *checkpoint) (*os.File, error) {
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
