package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultDialerKeepsConnectTimeoutAndKeepalive(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	cfg.ConnectTimeout = 3 * time.Second
	cfg.SocketKeepalive = 7 * time.Second
	d, err := NewHostDialer(cfg)
	require.NoError(t, err)
	nd, ok := d.dialer.(*net.Dialer)
	require.True(t, ok, "got %T", d.dialer)
	assert.Equal(t, 3*time.Second, nd.Timeout)
	assert.Equal(t, 7*time.Second, nd.KeepAlive)
	assert.Nil(t, d.tlsCfg, "no SslOpts, no TLS")

	cfg.SocketKeepalive = 0
	d, err = NewHostDialer(cfg)
	require.NoError(t, err)
	assert.Zero(t, d.dialer.(*net.Dialer).KeepAlive, "zero keeps Go's default, as gocql does")
}

func TestTLSConfigFollowsGocqlsRules(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       gocql.SslOptions
		wantVerify bool
	}{
		{"no config, no verification asked", gocql.SslOptions{}, false},
		{"no config, verification asked", gocql.SslOptions{EnableHostVerification: true}, true},
		{"config verifies", gocql.SslOptions{Config: &tls.Config{}}, true},
		{"config skips", gocql.SslOptions{Config: &tls.Config{InsecureSkipVerify: true}}, false},
		{"config skips, verification asked", gocql.SslOptions{Config: &tls.Config{InsecureSkipVerify: true}, EnableHostVerification: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tlsConfig(&tc.opts)
			require.NoError(t, err)
			assert.Equal(t, tc.wantVerify, !cfg.InsecureSkipVerify)
			if tc.opts.Config != nil {
				assert.NotSame(t, tc.opts.Config, cfg, "the caller's config is cloned")
			}
		})
	}
}

func TestTLSConfigLoadsFilesWithoutTouchingTheCallersPool(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := testCertPEM(t)
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(ca, certPEM, 0o600))
	require.NoError(t, os.WriteFile(cert, certPEM, 0o600))
	require.NoError(t, os.WriteFile(key, keyPEM, 0o600))

	callers := x509.NewCertPool()
	cfg, err := tlsConfig(&gocql.SslOptions{Config: &tls.Config{RootCAs: callers}, CaPath: ca, CertPath: cert, KeyPath: key})
	require.NoError(t, err)
	assert.False(t, cfg.RootCAs.Equal(callers), "the CA was added")
	assert.True(t, callers.Equal(x509.NewCertPool()), "the caller's pool is unchanged")
	assert.Len(t, cfg.Certificates, 1)

	_, err = tlsConfig(&gocql.SslOptions{CaPath: filepath.Join(dir, "missing.pem")})
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = tlsConfig(&gocql.SslOptions{CaPath: key})
	assert.ErrorContains(t, err, "failed parsing CA certs")
	_, err = tlsConfig(&gocql.SslOptions{CertPath: cert})
	assert.Error(t, err, "a certificate without its key")

	_, err = NewHostDialer(&gocql.ClusterConfig{SslOpts: &gocql.SslOptions{CaPath: key}})
	assert.Error(t, err, "NewHostDialer reports a bad SslOpts")
}

// testCertPEM returns a new self-signed certificate and its key, in PEM.
func testCertPEM(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wire test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
