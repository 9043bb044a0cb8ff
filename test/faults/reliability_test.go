//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// newKeyspace makes a keyspace at replication factor 3 with a table
// rows (id int PRIMARY KEY, v int), dropped when the test ends.
func newKeyspace(t *testing.T, s *cassandra.AsyncSession, prefix string) string {
	t.Helper()
	ks := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	run(t, s, `CREATE KEYSPACE `+ks+` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = s.Execute(ctx, `DROP KEYSPACE IF EXISTS `+ks).Await(ctx)
	})
	run(t, s, `CREATE TABLE `+ks+`.rows (id int PRIMARY KEY, v int)`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.Gocql().AwaitSchemaAgreement(ctx))
	return ks
}

// load writes rows 0..n-1 (v = id*3) at QUORUM, idempotent, 256 in flight.
func load(t *testing.T, s *cassandra.AsyncSession, table string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const window = 256
	futs := make([]*cassandra.Future[*cassandra.ResultSet], 0, window)
	for i := range n {
		futs = append(futs, s.Query(`INSERT INTO `+table+` (id, v) VALUES (?, ?)`, i, i*3).Idempotent(true).Execute(ctx))
		if len(futs) == window || i == n-1 {
			_, err := cassandra.AwaitAll(ctx, futs...)
			require.NoError(t, err)
			futs = futs[:0]
		}
	}
}

// hostID returns the host ID of node n (1-based) as the session sees it.
func hostID(t *testing.T, s *cassandra.AsyncSession, n int) string {
	t.Helper()
	for _, h := range s.Hosts() {
		if h.Address == nodes[n-1]+":9042" {
			return h.HostID
		}
	}
	t.Fatalf("node %d not among %v", n, s.Hosts())
	return ""
}

// Two streams over the same 200,000 rows are read while node 2 is killed:
// one may use any node (idempotent, so gocql fetches a page again
// elsewhere) and either completes with every row or ends with a typed
// error; the other is pinned to node 2 (Query.HostID), so it must end
// with a typed error. A stream resumed from the last PageState on another
// node reads the rest: no duplicates, no gaps in either.
func TestStreamWhileANodeIsKilled(t *testing.T) {
	s := connectCluster(t)
	ks := newKeyspace(t, s, "fault_stream")
	const n = 200_000
	load(t, s, ks+".rows", n)
	id2 := hostID(t, s, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stmt := `SELECT id, v FROM ` + ks + `.rows`
	killed := false
	defer func() {
		if killed {
			nodeSh(t, "restart", "2")
		}
	}()
	type read struct {
		name        string
		st          *cassandra.Stream
		seen        map[int]int
		rows, after int
	}
	reads := []*read{
		{name: "any node", st: s.Query(stmt).PageSize(1000).Idempotent(true).Stream(ctx)},
		{name: "pinned to node 2", st: s.Query(stmt).PageSize(1000).HostID(id2).Stream(ctx)},
	}
	next := func(r *read) bool {
		if !r.st.Next() {
			return false
		}
		var id, v int
		require.NoError(t, r.st.Scan(&id, &v))
		require.Equal(t, id*3, v, "id %d", id)
		r.seen[id]++
		r.rows++
		return true
	}
	for _, r := range reads {
		r.seen = make(map[int]int, n)
		for r.rows < 20_000 {
			if !next(r) {
				break
			}
		}
		require.Equal(t, 20_000, r.rows, "%s: rows before the kill (%v)", r.name, r.st.Err())
	}
	nodeSh(t, "kill", "2")
	killed = true

	for _, r := range reads {
		for {
			if !next(r) {
				break
			}
		}
		err := r.st.Err()
		if r.name == "pinned to node 2" {
			require.Error(t, err, "a stream pinned to a killed node cannot complete")
		}
		if err == nil {
			t.Logf("%s: the stream completed, %d rows while node 2 was killed", r.name, r.rows)
			continue
		}
		var qe *cassandra.QueryError
		require.ErrorAs(t, err, &qe, "%s: a typed error", r.name)
		t.Logf("%s: the stream ended after %d rows with %v (%s); resuming on any node", r.name, r.rows, err, cassandra.ErrorKind(err))
		r.after = readResuming(ctx, t, s, stmt, 1000, r.st.PageState(), func(id, v int) {
			require.Equal(t, id*3, v, "id %d", id)
			r.seen[id]++
		})
	}
	nodeSh(t, "restart", "2")
	killed = false

	for _, r := range reads {
		dups, gaps := 0, 0
		for i := range n {
			switch r.seen[i] {
			case 0:
				gaps++
			case 1:
			default:
				dups++
			}
		}
		assert.Zero(t, gaps, "%s: rows never read", r.name)
		assert.Zero(t, dups, "%s: rows read twice", r.name)
		assert.Len(t, r.seen, n, r.name)
		t.Logf("%s: read %d rows, then %d after resuming", r.name, r.rows, r.after)
	}
}

// With two nodes of three killed, QUORUM fails fast with a typed
// Unavailable error and few attempts, while ONE still works; after the
// restarts the same session serves QUORUM again.
func TestTwoNodesDown(t *testing.T) {
	s := connectCluster(t)
	ks := newKeyspace(t, s, "fault_two")
	load(t, s, ks+".rows", 100)

	down := true
	defer func() {
		if down {
			nodeSh(t, "restart", "2")
			nodeSh(t, "restart", "3")
		}
	}()
	nodeSh(t, "kill", "2")
	nodeSh(t, "kill", "3")

	// Until the driver notices, a request may still be sent to a dead node
	// and be retried elsewhere; once it has, QUORUM is refused by node 1.
	var last error
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, last = s.Query(`SELECT v FROM ` + ks + `.rows WHERE id = 1`).Idempotent(true).Execute(ctx).Await(ctx)
		return cassandra.ErrorKind(last) == "unavailable"
	}, 60*time.Second, 100*time.Millisecond, "QUORUM refused as unavailable: last %v", last)
	var unavailable *gocql.RequestErrUnavailable
	require.ErrorAs(t, last, &unavailable)

	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		began := time.Now()
		_, err := s.Query(`SELECT v FROM `+ks+`.rows WHERE id = ?`, i).Idempotent(true).Execute(ctx).Await(ctx)
		cancel()
		require.Error(t, err)
		var qe *cassandra.QueryError
		require.ErrorAs(t, err, &qe)
		assert.Equal(t, "unavailable", cassandra.ErrorKind(err), "%v", err)
		assert.LessOrEqual(t, qe.Attempts, 3, "bounded retries, no storm")
		assert.Less(t, time.Since(began), 5*time.Second, "fails fast, long before its deadline")
	}
	var v int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := s.Query(`SELECT v FROM ` + ks + `.rows WHERE id = 1`).Consistency(gocql.One).Idempotent(true).Execute(ctx).Await(ctx)
	require.NoError(t, err, "ONE still works")
	require.NoError(t, rs.One(&v))
	assert.Equal(t, 3, v)

	nodeSh(t, "restart", "2")
	nodeSh(t, "restart", "3")
	down = false
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.Query(`SELECT v FROM ` + ks + `.rows WHERE id = 1`).Execute(ctx).Await(ctx)
		return err == nil
	}, 2*time.Minute, 200*time.Millisecond, "the same session serves QUORUM again")
}

// A frozen node (SIGSTOP) holds its requests: they end by their context,
// their places in the pool come back, and after SIGCONT the node serves
// again.
func TestFrozenNode(t *testing.T) {
	s := connectCluster(t, cassandra.WithWorkers(64))
	id2 := hostID(t, s, 2)
	frozen := true
	defer func() {
		if frozen {
			nodeSh(t, "thaw", "2")
		}
	}()
	nodeSh(t, "freeze", "2")

	const n = 50
	const deadline = 2 * time.Second
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	began := time.Now()
	for i := range futs {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		futs[i] = s.Query(`SELECT release_version FROM system.local`).HostID(id2).Execute(ctx)
	}
	for i, f := range futs {
		_, err := f.Await(context.Background())
		assert.ErrorIs(t, err, context.DeadlineExceeded, "request %d", i)
	}
	assert.Less(t, time.Since(began), deadline+5*time.Second, "requests end by their context")
	require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, 10*time.Millisecond,
		"the places in the pool come back")

	nodeSh(t, "thaw", "2")
	frozen = false
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.Query(`SELECT release_version FROM system.local`).HostID(id2).Execute(ctx).Await(ctx)
		return err == nil
	}, time.Minute, 100*time.Millisecond, "node 2 serves again after SIGCONT")
}

// Shutdown with 1,000 requests in flight, some of them held by a frozen
// node, returns by its deadline; Close then fails what is left with
// ErrClosed, and no goroutine remains (TestMain checks).
func TestShutdownWithAFrozenNode(t *testing.T) {
	s := connectCluster(t, cassandra.WithWorkers(256))
	id2 := hostID(t, s, 2)
	frozen := true
	defer func() {
		if frozen {
			nodeSh(t, "thaw", "2")
		}
	}()
	nodeSh(t, "freeze", "2")

	const n = 1000
	futs := make([]*cassandra.Future[*cassandra.ResultSet], n)
	for i := range futs {
		q := s.Query(`SELECT release_version FROM system.local`)
		if i%2 == 0 {
			q = q.HostID(id2) // held by the frozen node
		}
		futs[i] = q.Execute(context.Background())
	}
	const grace = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	began := time.Now()
	err := s.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the frozen node's requests cannot drain")
	assert.Less(t, time.Since(began), grace+3*time.Second, "Shutdown returns by its deadline")
	require.NoError(t, s.Close())

	var mu sync.Mutex
	kinds := map[string]int{}
	for i, f := range futs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("future %d still pending after Close", i)
		}
		if err := f.Err(); err != nil {
			mu.Lock()
			kinds[cassandra.ErrorKind(err)]++
			mu.Unlock()
			if i%2 == 0 {
				assert.True(t, errors.Is(err, cassandra.ErrClosed), "a held request fails with ErrClosed: %v", err)
			}
		}
	}
	t.Logf("after Shutdown and Close: %v", kinds)
	nodeSh(t, "thaw", "2")
	frozen = false
}
