package cqlstmt

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

var classifyCases = []struct {
	in   string
	want Info
}{
	// Reads and writes.
	{"SELECT * FROM users WHERE id = ?", Info{Select, "", "users"}},
	{"select a, b from ks.users where id = 1", Info{Select, "ks", "users"}},
	{"SELECT JSON DISTINCT k FROM Ks.Users", Info{Select, "ks", "users"}},
	{"SELECT count(*), CAST(a AS text), token(k) FROM t", Info{Select, "", "t"}},
	{"SELECT \"From\" FROM \"MyKs\".\"MyTable\"", Info{Select, "MyKs", "MyTable"}},
	{"  -- leading comment\n /* another */ SELECT * FROM t", Info{Select, "", "t"}},
	{"SELECT * FROM type", Info{Select, "", "type"}},
	{"SELECT * FROM", Info{Select, "", ""}},
	{"SELECT * FROM where", Info{Select, "", ""}},
	{"INSERT INTO ks.t (a, b) VALUES (?, ?) IF NOT EXISTS", Info{Insert, "ks", "t"}},
	{"insert into T json '{}'", Info{Insert, "", "t"}},
	{"INSERT t (a) VALUES (1)", Info{Insert, "", ""}},
	{"UPDATE ks.t USING TTL 5 SET a = 1 WHERE k = 2 IF a = 'x'", Info{Update, "ks", "t"}},
	{"update \"T\" set a = 1", Info{Update, "", "T"}},
	{"DELETE FROM ks.t WHERE k = ?", Info{Delete, "ks", "t"}},
	{"DELETE m['x'], l[1] FROM t USING TIMESTAMP 5 WHERE k = ? IF EXISTS", Info{Delete, "", "t"}},

	// Batches: a table only when all statements share it.
	{"BEGIN BATCH INSERT INTO ks.t (a) VALUES (1); UPDATE ks.t SET a = 2 WHERE k = 1; DELETE FROM ks.t WHERE k = 2; APPLY BATCH", Info{Batch, "ks", "t"}},
	{"BEGIN UNLOGGED BATCH USING TIMESTAMP 1 INSERT INTO ks.a (x) VALUES (1) INSERT INTO ks.b (x) VALUES (2) APPLY BATCH", Info{Batch, "ks", ""}},
	{"BEGIN COUNTER BATCH UPDATE a SET n = n + 1 WHERE k = 1; UPDATE ks.a SET n = n + 1 WHERE k = 1; APPLY BATCH", Info{Batch, "", ""}},
	{"BEGIN BATCH APPLY BATCH", Info{Batch, "", ""}},
	{"BEGIN BATCH DELETE FROM APPLY BATCH", Info{Batch, "", ""}},
	{"BEGIN TRANSACTION SELECT * FROM t; COMMIT TRANSACTION", Info{Other, "", ""}},

	// Schema changes.
	{"CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)", Info{DDL, "ks", "t"}},
	{"create columnfamily t (k int primary key)", Info{DDL, "", "t"}},
	{"ALTER TABLE ks.t ADD c text", Info{DDL, "ks", "t"}},
	{"DROP TABLE IF EXISTS \"Ks\".\"T\"", Info{DDL, "Ks", "T"}},
	{"TRUNCATE ks.t", Info{DDL, "ks", "t"}},
	{"TRUNCATE TABLE t", Info{DDL, "", "t"}},
	{"CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}", Info{DDL, "ks", ""}},
	{"ALTER KEYSPACE ks WITH durable_writes = false", Info{DDL, "ks", ""}},
	{"DROP SCHEMA ks", Info{DDL, "ks", ""}},
	{"CREATE INDEX idx ON ks.t (c)", Info{DDL, "ks", "t"}},
	{"CREATE INDEX IF NOT EXISTS ON t (c)", Info{DDL, "", "t"}},
	{"CREATE CUSTOM INDEX idx ON ks.t (c) USING 'StorageAttachedIndex'", Info{DDL, "ks", "t"}},
	{"DROP INDEX ks.idx", Info{DDL, "ks", ""}},
	{"DROP INDEX IF EXISTS idx", Info{DDL, "", ""}},
	{"CREATE MATERIALIZED VIEW ks.mv AS SELECT * FROM ks.t WHERE a IS NOT NULL PRIMARY KEY (a, k)", Info{DDL, "ks", "mv"}},
	{"DROP MATERIALIZED VIEW IF EXISTS mv", Info{DDL, "", "mv"}},
	{"CREATE TRIGGER trg ON ks.t USING 'org.Trigger'", Info{DDL, "ks", "t"}},
	{"DROP TRIGGER IF EXISTS trg ON t", Info{DDL, "", "t"}},
	{"CREATE TYPE ks.address (street text)", Info{DDL, "ks", ""}},
	{"CREATE OR REPLACE FUNCTION ks.f (a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'", Info{DDL, "ks", ""}},
	{"DROP AGGREGATE avg", Info{DDL, "", ""}},
	{"CREATE ROLE r WITH PASSWORD = 'x'", Info{DDL, "", ""}},

	// Others.
	{"USE ks", Info{Use, "ks", ""}},
	{"use \"MyKs\";", Info{Use, "MyKs", ""}},
	{"GRANT SELECT ON ks.t TO r", Info{Other, "", ""}},
	{"REVOKE SELECT ON ks.t FROM r", Info{Other, "", ""}},
	{"LIST ROLES", Info{Other, "", ""}},
	{"DESCRIBE TABLES", Info{Other, "", ""}},
	{"", Info{Other, "", ""}},
	{"  ;  ", Info{Other, "", ""}},
	{"'SELECT * FROM t'", Info{Other, "", ""}},

	// Names Cassandra would refuse are left out.
	{"SELECT * FROM \"my table\"", Info{Select, "", ""}},
	{"SELECT * FROM \"a\"\"b\"", Info{Select, "", ""}},
	{"SELECT * FROM café", Info{Select, "", ""}},
	{"SELECT * FROM ks.\"\"", Info{Select, "ks", ""}},
	{"SELECT * FROM " + strings.Repeat("x", maxNameLen+1), Info{Select, "", ""}},
	{"SELECT * FROM " + strings.Repeat("x", maxNameLen), Info{Select, "", strings.Repeat("x", maxNameLen)}},
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		got := Classify(tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestClassifyAgreesWithNormalize(t *testing.T) {
	// The normal form keeps what Classify reads, so labels may be taken
	// from either.
	for _, tc := range classifyCases {
		if len(tc.in) > MaxLen/2 {
			continue // cut by Normalize
		}
		assert.Equal(t, Classify(tc.in), Classify(Normalize(tc.in)), "%q", tc.in)
	}
	for _, tc := range normalizeCases {
		assert.Equal(t, Classify(tc.in), Classify(Normalize(tc.in)), "%q", tc.in)
	}
}

func TestClassifyDoesNotRetainTheStatement(t *testing.T) {
	stmt := "SELECT * FROM ks.users WHERE id = ?" + strings.Repeat(" ", 1<<16)
	info := Classify(stmt)
	assert.Equal(t, "ks", info.Keyspace)
	assert.Equal(t, "users", info.Table)
	// The names are copies: they do not point into stmt.
	assert.False(t, within(info.Keyspace, stmt))
	assert.False(t, within(info.Table, stmt))
}

// within reports whether the bytes of sub lie inside those of s.
func within(sub, s string) bool {
	if len(sub) == 0 || len(s) == 0 {
		return false
	}
	sp := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(sub)))
	return sp <= p && p < sp+uintptr(len(s))
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		Other: "OTHER", Select: "SELECT", Insert: "INSERT", Update: "UPDATE", Delete: "DELETE",
		Batch: "BATCH", DDL: "DDL", Use: "USE", Kind(200): "Kind(200)",
	} {
		assert.Equal(t, want, k.String())
	}
}

func TestClassifyLinearTime(t *testing.T) {
	for _, in := range []string{
		"SELECT " + strings.Repeat("(", 1<<18),
		"BEGIN BATCH " + strings.Repeat("DELETE ", 1<<16),
		"BEGIN BATCH " + strings.Repeat("INSERT INTO t ", 1<<16),
		"SELECT " + strings.Repeat("a, ", 1<<18) + "FROM t",
	} {
		_ = Classify(in)
	}
}
