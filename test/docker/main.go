// Command cassandra-docker runs the test node in Docker when a Docker engine
// answers, through testcontainers-go: `up` starts (or reuses) one
// cassandra:5.0 container whose CQL port is bound to 127.0.0.1:9042 and waits
// until it answers a real query; `down` removes it; `status` reports it.
//
// It lives in a module of its own so that the library and its tests never
// depend on the Docker client. The launcher (test/cassandra/node.sh) only
// uses it when `docker info` succeeds; machines without an engine use the
// local JVM node instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	containerName = "async-cassandra-test"
	image         = "cassandra:5.0"
)

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for the node")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var err error
	switch flag.Arg(0) {
	case "up":
		err = up(ctx)
	case "down":
		err = down(ctx)
	case "status":
		err = status(ctx)
	default:
		err = errors.New("usage: cassandra-docker [-timeout d] up|down|status")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cassandra-docker:", err)
		os.Exit(1)
	}
}

func up(ctx context.Context) error {
	// The container must outlive this process, so testcontainers' reaper
	// (which removes containers when the creating process ends) stays off;
	// `down` removes it instead.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	cql := network.MustParsePort("9042/tcp")
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Name:         containerName,
			Image:        image,
			ExposedPorts: []string{"9042/tcp"},
			Env: map[string]string{
				"CASSANDRA_CLUSTER_NAME":          "async-cassandra-test",
				"CASSANDRA_BROADCAST_RPC_ADDRESS": "127.0.0.1",
				"MAX_HEAP_SIZE":                   "1024M",
				"HEAP_NEWSIZE":                    "128M",
				"JVM_OPTS":                        "-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.initial_token=0",
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{
					cql: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "9042"}},
				}
			},
			WaitingFor: wait.ForLog("Starting listening for CQL clients").WithStartupTimeout(4 * time.Minute),
		},
		Started: true,
		Reuse:   true,
	}
	if _, err := testcontainers.GenericContainer(ctx, req); err != nil {
		return fmt.Errorf("start %s: %w", image, err)
	}
	v, err := waitForCQL(ctx, "127.0.0.1")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cassandra-docker: %s ready on 127.0.0.1:9042, release_version %s\n", containerName, v)
	return nil
}

func down(ctx context.Context) error {
	cli, id, err := find(ctx)
	if err != nil || id == "" {
		return err
	}
	defer cli.Close()
	_, err = cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return err
}

func status(ctx context.Context) error {
	cli, id, err := find(ctx)
	if err != nil {
		return err
	}
	if id == "" {
		fmt.Println("docker: no", containerName, "container")
		return nil
	}
	defer cli.Close()
	v, err := releaseVersion(ctx, "127.0.0.1")
	if err != nil {
		fmt.Println("docker:", containerName, id[:12], "not answering CQL:", err)
		return nil
	}
	fmt.Println("docker:", containerName, id[:12], "up, release_version", v)
	return nil
}

func find(ctx context.Context) (*testcontainers.DockerClient, string, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, "", err
	}
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("name", containerName),
	})
	if err != nil {
		cli.Close()
		return nil, "", err
	}
	if len(res.Items) == 0 {
		cli.Close()
		return nil, "", nil
	}
	return cli, res.Items[0].ID, nil
}

// waitForCQL retries until a client can run a real query: the log line
// above appears slightly before the node serves every request.
func waitForCQL(ctx context.Context, host string) (string, error) {
	for {
		v, err := releaseVersion(ctx, host)
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("node did not answer CQL: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

func releaseVersion(ctx context.Context, host string) (string, error) {
	cfg := gocql.NewCluster(host)
	cfg.ConnectTimeout = 5 * time.Second
	cfg.DisableInitialHostLookup = true
	s, err := cfg.CreateSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var v string
	err = s.Query("SELECT release_version FROM system.local").ScanContext(ctx, &v)
	return v, err
}
