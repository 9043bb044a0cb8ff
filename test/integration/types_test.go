package integration

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"net"
	"reflect"
	"sort"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/inf.v0"

	"github.com/async-cassandra/cassandra"
)

// typesScalarTable has one column per CQL type; each case writes its own row.
const typesScalarTable = `CREATE TABLE IF NOT EXISTS types_scalar (
	id int PRIMARY KEY,
	c_ascii ascii,
	c_text text,
	c_varchar varchar,
	c_int int,
	c_bigint bigint,
	c_smallint smallint,
	c_tinyint tinyint,
	c_varint varint,
	c_float float,
	c_double double,
	c_decimal decimal,
	c_boolean boolean,
	c_blob blob,
	c_inet inet,
	c_uuid uuid,
	c_timeuuid timeuuid,
	c_timestamp timestamp,
	c_date date,
	c_time time,
	c_duration duration,
	c_list list<int>,
	c_set set<text>,
	c_map map<text, int>,
	c_nested frozen<list<frozen<map<text, int>>>>,
	c_vector vector<float, 3>
)`

// typeCase is one column round trip. want has exactly the Go type gocql gives
// the column's CQL type (its TypeInfo.Zero), so the same value is expected
// from Scan into a *T, from RowToMap and from MapScan.
type typeCase struct {
	col  string
	in   any                      // the bound value
	want any                      // what reads back
	eq   func(want, got any) bool // nil: reflect.DeepEqual
}

func bigIntEq(want, got any) bool {
	g, ok := got.(*big.Int)
	return ok && g != nil && want.(*big.Int).Cmp(g) == 0
}

func decEq(want, got any) bool {
	g, ok := got.(*inf.Dec)
	return ok && g != nil && want.(*inf.Dec).Cmp(g) == 0
}

func ipEq(want, got any) bool {
	g, ok := got.(net.IP)
	return ok && want.(net.IP).Equal(g)
}

func timeEq(want, got any) bool {
	g, ok := got.(time.Time)
	return ok && want.(time.Time).Equal(g)
}

func typeCases(t *testing.T) []typeCase {
	t.Helper()
	varint, ok := new(big.Int).SetString("-123456789012345678901234567890", 10)
	require.True(t, ok)
	uuid, err := gocql.RandomUUID()
	require.NoError(t, err)
	timeuuid := gocql.TimeUUID()
	ts := time.Date(2024, 2, 29, 13, 14, 15, 678_000_000, time.UTC) // millisecond precision
	date := time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC)
	tod := 23*time.Hour + 59*time.Minute + 58*time.Second + 123_456_789*time.Nanosecond
	return []typeCase{
		{col: "c_ascii", in: "plain ascii ~!", want: "plain ascii ~!"},
		{col: "c_text", in: "héllo wörld ✓ 日本", want: "héllo wörld ✓ 日本"},
		{col: "c_varchar", in: "varchar value", want: "varchar value"},
		{col: "c_int", in: math.MinInt32, want: math.MinInt32},
		{col: "c_bigint", in: int64(math.MaxInt64), want: int64(math.MaxInt64)},
		{col: "c_smallint", in: int16(-32768), want: int16(-32768)},
		{col: "c_tinyint", in: int8(-7), want: int8(-7)},
		{col: "c_varint", in: varint, want: varint, eq: bigIntEq},
		{col: "c_float", in: float32(3.25), want: float32(3.25)},
		{col: "c_double", in: 2.718281828459045, want: 2.718281828459045},
		{col: "c_decimal", in: inf.NewDec(-1234567891234, 5), want: inf.NewDec(-1234567891234, 5), eq: decEq},
		{col: "c_boolean", in: true, want: true},
		{col: "c_blob", in: []byte{0, 1, 2, 0xfe, 0xff}, want: []byte{0, 1, 2, 0xfe, 0xff}},
		{col: "c_inet", in: net.ParseIP("192.168.10.20"), want: net.ParseIP("192.168.10.20"), eq: ipEq},
		{col: "c_uuid", in: uuid, want: uuid},
		{col: "c_timeuuid", in: timeuuid, want: timeuuid},
		{col: "c_timestamp", in: ts, want: ts, eq: timeEq},
		{col: "c_date", in: date, want: date, eq: timeEq},
		{col: "c_time", in: tod, want: tod},
		{col: "c_duration", in: gocql.Duration{Months: -14, Days: -3, Nanoseconds: -5_000_000_123},
			want: gocql.Duration{Months: -14, Days: -3, Nanoseconds: -5_000_000_123}},
		{col: "c_list", in: []int{3, 1, 2, 1}, want: []int{3, 1, 2, 1}},
		// A set comes back sorted, without duplicates.
		{col: "c_set", in: []string{"pear", "apple", "fig", "apple"}, want: []string{"apple", "fig", "pear"}},
		{col: "c_map", in: map[string]int{"a": 1, "b": -2, "c": 3}, want: map[string]int{"a": 1, "b": -2, "c": 3}},
		{col: "c_nested", in: []map[string]int{{"x": 1}, {}, {"y": 2, "z": 3}},
			want: []map[string]int{{"x": 1}, {}, {"y": 2, "z": 3}}},
		{col: "c_vector", in: []float32{0.5, -1.25, 3e10}, want: []float32{0.5, -1.25, 3e10}},
	}
}

func assertSame(t *testing.T, c typeCase, got any, how string) {
	t.Helper()
	if c.eq != nil {
		assert.True(t, c.eq(c.want, got), "%s: %s: want %v (%T), got %v (%T)", c.col, how, c.want, c.want, got, got)
		return
	}
	assert.Equal(t, c.want, got, "%s: %s", c.col, how)
}

func TestTypesRoundTrip(t *testing.T) {
	s := connect(t)
	exec(t, s, typesScalarTable)
	exec(t, s, `TRUNCATE types_scalar`)

	for i, c := range typeCases(t) {
		t.Run(c.col, func(t *testing.T) {
			id := i + 1
			exec(t, s, fmt.Sprintf(`INSERT INTO types_scalar (id, %s) VALUES (?, ?)`, c.col), id, c.in)
			query := fmt.Sprintf(`SELECT %s FROM types_scalar WHERE id = ?`, c.col)
			typ := reflect.TypeOf(c.want)

			// One.
			dst := reflect.New(typ)
			require.NoError(t, exec(t, s, query, id).One(dst.Interface()))
			assertSame(t, c, dst.Elem().Interface(), "One")

			// Next + Scan, twice for the same row (Scan may be repeated).
			rs := exec(t, s, query, id)
			require.True(t, rs.Next())
			for range 2 {
				dst := reflect.New(typ)
				require.NoError(t, rs.Scan(dst.Interface()))
				assertSame(t, c, dst.Elem().Interface(), "Scan")
			}
			assert.False(t, rs.Next())
			require.NoError(t, rs.Err())

			// RowToMap: the value has gocql's Go type for the column.
			m, err := cassandra.CollectOneRow(exec(t, s, query, id), cassandra.RowToMap)
			require.NoError(t, err)
			require.Len(t, m, 1)
			assertSame(t, c, m[c.col], "RowToMap")

			// Every column in one Scan, next to the id: the other columns
			// of this row are NULL, so they read as zero values.
			rs = exec(t, s, fmt.Sprintf(`SELECT id, %s, c_int FROM types_scalar WHERE id = ?`, c.col), id)
			var gotID, other int
			dst = reflect.New(typ)
			require.NoError(t, rs.One(&gotID, dst.Interface(), &other))
			assert.Equal(t, id, gotID)
			assertSame(t, c, dst.Elem().Interface(), "Scan among others")
			if c.col != "c_int" {
				assert.Zero(t, other)
			}
		})
	}
}

// TestTypesAllColumnsOneRow writes every type in one statement and reads them
// back in one Scan, so that a column shifting position would show.
func TestTypesAllColumnsOneRow(t *testing.T) {
	s := connect(t)
	exec(t, s, typesScalarTable)
	exec(t, s, `TRUNCATE types_scalar`)
	cases := typeCases(t)

	cols := "id"
	marks := "?"
	values := []any{1000}
	for _, c := range cases {
		cols += ", " + c.col
		marks += ", ?"
		values = append(values, c.in)
	}
	exec(t, s, fmt.Sprintf(`INSERT INTO types_scalar (%s) VALUES (%s)`, cols, marks), values...)

	rs := exec(t, s, fmt.Sprintf(`SELECT %s FROM types_scalar WHERE id = ?`, cols), 1000)
	require.Len(t, rs.Columns(), len(cases)+1)
	var id int
	dests := []any{&id}
	for _, c := range cases {
		dests = append(dests, reflect.New(reflect.TypeOf(c.want)).Interface())
	}
	require.NoError(t, rs.One(dests...))
	assert.Equal(t, 1000, id)
	for i, c := range cases {
		assertSame(t, c, reflect.ValueOf(dests[i+1]).Elem().Interface(), "wide Scan")
	}

	rows, err := exec(t, s, fmt.Sprintf(`SELECT %s FROM types_scalar WHERE id = ?`, cols), 1000).All()
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, 1000, rows[0]["id"])
	for _, c := range cases {
		assertSame(t, c, rows[0][c.col], "All")
	}
}

func TestTypesNulls(t *testing.T) {
	s := connect(t)
	exec(t, s, typesScalarTable)
	exec(t, s, `TRUNCATE types_scalar`)
	exec(t, s, `INSERT INTO types_scalar (id) VALUES (?)`, 1)
	// An explicit NULL binds as nil.
	exec(t, s, `INSERT INTO types_scalar (id, c_text, c_int, c_varint, c_list) VALUES (?, ?, ?, ?, ?)`, 2, nil, nil, nil, nil)

	cases := typeCases(t)
	for _, id := range []int{1, 2} {
		// Into values: zero values.
		for _, c := range cases {
			typ := reflect.TypeOf(c.want)
			dst := reflect.New(typ)
			// Poison the destination so that "left unchanged" does not pass.
			dst.Elem().Set(reflect.ValueOf(c.want))
			require.NoError(t, exec(t, s, fmt.Sprintf(`SELECT %s FROM types_scalar WHERE id = ?`, c.col), id).One(dst.Interface()), c.col)
			assert.True(t, dst.Elem().IsZero(), "id %d: %s: NULL should read as the zero %s, got %v", id, c.col, typ, dst.Elem())
		}

		// Into pointers: nil pointers, even when they were set before.
		text, i, bi, list := new(string), new(int), new(big.Int), &[]int{1}
		dec, ts, ip := new(inf.Dec), new(time.Time), &net.IP{1}
		rs := exec(t, s, `SELECT c_text, c_int, c_varint, c_list, c_decimal, c_timestamp, c_inet FROM types_scalar WHERE id = ?`, id)
		require.NoError(t, rs.One(&text, &i, &bi, &list, &dec, &ts, &ip))
		assert.Nil(t, text)
		assert.Nil(t, i)
		assert.Nil(t, bi)
		assert.Nil(t, list)
		assert.Nil(t, dec)
		assert.Nil(t, ts)
		assert.Nil(t, ip)

		// As a map: gocql's zero value of each type.
		m, err := cassandra.CollectOneRow(exec(t, s, `SELECT * FROM types_scalar WHERE id = ?`, id), cassandra.RowToMap)
		require.NoError(t, err)
		assert.Equal(t, id, m["id"])
		assert.Equal(t, "", m["c_text"])
		assert.Equal(t, 0, m["c_int"])
		assert.Equal(t, (*big.Int)(nil), m["c_varint"])
		assert.Equal(t, (*inf.Dec)(nil), m["c_decimal"])
		assert.Equal(t, []int(nil), m["c_list"])
		assert.Equal(t, map[string]int(nil), m["c_map"])
		assert.Equal(t, []float32(nil), m["c_vector"])
		assert.Equal(t, time.Time{}, m["c_timestamp"])
		assert.Equal(t, gocql.UUID{}, m["c_uuid"])
	}
}

func TestTypesCounter(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS types_counter (id int PRIMARY KEY, c counter)`)
	exec(t, s, `TRUNCATE types_counter`)
	for _, d := range []int64{5, 10, -2, math.MaxInt32 + 1} {
		exec(t, s, `UPDATE types_counter SET c = c + ? WHERE id = ?`, d, 1)
	}
	exec(t, s, `UPDATE types_counter SET c = c - ? WHERE id = ?`, int64(3), 1)
	const want = int64(5 + 10 - 2 + math.MaxInt32 + 1 - 3)

	var c int64
	require.NoError(t, exec(t, s, `SELECT c FROM types_counter WHERE id = ?`, 1).One(&c))
	assert.Equal(t, want, c)
	m, err := cassandra.CollectExactlyOneRow(exec(t, s, `SELECT id, c FROM types_counter WHERE id = ?`, 1), cassandra.RowToMap)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"id": 1, "c": want}, m)
	n, err := cassandra.CollectOneRow(exec(t, s, `SELECT c FROM types_counter WHERE id = ?`, 1), cassandra.RowTo[int64])
	require.NoError(t, err)
	assert.Equal(t, want, n)
}

func TestTypesTuple(t *testing.T) {
	s := connect(t)
	// The tuple is in the middle: columns after it must still line up.
	exec(t, s, `CREATE TABLE IF NOT EXISTS types_tuple (id int PRIMARY KEY, pair tuple<int, text>, after text, triple frozen<tuple<bigint, boolean, text>>, last int)`)
	exec(t, s, `TRUNCATE types_tuple`)
	// gocql v2 cannot bind a whole tuple to one marker of a prepared
	// statement (it expects one value per element but marshals them against
	// the column list), so the tuples are written with a marker per element.
	exec(t, s, `INSERT INTO types_tuple (id, pair, after, triple, last) VALUES (?, (?, ?), ?, (?, ?, ?), ?)`,
		1, 7, "seven", "after-value", int64(1)<<40, true, "three", 99)
	exec(t, s, `INSERT INTO types_tuple (id, pair, after) VALUES (?, (?, ?), ?)`, 2, -1, "minus", "two")
	exec(t, s, `INSERT INTO types_tuple (id, after) VALUES (?, ?)`, 3, "no tuple")

	// One destination per tuple element.
	rs := exec(t, s, `SELECT id, pair, after, triple, last FROM types_tuple WHERE id = ?`, 1)
	require.Len(t, rs.Columns(), 5)
	var (
		id, n, last int
		str, after  string
		big         int64
		flag        bool
		third       string
	)
	require.NoError(t, rs.One(&id, &n, &str, &after, &big, &flag, &third, &last))
	assert.Equal(t, 1, id)
	assert.Equal(t, 7, n)
	assert.Equal(t, "seven", str)
	assert.Equal(t, "after-value", after)
	assert.Equal(t, int64(1)<<40, big)
	assert.True(t, flag)
	assert.Equal(t, "three", third)
	assert.Equal(t, 99, last)

	// One destination per column is a count error, not a misread.
	rs = exec(t, s, `SELECT id, pair, after FROM types_tuple WHERE id = ?`, 1)
	err := rs.One(&id, &n, &after)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "4 columns")

	// nil skips a tuple element.
	rs = exec(t, s, `SELECT pair, after FROM types_tuple WHERE id = ?`, 2)
	str, after = "", ""
	require.NoError(t, rs.One(nil, &str, &after))
	assert.Equal(t, "minus", str)
	assert.Equal(t, "two", after)

	// Maps: one entry per element, keyed like gocql's MapScan.
	m, err := cassandra.CollectOneRow(exec(t, s, `SELECT id, pair, after, triple, last FROM types_tuple WHERE id = ?`, 1), cassandra.RowToMap)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"id": 1, "pair[0]": 7, "pair[1]": "seven", "after": "after-value",
		"triple[0]": int64(1) << 40, "triple[1]": true, "triple[2]": "three", "last": 99,
	}, m)

	// A NULL tuple reads as zero elements; pointers become nil.
	var pn *int
	var ps *string
	rs = exec(t, s, `SELECT pair, after FROM types_tuple WHERE id = ?`, 3)
	require.NoError(t, rs.One(&pn, &ps, &after))
	assert.Nil(t, pn)
	assert.Nil(t, ps)
	assert.Equal(t, "no tuple", after)

	// A tuple into a struct field (RowToStructByName) and into RowTo.
	type pair struct {
		N int
		S string
	}
	type row struct {
		ID    int
		Pair  pair
		After string
	}
	got, err := cassandra.CollectRows(exec(t, s, `SELECT id, pair, after FROM types_tuple WHERE id IN (1, 2)`), cassandra.RowToStructByName[row])
	require.NoError(t, err)
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	assert.Equal(t, []row{{1, pair{7, "seven"}, "after-value"}, {2, pair{-1, "minus"}, "two"}}, got)
	p, err := cassandra.CollectOneRow(exec(t, s, `SELECT pair FROM types_tuple WHERE id = ?`, 2), cassandra.RowTo[pair])
	require.NoError(t, err)
	assert.Equal(t, pair{-1, "minus"}, p)
}

type typesAddress struct {
	Street string   `cql:"street"`
	Number int      `cql:"number"`
	Tags   []string `cql:"tags"`
}

func TestTypesUDT(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TYPE IF NOT EXISTS types_address (street text, number int, tags set<text>)`)
	exec(t, s, `CREATE TABLE IF NOT EXISTS types_udt (id int PRIMARY KEY, home frozen<types_address>, history list<frozen<types_address>>, note text)`)
	exec(t, s, `TRUNCATE types_udt`)

	home := typesAddress{Street: "Main St", Number: 42, Tags: []string{"blue", "old"}}
	history := []typesAddress{{Street: "First", Number: 1, Tags: []string{"a"}}, {Street: "Second", Number: 2}}
	exec(t, s, `INSERT INTO types_udt (id, home, history, note) VALUES (?, ?, ?, ?)`, 1, home, history, "n1")
	// A map binds as a UDT too.
	exec(t, s, `INSERT INTO types_udt (id, home, note) VALUES (?, ?, ?)`, 2,
		map[string]any{"street": "Map Ave", "number": 7, "tags": []string{"x"}}, "n2")

	// Into structs with cql tags.
	var gotHome typesAddress
	var gotHistory []typesAddress
	var note string
	require.NoError(t, exec(t, s, `SELECT home, history, note FROM types_udt WHERE id = ?`, 1).One(&gotHome, &gotHistory, &note))
	assert.Equal(t, home, gotHome)
	require.Len(t, gotHistory, 2)
	assert.Equal(t, history[0], gotHistory[0])
	assert.Equal(t, "Second", gotHistory[1].Street)
	assert.Equal(t, 2, gotHistory[1].Number)
	assert.Empty(t, gotHistory[1].Tags)
	assert.Equal(t, "n1", note)

	// Into map[string]any.
	var hm map[string]any
	rs := exec(t, s, `SELECT home, note FROM types_udt WHERE id = ?`, 2)
	require.NoError(t, rs.One(&hm, &note))
	assert.Equal(t, map[string]any{"street": "Map Ave", "number": 7, "tags": []string{"x"}}, hm)
	assert.Equal(t, "n2", note)

	// RowToMap: a UDT is a map[string]any, a list of UDTs a []map[string]any.
	m, err := cassandra.CollectOneRow(exec(t, s, `SELECT id, home, history, note FROM types_udt WHERE id = ?`, 1), cassandra.RowToMap)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"street": "Main St", "number": 42, "tags": []string{"blue", "old"}}, m["home"])
	assert.Equal(t, []map[string]any{
		{"street": "First", "number": 1, "tags": []string{"a"}},
		{"street": "Second", "number": 2, "tags": []string(nil)},
	}, m["history"])
	assert.Equal(t, "n1", m["note"])

	// RowToStructByName with nested UDT structs.
	type row struct {
		ID      int
		Home    typesAddress
		History []typesAddress
		Note    string
	}
	r, err := cassandra.CollectExactlyOneRow(exec(t, s, `SELECT id, home, history, note FROM types_udt WHERE id = ?`, 1), cassandra.RowToStructByName[row])
	require.NoError(t, err)
	assert.Equal(t, 1, r.ID)
	assert.Equal(t, home, r.Home)
	assert.Len(t, r.History, 2)
	assert.Equal(t, "n1", r.Note)
}

// TestTypesPreparedReuse runs one parameterised statement 200 times at once,
// each with its own values: every result must be its own.
func TestTypesPreparedReuse(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS types_prepared (id int PRIMARY KEY, name text, score double, tags list<text>)`)
	exec(t, s, `TRUNCATE types_prepared`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 200

	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	for i := range n {
		futs[i] = s.Execute(ctx, `INSERT INTO types_prepared (id, name, score, tags) VALUES (?, ?, ?, ?)`,
			i, fmt.Sprintf("name-%d", i), float64(i)/4, []string{fmt.Sprint(i), "x"})
	}
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)

	for i := range n {
		futs[i] = s.Execute(ctx, `SELECT id, name, score, tags FROM types_prepared WHERE id = ?`, i)
	}
	for i, f := range futs {
		rs, err := f.Await(ctx)
		require.NoError(t, err)
		var (
			id    int
			name  string
			score float64
			tags  []string
		)
		require.NoError(t, rs.One(&id, &name, &score, &tags), "id %d", i)
		assert.Equal(t, i, id)
		assert.Equal(t, fmt.Sprintf("name-%d", i), name)
		assert.Equal(t, float64(i)/4, score)
		assert.Equal(t, []string{fmt.Sprint(i), "x"}, tags)
	}
	rs, err := s.Execute(ctx, `SELECT count(*) FROM types_prepared`).Await(ctx)
	require.NoError(t, err)
	var count int64
	require.NoError(t, rs.One(&count))
	assert.Equal(t, int64(n), count)
}
