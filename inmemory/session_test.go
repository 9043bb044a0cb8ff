package inmemory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// Wired to a session (on the in-process server), the collector receives
// requests, attempts, stream pages and the session itself; the same
// workload against a real node is in test/integration.
func TestCollectorOnASession(t *testing.T) {
	const (
		point  = "SELECT id FROM ks.items WHERE id = 7"
		scan   = "SELECT id FROM ks.items"
		broken = "SELECT id FROM ks.broken"
	)
	srv := cqltest.NewServer(t)
	defer srv.Close()
	rows := make([][]any, 25)
	for i := range rows {
		rows[i] = []any{i}
	}
	srv.SetRows(scan, cqltest.Cols("id", cqltest.Int), rows)
	srv.SetRows(point, cqltest.Cols("id", cqltest.Int), [][]any{{7}})
	srv.SetRows(broken, cqltest.Cols("id", cqltest.Int), nil)
	srv.FailPage(broken, 1, cqltest.SyntaxError("line 1:0 no viable alternative"))

	c := inmemory.New()
	cluster, err := cassandra.NewAsyncCluster(srv.ClusterConfig(), cassandra.WithCollector(c), cassandra.WithWorkers(4))
	require.NoError(t, err)
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)

	for range 3 {
		_, err := s.Execute(ctx, point).Await(ctx)
		require.NoError(t, err)
	}
	_, err = s.Execute(ctx, broken).Await(ctx)
	require.Error(t, err)
	st := s.Query(scan).PageSize(10).Stream(ctx)
	n := 0
	for _, err := range st.Rows() {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 25, n)

	snap := c.Snapshot()
	require.Len(t, snap.Sessions, 1, "the open session's pool")
	assert.Equal(t, 4, snap.Sessions[0].Workers)
	assert.Equal(t, uint64(4), snap.RequestCount, "Execute only: stream pages are counted apart")
	assert.Equal(t, uint64(3), snap.SuccessCount)
	assert.Equal(t, map[string]uint64{"syntax": 1}, snap.ErrorsByKind)
	assert.Equal(t, uint64(3), snap.RowCount)
	assert.Equal(t, uint64(4+3), snap.AttemptCount, "one per request and one per stream page")
	assert.Zero(t, snap.RetryCount)
	assert.Equal(t, uint64(1), snap.AttemptErrorCount)
	assert.Equal(t, uint64(3), snap.StreamPageCount)
	assert.Equal(t, uint64(25), snap.StreamRowCount)
	assert.Equal(t, uint64(4), snap.Window.RequestCount)
	assert.Positive(t, snap.Window.Latency.P50)
	require.Len(t, snap.Statements, 2)
	assert.Equal(t, cassandra.Statement{Text: "SELECT id FROM ks.items WHERE id = ?", Kind: cassandra.KindSelect, Keyspace: "ks", Table: "items"},
		snap.Statements[0].Statement)
	assert.Equal(t, uint64(3), snap.Statements[0].RequestCount)
	assert.Equal(t, "SELECT id FROM ks.broken", snap.Statements[1].Statement.Text)
	assert.Equal(t, uint64(1), snap.Statements[1].ErrorCount)

	require.NoError(t, s.Close())
	assert.Empty(t, c.Snapshot().Sessions, "a closed session is no longer reported")
}
