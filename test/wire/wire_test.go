// Package wire_test runs raw gocql sessions whose connections batch their
// writes (internal/wire) against the real node, at 1, 64 and 512 requests
// in flight, and checks that every request is answered and took effect.
package wire_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/wire"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

const keyspace = "wirebench"

// session connects a raw gocql session through wire's HostDialer, after
// making the keyspace and table.
func session(t *testing.T) (*gocql.Session, *wire.HostDialer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot, err := gocql.NewCluster(node.Hosts()...).CreateSession()
	require.NoError(t, err, "these tests need a Cassandra node at %v (CASSANDRA_HOSTS)", node.Hosts())
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS ` + keyspace + `.wire_it (id int PRIMARY KEY, v int)`,
	} {
		require.NoError(t, boot.Query(stmt).ExecContext(ctx))
	}
	boot.Close()

	cfg := gocql.NewCluster(node.Hosts()...)
	cfg.Keyspace = keyspace
	cfg.Timeout = 30 * time.Second // -race on two shared cores; nothing here waits for it
	hd, err := wire.Install(cfg)
	require.NoError(t, err)
	s, err := cfg.CreateSession()
	require.NoError(t, err)
	return s, hd
}

// each runs op(i) for i in [0, n) from c goroutines and returns the errors.
func each(c, n int, op func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = op(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

func TestEveryRequestAnsweredInFlight(t *testing.T) {
	s, hd := session(t)
	for _, c := range []int{1, 64, 512} {
		t.Run(fmt.Sprintf("c=%d", c), func(t *testing.T) {
			n := max(c*20, 500)
			base := c * 1_000_000 // each level writes its own ids
			ctx := context.Background()
			for i, err := range each(c, n, func(i int) error {
				return s.Query(`INSERT INTO wire_it (id, v) VALUES (?, ?)`, base+i, i*7).ExecContext(ctx)
			}) {
				require.NoError(t, err, "insert %d", i)
			}
			got := make([]int, n)
			for i, err := range each(c, n, func(i int) error {
				return s.Query(`SELECT v FROM wire_it WHERE id = ?`, base+i).ScanContext(ctx, &got[i])
			}) {
				require.NoError(t, err, "select %d", i)
				require.Equal(t, i*7, got[i], "row %d", i)
			}
		})
	}
	st := hd.Stats()
	assert.Greater(t, st.FrameCount, uint64(2*(500+64*20+512*20)), "the requests went through the batching connections")
	t.Logf("%d frames in %d writes", st.FrameCount, st.FlushCount)
	s.Close()
	goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat"))
}
