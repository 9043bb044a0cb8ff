// Package integration holds the tests that run against a real Cassandra node.
// `make integration` (and `make test`) start the node first; with no node the
// tests fail, saying why, rather than skip.
package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/test/internal/node"
)

// keyspace is created once per run; every test makes its own tables in it.
const keyspace = "async_cassandra_it"

// newClusterConfig returns a gocql configuration for the test node.
func newClusterConfig() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	return cfg
}

func TestMain(m *testing.M) {
	if err := prepare(); err != nil {
		fmt.Fprintf(os.Stderr, "integration tests need a Cassandra node at %s: %v\n"+
			"Start one with `make cassandra-up` (or run `make test`), or point CASSANDRA_HOSTS at a cluster.\n",
			strings.Join(node.Hosts(), ","), err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// prepare checks that the node answers and creates the test keyspace.
func prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := newClusterConfig().CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Query(`CREATE KEYSPACE IF NOT EXISTS ` + keyspace +
		` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).ExecContext(ctx)
}
