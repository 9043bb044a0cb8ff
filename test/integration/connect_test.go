package integration

import (
	"context"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// A configured keyspace that the node does not have is reported as such,
// at once, rather than as a session without connections.
func TestConnectUnknownKeyspace(t *testing.T) {
	cfg := newClusterConfig()
	cfg.Keyspace = "async_cassandra_it_no_such_keyspace"
	// Retries stay on for as long as the context allows: the error must not
	// be one Connect retries.
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithConnectRetry(0, 10*time.Millisecond, 100*time.Millisecond))
	require.NoError(t, err)
	defer func() { require.NoError(t, cluster.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.Error(t, err)
	assert.Nil(t, s)
	t.Logf("Connect: %v", err)
	assert.ErrorIs(t, err, cassandra.ErrKeyspaceNotFound)
	assert.ErrorIs(t, err, gocql.ErrKeyspaceDoesNotExist)
	assert.NoError(t, ctx.Err(), "reported before the context ended")
	var ce *cassandra.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, cfg.Keyspace, ce.Keyspace)
	assert.Equal(t, 1, ce.Attempts)
}
