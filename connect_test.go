package cassandra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// Connect's retries and typed errors, against the in-process server, a
// closed port and a TLS listener. Waits between tries are a millisecond
// here; nothing asserts how long anything took.

// fastRetry retries quickly, attempts times in all (0: until ctx ends).
func fastRetry(attempts int) Option {
	return WithConnectRetry(attempts, time.Millisecond, 2*time.Millisecond)
}

// countingDialer counts dials and refuses the first failFirst of them, as a
// node that is not listening yet would.
type countingDialer struct {
	failFirst int64
	dials     atomic.Int64
	dialed    chan struct{} // receives after each dial, if not nil (never blocks)
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	n := d.dials.Add(1)
	if d.dialed != nil {
		select {
		case d.dialed <- struct{}{}:
		default:
		}
	}
	if n <= d.failFirst {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return "127.0.0.1", port
}

// connectErr connects with cfg and opts, expects a *ConnectError and closes
// the cluster.
func connectErr(t *testing.T, ctx context.Context, cfg *gocql.ClusterConfig, opts ...Option) *ConnectError {
	t.Helper()
	cluster, err := NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	defer func() { require.NoError(t, cluster.Close()) }()
	s, err := cluster.Connect(ctx)
	require.Error(t, err)
	assert.Nil(t, s)
	var ce *ConnectError
	require.ErrorAs(t, err, &ce, "Connect's error is a *ConnectError: %v", err)
	return ce
}

func TestConnectWithConnectRetryValidates(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	for name, opt := range map[string]Option{
		"negative attempts":   WithConnectRetry(-1, time.Second, time.Second),
		"zero first wait":     WithConnectRetry(1, 0, time.Second),
		"max below the first": WithConnectRetry(1, 2*time.Second, time.Second),
	} {
		_, err := NewAsyncCluster(cfg, opt)
		assert.ErrorContains(t, err, "WithConnectRetry", name)
	}
	_, err := NewAsyncCluster(cfg, WithConnectRetry(0, time.Millisecond, time.Millisecond))
	assert.NoError(t, err, "0 attempts: until the context ends")
}

func TestConnectBackoffDoublesUpToTheMaximum(t *testing.T) {
	r := connectRetry{attempts: 0, first: 100 * time.Millisecond, maxGap: 1 * time.Second}
	for n, full := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 50: time.Second,
	} {
		for range 20 {
			w := r.wait(n)
			assert.LessOrEqual(t, w, full, "try %d", n)
			assert.GreaterOrEqual(t, w, full/2, "try %d: jitter takes at most half", n)
		}
	}
	huge := connectRetry{first: time.Hour, maxGap: time.Duration(math.MaxInt64)}
	assert.Greater(t, huge.wait(100), time.Duration(0), "no overflow")
}

func TestConnectRetriesUntilAHostAnswers(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	srv.SetRows(fastQuery, cqltest.Cols("id", cqltest.Int), [][]any{{2}})
	d := &countingDialer{failFirst: 3}
	cfg := srv.ClusterConfig()
	cfg.Dialer = d
	cluster, err := NewAsyncCluster(cfg, fastRetry(0))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err, "the host answers on the fourth try")
	assert.Greater(t, d.dials.Load(), int64(3))
	fastQueryRuns(t, s, "the session works")
	require.NoError(t, cluster.Close())
	srv.Close()
}

func TestConnectNoHostReachable(t *testing.T) {
	defer goleak.VerifyNone(t)
	host, port := closedPort(t)
	cfg := gocql.NewCluster(host)
	cfg.Port = port
	ce := connectErr(t, context.Background(), cfg, fastRetry(3))
	assert.ErrorIs(t, ce, ErrNoHostReachable)
	assert.Equal(t, 3, ce.Attempts, "the retries give up")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	assert.Equal(t, []string{addr}, ce.Hosts)
	var op *net.OpError
	assert.ErrorAs(t, ce, &op, "the network's error stays reachable")
	assert.ErrorIs(t, ce, syscall.ECONNREFUSED)
	assert.Contains(t, ce.Error(), addr, "the error names the host tried")
	assert.Contains(t, ce.Error(), "no host reachable after 3 attempts")
}

func TestConnectNamesEveryHostTried(t *testing.T) {
	defer goleak.VerifyNone(t)
	h1, p1 := closedPort(t)
	h2, p2 := closedPort(t)
	cfg := gocql.NewCluster(fmt.Sprintf("%s:%d", h1, p1), fmt.Sprintf("%s:%d", h2, p2))
	ce := connectErr(t, context.Background(), cfg, fastRetry(1))
	assert.ErrorIs(t, ce, ErrNoHostReachable)
	assert.Equal(t, 1, ce.Attempts)
	a1, a2 := fmt.Sprintf("127.0.0.1:%d", p1), fmt.Sprintf("127.0.0.1:%d", p2)
	assert.ElementsMatch(t, []string{a1, a2}, ce.Hosts)
	// The cause holds each host's error, each naming its address.
	msg := ce.Error()
	assert.Equal(t, 2, strings.Count(msg, a1), "in the hosts tried and in its dial error: %s", msg)
	assert.Equal(t, 2, strings.Count(msg, a2), msg)
}

func TestConnectRetriesEndWithTheContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	host, port := closedPort(t)
	cfg := gocql.NewCluster(host)
	cfg.Port = port
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ce := connectErr(t, ctx, cfg, fastRetry(0))
	assert.ErrorIs(t, ce, ErrNoHostReachable)
	assert.ErrorIs(t, ce, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, ce.Attempts, 1)
	assert.Contains(t, ce.Error(), "context deadline exceeded")
}

func TestConnectStopsRetryingOnClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	host, port := closedPort(t)
	cfg := gocql.NewCluster(host)
	cfg.Port = port
	d := &countingDialer{failFirst: 1 << 30, dialed: make(chan struct{}, 1)}
	cfg.Dialer = d
	cluster, err := NewAsyncCluster(cfg, WithConnectRetry(0, time.Hour, time.Hour))
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := cluster.Connect(context.Background())
		errc <- err
	}()
	<-d.dialed // the first try has failed or is failing; a wait of up to an hour follows
	require.NoError(t, cluster.Close())
	assert.ErrorIs(t, <-errc, ErrClosed)
}

func TestConnectAuthentication(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	const password = "correct-horse-battery"
	srv := cqltest.NewServer(t, cqltest.WithPasswordAuth("alice", password))
	srv.SetRows(fastQuery, cqltest.Cols("id", cqltest.Int), [][]any{{2}})
	logs := &captureLogger{}
	config := func(auth gocql.Authenticator) (*gocql.ClusterConfig, *countingDialer) {
		d := &countingDialer{}
		cfg := srv.ClusterConfig()
		cfg.Dialer = d
		cfg.Authenticator = auth
		cfg.Logger = logs
		return cfg, d
	}

	t.Run("wrong password", func(t *testing.T) {
		cfg, d := config(gocql.PasswordAuthenticator{Username: "alice", Password: "not-the-" + password})
		ce := connectErr(t, context.Background(), cfg, fastRetry(0))
		assert.ErrorIs(t, ce, ErrAuthentication)
		var cred *gocql.RequestErrCredentials
		assert.ErrorAs(t, ce, &cred, "the driver's typed error")
		assert.Equal(t, 1, ce.Attempts, "not retried")
		assert.LessOrEqual(t, d.dials.Load(), int64(3), "no retry storm: the reachability check and the control connection")
		assert.NotContains(t, ce.Error(), password)
		assert.Contains(t, ce.Error(), "authentication failed")
	})
	t.Run("no credentials", func(t *testing.T) {
		cfg, _ := config(nil)
		ce := connectErr(t, context.Background(), cfg, fastRetry(0))
		assert.ErrorIs(t, ce, ErrAuthentication)
		assert.Contains(t, ce.Error(), "authentication required")
	})
	t.Run("right password", func(t *testing.T) {
		cfg, _ := config(gocql.PasswordAuthenticator{Username: "alice", Password: password})
		cluster, err := NewAsyncCluster(cfg)
		require.NoError(t, err)
		s, err := cluster.Connect(context.Background())
		require.NoError(t, err)
		fastQueryRuns(t, s, "logged in")
		require.NoError(t, cluster.Close())
	})
	assert.NotContains(t, logs.String(), password, "the driver's log never holds the password")
	srv.Close()
}

func TestConnectProtocolMismatch(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t) // speaks v3 and v4 only
	cfg := srv.ClusterConfig()
	cfg.ProtoVersion = 5
	ce := connectErr(t, context.Background(), cfg, fastRetry(0))
	assert.ErrorIs(t, ce, ErrProtocolVersion)
	assert.Equal(t, 1, ce.Attempts, "not retried")
	assert.Contains(t, ce.Error(), "protocol version not supported")
	assert.Contains(t, ce.Error(), "version 5", "the driver's error says which")
	srv.Close()
}

func TestConnectUnknownKeyspace(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	srv.FailPage(`USE "nope"`, 1, cqltest.Invalid("Keyspace 'nope' does not exist"))
	cfg := srv.ClusterConfig()
	cfg.Keyspace = "nope"
	ce := connectErr(t, context.Background(), cfg, fastRetry(0))
	assert.ErrorIs(t, ce, ErrKeyspaceNotFound)
	assert.ErrorIs(t, ce, gocql.ErrKeyspaceDoesNotExist, "matches the driver's sentinel")
	assert.Equal(t, "nope", ce.Keyspace)
	assert.Contains(t, ce.Error(), `keyspace does not exist ("nope")`)
	srv.Close()
}

// A keyspace that exists but cannot be used is not reported as unknown.
func TestConnectKeyspaceThatExistsIsNotUnknown(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	srv.FailPage(`USE "there"`, 1, cqltest.ServerFailure("cannot use it now"))
	srv.SetRows("SELECT keyspace_name FROM system_schema.keyspaces", cqltest.Cols("keyspace_name", cqltest.Text), [][]any{{"there"}})
	cfg := srv.ClusterConfig()
	cfg.Keyspace = "there"
	ce := connectErr(t, context.Background(), cfg, fastRetry(0))
	assert.ErrorIs(t, ce, ErrNoHostReachable)
	assert.NotErrorIs(t, ce, ErrKeyspaceNotFound)
	srv.Close()
}

func TestConnectConfigurationErrorIsReturnedAsIs(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	cfg := srv.ClusterConfig()
	cfg.Authenticator = gocql.PasswordAuthenticator{Username: "a", Password: "b"}
	cfg.AuthProvider = func(*gocql.HostInfo) (gocql.Authenticator, error) { return nil, nil }
	cluster, err := NewAsyncCluster(cfg)
	require.NoError(t, err)
	_, err = cluster.Connect(context.Background())
	require.Error(t, err)
	var ce *ConnectError
	assert.False(t, errors.As(err, &ce), "nothing was dialed: the driver's own error: %v", err)
	require.NoError(t, cluster.Close())
	srv.Close()
}

func TestConnectTLSUntrustedCertificate(t *testing.T) {
	defer goleak.VerifyNone(t)
	addr, stop := tlsListener(t)
	defer stop()
	cfg := gocql.NewCluster(addr.IP.String())
	cfg.Port = addr.Port
	cfg.SslOpts = &gocql.SslOptions{Config: &tls.Config{RootCAs: x509.NewCertPool()}, EnableHostVerification: true}
	ce := connectErr(t, context.Background(), cfg, fastRetry(0))
	assert.ErrorIs(t, ce, ErrTLS)
	var verify *tls.CertificateVerificationError
	assert.ErrorAs(t, ce, &verify)
	assert.Equal(t, 1, ce.Attempts, "not retried")
	assert.Contains(t, ce.Error(), "certificate signed by unknown authority")
}

func TestConnectTLSToAPlainServer(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	cfg := srv.ClusterConfig()
	cfg.SslOpts = &gocql.SslOptions{EnableHostVerification: false}
	ce := connectErr(t, context.Background(), cfg, fastRetry(0))
	assert.ErrorIs(t, ce, ErrTLS)
	assert.Equal(t, 1, ce.Attempts, "not retried")
	srv.Close()
}

// tlsListener accepts TLS connections on 127.0.0.1 with a self-signed
// certificate, completes each handshake it can and closes the connection,
// until stop is called.
func tlsListener(t *testing.T) (addr *net.TCPAddr, stop func()) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "untrusted"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr), func() { _ = ln.Close(); wg.Wait() }
}

// captureLogger keeps everything the driver logs, at every level.
type captureLogger struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *captureLogger) log(level, msg string, fields []gocql.LogField) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, "%s %s", level, msg)
	for _, f := range fields {
		fmt.Fprintf(&l.b, " %s=%s", f.Name, f.Value.String())
	}
	l.b.WriteByte('\n')
}

func (l *captureLogger) Error(msg string, fields ...gocql.LogField)   { l.log("ERROR", msg, fields) }
func (l *captureLogger) Warning(msg string, fields ...gocql.LogField) { l.log("WARN", msg, fields) }
func (l *captureLogger) Info(msg string, fields ...gocql.LogField)    { l.log("INFO", msg, fields) }
func (l *captureLogger) Debug(msg string, fields ...gocql.LogField)   { l.log("DEBUG", msg, fields) }

func (l *captureLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
