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

	"github.com/datastax/go-cassandra-native-protocol/frame"
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

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
