package secure

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
	"github.com/async-cassandra/cassandra/internal/wire"
)

// ignoreHeartbeat: gocql's control connection heartbeat may still be
// returning when a test's session has just closed.
var ignoreHeartbeat = goleak.IgnoreTopFunction("github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat")

// noLeaks checks, once the test and its cleanups are done, that no
// goroutine it started is left.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, ignoreHeartbeat) })
}

// connect opens an AsyncSession on the secure node with cfg; the cluster is
// closed when the test ends.
func connect(t *testing.T, cfg *gocql.ClusterConfig, opts ...cassandra.Option) *cassandra.AsyncSession {
	t.Helper()
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Close()) })
	return s
}

// connectErr connects with cfg and returns the *ConnectError, failing the
// test if Connect succeeds or returns another error.
func connectErr(t *testing.T, cfg *gocql.ClusterConfig, opts ...cassandra.Option) *cassandra.ConnectError {
	t.Helper()
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	defer func() { require.NoError(t, cluster.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.Error(t, err)
	assert.Nil(t, s)
	var ce *cassandra.ConnectError
	require.ErrorAs(t, err, &ce, "%v", err)
	t.Logf("Connect: %v", err)
	return ce
}

// retryUntilDeadline makes Connect retry what it retries for as long as
// the test's context allows, so that a test can show what is not retried.
var retryUntilDeadline = cassandra.WithConnectRetry(0, 10*time.Millisecond, 100*time.Millisecond)

// countingDialer counts the TCP connections made through it.
type countingDialer struct{ dials atomic.Int64 }

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// captureLogger keeps everything gocql logs, at every level.
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

// TLS with host verification, a password, and the library's defaults (write
// batching included, above TLS): many requests in flight are all answered
// and took effect, and neither the driver's log, nor errors, nor the
// metrics hold the password.
func TestQueriesOverTLSWithAPassword(t *testing.T) {
	noLeaks(t)
	const (
		rows     = 2000
		inFlight = 128
	)
	logs := &captureLogger{}
	metrics := inmemory.New()
	cfg := secureConfig()
	cfg.Keyspace = keyspace
	cfg.Logger = logs
	s := connect(t, cfg, cassandra.WithCollector(metrics), cassandra.WithWorkers(inFlight))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := s.Execute(ctx, `CREATE TABLE IF NOT EXISTS tls_kv (k int PRIMARY KEY, v text)`).Await(ctx)
	require.NoError(t, err)
	futs := make([]*cassandra.Future[*cassandra.ResultSet], rows)
	for i := range futs {
		futs[i] = s.Execute(ctx, `INSERT INTO tls_kv (k, v) VALUES (?, ?)`, i, fmt.Sprintf("v%d", i))
	}
	_, err = cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	for i := range futs {
		futs[i] = s.Execute(ctx, `SELECT v FROM tls_kv WHERE k = ?`, i)
	}
	results, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)
	for i, rs := range results {
		var v string
		require.NoError(t, rs.One(&v))
		require.Equal(t, fmt.Sprintf("v%d", i), v)
	}

	// A failing statement that sets a password: the server's error and the
	// library's both stay free of it.
	const rolePassword = "role-pw-literal-5d2c"
	_, err = s.Execute(ctx, `ALTER ROLE sec_no_such_role WITH PASSWORD = '`+rolePassword+`'`).Await(ctx)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), rolePassword)
	// And a failing statement on the same session, for the error counters.
	_, err = s.Execute(ctx, `SELECT nope FROM tls_kv`).Await(ctx)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), sec.Password)

	// Close waits for the workers, which report each request to the
	// collector after completing its future.
	require.NoError(t, s.Close())
	snap := metrics.Snapshot()
	assert.GreaterOrEqual(t, snap.RequestCount, uint64(2*rows+3))
	assert.GreaterOrEqual(t, snap.ErrorCount, uint64(2))
	for what, text := range map[string]string{
		"the driver's log":               logs.String(),
		"the metrics' summary":           metrics.String(),
		"the metrics' snapshot":          fmt.Sprintf("%+v", snap),
		"the session's pool statistics":  fmt.Sprintf("%+v", s.Stats()),
		"the host monitor's description": fmt.Sprintf("%+v", s.Hosts()),
	} {
		assert.NotContains(t, text, sec.Password, what)
		assert.NotContains(t, text, rolePassword, what)
	}
}

// Write batching sits above TLS: the driver's frames go through the
// batching connections, whose writes go into the TLS connection.
func TestWriteBatchingAboveTLS(t *testing.T) {
	noLeaks(t)
	const (
		n        = 3000
		inFlight = 256
	)
	cfg := secureConfig()
	cfg.Keyspace = keyspace
	hd, err := wire.Install(cfg)
	require.NoError(t, err)
	gs, err := cfg.CreateSession()
	require.NoError(t, err)
	defer gs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, gs.Query(`CREATE TABLE IF NOT EXISTS tls_wire (k int PRIMARY KEY, v int)`).ExecContext(ctx))

	var wg sync.WaitGroup
	errs := make([]error, n)
	next := make(chan int)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = gs.Query(`INSERT INTO tls_wire (k, v) VALUES (?, ?)`, i, i*3).ExecContext(ctx)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "insert %d", i)
	}
	var count int
	require.NoError(t, gs.Query(`SELECT COUNT(*) FROM tls_wire`).ScanContext(ctx, &count))
	assert.Equal(t, n, count)
	st := hd.Stats()
	assert.Greater(t, st.FrameCount, uint64(n), "the requests went through the batching connections")
	t.Logf("%d frames in %d writes to TLS", st.FrameCount, st.FlushCount)
}

// A wrong password is refused at once, with the driver's typed error, and
// Connect does not try again, although retries are on.
func TestWrongPassword(t *testing.T) {
	noLeaks(t)
	const wrong = "wrong-password-7f3a"
	d := &countingDialer{}
	logs := &captureLogger{}
	cfg := secureConfig()
	cfg.Authenticator = gocql.PasswordAuthenticator{Username: sec.Username, Password: wrong}
	cfg.Dialer = d
	cfg.Logger = logs
	start := time.Now()
	ce := connectErr(t, cfg, retryUntilDeadline)
	t.Logf("refused after %v and %d connections", time.Since(start), d.dials.Load())

	assert.ErrorIs(t, ce, cassandra.ErrAuthentication)
	var cred *gocql.RequestErrCredentials
	assert.ErrorAs(t, ce, &cred, "the driver's typed error")
	assert.Equal(t, 1, ce.Attempts)
	assert.LessOrEqual(t, d.dials.Load(), int64(3),
		"no retry storm: the reachability check and the control connection (protocol negotiation may add one)")
	assert.Contains(t, ce.Error(), "authentication failed")
	for what, text := range map[string]string{"the error": ce.Error(), "the driver's log": logs.String()} {
		assert.NotContains(t, text, wrong, what)
		assert.NotContains(t, text, sec.Password, what)
	}
}

// No credentials at all: the node asks for them, and Connect says so.
func TestNoCredentials(t *testing.T) {
	noLeaks(t)
	cfg := secureConfig()
	cfg.Authenticator = nil
	ce := connectErr(t, cfg, retryUntilDeadline)
	assert.ErrorIs(t, ce, cassandra.ErrAuthentication)
	assert.Contains(t, ce.Error(), "PasswordAuthenticator")
}

// newCA makes a CA certificate that signed nothing the node has.
func newCA(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// The node's certificate checked against another CA: a clear TLS error,
// not retried.
func TestWrongCA(t *testing.T) {
	noLeaks(t)
	cfg := secureConfig()
	cfg.SslOpts.Config = &tls.Config{RootCAs: newCA(t)}
	ce := connectErr(t, cfg, retryUntilDeadline)
	assert.ErrorIs(t, ce, cassandra.ErrTLS)
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, ce, &unknown)
	assert.Equal(t, 1, ce.Attempts)
	assert.Contains(t, ce.Error(), "certificate signed by unknown authority")
	assert.Contains(t, ce.Error(), sec.Host+":9042")
}

// Host verification is on: the right CA, but a certificate checked for
// another name, is refused.
func TestHostVerification(t *testing.T) {
	noLeaks(t)
	cfg := secureConfig()
	cfg.SslOpts.Config = &tls.Config{RootCAs: sec.Roots, ServerName: "not-the-node.example"}
	ce := connectErr(t, cfg, retryUntilDeadline)
	assert.ErrorIs(t, ce, cassandra.ErrTLS)
	var hostname x509.HostnameError
	assert.ErrorAs(t, ce, &hostname)
}

// A client without TLS: the node closes the connection. Connect reports no
// reachable host, once the node has accepted the connection, and does not
// call it a TLS error.
func TestPlainClientToTheTLSNode(t *testing.T) {
	noLeaks(t)
	cfg := secureConfig()
	cfg.SslOpts = nil
	ce := connectErr(t, cfg, retryUntilDeadline)
	assert.ErrorIs(t, ce, cassandra.ErrNoHostReachable)
	assert.NotErrorIs(t, ce, cassandra.ErrTLS)
	assert.Equal(t, 1, ce.Attempts, "the node accepted the connection: the session was set up once")
}

// A keyspace that does not exist, with TLS and a password: the keyspace
// check runs with the same credentials.
func TestUnknownKeyspace(t *testing.T) {
	noLeaks(t)
	cfg := secureConfig()
	cfg.Keyspace = "sec_no_such_keyspace"
	ce := connectErr(t, cfg, retryUntilDeadline)
	assert.ErrorIs(t, ce, cassandra.ErrKeyspaceNotFound)
	assert.ErrorIs(t, ce, gocql.ErrKeyspaceDoesNotExist)
	assert.Equal(t, "sec_no_such_keyspace", ce.Keyspace)
}
