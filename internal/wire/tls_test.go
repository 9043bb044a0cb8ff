package wire_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/wire"
)

// selfSigned makes a certificate for 127.0.0.1, signed by itself, and
// returns it with its PEM encoding.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wire test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tlsServer listens for TLS on 127.0.0.1 and hands each connection, once
// its handshake is done, to serve. Cleanup closes everything and waits.
type tlsServer struct {
	ln         net.Listener
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      []net.Conn
	handshakes atomic.Int32
}

func startTLSServer(t *testing.T, cert tls.Certificate, serve func(net.Conn)) *tlsServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	s := &tlsServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				s.handshakes.Add(1)
				serve(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *tlsServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *tlsServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// proxyTo returns a serve function that relays a TLS connection's plain
// bytes to addr and back: a TLS endpoint in front of the test CQL server.
func proxyTo(addr string) func(net.Conn) {
	return func(c net.Conn) {
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(c, up)
			c.Close()
		}()
		_, _ = io.Copy(up, c)
		up.Close()
		<-done
	}
}

// TestSessionOverTLSFromSslOpts runs a session through a TLS endpoint set
// up from SslOpts (a CA file and host verification), batching above TLS.
func TestSessionOverTLSFromSslOpts(t *testing.T) {
	srv, cfg := echoServer(t)
	cert, caPEM := selfSigned(t)
	proxy := startTLSServer(t, cert, proxyTo(srv.Addr()))
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caPath, caPEM, 0o600))

	cfg.Port = proxy.port()
	cfg.SslOpts = &gocql.SslOptions{CaPath: caPath, EnableHostVerification: true}
	hd, err := wire.Install(cfg)
	require.NoError(t, err)

	dh, err := hd.DialHost(context.Background(), hostOfPort(t, proxy.port()))
	require.NoError(t, err)
	c := dh.Conn.(*wire.Conn)
	tc, ok := c.NetConn().(*tls.Conn)
	require.True(t, ok, "batching sits above TLS, got %T beneath", c.NetConn())
	assert.True(t, tc.ConnectionState().HandshakeComplete)
	require.NoError(t, c.Close())

	session, err := cfg.CreateSession()
	require.NoError(t, err)
	requireEchoes(t, session, 1000)
	assert.GreaterOrEqual(t, proxy.handshakes.Load(), int32(3))
	st := hd.Stats()
	assert.GreaterOrEqual(t, st.FrameCount, uint64(1000))
	t.Logf("%d frames in %d TLS writes", st.FrameCount, st.FlushCount)
	session.Close()
	proxy.close()
	srv.Close()
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

// TestTLSVerificationIsKept: with host verification on and a root pool that
// lacks the server's certificate, no session is made.
func TestTLSVerificationIsKept(t *testing.T) {
	srv, cfg := echoServer(t)
	cert, _ := selfSigned(t)
	proxy := startTLSServer(t, cert, proxyTo(srv.Addr()))
	cfg.Port = proxy.port()
	cfg.SslOpts = &gocql.SslOptions{Config: &tls.Config{RootCAs: x509.NewCertPool()}, EnableHostVerification: true}
	hd, err := wire.Install(cfg)
	require.NoError(t, err)

	_, err = hd.DialHost(context.Background(), hostOfPort(t, proxy.port()))
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
	_, err = cfg.CreateSession()
	require.Error(t, err)
	proxy.close()
	srv.Close()
}

func hostOfPort(t *testing.T, port int) *gocql.HostInfo {
	t.Helper()
	h, err := gocql.NewHostInfoFromAddrPort(net.IPv4(127, 0, 0, 1), port)
	require.NoError(t, err)
	return h
}

// recordDialer is a user's Dialer whose connections count the TLS records
// written through them, and can hold a write until released.
type recordDialer struct {
	conn atomic.Pointer[recordConn]
}

func (d *recordDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	rc := &recordConn{Conn: c}
	d.conn.Store(rc)
	return rc, nil
}

type recordConn struct {
	net.Conn
	mu      sync.Mutex
	records int             // TLS records written so far
	partial int             // bytes of the current record still to come
	hdr     []byte          // a record header split across writes
	hold    chan chan error // when set, the next Write announces itself and waits
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	hold := c.hold
	c.hold = nil
	c.count(p)
	c.mu.Unlock()
	if hold != nil {
		release := make(chan error)
		hold <- release
		<-release
	}
	return c.Conn.Write(p)
}

// count parses TLS record headers (5 bytes: type, version, length) out of
// the written stream. c.mu held.
func (c *recordConn) count(p []byte) {
	for len(p) > 0 {
		if c.partial > 0 {
			n := min(c.partial, len(p))
			c.partial -= n
			p = p[n:]
			continue
		}
		need := 5 - len(c.hdr)
		n := min(need, len(p))
		c.hdr = append(c.hdr, p[:n]...)
		p = p[n:]
		if len(c.hdr) == 5 {
			c.records++
			c.partial = int(c.hdr[3])<<8 | int(c.hdr[4])
			c.hdr = c.hdr[:0]
		}
	}
}

func (c *recordConn) recordCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records
}

// holdNext makes the next Write wait; it returns the channel on which that
// Write announces itself with its release channel.
func (c *recordConn) holdNext() chan chan error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = make(chan chan error)
	return c.hold
}

// TestFramesShareTLSRecords: frames gathered while a TLS write is in
// progress leave in one TLS write, a few records for fifty frames, rather
// than a record each; and they arrive byte for byte.
func TestFramesShareTLSRecords(t *testing.T) {
	cert, _ := selfSigned(t)
	echo := startTLSServer(t, cert, func(c net.Conn) { _, _ = io.Copy(c, c) })
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, cert))
	cfg := gocql.NewCluster("127.0.0.1")
	d := &recordDialer{}
	cfg.Dialer = d
	cfg.SslOpts = &gocql.SslOptions{Config: &tls.Config{RootCAs: pool}, EnableHostVerification: true}
	hd, err := wire.NewHostDialer(cfg)
	require.NoError(t, err)
	dh, err := hd.DialHost(context.Background(), hostOfPort(t, echo.port()))
	require.NoError(t, err)
	c := dh.Conn.(*wire.Conn)
	raw := d.conn.Load()

	const n = 50
	fs := make([][]byte, n+1)
	for i := range fs {
		fs[i] = bytes.Repeat([]byte{byte(i)}, 100)
	}
	held := raw.holdNext()
	before := raw.recordCount()
	_, err = c.Write(fs[0])
	require.NoError(t, err)
	release := <-held // the flusher's TLS write of fs[0] is held in the socket write
	for _, f := range fs[1:] {
		_, err = c.Write(f)
		require.NoError(t, err)
	}
	close(release)

	got := make([]byte, (n+1)*100)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(bytes.Join(fs, nil), got), "the echo differs from what was written")
	batchRecords := raw.recordCount() - before - 1 // less fs[0]'s record
	assert.Less(t, batchRecords, n/5, "fifty frames should share a few records")
	t.Logf("%d frames in %d TLS records", n, batchRecords)
	require.NoError(t, c.Close()) // waits for the flusher, whose counts are then final
	assert.Equal(t, wire.Stats{FrameCount: n + 1, FlushCount: 2, ByteCount: uint64((n + 1) * 100)}, c.Stats())
	echo.close()
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

func mustParse(t *testing.T, cert tls.Certificate) *x509.Certificate {
	t.Helper()
	x, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	return x
}
