package cqlstmt

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// normalizeCases pairs statements with their normal form, grouped by what
// they exercise. Every case is also checked for idempotence.
var normalizeCases = []struct {
	name, in, want string
}{
	// Markers and names stay.
	{"plain select", "SELECT name FROM users WHERE id = ?", "SELECT name FROM users WHERE id = ?"},
	{"named markers", "SELECT * FROM t WHERE a = :a AND b = :\"B\"", "SELECT * FROM t WHERE a = :a AND b = :\"B\""},
	{"keyspace", "select * from ks.tbl", "SELECT * FROM ks.tbl"},
	{"keywords upper-cased, names kept", "SeLeCt Name, eMail fRoM Users wHeRe Id = ?", "SELECT Name, eMail FROM Users WHERE Id = ?"},
	{"type names and column-like words kept", "SELECT date, text, user, list, count FROM t", "SELECT date, text, user, list, count FROM t"},
	{"numbers inside names", "SELECT col1, t2_3, x10e5 FROM tbl99 WHERE a1 = ?", "SELECT col1, t2_3, x10e5 FROM tbl99 WHERE a1 = ?"},
	{"empty", "", ""},
	{"only space", " \t\n ", ""},

	// String literals.
	{"string", "SELECT * FROM t WHERE a = 'hello'", "SELECT * FROM t WHERE a = ?"},
	{"empty string", "SELECT * FROM t WHERE a = ''", "SELECT * FROM t WHERE a = ?"},
	{"escaped quote", "SELECT * FROM t WHERE a = 'it''s' AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?"},
	{"only escaped quotes", "SELECT * FROM t WHERE a = '''''' AND b = 1", "SELECT * FROM t WHERE a = ? AND b = ?"},
	{"string holding syntax", "SELECT * FROM t WHERE a = 'x -- y /* z */ \"q\" ; $$' AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?"},
	{"dollar string", "SELECT * FROM t WHERE a = $$it's 'quoted'$$ AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?"},
	{"dollar string with one dollar", "SELECT * FROM t WHERE a = $$cost: $5$$", "SELECT * FROM t WHERE a = ?"},
	{"multi-line string", "SELECT * FROM t WHERE a = 'line1\nline2'", "SELECT * FROM t WHERE a = ?"},
	{"unicode string", "SELECT * FROM t WHERE a = 'naïve 日本語 🚀'", "SELECT * FROM t WHERE a = ?"},

	// Numbers.
	{"integer", "SELECT * FROM t WHERE a = 42", "SELECT * FROM t WHERE a = ?"},
	{"negative integer", "SELECT * FROM t WHERE a = -42", "SELECT * FROM t WHERE a = ?"},
	{"float", "SELECT * FROM t WHERE a = 3.14", "SELECT * FROM t WHERE a = ?"},
	{"float with trailing dot", "SELECT * FROM t WHERE a = 3.", "SELECT * FROM t WHERE a = ?"},
	{"exponent", "SELECT * FROM t WHERE a = 1e10 AND b = 1.5E-3 AND c = -2e+7", "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"},
	{"hex number", "SELECT * FROM t WHERE a = 0x1F", "SELECT * FROM t WHERE a = ?"},
	{"NaN and Infinity", "SELECT * FROM t WHERE a = NaN AND b = Infinity AND c = -Infinity AND d = -nan", "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"},
	{"subtraction is not a negative number", "SELECT a-1, a - 1, (a)-1, ?-1 FROM t", "SELECT a - ?, a - ?, (a) - ?, ? - ? FROM t"},
	{"minus before a negative number", "SELECT a - -1 FROM t", "SELECT a - ? FROM t"},
	{"negative after keyword", "SELECT * FROM t LIMIT -1", "SELECT * FROM t LIMIT ?"},
	{"negative in list", "UPDATE t SET l = [-1, -2.5] WHERE k = ?", "UPDATE t SET l = ? WHERE k = ?"},
	{"limit and ttl", "SELECT * FROM t PER PARTITION LIMIT 2 LIMIT 100", "SELECT * FROM t PER PARTITION LIMIT ? LIMIT ?"},
	{"arithmetic", "SELECT a + 2 * 3 / 4 % 5 FROM t", "SELECT a + ? * ? / ? % ? FROM t"},

	// UUIDs, blobs, booleans, durations.
	{"uuid", "SELECT * FROM t WHERE id = 123e4567-e89b-12d3-a456-426614174000", "SELECT * FROM t WHERE id = ?"},
	{"uuid starting with a letter", "SELECT * FROM t WHERE id = f47ac10b-58cc-4372-a567-0e02b2c3d479", "SELECT * FROM t WHERE id = ?"},
	{"timeuuid upper case", "SELECT * FROM t WHERE id = D2177DD0-EAA2-11DE-A572-001B779C76E3", "SELECT * FROM t WHERE id = ?"},
	{"blob", "INSERT INTO t (k, b) VALUES (?, 0xCAFEbabe)", "INSERT INTO t (k, b) VALUES (?, ?)"},
	{"empty blob", "INSERT INTO t (k, b) VALUES (?, 0x)", "INSERT INTO t (k, b) VALUES (?, ?)"},
	{"booleans", "SELECT * FROM t WHERE a = true AND b = FALSE AND c = True", "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"},
	{"durations", "SELECT * FROM t WHERE a = 1h30m AND b = 12mo AND c = -5d AND d = 3ms2us1ns", "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"},
	{"micro sign durations", "SELECT * FROM t WHERE a = 10µs AND b = 10μs", "SELECT * FROM t WHERE a = ? AND b = ?"},
	{"ISO durations", "SELECT * FROM t WHERE a = P1D AND b = PT1H30M AND c = -P2W AND d = P1Y2M3DT4H5M6S", "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"},
	{"ISO alternative duration", "SELECT * FROM t WHERE a = P0001-02-03T04:05:06 AND b = -P0000-00-01T00:00:00", "SELECT * FROM t WHERE a = ? AND b = ?"},
	{"null stays", "UPDATE t SET a = null WHERE k = ?", "UPDATE t SET a = NULL WHERE k = ?"},

	// IN lists: every length gives "IN ?".
	{"IN markers", "SELECT * FROM t WHERE k IN (?, ?, ?)", "SELECT * FROM t WHERE k IN ?"},
	{"IN strings", "SELECT * FROM t WHERE k IN ('a','b')", "SELECT * FROM t WHERE k IN ?"},
	{"IN one", "SELECT * FROM t WHERE k IN (1)", "SELECT * FROM t WHERE k IN ?"},
	{"IN empty", "SELECT * FROM t WHERE k IN ()", "SELECT * FROM t WHERE k IN ?"},
	{"IN mixed literals and markers", "SELECT * FROM t WHERE k IN (1, ?, 'x', 0xff, -2)", "SELECT * FROM t WHERE k IN ?"},
	{"IN bound list", "SELECT * FROM t WHERE k IN ?", "SELECT * FROM t WHERE k IN ?"},
	{"IN tuples", "SELECT * FROM t WHERE (a, b) IN ((1, 'x'), (2, 'y'), (?, ?))", "SELECT * FROM t WHERE (a, b) IN ?"},
	{"IN without space", "SELECT * FROM t WHERE k in(1,2)", "SELECT * FROM t WHERE k IN ?"},
	{"IN named markers kept", "SELECT * FROM t WHERE k IN (:a, :b)", "SELECT * FROM t WHERE k IN (:a, :b)"},
	{"IN with a call kept", "SELECT * FROM t WHERE k IN (now(), 1)", "SELECT * FROM t WHERE k IN (now(), ?)"},
	{"IN with a comment", "SELECT * FROM t WHERE k IN (1, /* two */ 2)", "SELECT * FROM t WHERE k IN ?"},
	{"two IN lists", "SELECT * FROM t WHERE a IN (1, 2) AND b IN ('x') AND c IN (3)", "SELECT * FROM t WHERE a IN ? AND b IN ? AND c IN ?"},

	// Collection literals.
	{"list", "UPDATE t SET l = [1, 2, 3] WHERE k = ?", "UPDATE t SET l = ? WHERE k = ?"},
	{"set", "UPDATE t SET s = {'a', 'b'} WHERE k = ?", "UPDATE t SET s = ? WHERE k = ?"},
	{"map", "UPDATE t SET m = {'a': 1, 'b': 2} WHERE k = ?", "UPDATE t SET m = ? WHERE k = ?"},
	{"empty collections", "UPDATE t SET s = {}, l = [] WHERE k = ?", "UPDATE t SET s = ?, l = ? WHERE k = ?"},
	{"nested collections", "UPDATE t SET m = {'a': [1, 2], 'b': {3, 4}, 'c': {'d': (5, 6)}} WHERE k = ?", "UPDATE t SET m = ? WHERE k = ?"},
	{"list append", "UPDATE t SET l = l + [4] WHERE k = ?", "UPDATE t SET l = l + ? WHERE k = ?"},
	{"list prepend", "UPDATE t SET l = [0] + l WHERE k = ?", "UPDATE t SET l = ? + l WHERE k = ?"},
	{"map subscript", "UPDATE t SET m['key'] = 'v' WHERE k = ?", "UPDATE t SET m[?] = ? WHERE k = ?"},
	{"list subscript", "DELETE l[2] FROM t WHERE k = ?", "DELETE l[?] FROM t WHERE k = ?"},
	{"map without spaces", "UPDATE t SET m = {1:true, 'k':f47ac10b-58cc-4372-a567-0e02b2c3d479, 2:P1D} WHERE k = ?", "UPDATE t SET m = ? WHERE k = ?"},
	{"map of named markers", "UPDATE t SET m = {:k: :v} WHERE k = ?", "UPDATE t SET m = {:k: :v} WHERE k = ?"},
	{"UDT literal keeps field names", "UPDATE t SET addr = {street: '1 Main', zip: 12345} WHERE k = ?", "UPDATE t SET addr = {street: ?, zip: ?} WHERE k = ?"},
	{"UDT literal without spaces", "UPDATE t SET addr = {street:'1 Main',zip:false} WHERE k = ?", "UPDATE t SET addr = {street: ?, zip: ?} WHERE k = ?"},
	{"collection with a call", "UPDATE t SET s = {now(), now()} WHERE k = ?", "UPDATE t SET s = {now(), now()} WHERE k = ?"},
	{"tuple value stays a tuple", "UPDATE t SET tu = (1, 'a') WHERE k = ?", "UPDATE t SET tu = (?, ?) WHERE k = ?"},
	{"replication map", "CREATE KEYSPACE ks WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3} AND durable_writes = true",
		"CREATE KEYSPACE ks WITH replication = ? AND durable_writes = ?"},

	// Comments and white space.
	{"line comment dashes", "SELECT * FROM t -- secret 'x'\nWHERE a = ?", "SELECT * FROM t WHERE a = ?"},
	{"line comment slashes", "SELECT * FROM t // secret\nWHERE a = ?", "SELECT * FROM t WHERE a = ?"},
	{"block comment", "SELECT /* secret */ * FROM t", "SELECT * FROM t"},
	{"comment between tokens", "SELECT a/**/FROM/**/t", "SELECT a FROM t"},
	{"comment at end", "SELECT * FROM t -- the end", "SELECT * FROM t"},
	{"comment is not nested", "SELECT /* a /* b */ * FROM t", "SELECT * FROM t"},
	{"multi-line", "SELECT a,\n       b\n  FROM t\n WHERE k = ?\n   AND c > 5;\n", "SELECT a, b FROM t WHERE k = ? AND c > ?"},
	{"tabs and CRLF", "SELECT\ta\r\nFROM\tt", "SELECT a FROM t"},
	{"spacing made canonical", "SELECT a,b FROM t WHERE a=1 AND b>=2 AND c!=3 AND (d,e)=(4,5)", "SELECT a, b FROM t WHERE a = ? AND b >= ? AND c != ? AND (d, e) = (?, ?)"},
	{"calls", "SELECT now ( ), token ( k ), writetime(c), ttl (c), count(*), toJson(x) FROM t", "SELECT now(), TOKEN(k), WRITETIME(c), TTL(c), count(*), toJson(x) FROM t"},
	{"cast", "SELECT CAST(a AS text) FROM t", "SELECT CAST(a AS text) FROM t"},

	// Semicolons.
	{"trailing semicolon", "SELECT * FROM t;", "SELECT * FROM t"},
	{"trailing semicolons and space", "SELECT * FROM t ; ; \n", "SELECT * FROM t"},
	{"trailing semicolon then comment", "SELECT * FROM t; -- done", "SELECT * FROM t"},
	{"inner semicolon kept", "SELECT * FROM t; SELECT * FROM u", "SELECT * FROM t; SELECT * FROM u"},

	// Quoted names.
	{"quoted table", "SELECT \"Col\" FROM \"MyKs\".\"MyTable\" WHERE \"Id\" = 5", "SELECT \"Col\" FROM \"MyKs\".\"MyTable\" WHERE \"Id\" = ?"},
	{"quoted with escaped quote", "SELECT \"a\"\"b\" FROM t", "SELECT \"a\"\"b\" FROM t"},
	{"quoted keyword", "SELECT \"select\" FROM \"from\"", "SELECT \"select\" FROM \"from\""},
	{"quoted holding literal syntax", "SELECT \"it's -- 1\" FROM t", "SELECT \"it's -- 1\" FROM t"},
	{"quoted unicode", "SELECT \"naïve\" FROM \"日本\"", "SELECT \"naïve\" FROM \"日本\""},

	// Unterminated quotes and comments hide the rest.
	{"unterminated string", "SELECT * FROM t WHERE a = 'secret AND b = 2", "SELECT * FROM t WHERE a = ?"},
	{"unterminated after escaped quote", "SELECT * FROM t WHERE a = 'secret''", "SELECT * FROM t WHERE a = ?"},
	{"unterminated dollar string", "SELECT * FROM t WHERE a = $$secret", "SELECT * FROM t WHERE a = ?"},
	{"unterminated quoted name", "SELECT \"secret FROM t WHERE a = 1", "SELECT ?"},
	{"unterminated block comment", "SELECT * FROM t /* secret 'x'", "SELECT * FROM t ?"},
	{"unterminated named marker quote", "SELECT * FROM t WHERE a = :\"secret", "SELECT * FROM t WHERE a = ?"},
	{"lone dollar", "SELECT $ FROM t", "SELECT $ FROM t"},

	// LWT.
	{"insert if not exists", "INSERT INTO ks.users (id, name) VALUES (1, 'bob') IF NOT EXISTS", "INSERT INTO ks.users (id, name) VALUES (?, ?) IF NOT EXISTS"},
	{"update if condition", "UPDATE t SET a = 1 WHERE k = 2 IF b = 'x' AND c IN (1, 2)", "UPDATE t SET a = ? WHERE k = ? IF b = ? AND c IN ?"},
	{"delete if exists", "DELETE FROM t WHERE k = 'a' IF EXISTS", "DELETE FROM t WHERE k = ? IF EXISTS"},

	// Writes.
	{"insert", "insert into t (a, b) values (1, 'x') using ttl 60 and timestamp 123", "INSERT INTO t (a, b) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?"},
	{"insert json", "INSERT INTO t JSON '{\"id\": 1}' DEFAULT UNSET", "INSERT INTO t JSON ? DEFAULT UNSET"},
	{"counter", "UPDATE c SET n = n + 1 WHERE k = ?", "UPDATE c SET n = n + ? WHERE k = ?"},

	// Batches.
	{"batch", "BEGIN BATCH\n  INSERT INTO t (a) VALUES (1);\n  UPDATE t SET a = 2 WHERE k = 'x';\n  DELETE FROM t WHERE k = 3;\nAPPLY BATCH;",
		"BEGIN BATCH INSERT INTO t (a) VALUES (?); UPDATE t SET a = ? WHERE k = ?; DELETE FROM t WHERE k = ?; APPLY BATCH"},
	{"unlogged batch with timestamp", "begin unlogged batch using timestamp 1234 insert into t (a) values (?) apply batch",
		"BEGIN UNLOGGED BATCH USING TIMESTAMP ? INSERT INTO t (a) VALUES (?) APPLY BATCH"},
	{"counter batch", "BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 1 APPLY BATCH", "BEGIN COUNTER BATCH UPDATE c SET n = n + ? WHERE k = ? APPLY BATCH"},

	// DDL.
	{"create table", "CREATE TABLE IF NOT EXISTS ks.t (k int, c text, m map<text, frozen<list<int>>>, PRIMARY KEY ((k), c)) WITH CLUSTERING ORDER BY (c DESC) AND gc_grace_seconds = 0",
		"CREATE TABLE IF NOT EXISTS ks.t (k int, c text, m map<text, frozen<list<int>>>, PRIMARY KEY ((k), c)) WITH CLUSTERING ORDER BY (c DESC) AND gc_grace_seconds = ?"},
	{"type arguments without spaces", "CREATE TABLE t (s set < int >, tu tuple<int,text>, v vector<float, 3>)", "CREATE TABLE t (s SET<int>, tu tuple<int, text>, v vector<float, ?>)"},
	{"type arguments then =", "CREATE TABLE t (s set< = 1", "CREATE TABLE t (s SET< = ?"},
	{"create index", "create index if not exists idx on ks.t (c)", "CREATE INDEX IF NOT EXISTS idx ON ks.t (c)"},
	{"create index on keys", "CREATE INDEX ON t (KEYS(m))", "CREATE INDEX ON t (KEYS(m))"},
	{"create index on entries", "create index on t (entries(m))", "CREATE INDEX ON t (ENTRIES(m))"},
	{"alter table", "ALTER TABLE t ADD x int", "ALTER TABLE t ADD x int"},
	{"alter with options", "ALTER TABLE t WITH comment = 'secret' AND default_time_to_live = 3600", "ALTER TABLE t WITH comment = ? AND default_time_to_live = ?"},
	{"drop", "DROP TABLE IF EXISTS ks.t;", "DROP TABLE IF EXISTS ks.t"},
	{"truncate", "truncate table ks.t", "TRUNCATE TABLE ks.t"},
	{"materialized view", "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t WHERE a IS NOT NULL AND k IS NOT NULL PRIMARY KEY (a, k)",
		"CREATE MATERIALIZED VIEW mv AS SELECT * FROM t WHERE a IS NOT NULL AND k IS NOT NULL PRIMARY KEY (a, k)"},
	{"create function", "CREATE OR REPLACE FUNCTION ks.f (a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'",
		"CREATE OR REPLACE FUNCTION ks.f(a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS ?"},
	{"create function with dollar body", "CREATE FUNCTION f(a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return a * 2; $$",
		"CREATE FUNCTION f(a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS ?"},
	{"role with password", "CREATE ROLE r WITH PASSWORD = 'hunter2' AND LOGIN = true", "CREATE ROLE r WITH PASSWORD = ? AND LOGIN = ?"},
	{"use", "USE \"MyKs\";", "USE \"MyKs\""},

	// Odd input is copied, not dropped or mangled.
	{"other bytes", "SELECT @ # ! ~ FROM t", "SELECT @ # ! ~ FROM t"},
	{"unicode outside quotes", "SELECT café FROM t WHERE x = 'é'", "SELECT café FROM t WHERE x = ?"},
	{"stray closers", "SELECT ) ] } FROM t", "SELECT)]} FROM t"},
	{"unclosed brackets", "SELECT * FROM t WHERE k IN (1, 2", "SELECT * FROM t WHERE k IN (?, ?"},
	{"mismatched brackets", "SELECT * FROM t WHERE k IN (1, 2]", "SELECT * FROM t WHERE k IN (?, ?]"},
	{"ellipsis", "SELECT … FROM t", "SELECT … FROM t"},
}

func TestNormalize(t *testing.T) {
	for _, tc := range normalizeCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Normalize(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, got, Normalize(got), "not idempotent")
		})
	}
}

func TestNormalizeKeepsAStatementInNormalForm(t *testing.T) {
	// A statement already in normal form comes back as the same string,
	// with no allocation.
	const stmt = "SELECT name, email FROM ks.users WHERE id = ? AND k IN ?"
	var got string
	allocs := testing.AllocsPerRun(100, func() { got = Normalize(stmt) })
	assert.Equal(t, stmt, got)
	assert.Zero(t, allocs)
}

func TestNormalizeAllocatesOnlyTheResult(t *testing.T) {
	stmt := "select * from ks.users where id = 42 and name = 'bob' and x in (1, 2, 3)"
	allocs := testing.AllocsPerRun(100, func() { _ = Normalize(stmt) })
	assert.Equal(t, 1.0, allocs)
}

func TestNormalizeCutsLongStatements(t *testing.T) {
	// A long column list: nothing collapses, so the output is long.
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range 500 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("column_")
		b.WriteString(strings.Repeat("x", i%7))
	}
	b.WriteString(" FROM t WHERE k = 'secret'")
	got := Normalize(b.String())
	assert.LessOrEqual(t, len(got), MaxLen)
	assert.True(t, strings.HasSuffix(got, " …"), "cut output ends with an ellipsis: %q", got[len(got)-20:])
	assert.True(t, strings.HasPrefix(got, "SELECT column_, column_x,"))
	assert.Equal(t, got, Normalize(got), "not idempotent")
	// Cut between tokens: what precedes the ellipsis is a whole column name.
	before := strings.TrimSuffix(got, " …")
	last := before[strings.LastIndexByte(before, ' ')+1:]
	assert.Regexp(t, `^column_x*,$`, last)
}

func TestNormalizeLongLiteralsCollapse(t *testing.T) {
	// Megabytes of literals still give a short label: the IN list and the
	// string collapse to one "?" each.
	in := "SELECT * FROM t WHERE k IN (" + strings.Repeat("12345, ", 200_000) + "6) AND s = '" +
		strings.Repeat("x", 1<<20) + "'"
	assert.Equal(t, "SELECT * FROM t WHERE k IN ? AND s = ?", Normalize(in))
}

func TestNormalizeCutsAWholeToken(t *testing.T) {
	// A single token longer than MaxLen is never split.
	long := strings.Repeat("a", 2*MaxLen)
	assert.Equal(t, "…", Normalize(long))
	assert.Equal(t, "SELECT …", Normalize("SELECT "+long+" FROM t"))
	// The cut is made where a space separates tokens, so that what is kept
	// reads the same when normalised again.
	assert.Equal(t, "SELECT …", Normalize("SELECT count("+long+") FROM t"))
	quoted := "SELECT \"" + strings.Repeat("é", MaxLen) + "\" FROM t"
	got := Normalize(quoted)
	assert.Equal(t, "SELECT …", got)
	assert.True(t, utf8.ValidString(got))
}

func TestNormalizeDeepNesting(t *testing.T) {
	// Brackets nested deeper than the normaliser tracks are copied, and
	// their literals still hidden.
	in := "SELECT * FROM t WHERE k IN " + strings.Repeat("(", 40) + "'secret'" + strings.Repeat(")", 40)
	got := Normalize(in)
	assert.NotContains(t, got, "secret")
	assert.Equal(t, got, Normalize(got))
	// Within the tracked depth, nesting collapses.
	in = "UPDATE t SET x = " + strings.Repeat("[", 10) + "1" + strings.Repeat("]", 10)
	assert.Equal(t, "UPDATE t SET x = ?", Normalize(in))
}

func TestNormalizeLinearTime(t *testing.T) {
	// Inputs that would make a backtracking scanner quadratic: many
	// unterminated openers of each kind.
	for _, unit := range []string{"'", "\"", "$$", "/*", "(", "{", "[", "IN (", "-", "0x", "P1", ":", "''"} {
		in := strings.Repeat(unit, 200_000)
		got := Normalize(in)
		assert.LessOrEqual(t, len(got), MaxLen, unit)
		assert.Equal(t, got, Normalize(got), unit)
	}
}
