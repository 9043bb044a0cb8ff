package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, ignoreHeartbeatRace)
}

// ignoreHeartbeatRace ignores gocql v2.1.2's control-connection heartbeat
// goroutine, which can outlive Session.Close when the session closes right
// after it was created (apache/cassandra-gocql-driver#1273); the cqltest
// package's tests ignore it for the same reason. Any other leak fails.
var ignoreHeartbeatRace = goleak.IgnoreTopFunction(
	"github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat")

// gatedConn is a net.Conn whose writes a test steps through one at a time:
// each Write reports what it was given on entered, then waits for the
// test's step, or for Close.
type gatedConn struct {
	entered   chan written
	steps     chan step
	closed    chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	got       []byte      // bytes taken, in order
	deadlines []time.Time // SetWriteDeadline calls, in order
	writes    int         // Write calls that got a step
}

// written is what one Write was given.
type written struct {
	data  []byte // a copy
	array *byte  // the first byte of its backing array
	cap   int
}

// step tells a waiting Write what to do: take n bytes (-1: all) and return err.
type step struct {
	n   int
	err error
}

var all = step{n: -1}

func newGatedConn() *gatedConn {
	return &gatedConn{entered: make(chan written), steps: make(chan step), closed: make(chan struct{})}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	w := written{data: bytes.Clone(p), cap: cap(p)}
	if len(p) > 0 {
		w.array = &p[:1][0]
	}
	select {
	case g.entered <- w:
	case <-g.closed:
		return 0, net.ErrClosed
	}
	var s step
	select {
	case s = <-g.steps:
	case <-g.closed:
		return 0, net.ErrClosed
	}
	n := s.n
	if n < 0 || n > len(p) {
		n = len(p)
	}
	g.mu.Lock()
	g.got = append(g.got, p[:n]...)
	g.writes++
	g.mu.Unlock()
	return n, s.err
}

func (g *gatedConn) Read([]byte) (int, error) {
	<-g.closed
	return 0, io.EOF
}

func (g *gatedConn) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return nil
}

func (g *gatedConn) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deadlines = append(g.deadlines, t)
	return nil
}

func (g *gatedConn) taken() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return bytes.Clone(g.got)
}

func (g *gatedConn) writeDeadlines() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.deadlines...)
}

func (g *gatedConn) LocalAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (g *gatedConn) RemoteAddr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (g *gatedConn) SetDeadline(time.Time) error     { return nil }
func (g *gatedConn) SetReadDeadline(time.Time) error { return nil }

// frames returns n distinct frames of size bytes.
func frames(n, size int) [][]byte {
	fs := make([][]byte, n)
	for i := range fs {
		f := make([]byte, size)
		for j := range f {
			f[j] = byte(i*31 + j)
		}
		fs[i] = f
	}
	return fs
}

func concat(fs ...[]byte) []byte { return bytes.Join(fs, nil) }

// mustWrite writes p and fails the test unless the Conn accepted all of it.
func mustWrite(t *testing.T, c *Conn, p []byte) {
	t.Helper()
	n, err := c.Write(p)
	require.NoError(t, err)
	require.Equal(t, len(p), n)
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { server.Close(); client.Close() })
	return client, server
}

func TestWriteDoesNotWaitForTheSocketAndBatchesWhatArrivesMeanwhile(t *testing.T) {
	g := newGatedConn()
	c := NewConn(g)
	f := frames(11, 50)

	mustWrite(t, c, f[0])
	w := <-g.entered // the flusher is inside the socket write with f[0]
	assert.Equal(t, f[0], w.data, "an idle connection sends a frame at once, alone")
	for _, x := range f[1:] {
		mustWrite(t, c, x) // returns although the socket write has not
	}
	g.steps <- all
	w = <-g.entered
	assert.Equal(t, concat(f[1:]...), w.data, "the ten frames that arrived during the first write leave in one write")
	g.steps <- all

	require.NoError(t, c.Close())
	assert.Equal(t, concat(f...), g.taken())
	assert.Equal(t, Stats{FrameCount: 11, FlushCount: 2, ByteCount: 550}, c.Stats())
}

func TestZeroLengthWriteSendsNothing(t *testing.T) {
	g := newGatedConn()
	c := NewConn(g)
	n, err := c.Write(nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	mustWrite(t, c, []byte("x"))
	w := <-g.entered
	assert.Equal(t, []byte("x"), w.data, "the first write to the socket is the first non-empty frame")
	g.steps <- all
	require.NoError(t, c.Close())
	assert.Equal(t, Stats{FrameCount: 1, FlushCount: 1, ByteCount: 1}, c.Stats())
}

// TestOneWriterAtATimeKeepsOrder writes as gocql does: many goroutines, one
// Write at a time (gocql holds a semaphore per connection around Write).
// The peer must read exactly the bytes in the order Write accepted them.
func TestOneWriterAtATimeKeepsOrder(t *testing.T) {
	client, server := tcpPair(t)
	c := NewConn(client)
	const writers, perWriter = 64, 300
	size := func(w, i int) int { return 1 + (w*perWriter+i)*7%300 }
	total := 0
	for w := range writers {
		for i := range perWriter {
			total += size(w, i)
		}
	}
	// The peer reads as the bytes come, so that the socket never fills.
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, total)
		if _, err := io.ReadFull(server, b); err != nil {
			b = nil
		}
		got <- b
	}()

	var (
		sem  sync.Mutex // gocql's per-connection semaphore
		want []byte
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				f := bytes.Repeat([]byte{byte(w), byte(i)}, size(w, i))[:size(w, i)]
				sem.Lock()
				want = append(want, f...)
				_, err := c.Write(f)
				sem.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	b := <-got
	require.Len(t, b, total)
	assert.True(t, bytes.Equal(want, b), "the peer got the bytes in another order or changed")
	require.NoError(t, c.Close())
	st := c.Stats()
	assert.Equal(t, uint64(writers*perWriter), st.FrameCount)
	assert.Equal(t, uint64(total), st.ByteCount)
	t.Logf("%d frames in %d writes", st.FrameCount, st.FlushCount)
}

// TestConcurrentWritersFramesStayWhole calls Write from many goroutines at
// once, with no semaphore: every frame must arrive whole, each writer's
// frames in the order it wrote them, none lost and none twice.
func TestConcurrentWritersFramesStayWhole(t *testing.T) {
	client, server := tcpPair(t)
	c := NewConn(client)
	const writers, perWriter = 32, 500
	frame := func(w, i int) []byte {
		n := 1 + (w+i)%200
		f := make([]byte, 8+n)
		binary.BigEndian.PutUint16(f[0:], uint16(w))
		binary.BigEndian.PutUint32(f[2:], uint32(i))
		binary.BigEndian.PutUint16(f[6:], uint16(n))
		for k := range n {
			f[8+k] = byte(w + i + k)
		}
		return f
	}
	type result struct {
		frames int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		next := make([]int, writers)
		hdr := make([]byte, 8)
		count := 0
		for count < writers*perWriter {
			if _, err := io.ReadFull(server, hdr); err != nil {
				done <- result{count, err}
				return
			}
			w, i, n := int(binary.BigEndian.Uint16(hdr)), int(binary.BigEndian.Uint32(hdr[2:])), int(binary.BigEndian.Uint16(hdr[6:]))
			body := make([]byte, n)
			if _, err := io.ReadFull(server, body); err != nil {
				done <- result{count, err}
				return
			}
			if w >= writers || i != next[w] || !bytes.Equal(frame(w, i), append(hdr, body...)) {
				done <- result{count, errors.New("frame out of order or damaged")}
				return
			}
			next[w]++
			count++
		}
		done <- result{count, nil}
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := c.Write(frame(w, i)); err != nil {
					t.Errorf("writer %d frame %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := <-done
	require.NoError(t, r.err, "after %d good frames", r.frames)
	assert.Equal(t, writers*perWriter, r.frames)
	require.NoError(t, c.Close())
}

func TestFailedWriteClosesTheConnectionAndFailsLaterWrites(t *testing.T) {
	g := newGatedConn()
	c := NewConn(g)
	f := frames(5, 40)

	mustWrite(t, c, f[0])
	<-g.entered
	g.steps <- all

	mustWrite(t, c, f[1])
	w := <-g.entered
	require.Equal(t, f[1], w.data)
	mustWrite(t, c, f[2]) // accepted while the failing write runs
	mustWrite(t, c, f[3])
	boom := errors.New("boom")
	g.steps <- step{n: 15, err: boom} // the write fails after 15 bytes

	<-g.closed // the Conn closes the underlying connection, so its reader fails every pending request
	_, err := c.Write(f[4])
	require.ErrorIs(t, err, boom)
	assert.ErrorIs(t, c.SetWriteDeadline(time.Time{}), boom)
	require.NoError(t, c.Close())

	assert.Equal(t, concat(f[0], f[1][:15]), g.taken(), "nothing leaves after the failure point")
	g.mu.Lock()
	assert.Equal(t, 2, g.writes, "the frames that waited behind the failed write are never written")
	g.mu.Unlock()
	assert.Equal(t, Stats{FrameCount: 1, FlushCount: 1, ByteCount: 40}, c.Stats(), "only the first write counts as sent")
}

func TestCloseUnblocksWritersAndTheFlusher(t *testing.T) {
	g := newGatedConn()
	c := newConn(g, nil, 100, defaultKeepCap)
	waiting := make(chan struct{}, 16)
	c.waitHook = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	f := frames(3, 100)
	mustWrite(t, c, f[0])
	<-g.entered // the flusher is blocked in the socket write
	mustWrite(t, c, f[1])
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Write(f[2]) // 200 bytes would wait: the limit is 100
			errs <- err
		}()
	}
	for range 3 {
		<-waiting
	}

	require.NoError(t, c.Close())
	for range 3 {
		assert.ErrorIs(t, <-errs, net.ErrClosed)
	}
	_, err := c.Write(f[0])
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.Empty(t, g.taken(), "the blocked write never completed")
	assert.NoError(t, c.Close(), "Close again returns what the first returned")
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

func TestWaitingWriterResumesWhenTheFlusherTakesTheBuffer(t *testing.T) {
	g := newGatedConn()
	c := newConn(g, nil, 100, defaultKeepCap)
	waiting := make(chan struct{}, 1)
	c.waitHook = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	f := frames(3, 100)
	mustWrite(t, c, f[0])
	<-g.entered
	mustWrite(t, c, f[1])
	errs := make(chan error, 1)
	go func() {
		_, err := c.Write(f[2])
		errs <- err
	}()
	<-waiting
	g.steps <- all // f[0] done: the flusher takes f[1], which makes room for f[2]
	w := <-g.entered
	assert.Equal(t, f[1], w.data)
	require.NoError(t, <-errs)
	g.steps <- all
	w = <-g.entered
	assert.Equal(t, f[2], w.data)
	g.steps <- all
	require.NoError(t, c.Close())
	assert.Equal(t, concat(f...), g.taken())
}

func TestEachWriteCarriesTheEarliestDeadlineOfItsFrames(t *testing.T) {
	g := newGatedConn()
	c := NewConn(g)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d1, d2, d3 := base.Add(1*time.Second), base.Add(2*time.Second), base.Add(3*time.Second)
	f := frames(7, 10)

	require.NoError(t, c.SetWriteDeadline(d1))
	mustWrite(t, c, f[0])
	<-g.entered
	assert.Equal(t, []time.Time{d1}, g.writeDeadlines())

	require.NoError(t, c.SetWriteDeadline(d3))
	mustWrite(t, c, f[1])
	require.NoError(t, c.SetWriteDeadline(d2))
	mustWrite(t, c, f[2])
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	mustWrite(t, c, f[3])
	g.steps <- all
	w := <-g.entered
	assert.Equal(t, concat(f[1:4]...), w.data)
	assert.Equal(t, []time.Time{d1, d2}, g.writeDeadlines(), "the batch must leave by its earliest frame's deadline")
	g.steps <- all

	require.NoError(t, c.SetWriteDeadline(d2))
	mustWrite(t, c, f[4])
	<-g.entered
	assert.Equal(t, []time.Time{d1, d2}, g.writeDeadlines(), "an unchanged deadline is not set again")
	g.steps <- all

	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	mustWrite(t, c, f[5])
	<-g.entered
	assert.Equal(t, []time.Time{d1, d2, {}}, g.writeDeadlines(), "no deadline clears the socket's")
	g.steps <- all
	require.NoError(t, c.Close())
}

func TestPassedDeadlineFailsTheConnection(t *testing.T) {
	client, server := tcpPair(t)
	c := NewConn(client)
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
	mustWrite(t, c, []byte("frame")) // accepted: the flusher's write then times out

	b, _ := io.ReadAll(server) // ends when the Conn closes the connection
	assert.Empty(t, b)
	_, err := c.Write([]byte("next"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.Close())
}

// TestDeadlineEndsAWriteToAPeerThatStopsReading fills the socket towards a
// peer that never reads: the flusher's write blocks, Writes then wait for
// room, and the deadline ends both with a timeout error.
func TestDeadlineEndsAWriteToAPeerThatStopsReading(t *testing.T) {
	client, _ := tcpPair(t)
	c := NewConn(client)
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	f := make([]byte, 64<<10)
	var err error
	for i := 0; i < 4096 && err == nil; i++ { // 256 MiB at most: far more than socket buffers hold
		_, err = c.Write(f)
	}
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.Close())
}

func TestBuffersAreReused(t *testing.T) {
	g := newGatedConn()
	c := newConn(g, nil, defaultMaxBuffered, 4096)
	f := frames(1, 100)[0]
	mustWrite(t, c, f)
	<-g.entered
	arrays := map[*byte]int{}
	const rounds = 100
	for r := range rounds {
		for range 5 {
			mustWrite(t, c, f)
		}
		g.steps <- all
		w := <-g.entered
		require.Len(t, w.data, 500)
		if r >= 5 { // after the first rounds, which grow the buffers to size
			arrays[w.array]++
		}
	}
	g.steps <- all
	require.NoError(t, c.Close())
	assert.Len(t, arrays, 2, "two buffers take turns: one written, one filled")
}

func TestBufferGrownByABurstIsNotKept(t *testing.T) {
	g := newGatedConn()
	const keep = 4096
	c := newConn(g, nil, defaultMaxBuffered, keep)
	small := frames(1, 100)[0]
	mustWrite(t, c, small)
	<-g.entered
	mustWrite(t, c, make([]byte, 64<<10)) // a burst
	g.steps <- all
	w := <-g.entered
	require.Greater(t, w.cap, keep)
	big := w.array
	for range 20 {
		mustWrite(t, c, small)
		g.steps <- all
		w = <-g.entered
		assert.True(t, w.array != big, "the burst's buffer came back")
		assert.LessOrEqual(t, w.cap, keep)
	}
	g.steps <- all
	require.NoError(t, c.Close())
}

func TestReadAndAddressesAreTheUnderlyingConnections(t *testing.T) {
	client, server := tcpPair(t)
	c := NewConn(client)
	_, err := server.Write([]byte("pong"))
	require.NoError(t, err)
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(b))
	assert.Equal(t, client.LocalAddr(), c.LocalAddr())
	assert.Equal(t, client.RemoteAddr(), c.RemoteAddr())
	assert.Same(t, client, c.NetConn())
	require.NoError(t, c.SetDeadline(time.Now().Add(-time.Second)))
	_, err = c.Read(b)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "SetDeadline reaches the read side")
	require.NoError(t, c.Close())
}
