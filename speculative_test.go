package cassandra

import (
	"context"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// Speculative execution against the in-process cluster: a statement is
// held at every node until the test releases it, so it takes longer than
// any delay, and the requests the nodes received say what the driver did.

// holdEverywhere holds page 1 of stmt on every server until the returned
// release is called (the test's cleanup calls it too).
func holdEverywhere(t *testing.T, servers []*cqltest.Server, stmt string) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	for _, srv := range servers {
		srv.DelayPage(stmt, 1, hold)
	}
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	return release
}

// requestsTotal is how many requests for stmt the servers received.
func requestsTotal(servers []*cqltest.Server, stmt string) int {
	n := 0
	for _, srv := range servers {
		n += srv.Requests(stmt)
	}
	return n
}

// waitRequests waits until the servers have received n requests for stmt.
func waitRequests(t *testing.T, servers []*cqltest.Server, stmt string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return requestsTotal(servers, stmt) >= n },
		10*time.Second, time.Millisecond, "%d requests for %q", n, stmt)
}

func TestSpeculativeExecutionForIdempotentStatements(t *testing.T) {
	s, servers := retryCluster(t, nil, WithSpeculativeExecution(1, time.Millisecond))
	bg := context.Background()

	// idem goes out a second time while the first is held; once is never
	// sent twice. once starts first, and idem's second execution starts
	// at least the delay after idem itself started: by then once has been
	// waiting longer than the delay, and would have been sent again.
	const once, idem = "INSERT INTO ks.spec_once (id) VALUES (1)", "INSERT INTO ks.spec_idem (id) VALUES (1)"
	releaseOnce := holdEverywhere(t, servers, once)
	releaseIdem := holdEverywhere(t, servers, idem)

	onceFut := s.Query(once).Execute(bg) // not idempotent: the default
	waitRequests(t, servers, once, 1)
	idemFut := s.Query(idem).Idempotent(true).Execute(bg)
	waitRequests(t, servers, idem, 2)
	assert.Equal(t, 1, requestsTotal(servers, once), "a non-idempotent statement is not sent again")

	releaseIdem()
	_, err := idemFut.Await(bg)
	require.NoError(t, err)
	releaseOnce()
	rs, err := onceFut.Await(bg)
	require.NoError(t, err)
	assert.Equal(t, 1, rs.Attempts())
	assert.Equal(t, 1, requestsTotal(servers, once))

	t.Run("batch", func(t *testing.T) {
		const stmt = "INSERT INTO ks.spec_batch (id) VALUES (1)"
		release := holdEverywhere(t, servers, stmt)
		fut := s.Batch(gocql.UnloggedBatch).Query(stmt).Idempotent(true).Execute(bg)
		waitRequests(t, servers, stmt, 2)
		release()
		_, err := fut.Await(bg)
		require.NoError(t, err)
	})
	t.Run("pinned to a host", func(t *testing.T) {
		// gocql does not speculate for a query pinned to one node. The
		// statement that follows it proves the delay passed.
		const pinned, marker = "INSERT INTO ks.spec_pinned (id) VALUES (1)", "INSERT INTO ks.spec_marker (id) VALUES (1)"
		releasePinned := holdEverywhere(t, servers, pinned)
		releaseMarker := holdEverywhere(t, servers, marker)
		fut := s.Query(pinned).Idempotent(true).HostID(servers[1].HostID()).Execute(bg)
		waitRequests(t, servers, pinned, 1)
		markerFut := s.Query(marker).Idempotent(true).Execute(bg)
		waitRequests(t, servers, marker, 2)
		assert.Equal(t, 1, requestsTotal(servers, pinned))
		releasePinned()
		releaseMarker()
		_, err := fut.Await(bg)
		require.NoError(t, err)
		_, err = markerFut.Await(bg)
		require.NoError(t, err)
	})
}

// The option is off by default.
func TestSpeculativeExecutionIsOffByDefault(t *testing.T) {
	s, servers := retryCluster(t, nil)
	bg := context.Background()
	const stmt, marker = "INSERT INTO ks.spec_off (id) VALUES (1)", "INSERT INTO ks.spec_off_marker (id) VALUES (1)"
	release := holdEverywhere(t, servers, stmt)
	releaseMarker := holdEverywhere(t, servers, marker)
	fut := s.Query(stmt).Idempotent(true).Execute(bg)
	waitRequests(t, servers, stmt, 1)
	// The marker speculates on its own (Configure): the delay has passed
	// for stmt too when its second execution arrives.
	markerFut := s.Query(marker).Idempotent(true).Configure(func(q *gocql.Query) *gocql.Query {
		return q.SetSpeculativeExecutionPolicy(&gocql.SimpleSpeculativeExecution{NumAttempts: 1, TimeoutDelay: time.Millisecond})
	}).Execute(bg)
	waitRequests(t, servers, marker, 2)
	assert.Equal(t, 1, requestsTotal(servers, stmt))
	release()
	releaseMarker()
	_, err := fut.Await(bg)
	require.NoError(t, err)
	_, err = markerFut.Await(bg)
	require.NoError(t, err)
}

// gocql's behaviour, which docs/retries.md warns about: a speculative
// execution that finds no node left in the query plan finishes at once
// with ErrNoConnections, and being first, fails the request, although
// the first execution is still waiting for its answer (held here until
// the test ends).
func TestSpeculativeExecutionWithNoNodeLeft(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	s, closeAll := connectTo(t, srv, []*cqltest.Server{srv}, nil, WithSpeculativeExecution(1, time.Millisecond))
	defer closeAll()
	const stmt = "INSERT INTO ks.spec_alone (id) VALUES (1)"
	release := holdEverywhere(t, []*cqltest.Server{srv}, stmt)
	defer release()
	_, err := s.Query(stmt).Idempotent(true).Execute(context.Background()).Await(context.Background())
	assert.ErrorIs(t, err, gocql.ErrNoConnections)
}
