package cassandra

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// RowToStructByName returns the row scanned into a new T, which must be a
// struct. Columns are matched to exported fields by name: a `cql:"name"` tag
// wins and `cql:"-"` skips the field; an untagged field matches a column
// whose name equals, ignoring case, the field's name or its snake_case form
// (UserID matches "userid" and "user_id"). The fields of embedded structs
// without a tag are matched as if they were T's own.
//
// Every column must match a field and every field must match a column. The
// matching is computed once per struct type and column list and cached.
func RowToStructByName[T any](row CollectableRow) (T, error) {
	var v T
	err := scanStruct(row, reflect.ValueOf(&v).Elem(), byName)
	return v, err
}

// RowToStructByNameLax is like RowToStructByName, but fields that match no
// column are left at their zero values. Every column must still match a field.
func RowToStructByNameLax[T any](row CollectableRow) (T, error) {
	var v T
	err := scanStruct(row, reflect.ValueOf(&v).Elem(), byNameLax)
	return v, err
}

// RowToAddrOfStructByName is like RowToStructByName but returns a pointer to
// a new T.
func RowToAddrOfStructByName[T any](row CollectableRow) (*T, error) {
	p := new(T)
	if err := scanStruct(row, reflect.ValueOf(p).Elem(), byName); err != nil {
		return nil, err
	}
	return p, nil
}

// RowToStructByPos returns the row scanned into a new T, which must be a
// struct: the i-th column goes to the i-th exported field, counting the
// fields of untagged embedded structs in place and skipping `cql:"-"`
// fields. The number of fields must equal the number of columns.
func RowToStructByPos[T any](row CollectableRow) (T, error) {
	var v T
	err := scanStruct(row, reflect.ValueOf(&v).Elem(), byPos)
	return v, err
}

// mapMode selects how columns are matched to fields.
type mapMode int

const (
	byName mapMode = iota
	byNameLax
	byPos
	numModes
)

// scanStruct scans the current row into the struct rv, which is addressable.
func scanStruct(row CollectableRow, rv reflect.Value, mode mapMode) error {
	cols := row.Columns()
	p := lookupPlan(rv.Type(), cols, mode)
	if p.err != nil {
		return p.err
	}
	dp := destPool.Get().(*[]any)
	dests := (*dp)[:0]
	for _, idx := range p.slots {
		var f reflect.Value
		if len(idx) == 1 {
			f = rv.Field(idx[0])
		} else {
			f = rv.FieldByIndex(idx)
		}
		dests = append(dests, f.Addr().Interface())
	}
	err := row.Scan(dests...)
	clear(dests)
	*dp = dests[:0]
	destPool.Put(dp)
	if err != nil {
		return fmt.Errorf("cassandra: scanning row into %s: %w", rv.Type(), err)
	}
	return nil
}

// destPool recycles the []any of field pointers passed to Scan. The slice is
// cleared before it goes back so it keeps nothing alive.
var destPool = sync.Pool{New: func() any { s := make([]any, 0, 16); return &s }}

// plan is the cached result of matching a column list to a struct type.
type plan struct {
	names  []string // column names, to check a cache hit
	widths []int    // Scan destinations per column (tuple element count or 1)
	slots  [][]int  // field index path for each Scan destination
	err    error    // set when the columns do not fit the struct
}

// matches reports whether p was made for cols.
func (p *plan) matches(cols []gocql.ColumnInfo) bool {
	if len(cols) != len(p.names) {
		return false
	}
	for i := range cols {
		if cols[i].Name != p.names[i] || columnWidth(cols[i]) != p.widths[i] {
			return false
		}
	}
	return true
}

// typePlans is the per-struct-type cache entry: the struct's fields and the
// plan used last in each mode, which is almost always the one wanted next,
// because a result's rows share their columns.
type typePlans struct {
	fields []structField
	err    error
	last   [numModes]atomic.Pointer[plan]
}

type planKey struct {
	t    reflect.Type
	mode mapMode
	cols string // column names and widths, NUL-separated
}

var (
	typeCache sync.Map // reflect.Type -> *typePlans
	planCache sync.Map // planKey -> *plan
)

// lookupPlan returns the plan for scanning a row with cols into a t. The
// common path, the same columns as last time, neither locks nor allocates.
func lookupPlan(t reflect.Type, cols []gocql.ColumnInfo, mode mapMode) *plan {
	tp := lookupType(t)
	if p := tp.last[mode].Load(); p != nil && p.matches(cols) {
		return p
	}
	key := planKey{t: t, mode: mode, cols: columnsKey(cols)}
	if p, ok := planCache.Load(key); ok {
		tp.last[mode].Store(p.(*plan))
		return p.(*plan)
	}
	p := buildPlan(t, tp, cols, mode)
	actual, _ := planCache.LoadOrStore(key, p)
	tp.last[mode].Store(actual.(*plan))
	return actual.(*plan)
}

func lookupType(t reflect.Type) *typePlans {
	if tp, ok := typeCache.Load(t); ok {
		return tp.(*typePlans)
	}
	tp := &typePlans{}
	if t.Kind() != reflect.Struct {
		tp.err = fmt.Errorf("cassandra: cannot scan a row into %s: not a struct", t)
	} else {
		tp.fields, tp.err = structFields(t)
	}
	actual, _ := typeCache.LoadOrStore(t, tp)
	return actual.(*typePlans)
}

func columnsKey(cols []gocql.ColumnInfo) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(c.Name)
		if n := columnWidth(c); n != 1 {
			fmt.Fprintf(&b, "\x01%d", n)
		}
	}
	return b.String()
}

// columnWidth is the number of Scan destinations col takes: one per element
// for a tuple, otherwise one.
func columnWidth(col gocql.ColumnInfo) int {
	if tuple, ok := col.TypeInfo.(gocql.TupleTypeInfo); ok {
		return len(tuple.Elems)
	}
	return 1
}

// structField is an exported field of a struct, or of a struct embedded in it.
type structField struct {
	index []int
	path  string // e.g. "Base.ID", for messages
	tag   string // from `cql:"..."`; empty when untagged
	name  string
	snake string
	depth int
	typ   reflect.Type
}

// structFields lists t's exported fields in declaration order, flattening
// untagged embedded structs in place and leaving out `cql:"-"` fields.
func structFields(t reflect.Type) ([]structField, error) {
	var fields []structField
	var walk func(t reflect.Type, index []int, prefix string, depth int) error
	walk = func(t reflect.Type, index []int, prefix string, depth int) error {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag, _, _ := strings.Cut(sf.Tag.Get("cql"), ",")
			if tag == "-" {
				continue
			}
			idx := append(index[:len(index):len(index)], i)
			if sf.Anonymous && tag == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Struct {
					if err := walk(ft, idx, prefix+sf.Name+".", depth+1); err != nil {
						return err
					}
					continue
				}
				if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
					return fmt.Errorf("cassandra: cannot scan into embedded pointer %s%s of %s; embed the struct by value or tag the field", prefix, sf.Name, t)
				}
			}
			if !sf.IsExported() {
				continue
			}
			fields = append(fields, structField{
				index: idx,
				path:  prefix + sf.Name,
				tag:   tag,
				name:  sf.Name,
				snake: snakeCase(sf.Name),
				depth: depth,
				typ:   sf.Type,
			})
		}
		return nil
	}
	if err := walk(t, nil, "", 0); err != nil {
		return nil, err
	}
	return fields, nil
}

// buildPlan matches cols to the fields of t.
func buildPlan(t reflect.Type, tp *typePlans, cols []gocql.ColumnInfo, mode mapMode) *plan {
	p := &plan{names: make([]string, len(cols)), widths: make([]int, len(cols))}
	for i, c := range cols {
		p.names[i] = c.Name
		p.widths[i] = columnWidth(c)
	}
	if tp.err != nil {
		p.err = tp.err
		return p
	}
	fields := tp.fields

	// match[i] is the index in fields of column i's field.
	match := make([]int, len(cols))
	if mode == byPos {
		if len(fields) != len(cols) {
			p.err = fmt.Errorf("cassandra: %s has %d exported fields but the result has %d columns", t, len(fields), len(cols))
			return p
		}
		for i := range match {
			match[i] = i
		}
	} else {
		owner := make(map[int]int, len(cols)) // field -> column
		for i, c := range cols {
			f := findField(fields, c.Name)
			if f < 0 {
				p.err = fmt.Errorf("cassandra: no field in %s for column %q", t, c.Name)
				return p
			}
			if j, ok := owner[f]; ok {
				p.err = fmt.Errorf("cassandra: columns %q and %q both map to field %s.%s", cols[j].Name, c.Name, t, fields[f].path)
				return p
			}
			owner[f] = i
			match[i] = f
		}
		if mode == byName {
			for f := range fields {
				if _, ok := owner[f]; !ok {
					p.err = fmt.Errorf("cassandra: no column in the result for field %s.%s", t, fields[f].path)
					return p
				}
			}
		}
	}

	for i, c := range cols {
		f := fields[match[i]]
		n := p.widths[i]
		if n == 1 {
			p.slots = append(p.slots, f.index)
			continue
		}
		if !tupleStruct(f.typ, n) {
			p.err = fmt.Errorf("cassandra: column %q is a tuple of %d elements; field %s.%s must be a struct with %d exported fields", c.Name, n, t, f.path, n)
			return p
		}
		for e := range n {
			p.slots = append(p.slots, append(f.index[:len(f.index):len(f.index)], e))
		}
	}
	return p
}

// findField returns the index of the field that column name maps to, or -1.
// A shallower field beats a deeper one, and at the same depth a tag beats a
// field name.
func findField(fields []structField, name string) int {
	best := -1
	bestTagged := false
	for i := range fields {
		f := &fields[i]
		var ok, tagged bool
		if f.tag != "" {
			ok, tagged = strings.EqualFold(f.tag, name), true
		} else {
			ok = strings.EqualFold(f.name, name) || strings.EqualFold(f.snake, name)
		}
		if !ok {
			continue
		}
		if best < 0 || f.depth < fields[best].depth || (f.depth == fields[best].depth && tagged && !bestTagged) {
			best, bestTagged = i, tagged
		}
	}
	return best
}

// tupleStruct reports whether t can take an n-element tuple: a struct with
// exactly n fields, all exported, as gocql requires.
func tupleStruct(t reflect.Type, n int) bool {
	if t.Kind() != reflect.Struct || t.NumField() != n {
		return false
	}
	for i := range n {
		if !t.Field(i).IsExported() {
			return false
		}
	}
	return true
}

// snakeCase converts a Go field name to snake_case: UserID becomes user_id,
// CreatedAt created_at, HTTPServer http_server.
func snakeCase(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	var prev rune
	for i, r := range s {
		if unicode.IsUpper(r) && i > 0 {
			next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && unicode.IsLower(next)) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return b.String()
}
