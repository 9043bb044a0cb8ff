package cassandra

import (
	"errors"
	"fmt"
	"reflect"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ErrTooManyRows is returned by CollectExactlyOneRow when the result has more
// than one row.
var ErrTooManyRows = errors.New("cassandra: too many rows")

// Rows is the row-by-row reading interface shared by *ResultSet, *Stream,
// *Page and *TableScan, in the manner of database/sql's Rows.
//
// Next must be called before every Scan. Scan takes one destination per
// column, except that a tuple column takes one per element, as gocql's
// Iter.Scan does; a nil destination skips its column. Close is idempotent and
// does not change Err.
type Rows interface {
	// Next advances to the next row. It returns false at the end of the rows
	// or on error; Err tells the two apart.
	Next() bool
	// Scan copies the current row's columns into dest, with gocql's
	// conversions (see gocql's Iter.Scan).
	Scan(dest ...any) error
	// Columns returns the result's columns (Name, TypeInfo, Keyspace, Table).
	Columns() []gocql.ColumnInfo
	// Err returns the error that ended iteration, if any.
	Err() error
	// Close releases the rows. It is safe to call more than once.
	Close() error
}

// CollectableRow is the current row as a RowToFunc sees it. Rows satisfies it.
type CollectableRow interface {
	// Columns returns the result's columns (Name, TypeInfo, Keyspace,
	// Table), in the order Scan takes them.
	Columns() []gocql.ColumnInfo
	// Scan copies the current row's columns into dest, as Rows.Scan does:
	// one destination per column, one per element for a tuple column, nil
	// to skip a column.
	Scan(dest ...any) error
}

// RowToFunc maps the current row to a T. It must not call Next or Close.
type RowToFunc[T any] func(row CollectableRow) (T, error)

// CollectRows calls fn on every row and returns the results in order. It
// returns a non-nil, possibly empty, slice on success and nil on error; the
// error is fn's, rows.Err() or rows.Close()'s, whichever comes first.
//
// CollectRows closes the rows automatically on return.
func CollectRows[T any](rows Rows, fn RowToFunc[T]) ([]T, error) {
	return AppendRows([]T{}, rows, fn)
}

// AppendRows calls fn on every row and appends the results to s. It returns
// the extended slice, or nil and the first error (fn's, rows.Err() or
// rows.Close()'s).
//
// AppendRows closes the rows automatically on return.
func AppendRows[T any, S ~[]T](s S, rows Rows, fn RowToFunc[T]) (out S, err error) {
	if err := checkCollect(rows, fn == nil); err != nil {
		return nil, err
	}
	defer func() {
		closeRows(rows, &err)
		if err != nil {
			out = nil
		}
	}()
	for rows.Next() {
		v, err := fn(rows)
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// CollectOneRow calls fn on the first row and returns the result; any other
// rows are discarded. It returns ErrNotFound (which matches
// gocql.ErrNotFound) if there are no rows. On error it returns the zero T.
//
// CollectOneRow closes the rows automatically on return.
func CollectOneRow[T any](rows Rows, fn RowToFunc[T]) (T, error) {
	return collectOne(rows, fn, false)
}

// CollectExactlyOneRow is like CollectOneRow, but returns ErrTooManyRows if
// the result has more than one row.
//
// CollectExactlyOneRow closes the rows automatically on return.
func CollectExactlyOneRow[T any](rows Rows, fn RowToFunc[T]) (T, error) {
	return collectOne(rows, fn, true)
}

func collectOne[T any](rows Rows, fn RowToFunc[T], exactlyOne bool) (v T, err error) {
	var zero T
	if err := checkCollect(rows, fn == nil); err != nil {
		return zero, err
	}
	defer func() {
		closeRows(rows, &err)
		if err != nil {
			v = zero
		}
	}()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return zero, err
		}
		return zero, ErrNotFound
	}
	v, err = fn(rows)
	if err != nil {
		return zero, err
	}
	if exactlyOne && rows.Next() {
		return zero, ErrTooManyRows
	}
	if err := rows.Err(); err != nil {
		return zero, err
	}
	return v, nil
}

// ForEachRow scans every row into scans and then calls fn, which may read the
// values the scans point to. It stops at the first error from Scan or fn and
// returns it; otherwise it returns rows.Err() or rows.Close()'s error.
//
// ForEachRow closes the rows automatically on return.
func ForEachRow(rows Rows, scans []any, fn func() error) (err error) {
	if err := checkCollect(rows, fn == nil); err != nil {
		return err
	}
	defer closeRows(rows, &err)
	for rows.Next() {
		if err := rows.Scan(scans...); err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// checkCollect rejects a nil rows, or a nil function (fnNil) to call for
// each row. In the second case rows are closed all the same, as the caller
// promises, so that a stream stops fetching.
func checkCollect(rows Rows, fnNil bool) error {
	if rows == nil {
		return errors.New("cassandra: nil Rows")
	}
	if fnNil {
		rows.Close()
		return errors.New("cassandra: nil row function")
	}
	return nil
}

// closeRows closes rows and stores the error from Close in *err unless an
// earlier error is there already.
func closeRows(rows Rows, err *error) {
	if cerr := rows.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// RowTo returns the row's only column as a T. A tuple column scans into a
// struct with one exported field per element.
func RowTo[T any](row CollectableRow) (T, error) {
	var v T
	err := scanOne(row, &v)
	return v, err
}

// RowToAddrOf is like RowTo but returns a pointer to a new T.
func RowToAddrOf[T any](row CollectableRow) (*T, error) {
	p := new(T)
	if err := scanOne(row, p); err != nil {
		return nil, err
	}
	return p, nil
}

func scanOne(row CollectableRow, dst any) error {
	cols := row.Columns()
	if len(cols) != 1 {
		return fmt.Errorf("cassandra: scanning into %T needs exactly one column, the result has %d", dst, len(cols))
	}
	col := cols[0]
	if n := columnWidth(col); n != 1 {
		rv := reflect.ValueOf(dst).Elem()
		if !tupleStruct(rv.Type(), n) {
			return fmt.Errorf("cassandra: column %q is a tuple of %d elements; %s must be a struct with %d exported fields", col.Name, n, rv.Type(), n)
		}
		dests := make([]any, n)
		for i := range dests {
			dests[i] = rv.Field(i).Addr().Interface()
		}
		if err := row.Scan(dests...); err != nil {
			return fmt.Errorf("cassandra: column %q: %w", col.Name, err)
		}
		return nil
	}
	if err := row.Scan(dst); err != nil {
		return fmt.Errorf("cassandra: column %q: %w", col.Name, err)
	}
	return nil
}

// RowToMap returns the row as a map from column name to value. Each value has
// the Go type gocql gives the column's CQL type (see gocql's Iter.SliceMap):
// int for int, string for text, []T for list<T> and so on; NULL becomes the
// type's zero value. A tuple column is split into one entry per element, keyed
// by gocql.TupleColumnName, as gocql's MapScan does.
func RowToMap(row CollectableRow) (map[string]any, error) {
	cols := row.Columns()
	names := make([]string, 0, len(cols))
	dests := make([]any, 0, len(cols))
	for _, col := range cols {
		if tuple, ok := col.TypeInfo.(gocql.TupleTypeInfo); ok {
			for i, elem := range tuple.Elems {
				names = append(names, gocql.TupleColumnName(col.Name, i))
				dests = append(dests, newDest(elem))
			}
			continue
		}
		names = append(names, col.Name)
		dests = append(dests, newDest(col.TypeInfo))
	}
	if err := row.Scan(dests...); err != nil {
		return nil, fmt.Errorf("cassandra: scanning row into map: %w", err)
	}
	m := make(map[string]any, len(names))
	for i, name := range names {
		m[name] = reflect.ValueOf(dests[i]).Elem().Interface()
	}
	return m, nil
}

// newDest returns a pointer to a new zero value of the Go type gocql uses for
// info, as gocql's Iter.RowData does, or a *any when info gives no type.
func newDest(info gocql.TypeInfo) any {
	var zero any
	if info != nil {
		zero = info.Zero()
	}
	if zero == nil {
		return new(any)
	}
	return reflect.New(reflect.TypeOf(zero)).Interface()
}
