package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSmokePlainGocql proves the path from the test process to the node with
// nothing of ours in between: schema changes, a write, a read and the
// server's version.
func TestSmokePlainGocql(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := newClusterConfig().CreateSession()
	require.NoError(t, err)
	defer s.Close()

	var version string
	require.NoError(t, s.Query("SELECT release_version FROM system.local").ScanContext(ctx, &version))
	assert.True(t, strings.HasPrefix(version, "5.0"), "release_version %q should start with 5.0", version)

	require.NoError(t, s.Query(`CREATE KEYSPACE IF NOT EXISTS smoke_ks
		WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).ExecContext(ctx))
	require.NoError(t, s.Query(`CREATE TABLE IF NOT EXISTS smoke_ks.greetings (id int PRIMARY KEY, text text)`).ExecContext(ctx))
	require.NoError(t, s.Query(`INSERT INTO smoke_ks.greetings (id, text) VALUES (?, ?)`, 1, "hello, cassandra").ExecContext(ctx))

	var got string
	require.NoError(t, s.Query(`SELECT text FROM smoke_ks.greetings WHERE id = ?`, 1).ScanContext(ctx, &got))
	assert.Equal(t, "hello, cassandra", got)

	require.NoError(t, s.Query(`DROP KEYSPACE smoke_ks`).ExecContext(ctx))
}
