package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

func batchCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// batchRows reads every row of partition p as c -> v.
func batchRows(t *testing.T, s *cassandra.AsyncSession, table string, p int) map[int]string {
	t.Helper()
	got := map[int]string{}
	var c int
	var v string
	rs := exec(t, s, `SELECT c, v FROM `+table+` WHERE p = ?`, p)
	require.NoError(t, cassandra.ForEachRow(rs, []any{&c, &v}, func() error {
		got[c] = v
		return nil
	}))
	return got
}

func TestBatchLoggedAndUnlogged(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS batch_kv (p int, c int, v text, PRIMARY KEY (p, c))`)
	exec(t, s, `TRUNCATE batch_kv`)
	ctx := batchCtx(t)

	for _, k := range []struct {
		name string
		kind gocql.BatchType
		p    int
	}{{"logged", gocql.LoggedBatch, 1}, {"unlogged", gocql.UnloggedBatch, 3}} {
		t.Run(k.name, func(t *testing.T) {
			// Two partitions, an insert, an update and a delete.
			exec(t, s, `INSERT INTO batch_kv (p, c, v) VALUES (?, ?, ?)`, k.p, 99, "to delete")
			b := s.Batch(k.kind).
				Query(`INSERT INTO batch_kv (p, c, v) VALUES (?, ?, ?)`, k.p, 1, k.name+"-1").
				Query(`INSERT INTO batch_kv (p, c, v) VALUES (?, ?, ?)`, k.p, 2, k.name+"-2").
				Query(`INSERT INTO batch_kv (p, c, v) VALUES (?, ?, ?)`, k.p+1, 1, k.name+"-other").
				Query(`UPDATE batch_kv SET v = ? WHERE p = ? AND c = ?`, k.name+"-3", k.p, 3).
				Query(`DELETE FROM batch_kv WHERE p = ? AND c = ?`, k.p, 99)
			assert.Equal(t, 5, b.Size())
			rs, err := b.Execute(ctx).Await(ctx)
			require.NoError(t, err)
			assert.False(t, rs.Applied(), "not a conditional batch")
			assert.False(t, rs.Next(), "a batch without conditions returns no rows")
			assert.GreaterOrEqual(t, rs.Attempts(), 1)

			assert.Equal(t, map[int]string{1: k.name + "-1", 2: k.name + "-2", 3: k.name + "-3"}, batchRows(t, s, "batch_kv", k.p))
			assert.Equal(t, map[int]string{1: k.name + "-other"}, batchRows(t, s, "batch_kv", k.p+1))
		})
	}
}

func TestBatchCounter(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS batch_counters (id text PRIMARY KEY, hits counter, misses counter)`)
	exec(t, s, `TRUNCATE batch_counters`)
	ctx := batchCtx(t)

	b := s.Batch(gocql.CounterBatch).
		Query(`UPDATE batch_counters SET hits = hits + ? WHERE id = ?`, int64(3), "a").
		Query(`UPDATE batch_counters SET hits = hits + ?, misses = misses + ? WHERE id = ?`, int64(10), int64(1), "b").
		Query(`UPDATE batch_counters SET misses = misses - ? WHERE id = ?`, int64(4), "a")
	// A Batch may be executed more than once: the counters add up.
	for range 3 {
		_, err := b.Execute(ctx).Await(ctx)
		require.NoError(t, err)
	}

	got := map[string][2]int64{}
	var id string
	var hits, misses int64
	rs := exec(t, s, `SELECT id, hits, misses FROM batch_counters`)
	require.NoError(t, cassandra.ForEachRow(rs, []any{&id, &hits, &misses}, func() error {
		got[id] = [2]int64{hits, misses}
		return nil
	}))
	assert.Equal(t, map[string][2]int64{"a": {9, -12}, "b": {30, 3}}, got)

	// A counter update in a logged batch is refused by the server.
	_, err := s.Batch(gocql.LoggedBatch).
		Query(`UPDATE batch_counters SET hits = hits + ? WHERE id = ?`, int64(1), "a").
		Execute(ctx).Await(ctx)
	var qe *cassandra.QueryError
	require.ErrorAs(t, err, &qe)
	var invalid *gocql.RequestErrInvalid
	assert.ErrorAs(t, err, &invalid)
}

func TestBatchConditional(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS batch_lwt (p int, c int, v text, n int, PRIMARY KEY (p, c))`)
	exec(t, s, `TRUNCATE batch_lwt`)
	ctx := batchCtx(t)
	exec(t, s, `INSERT INTO batch_lwt (p, c, v, n) VALUES (?, ?, ?, ?)`, 1, 1, "a", 10)

	conditional := func() *cassandra.Batch {
		return s.Batch(gocql.LoggedBatch).
			Query(`UPDATE batch_lwt SET v = ?, n = ? WHERE p = ? AND c = ? IF v = ?`, "b", 20, 1, 1, "a").
			Query(`INSERT INTO batch_lwt (p, c, v, n) VALUES (?, ?, ?, ?) IF NOT EXISTS`, 1, 2, "new", 1)
	}

	// Applied.
	rs, err := conditional().Execute(ctx).Await(ctx)
	require.NoError(t, err)
	assert.True(t, rs.Applied())
	require.NotEmpty(t, rs.Columns())
	assert.Equal(t, "[applied]", rs.Columns()[0].Name)
	rows, err := rs.All()
	require.NoError(t, err)
	require.Len(t, rows, 1, "an applied batch answers one row: [applied] = true")
	assert.Equal(t, true, rows[0]["[applied]"])
	assert.Equal(t, map[int]string{1: "b", 2: "new"}, batchRows(t, s, "batch_lwt", 1))

	// Not applied: the same batch again. Neither statement may take effect,
	// and the rows show the current values that failed the conditions.
	rs, err = conditional().Execute(ctx).Await(ctx)
	require.NoError(t, err)
	assert.False(t, rs.Applied())
	rows, err = rs.All()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	current := map[int]map[string]any{}
	for _, r := range rows {
		assert.Equal(t, false, r["[applied]"])
		assert.Equal(t, 1, r["p"])
		current[r["c"].(int)] = r
	}
	require.Contains(t, current, 1)
	assert.Equal(t, "b", current[1]["v"], "the value that failed IF v = 'a'")
	require.Contains(t, current, 2)
	assert.Equal(t, map[int]string{1: "b", 2: "new"}, batchRows(t, s, "batch_lwt", 1))
	var n int
	require.NoError(t, exec(t, s, `SELECT n FROM batch_lwt WHERE p = ? AND c = ?`, 1, 1).One(&n))
	assert.Equal(t, 20, n)

	// One failing condition stops the whole batch.
	rs, err = s.Batch(gocql.LoggedBatch).
		Query(`UPDATE batch_lwt SET v = ? WHERE p = ? AND c = ? IF v = ?`, "c", 1, 1, "b"). // would apply
		Query(`UPDATE batch_lwt SET v = ? WHERE p = ? AND c = ? IF n = ?`, "x", 1, 2, 999). // fails
		Execute(ctx).Await(ctx)
	require.NoError(t, err)
	assert.False(t, rs.Applied())
	var applied bool
	require.True(t, rs.Next())
	require.NoError(t, rs.Scan(cassandraDests(rs, &applied)...))
	assert.False(t, applied)
	require.NoError(t, rs.Close())
	assert.Equal(t, map[int]string{1: "b", 2: "new"}, batchRows(t, s, "batch_lwt", 1))
}

// cassandraDests returns first followed by nil destinations for the other
// columns of rs.
func cassandraDests(rs *cassandra.ResultSet, first any) []any {
	dests := make([]any, len(rs.Columns()))
	dests[0] = first
	return dests
}

func TestBatchErrors(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS batch_err (id int PRIMARY KEY, v text)`)
	exec(t, s, `TRUNCATE batch_err`)
	ctx := batchCtx(t)
	const secret = "s3cr3t-b4tch-v4lue-7781"

	t.Run("empty", func(t *testing.T) {
		rs, err := s.Batch(gocql.LoggedBatch).Execute(ctx).Await(ctx)
		assert.Nil(t, rs)
		var qe *cassandra.QueryError
		require.ErrorAs(t, err, &qe)
		assert.Contains(t, err.Error(), "no statements")
	})

	t.Run("invalid statement", func(t *testing.T) {
		stmts := []string{
			`INSERT INTO batch_err (id, v) VALUES (?, ?)`,
			`INSERT INTO batch_err (id, no_such_column) VALUES (?, ?)`,
		}
		rs, err := s.Batch(gocql.LoggedBatch).
			Query(stmts[0], 1, secret).
			Query(stmts[1], 2, secret).
			Execute(ctx).Await(ctx)
		assert.Nil(t, rs)
		var qe *cassandra.QueryError
		require.ErrorAs(t, err, &qe)
		for _, stmt := range stmts {
			assert.Contains(t, qe.Statement, stmt)
			assert.Contains(t, err.Error(), stmt)
		}
		assert.NotContains(t, qe.Statement, secret)
		assert.NotContains(t, err.Error(), secret)
		var invalid *gocql.RequestErrInvalid
		assert.ErrorAs(t, err, &invalid)
		// Nothing of the batch was written.
		var count int64
		require.NoError(t, exec(t, s, `SELECT count(*) FROM batch_err`).One(&count))
		assert.Zero(t, count)
	})

	t.Run("syntax error", func(t *testing.T) {
		stmts := []string{
			`INSERT INTO batch_err (id, v) VALUES (?, ?)`,
			`INSERTT INTO batch_err (id, v) VALUES (?, ?)`,
		}
		_, err := s.Batch(gocql.UnloggedBatch).
			Query(stmts[0], 1, secret).
			Query(stmts[1], 2, secret).
			Execute(ctx).Await(ctx)
		var qe *cassandra.QueryError
		require.ErrorAs(t, err, &qe)
		assert.Equal(t, "BATCH: "+strings.Join(stmts, "; "), qe.Statement)
		assert.NotContains(t, err.Error(), secret)
		var syntax *gocql.RequestErrSyntax
		assert.ErrorAs(t, err, &syntax)
	})

	t.Run("wrong arity", func(t *testing.T) {
		_, err := s.Batch(gocql.LoggedBatch).
			Query(`INSERT INTO batch_err (id, v) VALUES (?, ?)`, 1, secret).
			Query(`INSERT INTO batch_err (id, v) VALUES (?, ?)`, secret).
			Execute(ctx).Await(ctx)
		var qe *cassandra.QueryError
		require.ErrorAs(t, err, &qe)
		assert.NotContains(t, err.Error(), secret)
	})

	t.Run("on a closed session", func(t *testing.T) {
		s2 := connect(t)
		require.NoError(t, s2.Close())
		_, err := s2.Batch(gocql.LoggedBatch).
			Query(`INSERT INTO batch_err (id, v) VALUES (?, ?)`, 1, secret).
			Execute(ctx).Await(ctx)
		assert.True(t, errors.Is(err, cassandra.ErrClosed), "got %v", err)
		assert.NotContains(t, fmt.Sprint(err), secret)
	})
}

// TestBatchErrorOmitsValuesOnMarshalFailure binds a value the driver cannot
// encode for its column. QueryError promises the statement and never the
// bound values ("safe to log"), but the driver's marshal error quotes the
// value, and QueryError.Error repeats the driver's message.
func TestBatchErrorOmitsValuesOnMarshalFailure(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS batch_err (id int PRIMARY KEY, v text)`)
	ctx := batchCtx(t)
	const secret = "s3cr3t-b4tch-v4lue-7781"

	_, err := s.Batch(gocql.LoggedBatch).
		Query(`INSERT INTO batch_err (id, v) VALUES (?, ?)`, secret, "x").
		Execute(ctx).Await(ctx)
	var qe *cassandra.QueryError
	require.ErrorAs(t, err, &qe)
	assert.NotContains(t, qe.Statement, secret)
	assert.NotContains(t, err.Error(), secret, "a bound value leaks into QueryError.Error()")

	// The same for a single statement.
	_, err = s.Execute(ctx, `INSERT INTO batch_err (id, v) VALUES (?, ?)`, secret, "x").Await(ctx)
	require.ErrorAs(t, err, &qe)
	assert.NotContains(t, err.Error(), secret, "a bound value leaks into QueryError.Error()")
}
