package cassandra

import (
	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Page is one page of a streamed result, as the server sent it: its rows
// stay in the driver's frame and are decoded one at a time as they are read.
// A Page is read like a ResultSet (Next, Scan, Err, Close) and works with
// the generic collectors. A page handed out by Stream.Pages is valid until
// the loop moves on to the next page, which releases it.
type Page struct {
	number int
	rows   int // within MaxRows (see limit)
	read   int // rows Next has moved to
	state  []byte
	cur    cursor
	err    error
	closed bool
}

// newPage wraps one fetched page. A page without rows is inspected for its
// error and released at once; a page with rows cannot carry an error.
func newPage(iter *gocql.Iter, number int) (*Page, error) {
	p := &Page{number: number, rows: iter.NumRows(), state: iter.PageState()}
	if len(p.state) == 0 {
		p.state = nil
	}
	columns := iter.Columns()
	if p.rows == 0 {
		if err := iter.Close(); err != nil {
			return nil, err
		}
	} else {
		p.cur.read(iter)
	}
	p.cur.setColumns(columns, nil)
	return p, nil
}

// Number returns the page's position in the stream, from 1.
func (p *Page) Number() int { return p.number }

// Len returns how many rows the page holds, read or not (within the
// stream's MaxRows).
func (p *Page) Len() int { return p.rows }

// PageState returns the position after this page, to resume the result
// with Query.PageState; nil on the last page. (A page cut short by MaxRows
// still reports the position after all of its rows.)
func (p *Page) PageState() []byte { return p.state }

// Columns returns the result's columns.
func (p *Page) Columns() []gocql.ColumnInfo { return p.cur.columns }

// limit cuts the page short after n rows, for MaxRows.
func (p *Page) limit(n int) { p.rows = n }

// Next advances to the page's next row and reports whether there is one.
func (p *Page) Next() bool {
	if p.closed || p.err != nil {
		return false
	}
	var ok bool
	var err error
	if p.read < p.rows {
		ok, err = p.cur.next()
	}
	if ok {
		p.read++
		return true
	}
	if err != nil {
		p.err = err
	}
	p.Close()
	return false
}

// Scan copies the current row into dest, as ResultSet.Scan does.
func (p *Page) Scan(dest ...any) error {
	if p.err != nil {
		return p.err
	}
	return p.cur.scan(dest)
}

// Err returns the error that ended reading the page early, if any.
func (p *Page) Err() error { return p.err }

// Close releases the page's frame. It is idempotent and returns nil.
func (p *Page) Close() error {
	p.closed = true
	p.cur.release()
	return nil
}
