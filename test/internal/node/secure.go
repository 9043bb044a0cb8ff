package node

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// SecureHost is the CQL address of the launcher's secure node
// (`make secure-up`): TLS and a password required.
const SecureHost = "127.0.0.4"

// Secure is what a client needs to reach the secure node: the CA that
// signed its certificate and the test role's credentials. The launcher
// writes them when the node is ready.
type Secure struct {
	Host     string
	CAPEM    []byte         // the CA's certificate, PEM
	Roots    *x509.CertPool // a pool holding CAPEM
	Username string
	Password string
}

// SecureDir returns where the launcher leaves the secure node's client
// files: CASSANDRA_SECURE_DIR if set, else secure/client under
// CASSANDRA_WORKDIR, else under the repository's .local/cassandra.
func SecureDir() string {
	if d := os.Getenv("CASSANDRA_SECURE_DIR"); d != "" {
		return d
	}
	if w := os.Getenv("CASSANDRA_WORKDIR"); w != "" {
		return filepath.Join(w, "secure", "client")
	}
	_, file, _, _ := runtime.Caller(0) // <repo>/test/internal/node/secure.go
	return filepath.Join(filepath.Dir(file), "..", "..", "..", ".local", "cassandra", "secure", "client")
}

// LoadSecure reads the client files of the secure node. It fails, naming
// the directory, when the node has not been set up.
func LoadSecure() (*Secure, error) {
	dir := SecureDir()
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("the secure node's client files are missing (%w): start it with `make secure-up`", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	s := &Secure{Host: SecureHost}
	ca, err := read("ca.pem")
	if err != nil {
		return nil, err
	}
	s.CAPEM = []byte(ca + "\n")
	s.Roots = x509.NewCertPool()
	if !s.Roots.AppendCertsFromPEM(s.CAPEM) {
		return nil, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, "ca.pem"))
	}
	if s.Username, err = read("username"); err != nil {
		return nil, err
	}
	if s.Password, err = read("password"); err != nil {
		return nil, err
	}
	if s.Username == "" || s.Password == "" {
		return nil, fmt.Errorf("%s: empty username or password", dir)
	}
	return s, nil
}
