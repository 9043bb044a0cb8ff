package cassandra

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// fakeCollectRows is an in-memory Rows. Scan marshals each stored value with the
// column's TypeInfo and unmarshals it into the destination with gocql, the
// way gocql's Iter.Scan does, so the conversions are the driver's own.
type fakeCollectRows struct {
	cols     []gocql.ColumnInfo
	data     [][]any
	pos      int   // 1-based index of the current row; 0 before the first Next
	err      error // reported by Err once the rows run out
	scanErr  error // returned by every Scan when set
	closeErr error

	closed int // number of Close calls
	scans  int
}

func newFakeCollectRows(cols []gocql.ColumnInfo, rows ...[]any) *fakeCollectRows {
	return &fakeCollectRows{cols: cols, data: rows}
}

func (r *fakeCollectRows) Next() bool {
	if r.closed > 0 || r.pos > len(r.data) {
		return false
	}
	r.pos++
	return r.pos <= len(r.data)
}

func (r *fakeCollectRows) Scan(dest ...any) error {
	r.scans++
	if r.scanErr != nil {
		return r.scanErr
	}
	if r.pos < 1 || r.pos > len(r.data) {
		return errors.New("fake: Scan called without a current row")
	}
	want := 0
	for _, c := range r.cols {
		want += columnWidth(c)
	}
	if len(dest) != want {
		return fmt.Errorf("gocql: not enough columns to scan into: have %d want %d", len(dest), want)
	}
	row := r.data[r.pos-1]
	i := 0
	for ci, c := range r.cols {
		n := columnWidth(c)
		if dest[i] == nil {
			i += n
			continue
		}
		b, err := gocql.Marshal(c.TypeInfo, row[ci])
		if err != nil {
			return fmt.Errorf("fake: marshal %q: %w", c.Name, err)
		}
		var target any = dest[i]
		if _, ok := c.TypeInfo.(gocql.TupleTypeInfo); ok {
			target = dest[i : i+n]
		}
		if err := gocql.Unmarshal(c.TypeInfo, b, target); err != nil {
			return err
		}
		i += n
	}
	return nil
}

func (r *fakeCollectRows) Columns() []gocql.ColumnInfo { return r.cols }

func (r *fakeCollectRows) Err() error {
	if r.pos > len(r.data) {
		return r.err
	}
	return nil
}

func (r *fakeCollectRows) Close() error {
	r.closed++
	return r.closeErr
}

var (
	ctInt     = gocql.NewNativeType(4, gocql.TypeInt, "")
	ctBigInt  = gocql.NewNativeType(4, gocql.TypeBigInt, "")
	ctText    = gocql.NewNativeType(4, gocql.TypeText, "")
	ctBool    = gocql.NewNativeType(4, gocql.TypeBoolean, "")
	ctTime    = gocql.NewNativeType(4, gocql.TypeTimestamp, "")
	ctUUID    = gocql.NewNativeType(4, gocql.TypeUUID, "")
	ctDouble  = gocql.NewNativeType(4, gocql.TypeDouble, "")
	ctListInt = gocql.NewNativeType(4, gocql.TypeCustom, "org.apache.cassandra.db.marshal.ListType(org.apache.cassandra.db.marshal.Int32Type)")
)

func collectCols(pairs ...any) []gocql.ColumnInfo {
	var out []gocql.ColumnInfo
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, gocql.ColumnInfo{Keyspace: "ks", Table: "t", Name: pairs[i].(string), TypeInfo: pairs[i+1].(gocql.TypeInfo)})
	}
	return out
}

type CollectBase struct {
	ID int `cql:"id"`
}

type collectTenant struct {
	Tenant string
}

type collectUser struct {
	CollectBase
	collectTenant
	UserID    int64
	FullName  string `cql:"name"`
	Email     string
	CreatedAt time.Time
	Secret    string `cql:"-"`
	//lint:ignore U1000 unexported fields are ignored by the mapping
	internal string
}

func collectUserCols() []gocql.ColumnInfo {
	return collectCols("id", ctInt, "tenant", ctText, "user_id", ctBigInt, "NAME", ctText, "email", ctText, "createdat", ctTime)
}

func TestCollectRowsRowTo(t *testing.T) {
	rows := newFakeCollectRows(collectCols("n", ctInt), []any{1}, []any{2}, []any{3})
	got, err := CollectRows(rows, RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, got)
	assert.Equal(t, 1, rows.closed)

	rows = newFakeCollectRows(collectCols("n", ctInt))
	got, err = CollectRows(rows, RowTo[int])
	require.NoError(t, err)
	assert.NotNil(t, got, "an empty result is an empty slice, not nil")
	assert.Empty(t, got)
	assert.Equal(t, 1, rows.closed)
}

func TestRowToAddrOf(t *testing.T) {
	rows := newFakeCollectRows(collectCols("s", ctText), []any{"a"}, []any{"b"})
	got, err := CollectRows(rows, RowToAddrOf[string])
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "a", *got[0])
	assert.Equal(t, "b", *got[1])
}

func TestRowToWrongColumnCount(t *testing.T) {
	rows := newFakeCollectRows(collectCols("a", ctInt, "b", ctInt), []any{1, 2})
	_, err := CollectRows(rows, RowTo[int])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exactly one column")
	assert.Equal(t, 1, rows.closed)
}

func TestRowToScanErrorNamesColumn(t *testing.T) {
	rows := newFakeCollectRows(collectCols("flag", ctInt), []any{1})
	_, err := CollectRows(rows, RowTo[bool])
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cassandra: column "flag": `)
	assert.Equal(t, 1, rows.closed)
}

func TestRowToStructByName(t *testing.T) {
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	rows := newFakeCollectRows(collectUserCols(),
		[]any{7, "acme", int64(42), "Ada", "ada@example.com", created},
		[]any{8, "acme", int64(43), "Bob", "bob@example.com", created},
	)
	got, err := CollectRows(rows, RowToStructByName[collectUser])
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, 7, got[0].ID, "embedded struct, tag")
	assert.Equal(t, "acme", got[0].Tenant, "unexported embedded struct")
	assert.Equal(t, int64(42), got[0].UserID, "snake_case")
	assert.Equal(t, "Ada", got[0].FullName, "tag, case-insensitive")
	assert.Equal(t, "ada@example.com", got[0].Email, "field name")
	assert.True(t, created.Equal(got[0].CreatedAt), "case-insensitive field name")
	assert.Empty(t, got[0].Secret)
	assert.Equal(t, "Bob", got[1].FullName)
	assert.Equal(t, 1, rows.closed)
}

func TestRowToAddrOfStructByName(t *testing.T) {
	type pt struct{ X, Y int }
	rows := newFakeCollectRows(collectCols("y", ctInt, "x", ctInt), []any{2, 1})
	got, err := CollectOneRow(rows, RowToAddrOfStructByName[pt])
	require.NoError(t, err)
	assert.Equal(t, &pt{X: 1, Y: 2}, got)
}

func TestRowToStructByNameStrictAndLax(t *testing.T) {
	type withNick struct {
		ID   int
		Nick string
	}
	// A field without a column: strict fails, lax leaves it zero.
	rows := newFakeCollectRows(collectCols("id", ctInt), []any{1})
	_, err := CollectRows(rows, RowToStructByName[withNick])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no column in the result for field cassandra.withNick.Nick")
	assert.Equal(t, 1, rows.closed)

	rows = newFakeCollectRows(collectCols("id", ctInt), []any{1})
	got, err := CollectRows(rows, RowToStructByNameLax[withNick])
	require.NoError(t, err)
	assert.Equal(t, []withNick{{ID: 1}}, got)

	// A column without a field fails in both modes, naming the column.
	for name, fn := range map[string]RowToFunc[withNick]{
		"strict": RowToStructByName[withNick],
		"lax":    RowToStructByNameLax[withNick],
	} {
		rows = newFakeCollectRows(collectCols("id", ctInt, "nick", ctText, "email", ctText), []any{1, "n", "e"})
		_, err = CollectRows(rows, fn)
		require.Error(t, err, name)
		assert.EqualError(t, err, `cassandra: no field in cassandra.withNick for column "email"`, name)
		assert.Equal(t, 1, rows.closed, name)
	}

	// cql:"-" fields never match, even a column of the same name.
	type skip struct {
		ID     int
		Secret string `cql:"-"`
	}
	rows = newFakeCollectRows(collectCols("id", ctInt, "secret", ctText), []any{1, "s"})
	_, err = CollectRows(rows, RowToStructByName[skip])
	assert.EqualError(t, err, `cassandra: no field in cassandra.skip for column "secret"`)
}

func TestRowToStructByNameTwoColumnsOneField(t *testing.T) {
	type u struct{ UserID int }
	rows := newFakeCollectRows(collectCols("userid", ctInt, "user_id", ctInt), []any{1, 2})
	_, err := CollectRows(rows, RowToStructByName[u])
	assert.EqualError(t, err, `cassandra: columns "userid" and "user_id" both map to field cassandra.u.UserID`)
}

func TestRowToStructByNameShallowFieldWins(t *testing.T) {
	type inner struct{ ID int }
	type outer struct {
		inner
		ID int
	}
	rows := newFakeCollectRows(collectCols("id", ctInt), []any{5})
	got, err := CollectOneRow(rows, RowToStructByNameLax[outer])
	require.NoError(t, err)
	assert.Equal(t, 5, got.ID)
	assert.Equal(t, 0, got.inner.ID)
}

func TestRowToStructByPos(t *testing.T) {
	type pos struct {
		CollectBase
		Name string
		//lint:ignore U1000 unexported fields are ignored by the mapping
		skip   int
		Hidden int `cql:"-"`
		Active bool
	}
	rows := newFakeCollectRows(collectCols("a", ctInt, "b", ctText, "c", ctBool), []any{1, "x", true})
	got, err := CollectRows(rows, RowToStructByPos[pos])
	require.NoError(t, err)
	assert.Equal(t, []pos{{CollectBase: CollectBase{ID: 1}, Name: "x", Active: true}}, got)

	rows = newFakeCollectRows(collectCols("a", ctInt, "b", ctText), []any{1, "x"})
	_, err = CollectRows(rows, RowToStructByPos[pos])
	assert.EqualError(t, err, "cassandra: cassandra.pos has 3 exported fields but the result has 2 columns")
	assert.Equal(t, 1, rows.closed)
}

func TestRowToStructNotAStruct(t *testing.T) {
	rows := newFakeCollectRows(collectCols("n", ctInt), []any{1})
	assert.NotPanics(t, func() {
		_, err := CollectRows(rows, RowToStructByName[int])
		assert.EqualError(t, err, "cassandra: cannot scan a row into int: not a struct")
	})
	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1})
	assert.NotPanics(t, func() {
		_, err := CollectRows(rows, RowToAddrOfStructByName[*collectUser])
		assert.EqualError(t, err, "cassandra: cannot scan a row into *cassandra.collectUser: not a struct")
	})
	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1})
	assert.NotPanics(t, func() {
		_, err := CollectRows(rows, RowToStructByPos[[]int])
		assert.EqualError(t, err, "cassandra: cannot scan a row into []int: not a struct")
	})
}

func TestRowToStructEmbeddedPointer(t *testing.T) {
	type withPtr struct {
		*CollectBase
		Name string
	}
	rows := newFakeCollectRows(collectCols("id", ctInt, "name", ctText), []any{1, "x"})
	_, err := CollectRows(rows, RowToStructByName[withPtr])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "embedded pointer CollectBase")
}

func TestRowToStructScanError(t *testing.T) {
	type flag struct{ On bool }
	rows := newFakeCollectRows(collectCols("on", ctInt), []any{1})
	_, err := CollectRows(rows, RowToStructByName[flag])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cassandra: scanning row into cassandra.flag: ")
	assert.Equal(t, 1, rows.closed)

	sentinel := errors.New("boom")
	rows = newFakeCollectRows(collectCols("on", ctBool), []any{true})
	rows.scanErr = sentinel
	_, err = CollectRows(rows, RowToStructByName[flag])
	assert.ErrorIs(t, err, sentinel)
	assert.Equal(t, 1, rows.closed)
}

func TestRowToStructTuple(t *testing.T) {
	type pair struct {
		A int
		B string
	}
	type rec struct {
		ID   int
		Pair pair
	}
	tuple := gocql.TupleTypeInfo{Elems: []gocql.TypeInfo{ctInt, ctText}}
	rows := newFakeCollectRows(collectCols("id", ctInt, "pair", tuple), []any{1, []any{2, "two"}})
	got, err := CollectOneRow(rows, RowToStructByName[rec])
	require.NoError(t, err)
	assert.Equal(t, rec{ID: 1, Pair: pair{A: 2, B: "two"}}, got)

	rows = newFakeCollectRows(collectCols("pair", tuple), []any{[]any{3, "three"}})
	p, err := CollectOneRow(rows, RowTo[pair])
	require.NoError(t, err)
	assert.Equal(t, pair{A: 3, B: "three"}, p)

	type bad struct {
		ID   int
		Pair int
	}
	rows = newFakeCollectRows(collectCols("id", ctInt, "pair", tuple), []any{1, []any{2, "two"}})
	_, err = CollectOneRow(rows, RowToStructByName[bad])
	assert.EqualError(t, err, `cassandra: column "pair" is a tuple of 2 elements; field cassandra.bad.Pair must be a struct with 2 exported fields`)
}

func TestRowToMap(t *testing.T) {
	id := gocql.TimeUUID()
	tuple := gocql.TupleTypeInfo{Elems: []gocql.TypeInfo{ctInt, ctText}}
	rows := newFakeCollectRows(collectCols("id", ctUUID, "n", ctInt, "big", ctBigInt, "name", ctText, "score", ctDouble, "l", ctListInt, "tup", tuple),
		[]any{id, 1, int64(2), "x", 1.5, []int{1, 2}, []any{3, "three"}},
		[]any{id, nil, nil, nil, nil, nil, []any{nil, nil}},
	)
	got, err := CollectRows(rows, RowToMap)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, map[string]any{
		"id": id, "n": 1, "big": int64(2), "name": "x", "score": 1.5, "l": []int{1, 2},
		"tup[0]": 3, "tup[1]": "three",
	}, got[0])
	assert.Equal(t, map[string]any{
		"id": id, "n": 0, "big": int64(0), "name": "", "score": 0.0, "l": []int(nil),
		"tup[0]": 0, "tup[1]": "",
	}, got[1], "NULL becomes the zero value of gocql's Go type")

	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1})
	rows.scanErr = errors.New("boom")
	_, err = CollectRows(rows, RowToMap)
	assert.EqualError(t, err, "cassandra: scanning row into map: boom")
}

func TestCollectOneRow(t *testing.T) {
	rows := newFakeCollectRows(collectCols("n", ctInt), []any{1}, []any{2})
	n, err := CollectOneRow(rows, RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, rows.closed)

	rows = newFakeCollectRows(collectCols("n", ctInt))
	_, err = CollectOneRow(rows, RowTo[int])
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, err, gocql.ErrNotFound)
	assert.Equal(t, 1, rows.closed)
}

func TestCollectExactlyOneRow(t *testing.T) {
	rows := newFakeCollectRows(collectCols("n", ctInt), []any{1})
	n, err := CollectExactlyOneRow(rows, RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, rows.closed)

	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1}, []any{2})
	n, err = CollectExactlyOneRow(rows, RowTo[int])
	assert.ErrorIs(t, err, ErrTooManyRows)
	assert.Zero(t, n, "the zero value on error")
	assert.Equal(t, 1, rows.closed)

	rows = newFakeCollectRows(collectCols("n", ctInt))
	_, err = CollectExactlyOneRow(rows, RowTo[int])
	assert.ErrorIs(t, err, gocql.ErrNotFound)
	assert.Equal(t, 1, rows.closed)
}

func TestCollectorsReturnRowsErr(t *testing.T) {
	cause := &gocql.RequestErrReadTimeout{}
	rowsErr := &QueryError{Statement: "SELECT n FROM t", Err: cause}
	newRows := func() *fakeCollectRows {
		r := newFakeCollectRows(collectCols("n", ctInt), []any{1})
		r.err = rowsErr
		return r
	}

	rows := newRows()
	_, err := CollectRows(rows, RowTo[int])
	assertCollectRowsErr(t, err, rowsErr, cause)
	assert.Equal(t, 1, rows.closed)

	rows = newRows()
	_, err = AppendRows([]int{0}, rows, RowTo[int])
	assertCollectRowsErr(t, err, rowsErr, cause)
	assert.Equal(t, 1, rows.closed)

	rows = newRows()
	_, err = CollectExactlyOneRow(rows, RowTo[int])
	assertCollectRowsErr(t, err, rowsErr, cause)
	assert.Equal(t, 1, rows.closed)

	rows = newRows()
	var n int
	err = ForEachRow(rows, []any{&n}, func() error { return nil })
	assertCollectRowsErr(t, err, rowsErr, cause)
	assert.Equal(t, 1, rows.closed)

	// An error that ends iteration before any row is not ErrNotFound.
	rows = newFakeCollectRows(collectCols("n", ctInt))
	rows.err = rowsErr
	_, err = CollectOneRow(rows, RowTo[int])
	assertCollectRowsErr(t, err, rowsErr, cause)
	assert.NotErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 1, rows.closed)
}

func assertCollectRowsErr(t *testing.T, err error, want *QueryError, cause error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, want)
	var qe *QueryError
	assert.ErrorAs(t, err, &qe)
	var rt *gocql.RequestErrReadTimeout
	assert.ErrorAs(t, err, &rt)
	assert.ErrorIs(t, err, cause)
}

func TestCollectorsReturnCloseErr(t *testing.T) {
	closeErr := errors.New("close failed")
	rows := newFakeCollectRows(collectCols("n", ctInt), []any{1})
	rows.closeErr = closeErr
	got, err := CollectRows(rows, RowTo[int])
	assert.ErrorIs(t, err, closeErr)
	assert.Nil(t, got)

	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1})
	rows.closeErr = closeErr
	n, err := CollectOneRow(rows, RowTo[int])
	assert.ErrorIs(t, err, closeErr)
	assert.Zero(t, n)

	// An earlier error wins over the Close error.
	rows = newFakeCollectRows(collectCols("n", ctInt))
	rows.closeErr = closeErr
	_, err = CollectOneRow(rows, RowTo[int])
	assert.ErrorIs(t, err, ErrNotFound)
	assert.NotErrorIs(t, err, closeErr)
}

func TestCollectorsReturnFnErr(t *testing.T) {
	fnErr := errors.New("mapper failed")
	fail := func(CollectableRow) (int, error) { return 0, fnErr }

	rows := newFakeCollectRows(collectCols("n", ctInt), []any{1}, []any{2})
	_, err := CollectRows(rows, fail)
	assert.ErrorIs(t, err, fnErr)
	assert.Equal(t, 1, rows.closed)
	assert.Equal(t, 1, rows.pos, "stops at the first error")

	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1})
	_, err = CollectOneRow(rows, fail)
	assert.ErrorIs(t, err, fnErr)
	assert.Equal(t, 1, rows.closed)

	rows = newFakeCollectRows(collectCols("n", ctInt), []any{1})
	_, err = CollectExactlyOneRow(rows, fail)
	assert.ErrorIs(t, err, fnErr)
	assert.Equal(t, 1, rows.closed)
}

func TestAppendRows(t *testing.T) {
	type ints []int
	rows := newFakeCollectRows(collectCols("n", ctInt), []any{2}, []any{3})
	got, err := AppendRows(ints{1}, rows, RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, ints{1, 2, 3}, got)
	assert.Equal(t, 1, rows.closed)
}

func TestForEachRow(t *testing.T) {
	rows := newFakeCollectRows(collectCols("n", ctInt, "s", ctText), []any{1, "a"}, []any{2, "b"})
	var (
		n    int
		s    string
		seen []string
	)
	err := ForEachRow(rows, []any{&n, &s}, func() error {
		seen = append(seen, fmt.Sprint(n, s))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"1a", "2b"}, seen)
	assert.Equal(t, 1, rows.closed)

	stop := errors.New("stop")
	rows = newFakeCollectRows(collectCols("n", ctInt, "s", ctText), []any{1, "a"}, []any{2, "b"})
	calls := 0
	err = ForEachRow(rows, []any{&n, &s}, func() error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
	assert.Equal(t, 1, rows.closed)

	scanErr := errors.New("scan failed")
	rows = newFakeCollectRows(collectCols("n", ctInt, "s", ctText), []any{1, "a"})
	rows.scanErr = scanErr
	err = ForEachRow(rows, []any{&n, &s}, func() error { t.Fatal("fn called after a Scan error"); return nil })
	assert.ErrorIs(t, err, scanErr)
	assert.Equal(t, 1, rows.closed)
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"ID":         "id",
		"UserID":     "user_id",
		"CreatedAt":  "created_at",
		"HTTPServer": "http_server",
		"Name":       "name",
		"Address2":   "address2",
		"V2Name":     "v2_name",
		"already_ok": "already_ok",
	} {
		assert.Equal(t, want, snakeCase(in), in)
	}
}

// TestRowToStructPlanCacheConcurrent maps the same struct against two column
// lists from many goroutines, so the per-type "last plan" keeps changing under
// the race detector.
func TestRowToStructPlanCacheConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	type rec struct {
		A int
		B string
	}
	colsAB := collectCols("a", ctInt, "b", ctText)
	colsBA := collectCols("b", ctText, "a", ctInt)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				var rows *fakeCollectRows
				if (g+i)%2 == 0 {
					rows = newFakeCollectRows(colsAB, []any{i, "x"})
				} else {
					rows = newFakeCollectRows(colsBA, []any{"x", i})
				}
				got, err := CollectOneRow(rows, RowToStructByName[rec])
				if !assert.NoError(t, err) || !assert.Equal(t, rec{A: i, B: "x"}, got) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkRowToStructByName(b *testing.B) {
	type rec struct {
		ID        int
		UserID    int64
		Name      string
		Email     string
		CreatedAt time.Time
	}
	cs := collectCols("id", ctInt, "user_id", ctBigInt, "name", ctText, "email", ctText, "created_at", ctTime)
	rows := &benchCollectRow{cols: cs}
	b.ReportAllocs()
	for range b.N {
		if _, err := RowToStructByName[rec](rows); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCollectRow is a CollectableRow whose Scan sets values directly, so the
// benchmark measures the mapping, not gocql's unmarshalling.
type benchCollectRow struct{ cols []gocql.ColumnInfo }

func (r *benchCollectRow) Columns() []gocql.ColumnInfo { return r.cols }

func (r *benchCollectRow) Scan(dest ...any) error {
	*dest[0].(*int) = 1
	*dest[1].(*int64) = 2
	*dest[2].(*string) = "name"
	*dest[3].(*string) = "email"
	*dest[4].(*time.Time) = time.Time{}
	return nil
}
