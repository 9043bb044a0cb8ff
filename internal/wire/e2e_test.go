package wire_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
	"github.com/async-cassandra/cassandra/internal/wire"
)

// echoStmt is answered by the test server with the value bound to it.
const echoStmt = "SELECT arg0 FROM ks.echo WHERE k = ?"

var ignoreHeartbeatRace = goleak.IgnoreTopFunction(
	"github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat")

// echoServer starts a test server that answers echoStmt with its value,
// and returns a config for it with a timeout long enough for -race on two
// cores (no test here waits for it to pass).
func echoServer(t *testing.T) (*cqltest.Server, *gocql.ClusterConfig) {
	t.Helper()
	srv := cqltest.NewServer(t)
	srv.EchoValues(echoStmt, cqltest.Int)
	cfg := srv.ClusterConfig()
	cfg.Timeout = 2 * time.Minute
	return srv, cfg
}

// echoAll runs n concurrent echo queries, value i for the i-th, released
// together, and returns each one's answer and error.
func echoAll(session *gocql.Session, n int, value func(i int) int) ([]int, []error) {
	got, errs := make([]int, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = session.Query(echoStmt, value(i)).Scan(&got[i])
		}()
	}
	close(start)
	wg.Wait()
	return got, errs
}

func identity(i int) int { return i }

// TestTenThousandConcurrentRequests sends 10,000 requests at once through
// one batching connection: each must get its own answer, none lost.
func TestTenThousandConcurrentRequests(t *testing.T) {
	srv, cfg := echoServer(t)
	hd, err := wire.Install(cfg)
	require.NoError(t, err)
	session, err := cfg.CreateSession()
	require.NoError(t, err)

	const n = 10000
	got, errs := echoAll(session, n, identity)
	failed := 0
	for i := range n {
		if errs[i] != nil || got[i] != i {
			if failed < 5 {
				t.Errorf("request %d: got %d, %v", i, got[i], errs[i])
			}
			failed++
		}
	}
	assert.Zero(t, failed, "requests without their own answer")
	assert.Equal(t, n, srv.Requests(echoStmt), "requests the server received")
	st := hd.Stats()
	assert.GreaterOrEqual(t, st.FrameCount, uint64(n), "every request's frame went through the batching connections")
	t.Logf("%d frames in %d writes (%.1f per write)", st.FrameCount, st.FlushCount, float64(st.FrameCount)/float64(st.FlushCount))

	session.Close()
	srv.Close()
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

// faultDialer dials TCP and fails the first write to the socket that
// carries poison, after sending half of it, as a connection that breaks
// mid-write does.
type faultDialer struct {
	poison []byte
	fired  atomic.Bool
}

func (d *faultDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, d: d}, nil
}

type faultConn struct {
	net.Conn
	d *faultDialer
}

var errBroken = errors.New("connection broke mid-write")

func (c *faultConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.d.poison) && c.d.fired.CompareAndSwap(false, true) {
		n, _ := c.Conn.Write(p[:len(p)/2])
		return n, errBroken
	}
	return c.Conn.Write(p)
}

// TestFailedWriteFailsTheRequestsItCarried breaks the socket write that
// carries one request's frame: that request must fail, and no request may
// be reported answered that the server did not receive, or answered with
// another's value.
func TestFailedWriteFailsTheRequestsItCarried(t *testing.T) {
	srv, cfg := echoServer(t)
	const poison = 0x7ead1e55
	d := &faultDialer{poison: binary.BigEndian.AppendUint32(nil, poison)}
	cfg.Dialer = d
	_, err := wire.Install(cfg)
	require.NoError(t, err)
	session, err := cfg.CreateSession()
	require.NoError(t, err)
	// Prepare the statement first, so that the poisoned write carries
	// EXECUTE frames.
	var v int
	require.NoError(t, session.Query(echoStmt, 1).Scan(&v))

	const n = 500
	value := func(i int) int {
		if i == n/2 {
			return poison
		}
		return i
	}
	got, errs := echoAll(session, n, value)
	require.True(t, d.fired.Load(), "the poisoned write happened")
	require.Error(t, errs[n/2], "the request whose frame the failed write carried")
	answered := 0
	for i := range n {
		if errs[i] == nil {
			answered++
			assert.Equal(t, value(i), got[i], "request %d got another's answer", i)
		}
	}
	assert.LessOrEqual(t, answered, srv.Requests(echoStmt)-1, "answered requests the server never received")
	t.Logf("%d of %d answered; the rest failed with the connection", answered, n)

	session.Close()
	srv.Close()
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

// countingDialer is a user's Dialer that counts its dials.
type countingDialer struct {
	dials atomic.Int32
	last  atomic.Pointer[net.Conn]
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.dials.Add(1)
		d.last.Store(&c)
	}
	return c, err
}

// userHostDialer is a user's HostDialer that counts its dials.
type userHostDialer struct {
	countingDialer
}

func (d *userHostDialer) DialHost(ctx context.Context, host *gocql.HostInfo) (*gocql.DialedHost, error) {
	c, err := d.DialContext(ctx, "tcp", host.ConnectAddressAndPort())
	if err != nil {
		return nil, err
	}
	return &gocql.DialedHost{Conn: c}, nil
}

func hostOf(t *testing.T, srv *cqltest.Server) *gocql.HostInfo {
	t.Helper()
	h, err := gocql.NewHostInfoFromAddrPort(net.ParseIP(srv.Host()), srv.Port())
	require.NoError(t, err)
	return h
}

func TestUserHostDialerIsWrapped(t *testing.T) {
	srv, cfg := echoServer(t)
	user := &userHostDialer{}
	cfg.HostDialer = user
	hd, err := wire.Install(cfg)
	require.NoError(t, err)
	assert.Same(t, hd, cfg.HostDialer)

	dh, err := hd.DialHost(context.Background(), hostOf(t, srv))
	require.NoError(t, err)
	c, ok := dh.Conn.(*wire.Conn)
	require.True(t, ok, "got %T", dh.Conn)
	assert.Same(t, *user.last.Load(), c.NetConn(), "the user's connection, wrapped")
	assert.True(t, dh.DisableCoalesce)
	require.NoError(t, c.Close())

	session, err := cfg.CreateSession()
	require.NoError(t, err)
	requireEchoes(t, session, 100)
	assert.GreaterOrEqual(t, user.dials.Load(), int32(3), "one dial above, then the session's control and pool connections")
	assert.GreaterOrEqual(t, hd.Stats().FrameCount, uint64(100))
	session.Close()
	srv.Close()
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

func TestUserDialerIsUsed(t *testing.T) {
	srv, cfg := echoServer(t)
	user := &countingDialer{}
	cfg.Dialer = user
	hd, err := wire.Install(cfg)
	require.NoError(t, err)

	dh, err := hd.DialHost(context.Background(), hostOf(t, srv))
	require.NoError(t, err)
	c := dh.Conn.(*wire.Conn)
	assert.Same(t, *user.last.Load(), c.NetConn(), "the Dialer's connection, wrapped, without TLS")
	require.NoError(t, c.Close())

	session, err := cfg.CreateSession()
	require.NoError(t, err)
	requireEchoes(t, session, 100)
	assert.GreaterOrEqual(t, user.dials.Load(), int32(3))
	session.Close()
	srv.Close()
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

func TestInstallTwiceWrapsOnce(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	first, err := wire.Install(cfg)
	require.NoError(t, err)
	second, err := wire.Install(cfg)
	require.NoError(t, err)
	assert.Same(t, first, second)
	assert.Same(t, first, cfg.HostDialer)
}

func TestDialErrorsPassThrough(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	hd, err := wire.NewHostDialer(cfg)
	require.NoError(t, err)
	assert.Nil(t, cfg.HostDialer, "NewHostDialer does not modify cfg")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close()) // nothing listens there now
	h, err := gocql.NewHostInfoFromAddrPort(net.IPv4(127, 0, 0, 1), port)
	require.NoError(t, err)
	_, err = hd.DialHost(context.Background(), h)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr)
}

// requireEchoes sends n requests concurrently through session and requires
// each to come back with its own value.
func requireEchoes(t *testing.T, session *gocql.Session, n int) {
	t.Helper()
	got, errs := echoAll(session, n, identity)
	for i := range got {
		require.NoError(t, errs[i])
		require.Equal(t, i, got[i])
	}
}
