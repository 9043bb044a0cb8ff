package otelcassandra

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/attribute"

	"github.com/async-cassandra/cassandra"
)

func TestDescribe(t *testing.T) {
	long := strings.Repeat("k", 200)
	for _, tc := range []struct {
		st               cassandra.Statement
		name, op, sumry  string
		namespace, table string
	}{
		{st: cassandra.Statement{Text: "SELECT v FROM ks.t WHERE k = ?", Kind: cassandra.KindSelect, Keyspace: "ks", Table: "t"},
			name: "SELECT ks.t", op: "SELECT", sumry: "SELECT ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "INSERT INTO t (k) VALUES (?)", Kind: cassandra.KindInsert, Table: "t"},
			name: "INSERT t", op: "INSERT", sumry: "INSERT t", table: "t"},
		{st: cassandra.Statement{Text: "UPDATE ks.t SET v = ? WHERE k = ?", Kind: cassandra.KindUpdate, Keyspace: "ks", Table: "t"},
			name: "UPDATE ks.t", op: "UPDATE", sumry: "UPDATE ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "DELETE FROM ks.t WHERE k = ?", Kind: cassandra.KindDelete, Keyspace: "ks", Table: "t"},
			name: "DELETE ks.t", op: "DELETE", sumry: "DELETE ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "BEGIN BATCH INSERT INTO ks.t (k) VALUES (?); INSERT INTO ks.t (k) VALUES (?) APPLY BATCH", Kind: cassandra.KindBatch, Keyspace: "ks", Table: "t"},
			name: "BATCH ks.t", op: "BATCH", sumry: "BATCH ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "BEGIN BATCH INSERT INTO a (k) VALUES (?); INSERT INTO b (k) VALUES (?) APPLY BATCH", Kind: cassandra.KindBatch},
			name: "BATCH", op: "BATCH", sumry: "BATCH"},
		{st: cassandra.Statement{Text: "USE ks", Kind: cassandra.KindUse, Keyspace: "ks"},
			name: "USE ks", op: "USE", sumry: "USE ks", namespace: "ks"},
		{st: cassandra.Statement{Text: "CREATE TABLE IF NOT EXISTS ks.t (k text PRIMARY KEY)", Kind: cassandra.KindDDL, Keyspace: "ks", Table: "t"},
			name: "CREATE TABLE ks.t", op: "CREATE TABLE", sumry: "CREATE TABLE ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "create table t (k text primary key)", Kind: cassandra.KindDDL, Table: "t"},
			name: "CREATE TABLE t", op: "CREATE TABLE", sumry: "CREATE TABLE t", table: "t"},
		{st: cassandra.Statement{Text: "DROP KEYSPACE ks", Kind: cassandra.KindDDL, Keyspace: "ks"},
			name: "DROP KEYSPACE ks", op: "DROP KEYSPACE", sumry: "DROP KEYSPACE ks", namespace: "ks"},
		{st: cassandra.Statement{Text: "CREATE OR REPLACE FUNCTION ks.f (a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS ?", Kind: cassandra.KindDDL, Keyspace: "ks"},
			name: "CREATE FUNCTION ks", op: "CREATE FUNCTION", sumry: "CREATE FUNCTION ks", namespace: "ks"},
		{st: cassandra.Statement{Text: "CREATE CUSTOM INDEX ON ks.t (v) USING ?", Kind: cassandra.KindDDL, Keyspace: "ks", Table: "t"},
			name: "CREATE INDEX ks.t", op: "CREATE INDEX", sumry: "CREATE INDEX ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM ks.t", Kind: cassandra.KindDDL, Keyspace: "ks", Table: "v"},
			name: "CREATE MATERIALIZED VIEW ks.v", op: "CREATE MATERIALIZED VIEW", sumry: "CREATE MATERIALIZED VIEW ks.v", namespace: "ks", table: "v"},
		{st: cassandra.Statement{Text: "TRUNCATE ks.t", Kind: cassandra.KindDDL, Keyspace: "ks", Table: "t"},
			name: "TRUNCATE ks.t", op: "TRUNCATE", sumry: "TRUNCATE ks.t", namespace: "ks", table: "t"},
		{st: cassandra.Statement{Text: "ALTER SOMETHING_NEW x", Kind: cassandra.KindDDL},
			name: "ALTER", op: "ALTER", sumry: "ALTER"},
		{st: cassandra.Statement{Text: "GRANT SELECT ON KEYSPACE ks TO r", Kind: cassandra.KindOther},
			name: "GRANT", op: "GRANT", sumry: "GRANT"},
		// Unknown words never become an operation: they could be anything.
		{st: cassandra.Statement{Text: "SELEC secret FROM t", Kind: cassandra.KindOther},
			name: "cassandra"},
		{st: cassandra.Statement{Kind: cassandra.KindOther}, name: "cassandra"},
		// A summary longer than the conventions allow keeps the operation.
		{st: cassandra.Statement{Text: "SELECT * FROM x", Kind: cassandra.KindSelect, Keyspace: long, Table: long},
			name: "SELECT", op: "SELECT", sumry: "SELECT", namespace: long, table: long},
	} {
		d := describe(tc.st, true)
		a := map[attribute.Key]string{}
		for _, kv := range d.attrs {
			a[kv.Key] = kv.Value.AsString()
		}
		assert.Equal(t, tc.name, d.name, tc.st.Text)
		assert.Equal(t, "cassandra", a["db.system.name"], tc.st.Text)
		for key, want := range map[attribute.Key]string{
			"db.operation.name": tc.op, "db.query.summary": tc.sumry,
			"db.namespace": tc.namespace, "db.collection.name": tc.table, "db.query.text": tc.st.Text,
		} {
			got, ok := a[key]
			assert.Equal(t, want != "", ok, "%s: %s set", tc.st.Text, key)
			assert.Equal(t, want, got, "%s: %s", tc.st.Text, key)
		}
		assert.Len(t, d.metricAttrs, len(d.attrs)-btoi(tc.st.Text != ""), "metrics: all but the text")
		for _, kv := range d.metricAttrs {
			assert.NotEqual(t, attribute.Key("db.query.text"), kv.Key)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDescribeWithoutText(t *testing.T) {
	st := cassandra.Statement{Text: "SELECT v FROM t WHERE k = ?", Kind: cassandra.KindSelect, Table: "t"}
	d := describe(st, false)
	assert.Equal(t, d.metricAttrs, d.attrs)
	for _, kv := range d.attrs {
		assert.NotEqual(t, attribute.Key("db.query.text"), kv.Key)
	}
}

func TestStatementsRemembers(t *testing.T) {
	s := statements{withText: true, m: map[cassandra.Statement]described{}}
	st := cassandra.Statement{Text: "SELECT v FROM t", Kind: cassandra.KindSelect, Table: "t"}
	first := s.get(st)
	assert.Len(t, s.m, 1)
	assert.Equal(t, first, s.get(st))
	assert.Len(t, s.m, 1, "described once")
	for i := range maxStatements + 10 {
		s.get(cassandra.Statement{Text: strings.Repeat("x", i), Kind: cassandra.KindOther})
	}
	assert.Len(t, s.m, maxStatements, "bounded")
}
