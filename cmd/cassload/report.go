package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one run measured; -json prints it as it is.
type Report struct {
	Tool     string   `json:"tool"`
	Client   string   `json:"client"`
	Started  string   `json:"started"` // RFC 3339, UTC
	Hosts    []string `json:"hosts"`
	Keyspace string   `json:"keyspace"`
	Table    string   `json:"table"`
	Settings Settings `json:"settings"`
	Results  []Result `json:"results"`
}

// Settings are the session's options and the workload's shape.
type Settings struct {
	Workers       int    `json:"workers"`
	Queue         int    `json:"queue"`
	Policy        string `json:"policy"`
	PageSize      int    `json:"page_size"`
	Prefetch      int    `json:"prefetch"`
	WriteBatching bool   `json:"write_batching"`
	Conns         int    `json:"conns_per_host"`
	Consistency   string `json:"consistency"`
	RowSize       int    `json:"row_size"`
	Rows          int    `json:"rows"`
	ScanRows      int    `json:"scan_rows"`
	OpsPerLevel   int64  `json:"ops_per_level,omitempty"`
	Duration      string `json:"duration_per_level,omitempty"`
	Warmup        string `json:"warmup"`
	Timeout       string `json:"timeout"`
	// Adaptive says that the session ran WithAdaptiveLimit.
	Adaptive bool `json:"adaptive,omitempty"`
}

// Result is one workload at one level.
type Result struct {
	Workload string `json:"workload"`
	InFlight int    `json:"in_flight"`
	// Ops counts the operations that succeeded; OpsPerSec is them per
	// second, and Latency their latencies.
	Ops       int64   `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Latency   Latency `json:"latency_us"`
	// Rows counts the rows read by the operations that succeeded.
	Rows         int64             `json:"rows"`
	Errors       int64             `json:"errors"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// CPUPerOp is the client process's user and system CPU time per
	// operation, failed ones included, in microseconds.
	CPUPerOp float64 `json:"cpu_us_per_op"`
	// Pool is what the session's worker pool saw; nil for clients without
	// one.
	Pool *Pool `json:"pool,omitempty"`
	// Rate is the offered load of an open-loop run, in operations per
	// second (0 for a closed loop), and Missed counts its arrivals that
	// found InFlight operations outstanding and were not started.
	Rate   float64 `json:"rate,omitempty"`
	Missed int64   `json:"missed,omitempty"`
	// Trace samples the run every -trace.
	Trace []TracePoint `json:"trace,omitempty"`
}

// TracePoint is the state of a run at one moment: the session's limit on
// requests at once, its busy workers and queue, and the operations that
// succeeded and failed per second since the previous point.
type TracePoint struct {
	At           float64 `json:"at_s"` // seconds into the measured run
	Limit        int     `json:"limit"`
	Busy         int     `json:"busy"`
	Queued       int     `json:"queued"`
	OpsPerSec    float64 `json:"ops_per_sec"`
	ErrorsPerSec float64 `json:"errors_per_sec"`
}

// Latency holds percentiles, maximum and mean in microseconds.
type Latency struct {
	P50  int64   `json:"p50"`
	P95  int64   `json:"p95"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p999"`
	Max  int64   `json:"max"`
	Mean float64 `json:"mean"`
}

// Pool is what the session's Stats showed over one level.
type Pool struct {
	// Requests counts the requests that ran on a worker (a scan sends one
	// per page).
	Requests int64 `json:"requests"`
	// QueueWaitMean is the mean time a request waited for a worker, in
	// microseconds.
	QueueWaitMean   float64 `json:"queue_wait_us_mean"`
	PeakQueueDepth  int     `json:"peak_queue_depth"`
	PeakBusyWorkers int     `json:"peak_busy_workers"`
}

func newReport(c *config) *Report {
	policy := "wait"
	if c.policy != 0 {
		policy = "failfast"
	}
	rep := &Report{
		Tool: "cassload", Client: clientVersion(), Started: time.Now().UTC().Format(time.RFC3339),
		Hosts: c.hosts, Keyspace: c.keyspace, Table: c.table, Results: []Result{},
		Settings: Settings{
			Workers: c.workers, Queue: c.queue, Policy: policy, PageSize: c.pageSize, Prefetch: c.prefetch,
			WriteBatching: c.batching, Conns: c.conns, Consistency: c.consistency.String(),
			RowSize: c.size, Rows: c.rows, ScanRows: c.scanRows,
			Warmup: c.warmup.String(), Timeout: c.timeout.String(), Adaptive: c.adaptive,
		},
	}
	if c.ops > 0 {
		rep.Settings.OpsPerLevel = c.ops
	} else {
		rep.Settings.Duration = c.duration.String()
	}
	return rep
}

// writeReport prints rep as indented JSON, or as a heading and a table.
func writeReport(w io.Writer, rep *Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	st := rep.Settings
	per := st.Duration
	if st.OpsPerLevel > 0 {
		per = fmt.Sprintf("%d operations", st.OpsPerLevel)
	}
	batching := "off"
	if st.WriteBatching {
		batching = "on"
	}
	fmt.Fprintf(w, "%s: %s\n", rep.Tool, rep.Client)
	fmt.Fprintf(w, "%s, hosts %s, table %s.%s\n", rep.Started, strings.Join(rep.Hosts, ","), rep.Keyspace, rep.Table)
	limit := ""
	if st.Adaptive {
		limit = " (adaptive limit)"
	}
	fmt.Fprintf(w, "session: workers %d%s, queue %d, policy %s, page size %d, prefetch %d, write batching %s, %d connections per host, %s\n",
		st.Workers, limit, st.Queue, st.Policy, st.PageSize, st.Prefetch, batching, st.Conns, st.Consistency)
	fmt.Fprintf(w, "load: %d-byte values, %d keys, scans of %d rows; %s per level after a %s warm-up, %s deadline per operation\n\n",
		st.RowSize, st.Rows, st.ScanRows, per, st.Warmup, st.Timeout)
	writeTable(w, rep.Results)
	for _, r := range rep.Results {
		if r.Rate > 0 {
			fmt.Fprintf(w, "%s, %d in flight: open loop at %.0f ops/s offered, %d arrivals missed (all %d in flight)\n",
				r.Workload, r.InFlight, r.Rate, r.Missed, r.InFlight)
		}
		for _, k := range slices.Sorted(maps.Keys(r.ErrorSamples)) {
			fmt.Fprintf(w, "%s, %d in flight, first %s error: %s\n", r.Workload, r.InFlight, k, r.ErrorSamples[k])
		}
	}
	for _, r := range rep.Results {
		if len(r.Trace) > 0 {
			fmt.Fprintf(w, "\n%s, %d in flight, over time:\n", r.Workload, r.InFlight)
			writeTrace(w, r.Trace)
		}
	}
	return nil
}

// writeTrace prints one line per trace point.
func writeTrace(w io.Writer, trace []TracePoint) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "s\tlimit\tbusy\tqueued\tops/s\terrors/s\t")
	for _, p := range trace {
		fmt.Fprintf(tw, "%.1f\t%d\t%d\t%d\t%.0f\t%.0f\t\n", p.At, p.Limit, p.Busy, p.Queued, p.OpsPerSec, p.ErrorsPerSec)
	}
	tw.Flush()
}

// writeTable prints one line per result. Latencies are in milliseconds;
// the pool's columns are "-" for a client without a pool.
func writeTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tin flight\tops\tops/s\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\tCPU µs/op\tqueued µs\tpeak queue\tpeak busy\terrors\t")
	ms := func(us int64) string { return fmt.Sprintf("%.2f", float64(us)/1000) }
	for _, r := range results {
		queued, peakQ, peakB := "-", "-", "-"
		if r.Pool != nil {
			queued = fmt.Sprintf("%.0f", r.Pool.QueueWaitMean)
			peakQ = fmt.Sprint(r.Pool.PeakQueueDepth)
			peakB = fmt.Sprint(r.Pool.PeakBusyWorkers)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t\n",
			r.Workload, r.InFlight, r.Ops, r.OpsPerSec,
			ms(r.Latency.P50), ms(r.Latency.P95), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max),
			r.CPUPerOp, queued, peakQ, peakB, errorsText(r))
	}
	tw.Flush()
}

// errorsText is "0", or the errors by kind: "deadline 3, overloaded 12".
func errorsText(r Result) string {
	if r.Errors == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.ErrorsByKind)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.ErrorsByKind[k]))
	}
	return strings.Join(parts, ", ")
}
