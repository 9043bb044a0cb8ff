// Package cqltest is an in-process CQL (native protocol v3/v4) server for
// deterministic unit tests of code built on gocql v2.
//
// It answers what gocql needs to connect (OPTIONS, STARTUP, REGISTER, the
// system.local / system.peers / system.peers_v2 queries, schema tables as
// empty results), PREPARE/EXECUTE/QUERY/BATCH, serves canned rows with real
// paging, and injects faults per page of a statement: error responses,
// responses held back until a channel is closed, and dropped connections.
//
//	srv := cqltest.NewServer(t)
//	srv.SetRows("SELECT id, name FROM users", cqltest.Cols("id", cqltest.Int, "name", cqltest.Text), rows)
//	srv.FailPage("SELECT id, name FROM users", 2, cqltest.ReadTimeout())
//	session, err := srv.ClusterConfig().CreateSession()
//
// Statements are matched by key: a key matches a statement when the statement
// starts with it (so the exact text matches too), after both are normalised
// by collapsing runs of white space. Bound values are ignored: every
// execution of a statement returns the same rows, except that a table
// registered with [Server.SetTokenRows] answers each token range with the
// rows within it.
//
// [NewCluster] starts several servers that gocql sees as the nodes of one
// cluster, and [Server.Down] and [Server.Up] make one look stopped and
// restarted.
//
// The server never decides based on time: nothing sleeps, and a delayed page
// is released only by its channel or by [Server.Close].
package cqltest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/datastax/go-cassandra-native-protocol/frame"
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	clusterName, dataCenter, rack, releaseVersion string

	hostID [16]byte     // host_id of system.local
	token  string       // the node's one token
	peers  []peer       // the other nodes of a NewCluster, for system.peers_v2
	ln     net.Listener // set by NewCluster, which listens before it builds the servers
	// distinct: NewCluster listens on a loopback address per node (DistinctAddresses)
	distinct bool

	username, password string // WithPasswordAuth; empty username: no authentication
}

// WithDataCenter sets data_center of system.local (default "datacenter1").
func WithDataCenter(dc string) Option { return func(c *config) { c.dataCenter = dc } }

// WithReleaseVersion sets release_version of system.local (default "5.0.0").
func WithReleaseVersion(v string) Option { return func(c *config) { c.releaseVersion = v } }

// WithPasswordAuth makes the server ask every connection to log in, as
// Cassandra's PasswordAuthenticator does: STARTUP is answered with
// AUTHENTICATE, and the client's response is accepted only with these
// credentials; anything else gets the error Cassandra sends (code 0x0100,
// which gocql turns into *gocql.RequestErrCredentials). Requests are not
// checked afterwards.
func WithPasswordAuth(username, password string) Option {
	return func(c *config) { c.username, c.password = username, password }
}

// Server is an in-process CQL server listening on 127.0.0.1 at a random port.
// All methods are safe for concurrent use.
type Server struct {
	tb    testing.TB
	cfg   config
	ln    net.Listener
	codec frame.Codec
	sys   map[string]*table // built once, read-only

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // accept loop, connection loops, request handlers

	mu        sync.Mutex
	conns     map[*conn]struct{}
	tables    map[string]*table // key -> rows
	bindTypes map[string][]Type // key -> bind marker types
	faults    []*Fault
	prepared  map[string]string // prepared id -> statement
	counts    map[pageKey]int   // requests per (statement, page)
	seen      []string          // distinct statements, in arrival order
	down      bool              // Down: connections are closed as they arrive
}

type pageKey struct {
	stmt string
	page int
}

// NewServer starts a server on 127.0.0.1:0. t.Cleanup closes it; call
// [Server.Close] yourself before a goleak check that runs inside the test.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{clusterName: "cqltest", dataCenter: "datacenter1", rack: "rack1", releaseVersion: "5.0.0",
		hostID: hostID, token: "-9223372036854775808"}
	for _, o := range opts {
		o(&cfg)
	}
	ln := cfg.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("cqltest: listen: %v", err)
		}
	}
	s := &Server{
		tb:        t,
		cfg:       cfg,
		ln:        ln,
		codec:     frame.NewCodec(),
		done:      make(chan struct{}),
		conns:     map[*conn]struct{}{},
		tables:    map[string]*table{},
		bindTypes: map[string][]Type{},
		prepared:  map[string]string{},
		counts:    map[pageKey]int{},
	}
	s.sys = s.systemTables()
	t.Cleanup(s.Close)
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host returns "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port returns the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ClusterConfig returns a gocql config for this server: protocol v4,
// metadata cache disabled (gocql would otherwise read schema tables), one
// connection per host (so that DropConnectionOnPage hits the only data
// connection), consistency ONE, short timeouts and fast reconnection.
// Adjust it freely; keep ProtoVersion 3 or 4 and no Compressor.
func (s *Server) ClusterConfig() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(s.Host())
	cfg.Port = s.Port()
	cfg.ProtoVersion = 4
	cfg.Metadata.CacheMode = gocql.Disabled
	cfg.Consistency = gocql.One
	cfg.NumConns = 1
	cfg.Timeout = 5 * time.Second
	cfg.ConnectTimeout = 2 * time.Second
	cfg.WriteCoalesceWaitTime = 0
	cfg.ReconnectionPolicy = &gocql.ConstantReconnectionPolicy{MaxRetries: 3, Interval: 20 * time.Millisecond}
	return cfg
}

// Close stops the server: it closes the listener and every connection,
// releases delayed pages without answering them, and waits for all of its
// goroutines. Idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// Down makes the server look like a node that has stopped: it closes every
// connection, and closes new ones as soon as they are accepted, until Up is
// called. Requests held by DelayPage are not answered.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
	for c := range s.conns {
		_ = c.nc.Close()
	}
}

// Up makes a server that Down stopped accept connections again, as a node
// that has restarted.
func (s *Server) Up() {
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
}

// SetRows registers the rows that statements starting with query return
// (the longest matching key wins). Values are Go values the
// native-protocol codecs accept for the column type (int/int32/int64,
// string, []byte, bool, [16]byte or gocql.UUID, net.IP, time.Time, slices for
// sets and lists, ...); nil is null. An encoding error fails the test.
func (s *Server) SetRows(query string, columns []Column, rows [][]any) {
	s.tb.Helper()
	t, err := newTable(columns, rows)
	if err != nil {
		s.tb.Fatalf("cqltest: SetRows(%q): %v", query, err)
		return
	}
	s.mu.Lock()
	s.tables[normalize(query)] = t
	s.mu.Unlock()
}

// SetBindTypes declares the types of the statement's bind markers (?) that
// PREPARE reports; gocql marshals bound values with them. Without it, every
// marker is text, which accepts Go strings and []byte only.
func (s *Server) SetBindTypes(query string, types ...Type) {
	s.mu.Lock()
	s.bindTypes[normalize(query)] = types
	s.mu.Unlock()
}

// EchoValues makes statements starting with query answer with one row
// holding the values bound to them, unchanged, as columns arg0, arg1, ...
// of the given types; PREPARE reports the same types for the statement's
// bind markers (as SetBindTypes would). A request whose value count differs
// from len(types) gets an Invalid error. With a distinct value per request,
// a test can tell that each request got its own answer.
func (s *Server) EchoValues(query string, types ...Type) {
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Name: "arg" + strconv.Itoa(i), Type: t}
	}
	s.mu.Lock()
	s.tables[normalize(query)] = &table{cols: cols, md: columnsMetadata(cols), echo: true}
	s.bindTypes[normalize(query)] = types
	s.mu.Unlock()
}

// Requests reports how many QUERY and EXECUTE requests (plus statements
// inside BATCHes) matching query arrived, over all pages. PREPAREs are not
// counted.
func (s *Server) Requests(query string) int { return s.countRequests(query, 0) }

// PageRequests reports how many requests for page (1-based) of statements
// matching query arrived.
func (s *Server) PageRequests(query string, page int) int { return s.countRequests(query, page) }

func (s *Server) countRequests(query string, page int) int {
	key := normalize(query)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.counts {
		if strings.HasPrefix(k.stmt, key) && (page == 0 || k.page == page) {
			n += c
		}
	}
	return n
}

// Statements returns the distinct statements received (QUERY, PREPARE, BATCH
// children), normalised, in order of first arrival; handy to find the key to
// use.
func (s *Server) Statements() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func normalize(stmt string) string { return strings.Join(strings.Fields(stmt), " ") }

// ---- connections -----------------------------------------------------------
