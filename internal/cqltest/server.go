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
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/datastax/go-cassandra-native-protocol/frame"
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
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

type conn struct {
	s      *Server
	nc     net.Conn
	wmu    sync.Mutex    // serialises frame writes
	closed chan struct{} // closed when the read loop ends
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		c := &conn{s: s, nc: nc, closed: make(chan struct{})}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			_ = nc.Close()
			return
		default:
		}
		if s.down {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.readLoop()
	}
}

// readLoop decodes request frames and handles each in its own goroutine, so a
// delayed response never blocks other streams of the connection.
func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer func() {
		close(c.closed)
		_ = c.nc.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	r := bufio.NewReader(c.nc)
	hdr := make([]byte, 9)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		if v := primitive.ProtocolVersion(hdr[0] & 0x7f); v != primitive.ProtocolVersion3 && v != primitive.ProtocolVersion4 {
			// Same answer as Cassandra (on stream 0), so that drivers negotiate down.
			msg := &message.ProtocolError{ErrorMessage: fmt.Sprintf(
				"Invalid or unsupported protocol version (%d); supported versions are (3/v3, 4/v4)", v)}
			c.write(primitive.ProtocolVersion4, 0, msg)
			return
		}
		f, err := c.s.codec.DecodeFrame(io.MultiReader(bytes.NewReader(hdr), r))
		if err != nil {
			return
		}
		c.s.wg.Add(1) // the read loop holds a count, so this never races Wait
		go func() {
			defer c.s.wg.Done()
			c.handle(f)
		}()
	}
}

func (c *conn) write(version primitive.ProtocolVersion, stream int16, msg message.Message) {
	var buf bytes.Buffer
	if err := c.s.codec.EncodeFrame(frame.NewFrame(version, stream, msg), &buf); err != nil {
		buf.Reset()
		fail := &message.ServerError{ErrorMessage: "cqltest: cannot encode response: " + err.Error()}
		if err := c.s.codec.EncodeFrame(frame.NewFrame(version, stream, fail), &buf); err != nil {
			return
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = c.nc.Write(buf.Bytes()) // a failed write means the connection is gone
}

func (c *conn) handle(f *frame.Frame) {
	resp, drop := c.respond(f.Body.Message)
	if drop {
		_ = c.nc.Close()
		return
	}
	if resp != nil {
		c.write(f.Header.Version, f.Header.StreamId, resp)
	}
}

// respond computes the response; nil means none (server or connection
// closed while delayed), drop means close the connection instead.
func (c *conn) respond(req message.Message) (resp message.Message, drop bool) {
	s := c.s
	switch m := req.(type) {
	case *message.Options:
		return &message.Supported{Options: map[string][]string{
			"CQL_VERSION":       {"3.4.7"},
			"COMPRESSION":       {},
			"PROTOCOL_VERSIONS": {"3/v3", "4/v4"},
		}}, false
	case *message.Startup:
		if comp := m.GetCompression(); comp != primitive.CompressionNone {
			return &message.ProtocolError{ErrorMessage: "cqltest: compression is not supported"}, false
		}
		if s.cfg.username != "" {
			return &message.Authenticate{Authenticator: "org.apache.cassandra.auth.PasswordAuthenticator"}, false
		}
		return &message.Ready{}, false
	case *message.AuthResponse:
		// SASL PLAIN: authzid NUL username NUL password.
		parts := bytes.Split(m.Token, []byte{0})
		if s.cfg.username != "" && len(parts) == 3 &&
			string(parts[1]) == s.cfg.username && string(parts[2]) == s.cfg.password {
			return &message.AuthSuccess{}, false
		}
		user := ""
		if len(parts) == 3 {
			user = string(parts[1])
		}
		return &message.AuthenticationError{ErrorMessage: fmt.Sprintf(
			"Provided username %s and/or password are incorrect", user)}, false
	case *message.Register:
		return &message.Ready{}, false
	case *message.Query:
		return c.execute(m.Query, m.Options)
	case *message.Prepare:
		return s.prepare(m.Query), false
	case *message.Execute:
		s.mu.Lock()
		stmt, ok := s.prepared[string(m.QueryId)]
		s.mu.Unlock()
		if !ok {
			return &message.Unprepared{ErrorMessage: "cqltest: unknown prepared id", Id: m.QueryId}, false
		}
		return c.execute(stmt, m.Options)
	case *message.Batch:
		return c.batch(m)
	default:
		return &message.ProtocolError{ErrorMessage: fmt.Sprintf("cqltest: unsupported request %v", req)}, false
	}
}

// ---- statements ------------------------------------------------------------

func (s *Server) prepare(query string) message.Message {
	stmt := normalize(query)
	s.mu.Lock()
	s.noteSeen(stmt)
	s.mu.Unlock()
	t, _, errMsg := s.resolve(stmt)
	if errMsg != nil {
		return errMsg
	}
	sum := md5.Sum([]byte(stmt))
	id := sum[:]
	s.mu.Lock()
	s.prepared[string(id)] = stmt
	vars := s.bindVariables(stmt)
	s.mu.Unlock()
	res := &message.RowsMetadata{}
	if t != nil {
		res = &message.RowsMetadata{ColumnCount: int32(len(t.md)), Columns: t.md}
	}
	return &message.PreparedResult{
		PreparedQueryId:   id,
		VariablesMetadata: &message.VariablesMetadata{Columns: vars},
		ResultMetadata:    res,
	}
}

// bindVariables describes the statement's positional bind markers. s.mu held.
func (s *Server) bindVariables(stmt string) []*message.ColumnMetadata {
	n := countMarkers(stmt)
	var types []Type
	best := -1
	for k, ts := range s.bindTypes {
		if strings.HasPrefix(stmt, k) && len(k) > best {
			best, types = len(k), ts
		}
	}
	cols := make([]Column, n)
	for i := range cols {
		cols[i] = Column{Name: "arg" + strconv.Itoa(i), Type: Text}
		if i < len(types) && types[i] != nil {
			cols[i].Type = types[i]
		}
	}
	return columnsMetadata(cols)
}

// countMarkers counts ? outside string literals and quoted identifiers.
func countMarkers(stmt string) int {
	n := 0
	var quote rune
	for _, r := range stmt {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0 // a doubled quote re-enters at once: same count
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '?':
			n++
		}
	}
	return n
}

// resolve finds what a statement returns: rows (t), a keyspace for USE, an
// error, or nothing (t == nil, keyspace == "": a void result).
func (s *Server) resolve(stmt string) (t *table, keyspace string, errMsg message.Error) {
	s.mu.Lock()
	best := -1
	for k, tbl := range s.tables {
		if strings.HasPrefix(stmt, k) && len(k) > best {
			best, t = len(k), tbl
		}
	}
	s.mu.Unlock()
	if t != nil {
		return t, "", nil
	}
	if t, errMsg, ok := s.systemResult(stmt); ok {
		return t, "", errMsg
	}
	lower := strings.ToLower(stmt)
	switch {
	case strings.HasPrefix(lower, "use "):
		return nil, strings.Trim(stmt[len("use "):], "\"; "), nil
	case strings.HasPrefix(lower, "select "):
		return nil, "", &message.Invalid{ErrorMessage: fmt.Sprintf("cqltest: no rows registered for %q (use Server.SetRows)", stmt)}
	}
	return nil, "", nil
}

// record counts a request and returns the faults it triggers. s.mu held.
func (s *Server) record(stmt string, page int) []*Fault {
	s.noteSeen(stmt)
	s.counts[pageKey{stmt, page}]++
	var hit []*Fault
	for _, f := range s.faults {
		if f.page == page && f.remaining != 0 && strings.HasPrefix(stmt, f.key) {
			if f.remaining > 0 {
				f.remaining--
			}
			hit = append(hit, f)
		}
	}
	return hit
}

// noteSeen appends stmt to the arrival log once. s.mu held.
func (s *Server) noteSeen(stmt string) {
	for _, x := range s.seen {
		if x == stmt {
			return
		}
	}
	s.seen = append(s.seen, stmt)
}

// applyFaults waits for delays, then drops or fails. ok is false when the
// request must not be answered normally (resp/drop say what to do instead).
func (c *conn) applyFaults(faults []*Fault, cl primitive.ConsistencyLevel) (resp message.Message, drop, ok bool) {
	for _, f := range faults {
		if f.release != nil {
			select {
			case <-f.release:
			case <-c.s.done:
				return nil, false, false
			case <-c.closed:
				return nil, false, false
			}
		}
	}
	for _, f := range faults {
		if f.drop {
			return nil, true, false
		}
	}
	for _, f := range faults {
		if f.err != nil {
			return f.err.message(cl), false, false
		}
	}
	return nil, false, true
}

func (c *conn) execute(query string, opts *message.QueryOptions) (message.Message, bool) {
	s := c.s
	if opts == nil {
		opts = &message.QueryOptions{}
	}
	stmt := normalize(query)
	page, offset, err := decodePagingState(opts.PagingState)
	if err != nil {
		return &message.ProtocolError{ErrorMessage: "cqltest: " + err.Error()}, false
	}
	s.mu.Lock()
	faults := s.record(stmt, page)
	s.mu.Unlock()
	if resp, drop, ok := c.applyFaults(faults, opts.Consistency); !ok {
		return resp, drop
	}

	t, keyspace, errMsg := s.resolve(stmt)
	switch {
	case errMsg != nil:
		return errMsg, false
	case keyspace != "":
		return &message.SetKeyspaceResult{Keyspace: keyspace}, false
	case t == nil:
		return &message.VoidResult{}, false
	}
	if t.echo {
		return echoRow(t, opts), false
	}
	rows := t.rows
	if t.tokens != nil {
		var errMsg message.Error
		if rows, errMsg = t.inRange(opts); errMsg != nil {
			return errMsg, false
		}
	}
	if offset > len(rows) {
		offset = len(rows)
	}
	end := len(rows)
	if opts.PageSize > 0 && offset+int(opts.PageSize) < end {
		end = offset + int(opts.PageSize)
	}
	md := &message.RowsMetadata{ColumnCount: int32(len(t.md)), Columns: t.md}
	if opts.SkipMetadata {
		md.Columns = nil
	}
	for _, f := range faults {
		if f.empty {
			md.PagingState = encodePagingState(page+1, offset)
			return &message.RowsResult{Metadata: md}, false
		}
	}
	if end < len(rows) {
		md.PagingState = encodePagingState(page+1, end)
	}
	return &message.RowsResult{Metadata: md, Data: rows[offset:end]}, false
}

// echoRow answers an EchoValues statement: one row of the bound values.
func echoRow(t *table, opts *message.QueryOptions) message.Message {
	if len(opts.PositionalValues) != len(t.md) {
		return &message.Invalid{ErrorMessage: fmt.Sprintf("cqltest: echo statement got %d values, want %d",
			len(opts.PositionalValues), len(t.md))}
	}
	row := make(message.Row, len(t.md))
	for i, v := range opts.PositionalValues {
		row[i] = v.Contents
	}
	md := &message.RowsMetadata{ColumnCount: int32(len(t.md)), Columns: t.md}
	if opts.SkipMetadata {
		md.Columns = nil
	}
	return &message.RowsResult{Metadata: md, Data: message.RowSet{row}}
}

func (c *conn) batch(b *message.Batch) (message.Message, bool) {
	s := c.s
	var faults []*Fault
	s.mu.Lock()
	for _, child := range b.Children {
		stmt := normalize(child.Query)
		if child.Id != nil {
			var ok bool
			if stmt, ok = s.prepared[string(child.Id)]; !ok {
				s.mu.Unlock()
				return &message.Unprepared{ErrorMessage: "cqltest: unknown prepared id", Id: child.Id}, false
			}
		}
		faults = append(faults, s.record(stmt, 1)...)
	}
	s.mu.Unlock()
	if resp, drop, ok := c.applyFaults(faults, b.Consistency); !ok {
		return resp, drop
	}
	return &message.VoidResult{}, false
}

// Paging state: "cqlt", next page number, row offset (uint32 big endian).
func encodePagingState(page, offset int) []byte {
	b := make([]byte, 12)
	copy(b, "cqlt")
	binary.BigEndian.PutUint32(b[4:], uint32(page))
	binary.BigEndian.PutUint32(b[8:], uint32(offset))
	return b
}

func decodePagingState(b []byte) (page, offset int, err error) {
	if len(b) == 0 {
		return 1, 0, nil
	}
	if len(b) != 12 || string(b[:4]) != "cqlt" {
		return 0, 0, errors.New("invalid paging state")
	}
	return int(binary.BigEndian.Uint32(b[4:])), int(binary.BigEndian.Uint32(b[8:])), nil
}
