//go:build faults

// Package faults holds the tests that stop and restart nodes of the local
// 3-node cluster (test/cassandra/node.sh), to see how the library reports
// it. They change the cluster under them, so they never run with the other
// tests: they need the build tag "faults", and `make test-faults` starts
// the cluster and runs them.
package faults

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/goleak"
)

// nodes are the CQL addresses of the local cluster's nodes: node n listens
// on 127.0.0.n.
var nodes = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

func TestMain(m *testing.M) {
	for i, addr := range nodes {
		if err := probe(addr); err != nil {
			fmt.Fprintf(os.Stderr, "fault tests need the local %d-node cluster at 127.0.0.1-%d; node %d (%s) does not answer: %v\n"+
				"Start it with `make cluster-up` (or run `make test-faults`).\n", len(nodes), len(nodes), i+1, addr, err)
			os.Exit(1)
		}
	}
	// gocql v2.1.2 handles a node's UP event on a goroutine of its own that
	// first sleeps for the node's "up delay" (10 s for Cassandra 5) and that
	// Session.Close does not stop; it ends by itself. Everything of ours
	// is still checked.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/apache/cassandra-gocql-driver/v2.(*Session).handleNodeUp"))
}

// probe runs a query on addr alone.
func probe(addr string) error {
	cfg := gocql.NewCluster(addr)
	cfg.DisableInitialHostLookup = true
	cfg.ConnectTimeout = 10 * time.Second
	cfg.Timeout = 10 * time.Second
	s, err := cfg.CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v string
	return s.Query("SELECT release_version FROM system.local").ScanContext(ctx, &v)
}
