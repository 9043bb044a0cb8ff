// Command cqlprobe reports whether a Cassandra node really serves CQL: it
// connects with gocql and runs SELECT release_version FROM system.local,
// printing the version on success. An open port is not enough for the test
// launcher, because a starting node accepts connections before it can answer.
//
// With -wait it keeps trying until -timeout; otherwise it tries once within it.
//
// For the launcher's secure node it also speaks TLS (-ca: the PEM file of the
// CA that signed the node's certificate; the node's address is verified
// against the certificate) and password authentication (-username, with the
// password in the environment variable CQLPROBE_PASSWORD so that it never
// shows in a process listing). With -exec FILE it then runs each non-empty
// line of FILE ("-" for standard input) as a statement, in order; the
// launcher creates the test role this way. Errors never repeat a statement's
// text, which may hold a password.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

type options struct {
	hosts    []string
	ca       string // PEM file; empty: plain TCP
	username string // empty: no authentication
	password string
	stmts    []string
}

func main() {
	hosts := flag.String("hosts", "127.0.0.1", "comma-separated CQL contact points (host or host:port)")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to try")
	wait := flag.Bool("wait", false, "retry until the timeout instead of trying once")
	ca := flag.String("ca", "", "PEM file of the CA to trust: connect with TLS and verify the node's address")
	username := flag.String("username", "", "log in as this role (password in $CQLPROBE_PASSWORD)")
	exec := flag.String("exec", "", `file of statements to run after the probe, one per line ("-": standard input)`)
	flag.Parse()

	o := options{hosts: strings.Split(*hosts, ","), ca: *ca, username: *username, password: os.Getenv("CQLPROBE_PASSWORD")}
	if *exec != "" {
		var err error
		if o.stmts, err = readStatements(*exec); err != nil {
			fmt.Fprintf(os.Stderr, "cqlprobe: %v\n", err)
			os.Exit(2)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for {
		v, err := probe(ctx, o)
		if err == nil {
			fmt.Println(v)
			return
		}
		if !*wait || ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "cqlprobe: %s: %v\n", *hosts, err)
			os.Exit(1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func readStatements(name string) ([]string, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var stmts []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts, sc.Err()
}

// probe connects, reads release_version and runs o.stmts.
func probe(ctx context.Context, o options) (string, error) {
	cfg := gocql.NewCluster(o.hosts...)
	cfg.ProtoVersion = 0 // negotiate
	budget := time.Until(deadline(ctx))
	cfg.ConnectTimeout = min(budget, 5*time.Second)
	cfg.Timeout = cfg.ConnectTimeout
	cfg.DisableInitialHostLookup = true
	cfg.NumConns = 1
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return "", err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return "", fmt.Errorf("%s: no PEM certificate", o.ca)
		}
		cfg.SslOpts = &gocql.SslOptions{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, EnableHostVerification: true}
	}
	if o.username != "" {
		cfg.Authenticator = gocql.PasswordAuthenticator{Username: o.username, Password: o.password}
	}
	s, err := cfg.CreateSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var v string
	if err := s.Query("SELECT release_version FROM system.local").ScanContext(ctx, &v); err != nil {
		return "", err
	}
	for i, stmt := range o.stmts {
		if err := s.Query(stmt).ExecContext(ctx); err != nil {
			// Name the statement by number: its text may hold a password.
			return "", fmt.Errorf("statement %d of %d: %w", i+1, len(o.stmts), err)
		}
	}
	return v, nil
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(5 * time.Second)
	}
	return d
}
