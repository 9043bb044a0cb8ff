package cassandra

import (
	"errors"
	"iter"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Rows returns an iterator over the stream's rows. Each Row is valid only
// until the loop continues. The iterator yields a final (zero Row, error)
// pair if the stream ended with an error. Breaking out of the loop closes
// the stream. The iterator can be used once.
func (st *Stream) Rows() iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		defer st.release()
		for st.Next() {
			if !yield(Row{st, st.rowSeq}, nil) {
				return
			}
		}
		if err := st.Err(); err != nil {
			yield(Row{}, err)
		}
	}
}

// Pages returns an iterator over the stream's pages. Each page is valid
// until the loop continues, which releases it. The iterator yields a final
// (nil, error) pair if the stream ended with an error. Breaking out of the
// loop closes the stream. Do not mix Pages with Next or Rows.
func (st *Stream) Pages() iter.Seq2[*Page, error] {
	return func(yield func(*Page, error) bool) {
		defer st.release()
		for !st.done && (st.cfg.maxRows == 0 || st.pageRows < st.cfg.maxRows) {
			p, err := st.nextPage()
			if err != nil {
				st.finish(err)
				yield(nil, err)
				return
			}
			if p == nil {
				break
			}
			st.startPage(p)
			ok := yield(p, nil)
			p.Close()
			st.cur = nil
			if !ok {
				return
			}
		}
		st.finish(nil)
	}
}

// RowsAs returns an iterator over the stream's rows mapped by fn, such as
// RowToStructByName[User]. Like Rows, it yields a final (zero, error) pair
// if the stream ended with an error, and breaking out closes the stream. A
// mapping error ends the iteration with that error.
func RowsAs[T any](st *Stream, fn RowToFunc[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		defer st.release()
		var zero T
		if fn == nil {
			yield(zero, errors.New("cassandra: RowsAs: nil row function"))
			return
		}
		for st.Next() {
			v, err := fn(st)
			if err != nil {
				yield(zero, err)
				return
			}
			if !yield(v, nil) {
				return
			}
		}
		if err := st.Err(); err != nil {
			yield(zero, err)
		}
	}
}

// Row is the current row of a Stream (or a TableScan) inside a range loop
// over Rows. It is valid only until the loop continues: afterwards its
// methods return an error (Columns returns nil) instead of reading
// whatever row the stream has moved to.
type Row struct {
	src rowSource
	seq uint64 // the source's row sequence number when this row was current
}

// rowSource is what a Row reads from: a Stream or a TableScan.
type rowSource interface {
	CollectableRow
	MapScan(m map[string]any) error
	// onRow reports whether the row numbered seq is still the current one.
	onRow(seq uint64) bool
}

// onRow reports whether the stream is still on the row numbered seq.
func (st *Stream) onRow(seq uint64) bool { return !st.done && st.rowSeq == seq }

// errStaleRow is returned by a Row used after the stream moved on, and by
// a zero Row.
var errStaleRow = errors.New("cassandra: Row used after its loop iteration (or a zero Row)")

// current reports whether r is still its source's current row.
func (r Row) current() bool {
	return r.src != nil && r.src.onRow(r.seq)
}

// Scan copies the row's columns into dest, as ResultSet.Scan does.
func (r Row) Scan(dest ...any) error {
	if !r.current() {
		return errStaleRow
	}
	return r.src.Scan(dest...)
}

// MapScan copies the row into m, keyed by column name.
func (r Row) MapScan(m map[string]any) error {
	if !r.current() {
		return errStaleRow
	}
	return r.src.MapScan(m)
}

// Columns returns the row's columns.
func (r Row) Columns() []gocql.ColumnInfo {
	if !r.current() {
		return nil
	}
	return r.src.Columns()
}

// Every reader of rows works with the generic collectors.
var (
	_ Rows = (*Stream)(nil)
	_ Rows = (*ResultSet)(nil)
	_ Rows = (*Page)(nil)
)
