package cassandra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// DefaultScanParallelism is how many token ranges a TableScan reads at
// once unless ScanParallelism says otherwise.
const DefaultScanParallelism = 8

// TableScan reads every row of a table, in parallel, in bounded memory,
// and can be resumed after a crash. It divides the token ring into ranges
// (at the nodes' tokens, then further, see ScanSplits), reads up to
// ScanParallelism ranges at once, each as a stream of pages with
//
//	SELECT ... FROM ks.table WHERE token(pk) > ? AND token(pk) <= ?
//
// sent to a node that holds the range, and hands the rows to one reader.
// The ranges cover the ring exactly once, so every row is read once,
// whatever the table's size and however its partitions are spread; rows
// come in no particular order.
//
// Each page is one request on the session's worker pool, so a scan counts
// against the session's bound on requests in flight, as a Stream does.
// Memory is bounded: a scan holds at most parallelism × (1 + prefetch)
// pages (the page being read, one waiting in each range being read, and
// the pages fetched ahead).
//
// Read a TableScan from one goroutine, in one of three ways:
//   - Next, Scan and Err, as with database/sql's Rows, then Close;
//   - for row, err := range scan.Rows();
//   - for page, err := range scan.Pages(), a page at a time.
//
// Breaking out of a range loop closes the scan. A plain
// `for row := range scan.Rows()` that ignores the second value would miss
// the error that ended the scan early: always check it.
//
// As the reader finishes each page, the scan's position moves on and
// ScanCheckpoints hands a ScanCheckpoint to a callback; ScanResume starts
// a new scan from one. Progress reports how far the scan has come, from
// any goroutine.
//
// A page that fails (a timeout, a node that went down) is asked again,
// from the same position, of the range's other replicas, then of other
// nodes (any node can serve any range); if every attempt fails the scan
// ends with a *ScanError naming the range, and the last checkpoint resumes
// it. A scan never ends without an error while a range is unread.
type TableScan struct {
	s      *AsyncSession
	table  string // as the caller named it
	cfg    scanConfig
	ctx    context.Context
	cancel context.CancelFunc

	// Set by start, on the reader's goroutine, before any worker runs;
	// read-only afterwards.
	ks, tbl string
	stmt    string
	hosts   []*gocql.HostInfo // the ring's nodes, for routing
	plan    []*scanRange
	resumed *ScanCheckpoint // validated copy of cfg.resume

	// Reader state: touched only by the goroutine that reads.
	started bool
	done    bool
	cur     *scanItem // the page being read
	rowSeq  uint64    // bumped by every row Next moves to; a Row keeps its own
	err     error

	nextRange atomic.Int64  // index in plan of the next range a worker takes
	items     chan scanItem // pages and errors, from the workers to the reader
	active    atomic.Int32  // workers still running; the last one closes items
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once

	rows atomic.Int64 // rows handed to the reader by this scan

	mu         sync.Mutex // guards the fields below and every scanRange's pos and finished
	startTime  time.Time
	pages      int64
	rangesDone int
	doneWidth  float64 // tokens in finished ranges, the checkpoint's included
}

// scanRange is one range of the plan.
type scanRange struct {
	planRange
	// Guarded by TableScan.mu: the paging state after the last page the
	// reader finished (the starting state until then), and whether the
	// reader has finished the range's last page.
	pos      []byte
	finished bool
}

// scanItem is what a worker hands the reader: a page of a range, with the
// channel on which the reader says it has finished the page, or the error
// that ended the worker.
type scanItem struct {
	page *Page
	rng  *scanRange
	ack  chan<- struct{}
	err  error
}

// ScanError reports why a TableScan ended early: the range it was reading,
// if a range failed, and the cause, which Unwrap returns (often a
// *QueryError, whose cause is the driver's or the context's error).
type ScanError struct {
	// Keyspace and Table name the table (empty if the name was invalid).
	Keyspace, Table string
	// Range is the range whose read failed; nil when the failure is not a
	// range's (planning, a checkpoint callback, the context).
	Range *TokenRange
	// Err is the cause.
	Err error
}

// Error names the table, the range and the cause.
func (e *ScanError) Error() string {
	var b strings.Builder
	b.WriteString("cassandra: scan")
	if e.Table != "" {
		b.WriteString(" of ")
		b.WriteString(e.Keyspace)
		b.WriteByte('.')
		b.WriteString(e.Table)
	}
	if e.Range != nil {
		b.WriteString(", range ")
		b.WriteString(e.Range.String())
	}
	b.WriteString(": ")
	if e.Err == nil {
		b.WriteString("unknown error")
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ScanError) Unwrap() error { return e.Err }

// Scan starts reading every row of table ("keyspace.table", or "table" in
// the session's keyspace; quote names as in CQL, e.g. `"Shop"."Orders"`)
// and returns at once. The scan plans its ranges, reading the table's
// partition key and its keyspace's replication from the schema tables and
// the ring from the driver, when the reader first asks for a row; then it
// starts its workers. ctx bounds the whole scan. The scan never returns
// nil: a problem at the start (an invalid option or name, a missing table,
// a checkpoint of another scan, a closed session) is reported by Err and
// ends iteration.
func (s *AsyncSession) Scan(ctx context.Context, table string, opts ...ScanOption) *TableScan {
	cfg := scanConfig{parallelism: DefaultScanParallelism, prefetch: -1}
	var bad error
	for _, o := range opts {
		if o == nil {
			bad = errors.New("cassandra: Scan: nil ScanOption")
			continue
		}
		o(&cfg)
	}
	if cfg.prefetch == -1 {
		cfg.prefetch = s.opts.prefetch
	}
	if cfg.pageSize == 0 {
		cfg.pageSize = s.opts.pageSize
	}
	if cfg.splits == 0 {
		cfg.splits = 4 * cfg.parallelism
	}
	sc := &TableScan{s: s, table: table, cfg: cfg, items: make(chan scanItem)}
	if ctx == nil {
		sc.ctx, sc.cancel = context.WithCancel(context.Background())
		sc.fail(errNilContext)
		return sc
	}
	sc.ctx, sc.cancel = context.WithCancel(ctx)
	if bad == nil {
		bad = cfg.validate()
	}
	if bad != nil {
		sc.fail(bad)
	}
	return sc
}

// fail ends the scan before it started.
func (sc *TableScan) fail(err error) {
	sc.err = sc.scanError(nil, err)
	sc.started, sc.done = true, true
	sc.cancel()
}

// scanError wraps err for range r (nil: not a range's failure).
func (sc *TableScan) scanError(r *TokenRange, err error) error {
	var se *ScanError
	if err == nil || errors.As(err, &se) {
		return err
	}
	if r != nil {
		r = &TokenRange{r.Start, r.End}
	}
	return &ScanError{Keyspace: sc.ks, Table: sc.tbl, Range: r, Err: err}
}

// ---- reading ---------------------------------------------------------------

// begin starts the scan on the first read; false if it has ended.
func (sc *TableScan) begin() bool {
	if sc.done {
		return false
	}
	if sc.closed.Load() {
		sc.finish(nil)
		return false
	}
	if !sc.started {
		sc.started = true
		if err := sc.start(); err != nil {
			sc.finish(sc.scanError(nil, err))
			return false
		}
	}
	return true
}

// receive returns the next page for the reader, waiting for one; nil and
// nil when every range has been read or the scan was closed.
func (sc *TableScan) receive() (*scanItem, error) {
	select {
	case it, ok := <-sc.items:
		if !ok {
			return nil, sc.ended()
		}
		if it.err != nil {
			return nil, it.err
		}
		return &it, nil
	case <-sc.ctx.Done():
		if sc.closed.Load() {
			return nil, nil
		}
		return nil, sc.scanError(nil, sc.ctx.Err())
	}
}

// ended is the outcome once every worker has stopped: nil if every range
// is finished (or the scan was closed), else the reason it was not.
func (sc *TableScan) ended() error {
	if sc.closed.Load() {
		return nil
	}
	if err := sc.ctx.Err(); err != nil {
		return sc.scanError(nil, err)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, r := range sc.plan {
		if !r.finished {
			// Never expected: no range is ever left silently.
			return sc.scanError(&r.r, errors.New("cassandra: scan: workers ended with this range unread"))
		}
	}
	return nil
}

// pageDone records that the reader has finished the current page: the
// range's position moves past it, the worker may go on, and the
// checkpoint callback runs.
func (sc *TableScan) pageDone() error {
	it := sc.cur
	sc.cur = nil
	r := it.rng
	sc.mu.Lock()
	r.pos = it.page.state
	if r.pos == nil {
		r.finished = true
		sc.rangesDone++
		sc.doneWidth += float64(r.r.width())
	}
	sc.pages++
	sc.mu.Unlock()
	it.ack <- struct{}{}
	if fn := sc.cfg.onCheckpoint; fn != nil {
		if err := fn(sc.Checkpoint()); err != nil {
			return sc.scanError(nil, fmt.Errorf("checkpoint callback: %w", err))
		}
	}
	return nil
}

// Checkpoint returns the scan's position now: what the reader has
// finished, as ScanCheckpoints hands it over. It may be called from any
// goroutine at any time, also after the scan ended with an error, to save
// the position to resume from. Before the scan has planned its ranges
// (until the first read), it is the checkpoint the scan resumes from, or a
// zero ScanCheckpoint.
func (sc *TableScan) Checkpoint() ScanCheckpoint {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.startTime.IsZero() {
		if cp := sc.cfg.resume; cp != nil {
			c := *cp
			c.Done, c.InProgress = slices.Clone(cp.Done), slices.Clone(cp.InProgress)
			return c
		}
		return ScanCheckpoint{}
	}
	cp := ScanCheckpoint{Version: ScanCheckpointVersion, Keyspace: sc.ks, Table: sc.tbl, Statement: sc.stmt,
		Rows: sc.rows.Load()}
	var done []TokenRange
	if sc.resumed != nil {
		done = slices.Clone(sc.resumed.Done)
		cp.Rows += sc.resumed.Rows
	}
	for _, r := range sc.plan {
		switch {
		case r.finished:
			done = append(done, r.r)
		case r.pos != nil:
			cp.InProgress = append(cp.InProgress, RangeCheckpoint{Range: r.r, PageState: slices.Clone(r.pos)})
		}
	}
	cp.Done = mergeRanges(done)
	slices.SortFunc(cp.InProgress, func(a, b RangeCheckpoint) int { return compareRanges(a.Range, b.Range) })
	return cp
}

// ScanProgress is a snapshot of how far a TableScan has come.
type ScanProgress struct {
	// RangesDone and RangesTotal count this scan's ranges: finished, and in
	// all. A resumed scan has only the ranges its checkpoint left.
	RangesDone, RangesTotal int
	// Rows counts the rows handed to the reader by this scan (in a page
	// loop, every row of every page handed over); Pages counts the pages
	// the reader has finished.
	Rows, Pages int64
	// Fraction is the share of the token ring finished, from 0 to 1,
	// counting what a checkpoint resumed from had finished.
	Fraction float64
	// Elapsed is the time since the scan started reading.
	Elapsed time.Duration
	// RowsPerSecond is Rows / Elapsed.
	RowsPerSecond float64
}

// Progress returns a snapshot of the scan's progress. It may be called
// from any goroutine at any time; before the first read it is zero.
func (sc *TableScan) Progress() ScanProgress {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.startTime.IsZero() {
		return ScanProgress{}
	}
	p := ScanProgress{RangesDone: sc.rangesDone, RangesTotal: len(sc.plan), Rows: sc.rows.Load(), Pages: sc.pages,
		Fraction: sc.doneWidth / float64(fullRing.width()), Elapsed: sc.s.now().Sub(sc.startTime)}
	if p.Elapsed > 0 {
		p.RowsPerSecond = float64(p.Rows) / p.Elapsed.Seconds()
	}
	return p
}

// Every reader of rows works with the generic collectors.
var _ Rows = (*TableScan)(nil)
