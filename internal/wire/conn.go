// Package wire gives gocql's connections write batching without a timer: the
// flush consolidation that Netty, and so the Java driver, does.
//
// gocql writes one frame per Write call, one call at a time per connection
// (its deadlineContextWriter holds a semaphore around SetWriteDeadline and
// Write). Its optional coalescer (ClusterConfig.WriteCoalesceWaitTime) instead
// holds every frame until a timer fires, and Go wakes a sub-millisecond timer
// about 1 ms late when the process is otherwise idle, so one request in flight
// pays a millisecond for nothing. A [Conn] sends a frame at once when the
// socket is idle, and gathers the frames that arrive while a socket write is
// in progress into one write when it returns. Nothing waits for a timer, and
// under load many frames share one system call (and, above TLS, one record).
//
// Why a goroutine writes, not the caller: gocql holds its per-connection
// semaphore for the whole of Write, so a Write that made the system call
// itself would keep every other frame of the connection waiting on that
// semaphore, where nothing can gather them: that is gocql without
// coalescing. So Write only copies the frame (gocql's buffer is the
// caller's again once Write returns) and the flusher makes the call.
//
// [NewHostDialer] and [Install] supply these connections to gocql while
// keeping what the user configured: a HostDialer, a Dialer, SslOpts,
// SocketKeepalive and ConnectTimeout.
package wire

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// defaultMaxBuffered is how many bytes of frames may wait for the socket
	// before Write waits for room. A Write is never held for the socket
	// below it; above it, waiting is the back-pressure a full socket buffer
	// gives a plain connection. 1 MiB is thousands of typical frames.
	defaultMaxBuffered = 1 << 20
	// defaultKeepCap is the largest buffer kept for reuse after its write.
	// A burst may grow a buffer beyond it; that buffer is then left to the
	// garbage collector, so a burst does not pin memory for the life of the
	// connection. Two buffers of up to this size live per connection.
	defaultKeepCap = 64 << 10
)

// Conn is a net.Conn that batches writes without a timer. Write copies the
// frame into a buffer and returns without waiting for the socket; a flusher
// goroutine, one per Conn, writes the buffer to the underlying connection
// in one call whenever it is idle and there is something to send, after
// yielding once to the goroutines already runnable (under load, requests
// about to write their next frames). Frames written while that call runs
// wait in the other buffer and leave together in the next call. Bytes
// leave in the order Write accepted them, unchanged.
//
// A Write that returned nil means the frame was accepted, not that it was
// sent. If a write to the underlying connection fails, Conn closes the
// underlying connection, so that whoever reads from it (gocql's reader,
// which fails every request still waiting for a response) learns of the
// failure, and every later Write returns that failure. Accepted frames that
// had not been sent are dropped; their requests fail with the connection.
//
// Read, the read deadline and the addresses are those of the underlying
// connection. A Conn is safe for concurrent use by multiple goroutines.
type Conn struct {
	nc     net.Conn
	shared *counters // a HostDialer's totals, or nil

	mu    sync.Mutex
	ready sync.Cond // the flusher waits here for frames or the end
	room  sync.Cond // Writes wait here for room below maxBuffered

	// buf holds the frames accepted and not yet taken by the flusher, in
	// order; spare is an empty buffer whose write finished, kept for reuse.
	buf, spare []byte
	bufFrames  uint64 // the Write calls whose bytes are in buf
	// deadline is the write deadline in force for frames written from now
	// on (zero: none); bufDeadline is the earliest deadline among the frames
	// in buf, the one their write must meet (zero: none).
	deadline, bufDeadline time.Time
	idle                  bool  // the flusher waits on ready for frames
	waiting               int   // Writes waiting on room
	err                   error // why Write fails from now on; nil while open
	stats                 Stats // updated by the flusher after each write

	maxBuffered, keepCap int
	waitHook             func() // tests only: run, c.mu held, when a Write starts waiting for room

	// applied is the deadline last set on nc by the flusher. Only the
	// flusher touches it.
	applied time.Time

	done      chan struct{} // closed when the flusher returns
	closeOnce sync.Once     // closes nc once, by Close or by a failed write
	closeErr  error         // what closing nc returned
	userClose sync.Once     // runs Close's work once
}

// Stats is a snapshot of the writes that reached the underlying
// connection, cumulative since the Conn (or HostDialer) was made; frames
// still waiting, or dropped by a failure or Close, are not counted.
// FrameCount/FlushCount is the mean number of frames per write.
type Stats struct {
	FrameCount uint64 // Write calls whose bytes were written: one per frame from gocql
	FlushCount uint64 // successful writes to the underlying connection, each of one or more frames
	ByteCount  uint64 // bytes those writes carried
}

// counters are cumulative Stats shared by the connections of one HostDialer.
type counters struct {
	frames, flushes, bytes atomic.Uint64
}

func (s *counters) load() Stats {
	return Stats{FrameCount: s.frames.Load(), FlushCount: s.flushes.Load(), ByteCount: s.bytes.Load()}
}

// NewConn returns a Conn that writes to nc, and starts its flusher. The
// Conn owns nc from now on: closing the Conn closes nc. Call Close to stop
// the flusher.
func NewConn(nc net.Conn) *Conn {
	return newConn(nc, nil, defaultMaxBuffered, defaultKeepCap)
}

func newConn(nc net.Conn, shared *counters, maxBuffered, keepCap int) *Conn {
	c := &Conn{nc: nc, shared: shared, maxBuffered: maxBuffered, keepCap: keepCap, done: make(chan struct{})}
	c.ready.L = &c.mu
	c.room.L = &c.mu
	go c.flushLoop()
	return c
}

// Write accepts p to be sent after the bytes accepted before it, and
// returns len(p), nil without waiting for the socket. It waits only when
// more than 1 MiB already waits to be sent (then until the flusher takes
// it). After the Conn is closed, or a write to the underlying connection
// failed, it returns 0 and an error: net.ErrClosed, or the failure (which
// wraps the underlying error, so errors.Is(err, os.ErrDeadlineExceeded)
// holds after a write timeout). Write does not keep p.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	// A frame larger than maxBuffered still goes, alone: len(c.buf) > 0.
	for c.err == nil && len(c.buf) > 0 && len(c.buf)+len(p) > c.maxBuffered {
		c.waiting++
		if c.waitHook != nil {
			c.waitHook()
		}
		c.room.Wait()
		c.waiting--
	}
	if err := c.err; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	if len(p) == 0 {
		c.mu.Unlock()
		return 0, nil
	}
	if len(c.buf) == 0 {
		c.bufDeadline = c.deadline
	} else {
		c.bufDeadline = earlier(c.bufDeadline, c.deadline)
	}
	c.buf = append(c.buf, p...)
	c.bufFrames++
	wake := c.idle
	c.idle = false
	c.mu.Unlock()
	if wake {
		c.ready.Signal()
	}
	return len(p), nil
}

// earlier returns the earlier of two deadlines, where zero means none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// flushLoop is the flusher: it takes the whole buffer whenever there is
// something in it and writes it in one call, until the Conn is closed or a
// write fails. It is the only goroutine that writes to nc, so batches leave
// in the order they were taken.
func (c *Conn) flushLoop() {
	defer close(c.done)
	c.mu.Lock()
	for {
		for len(c.buf) == 0 && c.err == nil {
			c.idle = true
			c.ready.Wait()
		}
		if c.err == nil {
			// Let the goroutines that are already runnable run first:
			// under load they are requests whose responses just came in,
			// about to write their next frames, which then leave in this
			// write rather than one write each. Netty's flush task queues
			// behind the event loop's pending tasks in the same way. With
			// nothing else runnable (one request in flight) this returns
			// at once, so a lone frame is not held back; nothing waits for
			// a timer either way.
			c.mu.Unlock()
			runtime.Gosched()
			c.mu.Lock()
		}
		if c.err != nil {
			c.mu.Unlock()
			return
		}
		out, deadline, frames := c.buf, c.bufDeadline, c.bufFrames
		c.buf, c.spare, c.bufFrames = c.spare, nil, 0
		if c.waiting > 0 {
			c.room.Broadcast()
		}
		c.mu.Unlock()

		err := c.writeOut(out, deadline)

		c.mu.Lock()
		if err != nil {
			c.fail(err)
			c.mu.Unlock()
			c.closeConn()
			return
		}
		c.stats.FrameCount += frames
		c.stats.FlushCount++
		c.stats.ByteCount += uint64(len(out))
		if c.shared != nil {
			c.shared.frames.Add(frames)
			c.shared.flushes.Add(1)
			c.shared.bytes.Add(uint64(len(out)))
		}
		if cap(out) <= c.keepCap {
			c.spare = out[:0]
		}
	}
}

// writeOut writes one batch to nc under the batch's deadline, setting the
// deadline only when it differs from the one last set.
func (c *Conn) writeOut(out []byte, deadline time.Time) error {
	if !deadline.Equal(c.applied) {
		if err := c.nc.SetWriteDeadline(deadline); err != nil {
			return err
		}
		c.applied = deadline
	}
	_, err := c.nc.Write(out)
	return err
}

// fail records a failed write as the error of every later Write, drops the
// frames that were waiting, and wakes the Writes waiting for room. c.mu held.
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = fmt.Errorf("wire: write failed, connection closed: %w", err)
	}
	c.buf, c.spare, c.bufFrames = nil, nil, 0
	c.room.Broadcast()
}

// closeConn closes nc once, whoever asks first, and returns what that
// close returned.
func (c *Conn) closeConn() error {
	c.closeOnce.Do(func() { c.closeErr = c.nc.Close() })
	return c.closeErr
}

// Close closes the underlying connection, which unblocks a write in
// progress, drops the frames not yet sent, makes every waiting and later
// Write return net.ErrClosed (or the failure of an earlier write), and
// waits for the flusher to return. It returns the error of closing the
// underlying connection (nil if a failed write closed it already). Close is
// safe to call multiple times; later calls return the same error.
func (c *Conn) Close() error {
	c.userClose.Do(func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = net.ErrClosed
		}
		c.buf, c.spare, c.bufFrames = nil, nil, 0
		c.mu.Unlock()
		c.ready.Signal()
		c.room.Broadcast()
		c.closeConn()
		<-c.done
	})
	return c.closeErr
}

// Read reads from the underlying connection.
func (c *Conn) Read(p []byte) (int, error) { return c.nc.Read(p) }

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets the read deadline of the underlying connection and the
// write deadline as SetWriteDeadline does.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.nc.SetReadDeadline(t)
}

// SetReadDeadline sets the read deadline of the underlying connection.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline by which the frames written from now
// on must have left (zero: none). Since Write does not wait for the socket,
// the deadline is enforced by the flusher: each write to the underlying
// connection carries the earliest deadline among its frames, and if it
// misses it, the write fails as any failed write does: the connection is
// closed, and later Writes return an error for which
// errors.Is(err, os.ErrDeadlineExceeded) holds. A write already in
// progress keeps the deadline it started with. gocql sets now plus its
// write timeout before each frame, so the earliest is the oldest frame's.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.deadline = t
	return nil
}

// NetConn returns the underlying connection. Writing to it directly breaks
// the order of the bytes; it is for inspection (a *tls.Conn's state, say).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Stats returns a snapshot of the Conn's counters.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}
