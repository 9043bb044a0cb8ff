package cqltest

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// peer is another node of a NewCluster, as system.peers_v2 lists it.
type peer struct {
	hostID [16]byte
	ip     net.IP
	port   int
	token  string
}

// NewCluster starts n servers (n >= 1) that present themselves to gocql as
// the nodes of one cluster: each has its own host_id and token and lists
// the others in system.peers_v2, so a session connected to any of them
// (with its ClusterConfig) finds them all. They all listen on 127.0.0.1,
// on different ports; gocql learns the ports from peers_v2, which it reads
// when the release version is 4.0 or later (the default "5.0.0" is).
// Statements, rows and faults are per server: a fault registered on one
// server fails only the requests that reach that node.
//
// With the option [DistinctAddresses], node i listens on 127.0.0.(i+1)
// instead, for tests that need gocql to tell the nodes apart by address.
func NewCluster(t testing.TB, n int, opts ...Option) []*Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("cqltest: NewCluster needs at least one server, got %d", n)
	}
	var probe config
	for _, o := range opts {
		o(&probe)
	}
	lns := make([]net.Listener, n)
	for i := range lns {
		addr := "127.0.0.1:0"
		if probe.distinct {
			addr = fmt.Sprintf("127.0.0.%d:0", i+1)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns[:i] {
				_ = l.Close()
			}
			t.Fatalf("cqltest: listen: %v", err)
		}
		lns[i] = ln
	}
	nodes := make([]peer, n)
	for i := range nodes {
		nodes[i] = peer{
			hostID: [16]byte{0xc0, 0xd1, 0xd2, 0x1e, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, byte(i + 1)},
			ip:     lns[i].Addr().(*net.TCPAddr).IP.To4(),
			port:   lns[i].Addr().(*net.TCPAddr).Port,
			// Distinct tokens, in node order.
			token: strconv.FormatInt(int64(i)*(math.MaxInt64/int64(n)), 10),
		}
	}
	servers := make([]*Server, n)
	for i, self := range nodes {
		var others []peer
		for j, p := range nodes {
			if j != i {
				others = append(others, p)
			}
		}
		own := func(c *config) { c.ln, c.hostID, c.token, c.peers = lns[i], self.hostID, self.token, others }
		servers[i] = NewServer(t, append(append([]Option(nil), opts...), own)...)
	}
	return servers
}

// DistinctAddresses makes NewCluster put each node on an address of its
// own (127.0.0.1, 127.0.0.2, ...; Linux routes all of 127.0.0.0/8 to the
// loopback interface). gocql's host selection policies and its host
// up/down events key nodes by IP, so with the default, where every node
// listens on 127.0.0.1, a query plan holds only one of them. It has no
// effect on NewServer.
func DistinctAddresses() Option { return func(c *config) { c.distinct = true } }

// HostID returns the server's host_id, in the form gocql's HostInfo.HostID
// gives it.
func (s *Server) HostID() string { return gocql.UUID(s.cfg.hostID).String() }
