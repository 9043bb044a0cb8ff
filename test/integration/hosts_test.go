package integration

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

// Hosts lists the node up, with what the node says of itself in
// system.local, and the health check of the node records a latency.
func TestHostsAndHealthCheck(t *testing.T) {
	// An hour: the round of checks the session starts with is the only one.
	s := connect(t, cassandra.WithHealthCheck(time.Hour, 10*time.Second))

	var (
		id                gocql.UUID
		dc, rack, version string
		rpc               net.IP
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := s.Execute(ctx, `SELECT host_id, data_center, rack, release_version, rpc_address FROM system.local`).Await(ctx)
	require.NoError(t, err)
	require.NoError(t, rs.One(&id, &dc, &rack, &version, &rpc))

	hosts := s.Hosts()
	require.NotEmpty(t, hosts)
	var addrs []string
	for _, h := range hosts {
		ip, _, err := net.SplitHostPort(h.Address)
		require.NoError(t, err)
		addrs = append(addrs, ip)
		assert.Equal(t, cassandra.HostUp, h.State, h.Address)
		assert.NotEmpty(t, h.Datacenter)
		assert.NotEmpty(t, h.Rack)
		assert.True(t, strings.HasPrefix(h.Version, "5.0."), "version %q", h.Version)
	}
	assert.Contains(t, addrs, node.Hosts()[0], "the contact point is listed")

	// The node that answered is listed as it describes itself.
	i := slices.IndexFunc(hosts, func(h cassandra.HostStatus) bool { return h.HostID == id.String() })
	require.GreaterOrEqual(t, i, 0, "host %s is listed", id)
	assert.Equal(t, dc, hosts[i].Datacenter)
	assert.Equal(t, rack, hosts[i].Rack)
	assert.Equal(t, version, hosts[i].Version)
	assert.Equal(t, rpc.String(), addrs[i])

	// Every host gets its check; a loaded machine may take its time.
	require.Eventually(t, func() bool {
		for _, h := range s.Hosts() {
			if h.LastCheck.IsZero() {
				return false
			}
		}
		return true
	}, 60*time.Second, 10*time.Millisecond)
	for _, h := range s.Hosts() {
		assert.NoError(t, h.LastCheckErr, h.Address)
		assert.Zero(t, h.ConsecutiveFailures)
		assert.Positive(t, h.LastCheckLatency)
		assert.Equal(t, cassandra.HostUp, h.State)
		if h.HostID == id.String() {
			assert.Equal(t, version, h.Version, "from the check")
		}
		t.Logf("%s %s/%s %s %s, check %v", h.Address, h.Datacenter, h.Rack, h.Version, h.State, h.LastCheckLatency)
	}
}
