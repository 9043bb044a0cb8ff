package cassandra

import (
	"context"
	"errors"
	"math"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Mistakes in how the library is called come back as errors from the call
// that was given them, never as a panic (possibly on another goroutine), and
// they leave the session as it was: nothing is counted as submitted or held,
// and the next query works.

func TestNilContextIsAnError(t *testing.T) {
	s, srv, _ := sessionServer(t)
	ctx := context.Background()
	var nilCtx context.Context

	_, err := s.Execute(nilCtx, fastQuery).Await(ctx)
	var qe *QueryError
	require.ErrorAs(t, err, &qe, "the error names the statement")
	assert.Equal(t, fastQuery, qe.Statement)
	assert.ErrorIs(t, err, errNilContext)

	_, err = s.Query(fastQuery).Execute(nilCtx).Await(ctx)
	assert.ErrorIs(t, err, errNilContext)
	_, err = s.Batch(gocql.LoggedBatch).Query("INSERT INTO ks.t (id) VALUES (1)").Execute(nilCtx).Await(ctx)
	assert.ErrorIs(t, err, errNilContext)

	fut := s.Execute(ctx, fastQuery)
	_, err = fut.Await(nilCtx)
	assert.ErrorIs(t, err, errNilContext)
	_, err = fut.Await(ctx)
	require.NoError(t, err, "the future is unaffected")
	_, err = fut.Await(nilCtx)
	assert.ErrorIs(t, err, errNilContext, "even once it has completed")

	_, err = AwaitAll(nilCtx, fut)
	assert.ErrorIs(t, err, errNilContext)
	i, _, err := AwaitAny(nilCtx, fut)
	assert.ErrorIs(t, err, errNilContext)
	assert.Equal(t, -1, i)

	st := s.Stream(nilCtx, fastQuery)
	assert.False(t, st.Next())
	assert.ErrorIs(t, st.Err(), errNilContext)
	assert.NoError(t, st.Close())

	cluster, err := NewAsyncCluster(srv.ClusterConfig())
	require.NoError(t, err)
	defer cluster.Close()
	_, err = cluster.Connect(nilCtx)
	assert.ErrorIs(t, err, errNilContext)
	other, err := cluster.Connect(ctx)
	require.NoError(t, err)
	assert.ErrorIs(t, other.Shutdown(nilCtx), errNilContext)
	_, err = other.Execute(ctx, fastQuery).Await(ctx)
	assert.NoError(t, err, "a Shutdown refused for its nil context did not start")

	stats := s.Stats()
	assert.Equal(t, uint64(1), stats.SubmitCount, "only the one valid query was submitted")
	assert.Zero(t, stats.BusyWorkers)
	_, err = s.Execute(ctx, fastQuery).Await(ctx)
	assert.NoError(t, err)
}

func TestAwaitRejectsNilFutures(t *testing.T) {
	ctx := context.Background()
	done := completedFuture(1, nil)
	_, err := AwaitAll(ctx, done, nil)
	assert.EqualError(t, err, "cassandra: AwaitAll: future 1 is nil")
	i, _, err := AwaitAny(ctx, nil, done)
	assert.EqualError(t, err, "cassandra: AwaitAny: future 0 is nil")
	assert.Equal(t, -1, i)
}

func TestNilConfigureIsAnError(t *testing.T) {
	s, srv, _ := sessionServer(t)
	ctx := context.Background()
	keep := func(q *gocql.Query) *gocql.Query { return q }
	for name, tc := range map[string]struct {
		run  func() error
		want string
	}{
		"query, nil function": {
			run: func() error {
				_, err := s.Query(fastQuery).Configure(keep).Configure(nil).Execute(ctx).Await(ctx)
				return err
			},
			want: "Configure function 2 is nil",
		},
		"query, function returns nil": {
			run: func() error {
				_, err := s.Query(fastQuery).Configure(func(*gocql.Query) *gocql.Query { return nil }).Execute(ctx).Await(ctx)
				return err
			},
			want: "Configure function 1 returned nil",
		},
		"batch, nil function": {
			run: func() error {
				_, err := s.Batch(gocql.LoggedBatch).Query("INSERT INTO ks.t (id) VALUES (1)").Configure(nil).Execute(ctx).Await(ctx)
				return err
			},
			want: "Configure function 1 is nil",
		},
		"batch, function returns nil": {
			run: func() error {
				_, err := s.Batch(gocql.LoggedBatch).Query("INSERT INTO ks.t (id) VALUES (1)").
					Configure(func(*gocql.Batch) *gocql.Batch { return nil }).Execute(ctx).Await(ctx)
				return err
			},
			want: "Configure function 1 returned nil",
		},
		"stream, function returns nil": {
			run: func() error {
				st := s.Query(fastQuery).Configure(func(*gocql.Query) *gocql.Query { return nil }).Stream(ctx)
				defer st.Close()
				for st.Next() {
					t.Error("a stream whose query cannot be built has no rows")
				}
				return st.Err()
			},
			want: "Configure function 1 returned nil",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.run()
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.ErrorContains(t, err, tc.want)
			var pe *PanicError
			assert.False(t, errors.As(err, &pe), "a plain error, not a recovered panic: %v", err)
		})
	}
	assert.Zero(t, s.Stats().BusyWorkers)
	assert.Zero(t, srv.Requests(fastQuery), "nothing was sent")
	assert.Zero(t, srv.Requests("INSERT INTO ks.t"), "nothing was sent")
	_, err := s.Execute(ctx, fastQuery).Await(ctx)
	assert.NoError(t, err)
	assert.Equal(t, 1, srv.Requests(fastQuery))
}

func TestNegativePageSizeIsAnError(t *testing.T) {
	s, srv, _ := sessionServer(t)
	ctx := context.Background()
	_, err := s.Query(fastQuery).PageSize(-1).Execute(ctx).Await(ctx)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, fastQuery, qe.Statement)
	assert.ErrorContains(t, err, "PageSize: must not be negative, got -1")

	st := s.Query(fastQuery).PageSize(-1).Stream(ctx)
	assert.False(t, st.Next())
	assert.ErrorContains(t, st.Err(), "PageSize: must not be negative, got -1")
	require.NoError(t, st.Close())
	assert.Zero(t, srv.Requests(fastQuery), "nothing was sent")

	rs, err := s.Query(fastQuery).PageSize(0).Execute(ctx).Await(ctx)
	require.NoError(t, err, "0 is the session's page size")
	assert.Equal(t, 1, rs.RowCount())
}

// The protocol carries a page size as an int32, and gocql truncates a
// larger one: 1<<32 + 5 would ask for pages of 5 rows, 1<<32 for pages of
// none. Both the option and the per-query setting refuse it.
func TestPageSizeBeyondTheProtocolIsAnError(t *testing.T) {
	_, err := NewAsyncCluster(gocql.NewCluster("127.0.0.1"), WithPageSize(1<<32+5))
	assert.EqualError(t, err, "cassandra: WithPageSize: page size must be at most 2147483647, got 4294967301")
	_, err = NewAsyncCluster(gocql.NewCluster("127.0.0.1"), WithPageSize(math.MaxInt32))
	assert.NoError(t, err, "the protocol's largest page size is fine")

	s, srv, _ := sessionServer(t)
	ctx := context.Background()
	_, err = s.Query(fastQuery).PageSize(1 << 32).Execute(ctx).Await(ctx)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.ErrorContains(t, err, "PageSize: must be at most 2147483647, got 4294967296")
	st := s.Query(fastQuery).PageSize(1 << 40).Stream(ctx)
	assert.False(t, st.Next())
	assert.ErrorContains(t, st.Err(), "PageSize: must be at most")
	require.NoError(t, st.Close())
	assert.Zero(t, srv.Requests(fastQuery), "nothing was sent")
	rs, err := s.Query(fastQuery).PageSize(math.MaxInt32).Execute(ctx).Await(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rs.RowCount())
}

func TestUnknownBatchTypeIsAnError(t *testing.T) {
	s, _, _ := sessionServer(t)
	ctx := context.Background()
	const stmt = "INSERT INTO ks.t (id) VALUES (1)"
	_, err := s.Batch(gocql.BatchType(9)).Query(stmt).Execute(ctx).Await(ctx)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "BATCH: "+stmt, qe.Statement)
	assert.ErrorContains(t, err, "unknown batch type 9")
	assert.Zero(t, s.Stats().SubmitCount, "nothing was submitted")
}

func TestCollectRejectsNilArguments(t *testing.T) {
	s, _, _ := sessionServer(t)
	ctx := context.Background()

	_, err := CollectRows[int](nil, RowTo[int])
	assert.EqualError(t, err, "cassandra: nil Rows")
	_, err = CollectOneRow[int](nil, RowTo[int])
	assert.EqualError(t, err, "cassandra: nil Rows")
	assert.EqualError(t, ForEachRow(nil, nil, func() error { return nil }), "cassandra: nil Rows")

	// A nil function is refused, and the rows are closed as promised: a
	// stream stops there.
	st := s.Stream(ctx, fastQuery)
	_, err = CollectRows[int](st, nil)
	assert.EqualError(t, err, "cassandra: nil row function")
	assert.False(t, st.Next(), "the stream was closed")

	rs, err := s.Execute(ctx, fastQuery).Await(ctx)
	require.NoError(t, err)
	_, err = CollectExactlyOneRow[int](rs, nil)
	assert.EqualError(t, err, "cassandra: nil row function")
	assert.False(t, rs.Next(), "the result was closed")

	rs, err = s.Execute(ctx, fastQuery).Await(ctx)
	require.NoError(t, err)
	assert.EqualError(t, ForEachRow(rs, []any{new(int)}, nil), "cassandra: nil row function")

	st = s.Stream(ctx, fastQuery)
	n := 0
	for _, err := range RowsAs[int](st, nil) {
		n++
		assert.EqualError(t, err, "cassandra: RowsAs: nil row function")
	}
	assert.Equal(t, 1, n, "one error, then the end")
	assert.False(t, st.Next(), "the stream was closed")

	rs, err = s.Execute(ctx, fastQuery).Await(ctx)
	require.NoError(t, err)
	require.True(t, rs.Next())
	assert.EqualError(t, rs.MapScan(nil), "cassandra: MapScan: nil map")
	m := map[string]any{}
	require.NoError(t, rs.MapScan(m), "the row is still there")
	assert.Equal(t, map[string]any{"id": 2}, m)
}
