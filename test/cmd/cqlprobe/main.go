// Command cqlprobe reports whether a Cassandra node really serves CQL: it
// connects with gocql and runs SELECT release_version FROM system.local,
// printing the version on success. An open port is not enough for the test
// launcher, because a starting node accepts connections before it can answer.
//
// With -wait it keeps trying until -timeout; otherwise it tries once within it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

func main() {
	hosts := flag.String("hosts", "127.0.0.1", "comma-separated CQL contact points (host or host:port)")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to try")
	wait := flag.Bool("wait", false, "retry until the timeout instead of trying once")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for {
		v, err := releaseVersion(ctx, strings.Split(*hosts, ","))
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

func releaseVersion(ctx context.Context, hosts []string) (string, error) {
	cfg := gocql.NewCluster(hosts...)
	cfg.ProtoVersion = 0 // negotiate
	budget := time.Until(deadline(ctx))
	cfg.ConnectTimeout = min(budget, 5*time.Second)
	cfg.Timeout = cfg.ConnectTimeout
	cfg.DisableInitialHostLookup = true
	cfg.NumConns = 1
	s, err := cfg.CreateSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var v string
	if err := s.Query("SELECT release_version FROM system.local").ScanContext(ctx, &v); err != nil {
		return "", err
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
