//go:build faults

package faults

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// The health check's settings. A stopped node must be reported down
// within interval + timeout of its stop: at worst the check that finds it
// starts an interval later and waits its whole timeout.
const (
	checkInterval = 2 * time.Second
	checkTimeout  = 5 * time.Second
	// slack covers scheduling on a machine where three nodes share few cores.
	slack = 2 * time.Second
)

// hostRecorder is a HostCollector that keeps the states it is told per host.
type hostRecorder struct {
	mu     sync.Mutex
	states map[string][]cassandra.HostState
}

func (r *hostRecorder) RequestDone(context.Context, cassandra.RequestInfo) {}

func (r *hostRecorder) HostChanged(_ *cassandra.AsyncSession, h cassandra.HostStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states == nil {
		r.states = map[string][]cassandra.HostState{}
	}
	r.states[h.HostID] = append(r.states[h.HostID], h.State)
}

func (r *hostRecorder) of(id string) []cassandra.HostState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cassandra.HostState(nil), r.states[id]...)
}

// nodeSh runs test/cassandra/node.sh with args, and fails the test if it
// fails.
func nodeSh(t *testing.T, args ...string) {
	t.Helper()
	require.NoError(t, nodeShErr(args...), "node.sh %v", args)
}

// nodeShErr runs test/cassandra/node.sh with args; it may be called from
// any goroutine.
func nodeShErr(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"../cassandra/node.sh"}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// byAddress returns the hosts of s by address ("127.0.0.2:9042").
func byAddress(s *cassandra.AsyncSession) map[string]cassandra.HostStatus {
	out := map[string]cassandra.HostStatus{}
	for _, h := range s.Hosts() {
		out[h.Address] = h
	}
	return out
}

// Stop node 2: the session reports it down, and only it, within the
// health check's interval and timeout; restart it: the session reports it
// up again.
func TestStoppedNodeIsReportedDownThenUp(t *testing.T) {
	cfg := gocql.NewCluster(nodes[0])
	cfg.ConnectTimeout = 10 * time.Second
	cfg.Timeout = 10 * time.Second
	cfg.ReconnectInterval = time.Second // try the stopped node often
	rec := &hostRecorder{}
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithCollector(rec),
		cassandra.WithHealthCheck(checkInterval, checkTimeout))
	require.NoError(t, err)
	defer func() { require.NoError(t, cluster.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)

	addr := func(n int) string { return nodes[n-1] + ":9042" }
	require.Eventually(t, func() bool {
		hosts := byAddress(s)
		for n := 1; n <= 3; n++ {
			h, ok := hosts[addr(n)]
			if !ok || h.State != cassandra.HostUp || h.LastCheck.IsZero() || h.LastCheckErr != nil {
				return false
			}
		}
		return len(hosts) == 3
	}, 60*time.Second, 50*time.Millisecond, "three nodes up and checked: %v", s.Hosts())
	id2 := byAddress(s)[addr(2)].HostID

	stopped := true
	defer func() {
		if stopped { // leave the cluster whole, whatever happened
			nodeSh(t, "restart", "2")
		}
	}()
	stopping := time.Now()
	nodeSh(t, "stop", "2")
	down := time.Now()

	// Down, and the others still up; a failed check has confirmed it.
	require.Eventually(t, func() bool {
		hosts := byAddress(s)
		h2 := hosts[addr(2)]
		return h2.State == cassandra.HostDown && h2.LastCheck.After(down) && h2.LastCheckErr != nil &&
			hosts[addr(1)].State == cassandra.HostUp && hosts[addr(3)].State == cassandra.HostUp
	}, checkInterval+checkTimeout+slack, 20*time.Millisecond, "node 2 reported down: %v", s.Hosts())
	h2 := byAddress(s)[addr(2)]
	assert.Equal(t, id2, h2.HostID, "the summary names the stopped node")
	assert.NotEmpty(t, h2.Reason)
	assert.Positive(t, h2.ConsecutiveFailures)
	// The driver may see the node go before node.sh, which waits for the
	// process to end, returns: time it from when the stop began.
	t.Logf("node 2 down %v after its stop began (node.sh took %v): %s; last check: %v",
		h2.Since.Sub(stopping), down.Sub(stopping), h2.Reason, h2.LastCheckErr)

	nodeSh(t, "restart", "2")
	stopped = false
	up := time.Now()
	require.Eventually(t, func() bool {
		h := byAddress(s)[addr(2)]
		return h.State == cassandra.HostUp && h.LastCheck.After(up) && h.LastCheckErr == nil
	}, 60*time.Second, 20*time.Millisecond, "node 2 reported up: %v", s.Hosts())
	h2 = byAddress(s)[addr(2)]
	assert.Equal(t, id2, h2.HostID)
	assert.Zero(t, h2.ConsecutiveFailures)

	require.NoError(t, s.Close())
	// The collector heard: up at connect, down, up at the end, and each
	// call a change.
	states := rec.of(id2)
	require.GreaterOrEqual(t, len(states), 3, "%v", states)
	assert.Equal(t, cassandra.HostUp, states[0], "%v", states)
	assert.Contains(t, states, cassandra.HostDown)
	assert.Equal(t, cassandra.HostUp, states[len(states)-1], "%v", states)
	for i := 1; i < len(states); i++ {
		assert.NotEqual(t, states[i-1], states[i], "one call per change: %v", states)
	}
	for n := 1; n <= 3; n += 2 {
		id := byAddress(s)[addr(n)].HostID
		assert.NotContains(t, rec.of(id), cassandra.HostRemoved, "node %d stayed in the cluster", n)
	}
}
