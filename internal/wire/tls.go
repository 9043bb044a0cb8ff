package wire

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// tlsConfig builds the TLS configuration that gocql's default dialer would
// build from opts (gocql does it in an unexported function, so a HostDialer
// that takes over from gocql must do it again, with the same rules):
//
//   - opts.Config is cloned, never modified; without one, a new config.
//   - Host verification: EnableHostVerification turns it on even when the
//     config says InsecureSkipVerify; without a config, verification is
//     off unless EnableHostVerification is set.
//   - CaPath adds the PEM certificates in that file to the root CAs (a new
//     pool if the config has none, else a copy of its pool); CertPath and KeyPath add a client
//     certificate.
func tlsConfig(opts *gocql.SslOptions) (*tls.Config, error) {
	var cfg *tls.Config
	if opts.Config == nil {
		cfg = &tls.Config{InsecureSkipVerify: !opts.EnableHostVerification}
	} else {
		cfg = opts.Config.Clone()
	}
	if opts.EnableHostVerification {
		cfg.InsecureSkipVerify = false
	}
	if opts.CaPath != "" {
		pem, err := os.ReadFile(opts.CaPath)
		if err != nil {
			return nil, fmt.Errorf("wire: unable to open CA certs: %w", err)
		}
		// Unlike gocql, add to a copy of the caller's pool: Clone shares it.
		if cfg.RootCAs == nil {
			cfg.RootCAs = x509.NewCertPool()
		} else {
			cfg.RootCAs = cfg.RootCAs.Clone()
		}
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("wire: failed parsing CA certs")
		}
	}
	if opts.CertPath != "" || opts.KeyPath != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertPath, opts.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("wire: unable to load X509 key pair: %w", err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	return cfg, nil
}
