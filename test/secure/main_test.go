// Package secure holds the tests against the launcher's secure node
// (`make secure-up`): a node on 127.0.0.4 that requires TLS and a password.
// `make integration` (and `make test`) start it first; with no secure node
// the tests fail, saying how to start one, rather than skip.
package secure

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/test/internal/node"
)

// keyspace is created once per run; every test makes its own tables in it.
const keyspace = "async_cassandra_sec"

// sec is the secure node's address, CA and test role, read by TestMain.
var sec *node.Secure

// secureConfig returns a gocql configuration that reaches the secure node
// as a user would: TLS with the node's CA and host verification on, and
// the test role's credentials.
func secureConfig() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(sec.Host)
	cfg.SslOpts = &gocql.SslOptions{
		Config:                 &tls.Config{RootCAs: sec.Roots, MinVersion: tls.VersionTLS12},
		EnableHostVerification: true,
	}
	cfg.Authenticator = gocql.PasswordAuthenticator{Username: sec.Username, Password: sec.Password}
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	return cfg
}

func TestMain(m *testing.M) {
	var err error
	if sec, err = node.LoadSecure(); err == nil {
		err = prepare()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "the secure tests need the secure node at %s: %v\n"+
			"Start it with `make secure-up` (or run `make test`).\n", node.SecureHost, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// prepare checks that the node answers and creates the test keyspace.
func prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := secureConfig().CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Query(`CREATE KEYSPACE IF NOT EXISTS ` + keyspace +
		` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).ExecContext(ctx)
}
