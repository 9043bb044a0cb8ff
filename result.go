package cassandra

import (
	"errors"
	"fmt"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ResultSet is the complete result of a query run with Execute: every page
// the server returned, kept in the driver's encoded frames and decoded one
// row at a time as it is read, so reading allocates nothing per row beyond
// what the destinations need.
//
// Rows are a cursor, read once, in order, in the manner of database/sql's
// Rows: call Next before each Scan, check Err after the loop, and Close when
// done early (Close is idempotent; reading to the end releases everything
// too). Each page's frame is released as soon as its last row has been
// read. The generic collectors (CollectRows with RowToStructByName, and the
// others) read a ResultSet into user types.
//
// Every Await of a future returns the same ResultSet. Its metadata methods
// (Columns, Applied, PageState, Warnings, Host, Attempts, Latency, RowCount)
// never change and may be called from any goroutine at any time. The row
// cursor is shared: it is safe to use from several goroutines (no data
// race, no torn rows within one call), but each row goes to whichever Next
// gets it and Scan reads the current row, so let one goroutine read the
// rows.
type ResultSet struct {
	// Metadata: set before the future completes, never changed after.
	meta     *resultMeta // nil unless the result has a page state or warnings
	columns  []gocql.ColumnInfo
	host     *gocql.HostInfo
	latency  time.Duration
	rowCount int
	attempts int
	pages    int
	applied  bool

	mu     sync.Mutex  // guards the cursor below
	rows   *resultRows // &buf for a result with columns; nil for one without, as most writes are
	buf    resultRows
	err    error
	peeked bool // rows.cur holds a row that Next has not reported yet
	closed bool
}

// resultRows is what reading rows takes.
type resultRows struct {
	pages    []*gocql.Iter  // pages with rows not read yet, oldest first
	pagesBuf [1]*gocql.Iter // a one-page result needs no slice of its own
	cur      cursor         // its columns are the result's
	one      oneColumn      // the cursor's buffers for a row of one column
}

// resultMeta is what few results have. Keeping it apart keeps the
// ResultSet, which every request allocates, small.
type resultMeta struct {
	pageState []byte
	warnings  []string
}

// metadata returns rs.meta, making it if need be.
func (rs *ResultSet) metadata() *resultMeta {
	if rs.meta == nil {
		rs.meta = new(resultMeta)
	}
	return rs.meta
}

// addPage records one page. A page without rows is inspected for its error
// and released at once; a page with rows cannot carry an error.
func (rs *ResultSet) addPage(iter *gocql.Iter) error {
	rs.attempts += iter.Attempts()
	rs.pages++
	rs.host = iter.Host()
	if rs.rows == nil {
		if cols := iter.Columns(); len(cols) > 0 || iter.NumRows() > 0 {
			rs.rows = &rs.buf
			rs.rows.cur.columns = cols
			rs.columns = cols
		}
	}
	// Warnings live in the frame, which Close releases.
	if w := iter.Warnings(); len(w) > 0 {
		m := rs.metadata()
		m.warnings = append(m.warnings, w...)
	}
	if iter.NumRows() == 0 {
		return iter.Close()
	}
	rs.rowCount += iter.NumRows()
	r := rs.rows
	if r.pages == nil {
		r.pages = r.pagesBuf[:0]
	}
	r.pages = append(r.pages, iter)
	return nil
}

// start prepares reading. For a conditional statement it decodes the
// [applied] column of the first row, leaving that row to be read normally.
func (rs *ResultSet) start(pageState []byte) {
	if len(pageState) > 0 {
		rs.metadata().pageState = pageState
	}
	r := rs.rows
	if r == nil {
		return
	}
	columns := r.cur.columns
	r.cur.setColumns(columns, &r.one)
	if len(columns) == 0 || columns[0].Name != "[applied]" || !rs.next() {
		return
	}
	if err := gocql.Unmarshal(r.cur.raw[0].info, r.cur.raw[0].data, &rs.applied); err != nil {
		rs.err = fmt.Errorf("cassandra: reading [applied]: %w", err)
		rs.close()
		return
	}
	rs.peeked = true
}

// Next advances to the next row and reports whether there is one. It
// returns false at the end of the result or on an error (see Err); the
// result is then released.
func (rs *ResultSet) Next() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.next()
}

func (rs *ResultSet) next() bool {
	if rs.closed || rs.err != nil {
		return false
	}
	if rs.peeked {
		rs.peeked = false
		return true
	}
	r := rs.rows
	if r == nil {
		rs.close()
		return false
	}
	for {
		ok, err := r.cur.next()
		if ok {
			return true
		}
		if err != nil {
			rs.err = fmt.Errorf("cassandra: reading rows: %w", err)
			rs.close()
			return false
		}
		if len(r.pages) == 0 {
			rs.close()
			return false
		}
		r.cur.read(r.pages[0])
		r.pages[0] = nil
		r.pages = r.pages[1:]
	}
}

// errNoRow is returned by Scan without a preceding successful Next.
var errNoRow = errors.New("cassandra: Scan called without a successful Next")

// Scan copies the columns of the current row into dest, one destination per
// column (a tuple column takes one per element; nil skips a column), with
// gocql's conversions (see gocql.Iter.Scan). Scan may be called more than
// once for the same row. A value that cannot be decoded into its
// destination is an error naming the column, even when gocql panics on it.
func (rs *ResultSet) Scan(dest ...any) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.scan(dest)
}

func (rs *ResultSet) scan(dest []any) error {
	if rs.err != nil {
		return rs.err
	}
	if rs.rows == nil {
		return errNoRow
	}
	return rs.rows.cur.scan(dest)
}

// MapScan copies the current row into m, keyed by column name, with Go
// values chosen from the column types (as gocql.Iter.MapScan does).
func (rs *ResultSet) MapScan(m map[string]any) error { return mapScan(rs, m) }

// mapScan copies the current row of r into m (see RowToMap).
func mapScan(r CollectableRow, m map[string]any) error {
	if m == nil {
		return errors.New("cassandra: MapScan: nil map")
	}
	row, err := RowToMap(r)
	if err != nil {
		return err
	}
	for k, v := range row {
		m[k] = v
	}
	return nil
}

// Err returns the error that ended iteration early, if any. It stays valid
// after Close.
func (rs *ResultSet) Err() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.err
}

// Close releases the rows not read yet. It is idempotent, does not change
// Err, and always returns nil: a ResultSet's requests are already complete.
func (rs *ResultSet) Close() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.close()
	return nil
}

func (rs *ResultSet) close() {
	if rs.closed {
		return
	}
	rs.closed = true
	rs.peeked = false
	if r := rs.rows; r != nil {
		r.cur.release()
		for i, p := range r.pages {
			p.Close()
			r.pages[i] = nil
		}
		r.pages = nil
	}
}

// One reads the first row into dest and closes the result. It returns an
// error matching ErrNotFound when there is no row.
func (rs *ResultSet) One(dest ...any) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	defer rs.close()
	if !rs.next() {
		if rs.err != nil {
			return rs.err
		}
		return ErrNotFound
	}
	return rs.scan(dest)
}

// All reads every remaining row as a map from column name to value (see
// MapScan) and closes the result. For typed rows use CollectRows.
func (rs *ResultSet) All() ([]map[string]any, error) {
	return CollectRows(rs, RowToMap)
}

// Columns returns the result's columns; nil for statements without rows.
func (rs *ResultSet) Columns() []gocql.ColumnInfo { return rs.columns }

// Applied reports whether a conditional statement (INSERT ... IF NOT EXISTS,
// UPDATE ... IF, or a conditional batch) was applied. For statements
// without a condition Applied returns false.
//
// The result of a conditional statement has one row, whose first column is
// "[applied]" (a boolean). When the statement was applied that is the only
// column. When it was not and the row exists, the row goes on with the
// current values of the columns the condition named (every column, for IF
// NOT EXISTS), so that the caller can see why; when the row does not
// exist, "[applied]" is the only column. Scan takes a destination for
// "[applied]" too; a nil destination skips it. RowToStructByNameLax reads
// either shape into one struct.
func (rs *ResultSet) Applied() bool { return rs.applied }

// PageState returns the position after the last page fetched, to resume
// the result with Query.PageState; nil when the result is complete.
func (rs *ResultSet) PageState() []byte {
	if rs.meta == nil {
		return nil
	}
	return rs.meta.pageState
}

// Warnings returns the warnings the server attached to the responses.
func (rs *ResultSet) Warnings() []string {
	if rs.meta == nil {
		return nil
	}
	return rs.meta.warnings
}

// Host returns the node that answered the last request.
func (rs *ResultSet) Host() *gocql.HostInfo { return rs.host }

// Attempts returns how many requests the driver sent, over every page and
// retry.
func (rs *ResultSet) Attempts() int { return rs.attempts }

// Latency returns the end-to-end time of the execution: waiting for a
// worker plus every request.
func (rs *ResultSet) Latency() time.Duration { return rs.latency }

// RowCount returns how many rows the result holds, read or not.
func (rs *ResultSet) RowCount() int { return rs.rowCount }
