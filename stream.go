package cassandra

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Stream reads a result page by page in constant memory. Each page is one
// request on the session's worker pool, so streams share the session's
// bound on requests in flight (and each page takes a token of the
// session's rate limit, WithRateLimit). While the reader works through one page the
// next is already being fetched (see Prefetch); the reader waits only when
// it has used up its page and the next has not arrived.
//
// Memory is bounded: a stream holds at most 1 + prefetch pages, whatever
// the size of the result, and stops fetching while its reader is behind.
//
// Read a Stream in one of three ways, from one goroutine:
//   - Next, Scan and Err, as with database/sql's Rows, then Close;
//   - for row, err := range stream.Rows() (or RowsAs for typed rows);
//   - for page, err := range stream.Pages(), a page at a time.
//
// Breaking out of a range loop closes the stream. A plain
// `for row := range stream.Rows()` that ignores the second value would
// miss the error that ended the stream early: always check it.
//
// When the stream's context ends, fetching stops at once and reading ends
// with the context's error. Close stops fetching too; reading then ends
// without an error. Close may be called from any goroutine.
type Stream struct {
	s      *AsyncSession
	stmt   string
	query  *gocql.Query // built once by Query.Stream; then used by one fetch at a time
	cfg    streamConfig
	ctx    context.Context
	cancel context.CancelFunc
	parent context.Context // the context Stream was called with, for the collector

	// Reader state: touched only by the goroutine that reads.
	cur      *Page
	rows     int    // rows handed to the reader
	pageRows int    // rows in pages started by the reader
	pageNo   int    // pages started by the reader
	rowSeq   uint64 // bumped by every row Next moves to; a Row keeps its own
	state    []byte
	err      error
	done     bool

	fetch streamFetch
	ready chan struct{} // capacity 1: "something changed", sent by the fetcher

	mu       sync.Mutex // guards the fields below
	buffer   []*Page    // fetched pages the reader has not started, oldest first
	fetching bool       // a fetch is queued or running
	next     []byte     // paging state of the next page to fetch
	fetched  int        // pages fetched
	rowsIn   int        // rows fetched
	last     bool       // no more pages to fetch
	fetchErr error      // the error that ended fetching
	// closed is set once, by Close, under mu; it is atomic so that Next can
	// check it on every row without taking mu.
	closed atomic.Bool
}

// PageInfo describes a page as the reader starts on it, for OnPage.
type PageInfo struct {
	// Number is the page's position in the stream, from 1.
	Number int
	// Rows is how many rows this page holds (within MaxRows).
	Rows int
	// TotalRows is the running total of rows in the pages started so far,
	// this one included.
	TotalRows int
}

// StreamOption configures one stream (see Query.Stream). The page size
// and the starting position are the query's: Query.PageSize and
// Query.PageState.
type StreamOption func(*streamConfig)

type streamConfig struct {
	prefetch    int
	maxPages    int
	maxRows     int
	pageTimeout time.Duration
	onPage      func(PageInfo)
}

// Prefetch sets how many pages this stream fetches ahead of its reader,
// instead of the session's WithPrefetch. With 1 the next page is requested
// as soon as the reader starts on the current one, so network time overlaps
// the reader's work; 0 requests a page only when the reader needs it.
func Prefetch(n int) StreamOption { return func(c *streamConfig) { c.prefetch = n } }

// MaxPages stops the stream after n pages (0, the default, means no limit).
func MaxPages(n int) StreamOption { return func(c *streamConfig) { c.maxPages = n } }

// MaxRows stops the stream after n rows (0, the default, means no limit),
// whether it is read by row or by page: the last page is cut short.
// Fetching stops once the pages fetched hold n rows.
func MaxRows(n int) StreamOption { return func(c *streamConfig) { c.maxRows = n } }

// PageTimeout bounds each page's request (0, the default, means only the
// stream's context bounds it). A page that times out ends the stream with
// an error matching context.DeadlineExceeded.
func PageTimeout(d time.Duration) StreamOption { return func(c *streamConfig) { c.pageTimeout = d } }

// OnPage calls fn, on the reading goroutine, each time the reader starts a
// page: fn receives the page number, the rows in that page and the running
// total. It is meant for progress reports; it must not read the stream.
func OnPage(fn func(PageInfo)) StreamOption { return func(c *streamConfig) { c.onPage = fn } }

func (c *streamConfig) validate() error {
	switch {
	case c.prefetch < 0:
		return usagef("cassandra: Prefetch: must not be negative, got %d", c.prefetch)
	case c.maxPages < 0:
		return usagef("cassandra: MaxPages: must not be negative, got %d", c.maxPages)
	case c.maxRows < 0:
		return usagef("cassandra: MaxRows: must not be negative, got %d", c.maxRows)
	case c.pageTimeout < 0:
		return usagef("cassandra: PageTimeout: must not be negative, got %v", c.pageTimeout)
	}
	return nil
}

// Stream runs stmt with values as a stream with the session's default
// options. Stream(ctx, stmt, v...) is short for s.Query(stmt, v...).Stream(ctx).
func (s *AsyncSession) Stream(ctx context.Context, stmt string, values ...any) *Stream {
	return s.Query(stmt, values...).Stream(ctx)
}

// Stream starts reading the query's result page by page and returns at
// once, without waiting for I/O or for room in the pool: the first page is
// requested right away if the pool has room, else when the reader first
// needs it. The driver's query is built now, on the caller's goroutine,
// and serves every page. ctx bounds the whole stream. The stream never
// returns nil: a problem at the start (an invalid option, a Configure
// function that fails, a closed session) is reported by Err and ends
// iteration.
func (q *Query) Stream(ctx context.Context, opts ...StreamOption) *Stream {
	cfg := streamConfig{prefetch: q.s.opts.prefetch}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	st := &Stream{s: q.s, stmt: q.stmt, cfg: cfg, ready: make(chan struct{}, 1)}
	st.fetch.st = st
	if ctx == nil {
		st.ctx, st.cancel = context.WithCancel(context.Background())
		st.fail(errNilContext)
		return st
	}
	st.ctx, st.cancel = context.WithCancel(ctx)
	st.parent = ctx
	if err := cfg.validate(); err != nil {
		st.fail(err)
		return st
	}
	gq, err := q.build()
	if err != nil {
		st.fail(err)
		return st
	}
	st.query = gq
	st.next, st.state = q.pageState, q.pageState
	st.mu.Lock()
	st.fetching = true
	st.mu.Unlock()
	st.submitFetch(false)
	return st
}

// fail ends the stream before it started.
func (st *Stream) fail(err error) {
	st.err = wrapQueryError(st.stmt, 0, nil, err)
	st.done = true
	st.cancel()
}

// startPage makes p the page being read, cut short if it would take the
// stream past MaxRows.
func (st *Stream) startPage(p *Page) {
	if max := st.cfg.maxRows; max > 0 && st.pageRows+p.rows > max {
		p.limit(max - st.pageRows)
	}
	st.cur = p
	st.pageNo++
	st.pageRows += p.rows
	st.state = p.state
	if st.cfg.onPage != nil {
		st.cfg.onPage(PageInfo{Number: st.pageNo, Rows: p.rows, TotalRows: st.pageRows})
	}
}

// Next advances to the next row, waiting for its page if needed, and
// reports whether there is one. At the end of the stream, or on an error
// (see Err), it returns false and releases the stream.
func (st *Stream) Next() bool {
	if st.done {
		return false
	}
	if st.closed.Load() {
		st.finish(nil)
		return false
	}
	for {
		if st.cur != nil {
			if st.cur.Next() {
				st.rows++
				st.rowSeq++
				return true
			}
			err := st.cur.Err()
			st.cur = nil
			if err != nil {
				st.finish(wrapQueryError(st.stmt, 0, nil, err))
				return false
			}
		}
		p, err := st.nextPage()
		if err != nil || p == nil {
			st.finish(err)
			return false
		}
		st.startPage(p)
	}
}

// finish ends reading with err (nil at a clean end) and releases the stream.
func (st *Stream) finish(err error) {
	if st.err == nil {
		st.err = err
	}
	st.done = true
	st.release()
}

// Scan copies the current row into dest, as ResultSet.Scan does.
func (st *Stream) Scan(dest ...any) error {
	if st.cur == nil {
		if st.err != nil {
			return st.err
		}
		return errNoRow
	}
	return st.cur.Scan(dest...)
}

// MapScan copies the current row into m, as ResultSet.MapScan does.
func (st *Stream) MapScan(m map[string]any) error { return mapScan(st, m) }

// Columns returns the result's columns, once the first page has arrived
// (nil before).
func (st *Stream) Columns() []gocql.ColumnInfo {
	if st.cur == nil {
		return nil
	}
	return st.cur.Columns()
}

// Err returns the error that ended the stream, if any: a request's error,
// or the context's if it ended first. It is nil after a clean end or Close.
func (st *Stream) Err() error { return st.err }

// PageState returns the paging state after the page being read (before
// the first page: the state the stream started from). A query resumed from
// it with Query.PageState continues after that page, so finish the page
// first to lose no rows.
func (st *Stream) PageState() []byte { return st.state }

// Close stops the stream: fetching stops at once (a request in flight is
// abandoned and frees its worker), fetched pages are released, and reading
// ends without an error. Close is idempotent, may be called from any
// goroutine, and returns nil.
func (st *Stream) Close() error {
	st.mu.Lock()
	if st.closed.Load() {
		st.mu.Unlock()
		return nil
	}
	st.closed.Store(true)
	buffered := st.buffer
	st.buffer = nil
	st.mu.Unlock()
	st.cancel()
	for _, p := range buffered {
		p.Close()
	}
	st.signal()
	return nil
}

// release is Close from the reader, which may also drop its current page.
func (st *Stream) release() {
	st.Close()
	if st.cur != nil {
		st.cur.Close()
		st.cur = nil
	}
}
