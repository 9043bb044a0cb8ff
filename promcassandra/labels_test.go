package promcassandra

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"

	"github.com/async-cassandra/cassandra"
)

func stmt(kind cassandra.StatementKind, ks, table string) cassandra.Statement {
	return cassandra.Statement{Text: fmt.Sprintf("%v %s.%s", kind, ks, table), Kind: kind, Keyspace: ks, Table: table}
}

// The first pairs of keyspace and table keep their labels, in any kind of
// statement; later pairs are all "other".
func TestMaxTables(t *testing.T) {
	c := newCollector(t, WithMaxTables(2))
	for _, st := range []cassandra.Statement{
		stmt(cassandra.KindSelect, "ks", "t1"),
		stmt(cassandra.KindSelect, "ks", "t2"),
		stmt(cassandra.KindSelect, "ks", "t3"),   // over the cap
		stmt(cassandra.KindSelect, "ks2", "t1"),  // over the cap: another keyspace
		stmt(cassandra.KindInsert, "ks", "t1"),   // an admitted pair, another kind
		stmt(cassandra.KindSelect, "ks", "t1"),   // again
		stmt(cassandra.KindDelete, "ks", "t9"),   // over the cap, another kind
		stmt(cassandra.KindSelect, "other", "x"), // no exception for a keyspace called other
	} {
		c.RequestDone(ctx, cassandra.RequestInfo{Statement: st})
	}
	compare(t, c, "requests_total", "counter", `
cassandra_client_requests_total{keyspace="ks",kind="insert",outcome="ok",table="t1"} 1
cassandra_client_requests_total{keyspace="ks",kind="select",outcome="ok",table="t1"} 2
cassandra_client_requests_total{keyspace="ks",kind="select",outcome="ok",table="t2"} 1
cassandra_client_requests_total{keyspace="other",kind="delete",outcome="ok",table="other"} 1
cassandra_client_requests_total{keyspace="other",kind="select",outcome="ok",table="other"} 3
`)
}

// Zero tables: every statement is "other", its kind still told.
func TestMaxTablesZero(t *testing.T) {
	c := newCollector(t, WithMaxTables(0))
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers})
	c.RequestDone(ctx, cassandra.RequestInfo{Statement: insertUsers})
	compare(t, c, "requests_total", "counter", `
cassandra_client_requests_total{keyspace="other",kind="insert",outcome="ok",table="other"} 1
cassandra_client_requests_total{keyspace="other",kind="select",outcome="ok",table="other"} 1
`)
}

// The statement label is off by default; with it, the first statements
// keep their normalised text and later ones are "other", on every metric
// that describes statements.
func TestStatementLabel(t *testing.T) {
	off := newCollector(t)
	off.RequestDone(ctx, cassandra.RequestInfo{Statement: selectUsers})
	assert.NotContains(t, off.labels.names(), "statement")

	c := newCollector(t, WithStatementLabel(2))
	byName := cassandra.Statement{Text: "SELECT * FROM users WHERE name = ?", Kind: cassandra.KindSelect, Keyspace: "app", Table: "users"}
	badText := cassandra.Statement{Text: "SELECT \xff FROM users", Kind: cassandra.KindSelect, Keyspace: "app", Table: "users"}
	for _, st := range []cassandra.Statement{selectUsers, byName, selectUsers, insertUsers, badText} {
		c.RequestDone(ctx, cassandra.RequestInfo{Statement: st})
		c.AttemptDone(ctx, cassandra.AttemptInfo{Statement: st})
	}
	compare(t, c, "requests_total", "counter", `
cassandra_client_requests_total{keyspace="app",kind="insert",outcome="ok",statement="other",table="users"} 1
cassandra_client_requests_total{keyspace="app",kind="select",outcome="ok",statement="SELECT * FROM users WHERE id = ?",table="users"} 2
cassandra_client_requests_total{keyspace="app",kind="select",outcome="ok",statement="SELECT * FROM users WHERE name = ?",table="users"} 1
cassandra_client_requests_total{keyspace="app",kind="select",outcome="ok",statement="other",table="users"} 1
`)
	assert.Equal(t, 4, testutil.CollectAndCount(c, "cassandra_client_attempts_total"))

	// Invalid UTF-8 in an admitted statement becomes U+FFFD rather than a panic.
	c = newCollector(t, WithStatementLabel(1))
	assert.NotPanics(t, func() { c.RequestDone(ctx, cassandra.RequestInfo{Statement: badText}) })
	assert.Equal(t, 1.0, testutil.ToFloat64(c.requests.WithLabelValues("select", "app", "users", "SELECT \uFFFD FROM users", "ok")))
}

// Statements beyond the caps are remembered only up to maxCached, so that
// the labeler's memory is bounded too, and they keep being reported as
// "other" once it is full.
func TestLabelerMemoryIsBounded(t *testing.T) {
	l := newLabeler(3, 0)
	for i := range maxCached + 500 {
		lv := l.labels(stmt(cassandra.KindSelect, "ks", fmt.Sprint("t", i)))
		if i < 3 {
			assert.Equal(t, []string{"select", "ks", fmt.Sprint("t", i)}, lv.values)
		} else {
			assert.Equal(t, []string{"select", Other, Other}, lv.values)
		}
	}
	assert.Len(t, l.series, 4)
	assert.LessOrEqual(t, len(l.cache), len(l.series)+maxCached)
	assert.Len(t, l.pairs, 3)
	// A new kind for an admitted pair still gets its own series.
	assert.Equal(t, []string{"update", "ks", "t0"}, l.labels(stmt(cassandra.KindUpdate, "ks", "t0")).values)
	assert.Equal(t, []string{"update", "ks", "t0", "ok"}, l.labels(stmt(cassandra.KindUpdate, "ks", "t0")).with("ok"))
	assert.Equal(t, []string{"update", "ks", "t0", "deadline"}, l.labels(stmt(cassandra.KindUpdate, "ks", "t0")).with("deadline"))
}

// Every kind has a lower-case label; one the core may add later is "other".
func TestKindLabel(t *testing.T) {
	for k, want := range map[cassandra.StatementKind]string{
		cassandra.KindSelect: "select", cassandra.KindBatch: "batch", cassandra.KindDDL: "ddl",
		cassandra.KindOther: "other", cassandra.StatementKind(200): "other",
	} {
		assert.Equal(t, want, kindLabel(k))
	}
}
