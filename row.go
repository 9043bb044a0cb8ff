package cassandra

import (
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// rawColumn holds one column of the current row (or one element of a tuple
// column) as the bytes in the driver's frame, until Scan decodes it into the
// caller's destination. It implements gocql.Unmarshaler, so the driver hands
// it the bytes without decoding them. The bytes alias the frame, which stays
// alive while its page is being read.
type rawColumn struct {
	info gocql.TypeInfo
	data []byte
}

// UnmarshalCQL keeps info and data; it never fails.
func (c *rawColumn) UnmarshalCQL(info gocql.TypeInfo, data []byte) error {
	c.info, c.data = info, data
	return nil
}

// cursor reads the rows of one driver page at a time, in the manner of
// database/sql: next advances, scan decodes the current row. Advancing reads
// the row's columns as raw bytes, so a row is decoded once, straight into
// the caller's destinations, and rows never become maps unless asked.
type cursor struct {
	iter    *gocql.Iter // the page being read, or nil
	columns []gocql.ColumnInfo
	raw     []rawColumn // the current row, one entry per Scan destination
	dest    []any       // &raw[i], reused for every row
	onRow   bool
}

// oneColumn holds a cursor's buffers for rows of one column, the most
// common kind; its owner embeds it to save an allocation.
type oneColumn struct {
	raw  [1]rawColumn
	dest [1]any
}

// setColumns sizes the cursor for rows of columns. Rows of one column use
// one, if it is not nil; rows with a few more get both buffers in one
// allocation; results without columns (writes) need none.
func (c *cursor) setColumns(columns []gocql.ColumnInfo, one *oneColumn) {
	c.columns = columns
	switch n := destCount(columns); {
	case n == 0:
		c.raw, c.dest = nil, nil
	case n == 1:
		if one == nil {
			one = new(oneColumn)
		}
		c.raw, c.dest = one.raw[:], one.dest[:]
	case n <= 4:
		b := new(struct {
			raw  [4]rawColumn
			dest [4]any
		})
		c.raw, c.dest = b.raw[:n], b.dest[:n]
	default:
		c.raw, c.dest = make([]rawColumn, n), make([]any, n)
	}
	for i := range c.raw {
		c.dest[i] = &c.raw[i]
	}
}

// name returns the column name of destination i, for errors; a tuple
// element is named column[element].
func (c *cursor) name(i int) string {
	for _, col := range c.columns {
		n := 1
		if t, ok := col.TypeInfo.(gocql.TupleTypeInfo); ok {
			n = len(t.Elems)
			if i < n {
				return fmt.Sprintf("%s[%d]", col.Name, i)
			}
		} else if i == 0 {
			return col.Name
		}
		i -= n
	}
	return "?"
}

// destCount is how many Scan destinations a row of columns needs: a tuple
// column takes one per element, as with gocql.Iter.Scan.
func destCount(columns []gocql.ColumnInfo) int {
	n := 0
	for _, col := range columns {
		if t, ok := col.TypeInfo.(gocql.TupleTypeInfo); ok {
			n += len(t.Elems)
		} else {
			n++
		}
	}
	return n
}

// read makes iter the page being read.
func (c *cursor) read(iter *gocql.Iter) { c.iter, c.onRow = iter, false }

// next advances to the next row of the current page. At the end of the page
// it releases the page and returns false with the page's error, if any.
func (c *cursor) next() (bool, error) {
	c.onRow = false
	if c.iter == nil {
		return false, nil
	}
	if c.iter.Scan(c.dest...) {
		c.onRow = true
		return true, nil
	}
	err := c.iter.Close()
	c.iter = nil
	return false, err
}

// release drops the current page unread.
func (c *cursor) release() {
	if c.iter != nil {
		c.iter.Close()
		c.iter = nil
	}
	c.onRow = false
}

// scan decodes the current row into dest (nil skips a column).
//
// gocql panics on some destinations, such as a slice of structs with
// unexported fields for a list of tuples. Scan runs on the caller's
// goroutine, so such a panic becomes an error naming the column, which
// wraps a *PanicError.
func (c *cursor) scan(dest []any) (err error) {
	if !c.onRow {
		return errNoRow
	}
	if len(dest) != len(c.raw) {
		return fmt.Errorf("cassandra: Scan: got %d destinations for %d columns", len(dest), len(c.raw))
	}
	i := 0
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("cassandra: Scan: column %q: cannot decode into %T: %w", c.name(i), dest[i], newPanicError(v))
		}
	}()
	for ; i < len(dest); i++ {
		if dest[i] == nil {
			continue
		}
		if err := gocql.Unmarshal(c.raw[i].info, c.raw[i].data, dest[i]); err != nil {
			return fmt.Errorf("cassandra: Scan: column %q: %w", c.name(i), err)
		}
	}
	return nil
}
