// Package extest helps the examples' tests run each example as users do: as
// a program of its own, built once per test binary and run against the node
// named by CASSANDRA_HOSTS (comma-separated, default 127.0.0.1).
package extest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// Keyspace is where the examples' tests keep their tables, apart from the
// keyspaces the examples use by default (such as the quickstart's "demo").
const Keyspace = "async_cassandra_examples"

// Hosts returns the contact points of the node the tests run against.
func Hosts() []string {
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1"}
}

// Build compiles the main package in the test's working directory (the
// example's own directory) into a temporary directory and returns the
// binary's path. It builds with the race detector when the test binary was
// built with it, so that `go test -race` checks the example's code too.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// Command returns a command that runs the example binary with args against
// the test node, killed if ctx ends first.
func Command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CASSANDRA_HOSTS="+strings.Join(Hosts(), ","))
	return cmd
}

// Connect opens a session on the test node for a test's own set-up and
// checks, with Keyspace created; the session closes when the test ends.
// A test fails here, saying why, when no node answers.
func Connect(t testing.TB) *cassandra.AsyncSession {
	t.Helper()
	cfg := gocql.NewCluster(Hosts()...)
	cfg.Timeout = 30 * time.Second
	cluster, err := cassandra.NewAsyncCluster(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cluster.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := cluster.Connect(ctx)
	require.NoError(t, err, "the examples' tests need a Cassandra node at %s: start one with `make cassandra-up`, "+
		"or point CASSANDRA_HOSTS at a cluster", strings.Join(Hosts(), ","))
	t.Cleanup(func() { session.Close() })
	Exec(t, session, `CREATE KEYSPACE IF NOT EXISTS `+Keyspace+
		` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`)
	return session
}

// Exec runs stmt with values, failing the test on error.
func Exec(t testing.TB, s *cassandra.AsyncSession, stmt string, values ...any) *cassandra.ResultSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := s.Execute(ctx, stmt, values...).Await(ctx)
	require.NoError(t, err, stmt)
	return rs
}
