package integration

import (
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/test/internal/node"
)

// cassloadReport is the part of cassload's -json output the tests read.
type cassloadReport struct {
	Tool     string `json:"tool"`
	Keyspace string `json:"keyspace"`
	Table    string `json:"table"`
	Settings struct {
		Workers     int    `json:"workers"`
		Queue       int    `json:"queue"`
		Policy      string `json:"policy"`
		PageSize    int    `json:"page_size"`
		OpsPerLevel int64  `json:"ops_per_level"`
		Consistency string `json:"consistency"`
	} `json:"settings"`
	Results []struct {
		Workload  string  `json:"workload"`
		InFlight  int     `json:"in_flight"`
		Ops       int64   `json:"ops"`
		OpsPerSec float64 `json:"ops_per_sec"`
		Latency   struct {
			P50, P95, P99, P999, Max int64
		} `json:"latency_us"`
		Rows         int64             `json:"rows"`
		Errors       int64             `json:"errors"`
		ErrorsByKind map[string]int64  `json:"errors_by_kind"`
		ErrorSamples map[string]string `json:"error_samples"`
		CPUPerOp     float64           `json:"cpu_us_per_op"`
		Pool         *struct {
			Requests        int64 `json:"requests"`
			PeakBusyWorkers int   `json:"peak_busy_workers"`
		} `json:"pool"`
	} `json:"results"`
}

// buildCassload builds the load tool once per test.
func buildCassload(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cassload")
	out, err := osexec.Command("go", "build", "-o", bin, "github.com/async-cassandra/cassandra/cmd/cassload").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// runCassload runs the tool against the test node and returns its
// standard output; it fails the test if the tool fails.
func runCassload(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, bin, append([]string{"-keyspace", keyspace, "-table", "cassload_kv"}, args...)...)
	cmd.Env = append(os.Environ(), "CASSANDRA_HOSTS="+strings.Join(node.Hosts(), ","))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "cassload %v: %s", args, stderr.String())
	assert.Empty(t, stderr.String(), "quiet when standard error is not a terminal")
	return stdout.String()
}

// The load tool runs every workload at two levels against the node and
// reports what it did as JSON: every operation succeeded and is counted,
// the percentiles are ordered, scans read their rows page by page.
func TestCassloadRunsEveryWorkload(t *testing.T) {
	bin := buildCassload(t)
	const ops, scanRows, pageSize = 300, 120, 50
	out := runCassload(t, bin, "-json", "-w", "insert,select,mixed,scan", "-c", "1,8", "-n", "300",
		"-warmup", "100ms", "-rows", "500", "-scan-rows", "120", "-page-size", "50", "-workers", "16", "-consistency", "one")

	var rep cassloadReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, "cassload", rep.Tool)
	assert.Equal(t, keyspace, rep.Keyspace)
	assert.Equal(t, "cassload_kv", rep.Table)
	assert.Equal(t, 16, rep.Settings.Workers)
	assert.Equal(t, pageSize, rep.Settings.PageSize)
	assert.Equal(t, int64(ops), rep.Settings.OpsPerLevel)
	assert.Equal(t, "ONE", rep.Settings.Consistency)

	require.Len(t, rep.Results, 8)
	for i, r := range rep.Results {
		name := []string{"insert", "select", "mixed", "scan"}[i/2]
		level := []int{1, 8}[i%2]
		assert.Equal(t, name, r.Workload)
		assert.Equal(t, level, r.InFlight)
		assert.Equal(t, int64(ops), r.Ops, "%s at %d: %v", name, level, r.ErrorSamples)
		assert.Zero(t, r.Errors, "%s at %d: %v", name, level, r.ErrorSamples)
		assert.Empty(t, r.ErrorsByKind)
		assert.Positive(t, r.OpsPerSec)
		l := r.Latency
		assert.True(t, 0 < l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max,
			"%s at %d: percentiles in order: %+v", name, level, l)
		assert.Positive(t, r.CPUPerOp)
		require.NotNil(t, r.Pool)
		assert.LessOrEqual(t, r.Pool.PeakBusyWorkers, level)
		switch name {
		case "insert":
			assert.Zero(t, r.Rows)
			assert.Equal(t, int64(ops), r.Pool.Requests, "one request per insert")
		case "select":
			assert.Equal(t, int64(ops), r.Rows, "one row per select")
			assert.Equal(t, int64(ops), r.Pool.Requests)
		case "mixed":
			assert.Equal(t, int64(ops-ops/10), r.Rows, "nine selects in ten")
		case "scan":
			assert.Equal(t, int64(ops*scanRows), r.Rows, "every scan reads its rows")
			assert.GreaterOrEqual(t, r.Pool.Requests, int64(ops*(scanRows/pageSize+1)), "a page per request")
		}
	}
}

// With one worker, no queue and QueueFailFast, requests beyond the first
// are refused: the tool counts them as errors of kind "overloaded". Without
// -json it prints a table.
func TestCassloadOverloadAndTable(t *testing.T) {
	bin := buildCassload(t)
	out := runCassload(t, bin, "-json", "-w", "insert", "-c", "8", "-n", "300", "-warmup", "0s",
		"-workers", "1", "-queue", "0", "-policy", "failfast")
	var rep cassloadReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.Equal(t, int64(300), r.Ops+r.Errors, "every operation is either counted or an error")
	assert.Positive(t, r.ErrorsByKind["overloaded"], "eight callers, one worker, no queue")
	assert.Equal(t, r.Errors, r.ErrorsByKind["overloaded"], "no other kind of error: %v", r.ErrorSamples)
	assert.Contains(t, r.ErrorSamples["overloaded"], "queue full")

	table := runCassload(t, bin, "-w", "select", "-c", "2", "-n", "50", "-warmup", "0s", "-rows", "100")
	assert.Contains(t, table, "policy wait")
	var line []string
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "select" {
			line = f
		}
	}
	require.Len(t, line, 14, table)
	assert.Equal(t, []string{"select", "2", "50"}, line[:3])
	assert.Equal(t, "0", line[13], "no errors")
}
