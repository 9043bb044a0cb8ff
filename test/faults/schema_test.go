//go:build faults

package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// connectCluster opens a session on the local cluster with the library's
// defaults and gocql's QUORUM, closed when the test ends.
func connectCluster(t *testing.T, opts ...cassandra.Option) *cassandra.AsyncSession {
	t.Helper()
	cfg := gocql.NewCluster(nodes...)
	cfg.Consistency = gocql.Quorum
	cfg.ConnectTimeout = 10 * time.Second
	cfg.Timeout = 10 * time.Second
	cfg.ReconnectInterval = time.Second // find a restarted node again quickly
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	return s
}

// run executes stmt and fails the test on error.
func run(t *testing.T, s *cassandra.AsyncSession, stmt string, values ...any) *cassandra.ResultSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs, err := s.Execute(ctx, stmt, values...).Await(ctx)
	require.NoError(t, err, stmt)
	return rs
}

// A node killed right after a schema change keeps that schema when it
// restarts, and every acknowledged row reads back at QUORUM. (With the
// crash-unsafe system tables the launcher once used, node 2 came back
// without the keyspace, and the rows stayed unreadable.)
func TestSchemaSurvivesAKilledNode(t *testing.T) {
	s := connectCluster(t)
	ks := fmt.Sprintf("fault_schema_%d", time.Now().UnixNano())
	run(t, s, `CREATE KEYSPACE `+ks+` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, _ = s.Execute(ctx, `DROP KEYSPACE IF EXISTS `+ks).Await(ctx)
	})
	run(t, s, `CREATE TABLE `+ks+`.rows (id int PRIMARY KEY, v int)`)
	const n = 1000
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range futs {
		futs[i] = s.Query(`INSERT INTO `+ks+`.rows (id, v) VALUES (?, ?)`, i, i*7).Idempotent(true).Execute(ctx)
	}
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err, "every write acknowledged at QUORUM before the kill")

	killed := true
	defer func() {
		if killed {
			nodeSh(t, "restart", "2")
		}
	}()
	nodeSh(t, "kill", "2")
	nodeSh(t, "restart", "2")
	killed = false

	// Node 2 has the keyspace and table again, by its own account.
	id2 := ""
	require.Eventually(t, func() bool {
		for _, h := range s.Hosts() {
			if h.Address == nodes[1]+":9042" && h.State == cassandra.HostUp {
				id2 = h.HostID
				return true
			}
		}
		return false
	}, 60*time.Second, 50*time.Millisecond, "node 2 back: %v", s.Hosts())
	var tables []string
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rs, err := s.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, ks).
			HostID(id2).Consistency(gocql.One).Execute(ctx).Await(ctx)
		if err != nil {
			return false
		}
		tables, err = cassandra.CollectRows(rs, cassandra.RowTo[string])
		return err == nil
	}, 60*time.Second, 100*time.Millisecond, "node 2 answers about its schema")
	assert.Equal(t, []string{"rows"}, tables, "node 2 kept the table created just before it was killed")

	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.Gocql().AwaitSchemaAgreement(ctx), "the cluster agrees on its schema")
	got := map[int]int{}
	readResuming(ctx, t, s, `SELECT id, v FROM `+ks+`.rows`, 300, nil, func(id, v int) { got[id] = v })
	require.Len(t, got, n, "every acknowledged row reads back at QUORUM")
	for i := range n {
		require.Equal(t, i*7, got[i], "id %d", i)
	}
}
