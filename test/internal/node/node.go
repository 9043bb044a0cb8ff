// Package node says where the tests, benchmarks and load tools find
// Cassandra.
package node

import (
	"os"
	"strings"
)

// Hosts returns the contact points: the comma-separated CASSANDRA_HOSTS, or
// the local node that `make cassandra-up` starts.
func Hosts() []string {
	if h := os.Getenv("CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1"}
}
