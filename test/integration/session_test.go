package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// connect opens an AsyncSession on the test keyspace; it is closed when the
// test ends.
func connect(t testing.TB, opts ...cassandra.Option) *cassandra.AsyncSession {
	t.Helper()
	cfg := newClusterConfig()
	cfg.Keyspace = keyspace
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Close()) })
	return s
}

// exec runs stmt and fails the test on error.
func exec(t testing.TB, s *cassandra.AsyncSession, stmt string, values ...any) *cassandra.ResultSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := s.Execute(ctx, stmt, values...).Await(ctx)
	require.NoError(t, err, stmt)
	return rs
}

func TestCRUD(t *testing.T) {
	s := connect(t)
	ctx := context.Background()
	exec(t, s, `CREATE TABLE IF NOT EXISTS crud_users (id uuid PRIMARY KEY, name text, age int)`)
	exec(t, s, `TRUNCATE crud_users`)

	id := gocql.TimeUUID()
	exec(t, s, `INSERT INTO crud_users (id, name, age) VALUES (?, ?, ?)`, id, "Ada", 36)

	var name string
	var age int
	require.NoError(t, exec(t, s, `SELECT name, age FROM crud_users WHERE id = ?`, id).One(&name, &age))
	assert.Equal(t, "Ada", name)
	assert.Equal(t, 36, age)

	exec(t, s, `UPDATE crud_users SET age = ? WHERE id = ?`, 37, id)
	require.NoError(t, exec(t, s, `SELECT age FROM crud_users WHERE id = ?`, id).One(&age))
	assert.Equal(t, 37, age)

	exec(t, s, `DELETE FROM crud_users WHERE id = ?`, id)
	err := exec(t, s, `SELECT age FROM crud_users WHERE id = ?`, id).One(&age)
	assert.ErrorIs(t, err, cassandra.ErrNotFound)
	assert.ErrorIs(t, err, gocql.ErrNotFound)

	// An empty result completes (it must never hang) and has no rows.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rs, err := s.Execute(fctx, `SELECT * FROM crud_users WHERE id = ?`, gocql.TimeUUID()).Await(fctx)
	require.NoError(t, err)
	assert.False(t, rs.Next())
	assert.NoError(t, rs.Err())
	assert.Equal(t, 0, rs.RowCount())
	assert.Len(t, rs.Columns(), 3)
}

func TestMultiPageExecute(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS pages (p int, c int, v text, PRIMARY KEY (p, c))`)
	exec(t, s, `TRUNCATE pages`)
	const n = 1234
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		futs[i] = s.Execute(ctx, `INSERT INTO pages (p, c, v) VALUES (1, ?, ?)`, i, "row")
	}
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)

	rs, err := s.Query(`SELECT c FROM pages WHERE p = 1`).PageSize(100).Execute(ctx).Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, n, rs.RowCount())
	assert.GreaterOrEqual(t, rs.Attempts(), 13, "one request per page")
	assert.Nil(t, rs.PageState())
	want := 0
	for rs.Next() {
		var c int
		require.NoError(t, rs.Scan(&c))
		require.Equal(t, want, c)
		want++
	}
	require.NoError(t, rs.Err())
	assert.Equal(t, n, want)

	// Cursor paging: one page at a time, resumed from PageState.
	var cursor []byte
	seen := 0
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20)
		rs, err := s.Query(`SELECT c FROM pages WHERE p = 1`).PageSize(500).PageState(cursor).SinglePage().Execute(ctx).Await(ctx)
		require.NoError(t, err)
		ints, err := cassandra.CollectRows(rs, cassandra.RowTo[int])
		require.NoError(t, err)
		for _, c := range ints {
			require.Equal(t, seen, c)
			seen++
		}
		cursor = rs.PageState()
		if len(cursor) == 0 {
			break
		}
	}
	assert.Equal(t, n, seen)
}

func TestLWT(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS lwt_accounts (id text PRIMARY KEY, owner text, balance int)`)
	exec(t, s, `TRUNCATE lwt_accounts`)

	rs := exec(t, s, `INSERT INTO lwt_accounts (id, owner, balance) VALUES (?, ?, ?) IF NOT EXISTS`, "a1", "ada", 10)
	assert.True(t, rs.Applied())

	rs = exec(t, s, `INSERT INTO lwt_accounts (id, owner, balance) VALUES (?, ?, ?) IF NOT EXISTS`, "a1", "bob", 99)
	assert.False(t, rs.Applied())
	// The row holds the current values that failed the condition.
	row := map[string]any{}
	require.True(t, rs.Next())
	require.NoError(t, rs.MapScan(row))
	assert.Equal(t, "ada", row["owner"])
	assert.Equal(t, 10, row["balance"])

	rs = exec(t, s, `UPDATE lwt_accounts SET balance = ? WHERE id = ? IF balance = ?`, 5, "a1", 10)
	assert.True(t, rs.Applied())
	rs = exec(t, s, `UPDATE lwt_accounts SET balance = ? WHERE id = ? IF balance = ?`, 0, "a1", 10)
	assert.False(t, rs.Applied())
	var applied bool
	var balance int
	require.NoError(t, rs.One(&applied, &balance))
	assert.False(t, applied)
	assert.Equal(t, 5, balance)
}

func TestTypedErrorsNameTheStatement(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS errs (id int PRIMARY KEY, v text)`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cases := []struct {
		name, stmt string
		values     []any
		check      func(t *testing.T, err error)
	}{
		{"invalid CQL", `SELEKT * FROM errs`, nil, func(t *testing.T, err error) {
			var syntax *gocql.RequestErrSyntax
			assert.ErrorAs(t, err, &syntax)
		}},
		{"wrong arity", `INSERT INTO errs (id, v) VALUES (?, ?)`, []any{1}, nil},
		{"wrong type", `INSERT INTO errs (id, v) VALUES (?, ?)`, []any{"not an int", "x"}, nil},
		{"missing keyspace", `SELECT * FROM no_such_keyspace.t`, nil, func(t *testing.T, err error) {
			var invalid *gocql.RequestErrInvalid
			assert.ErrorAs(t, err, &invalid)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Execute(ctx, c.stmt, c.values...).Await(ctx)
			require.Error(t, err)
			var qe *cassandra.QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, c.stmt, qe.Statement)
			assert.Contains(t, err.Error(), c.stmt)
			if c.check != nil {
				c.check(t, err)
			}
		})
	}
}

func TestContextDeadline(t *testing.T) {
	s := connect(t, cassandra.WithWorkers(1), cassandra.WithQueue(10))
	exec(t, s, `CREATE TABLE IF NOT EXISTS slow (id int PRIMARY KEY)`)

	// Expired before submission.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Execute(ctx, `SELECT * FROM slow`).Await(context.Background())
	assert.ErrorIs(t, err, context.Canceled)

	// Expired while executing: a deadline far shorter than any request.
	ctx, cancel = context.WithTimeout(context.Background(), time.Microsecond)
	defer cancel()
	_, err = s.Execute(ctx, `SELECT * FROM slow`).Await(context.Background())
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

func TestShutdownAndClose(t *testing.T) {
	s := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 200)
	for i := range futs {
		futs[i] = s.Execute(ctx, `SELECT release_version FROM system.local`)
	}
	require.NoError(t, s.Shutdown(ctx))
	for _, f := range futs {
		_, err := f.Await(ctx)
		assert.NoError(t, err, "Shutdown drains accepted work")
	}
	_, err := s.Execute(ctx, `SELECT release_version FROM system.local`).Await(ctx)
	assert.ErrorIs(t, err, cassandra.ErrClosed)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
}
