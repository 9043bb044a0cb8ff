package promcassandra

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/async-cassandra/cassandra"
)

// poolMetrics reports the worker pools of the open sessions, read from
// their Stats at every scrape and summed over the sessions, with no
// session label: a process usually has one session per cluster, and a
// label made of a pointer or a counter would mean nothing on a dashboard
// and change with every restart. The totals of closed sessions are kept,
// so that the counters never go down while the process lives.
type poolMetrics struct {
	sessions *prometheus.Desc
	levels   []poolDesc
	totals   []poolDesc

	mu      sync.Mutex
	live    map[*cassandra.AsyncSession]struct{} // the open sessions
	retired cassandra.PoolStats                  // totals of the sessions closed so far
}

// poolDesc is one pool metric and how to read it from a snapshot.
type poolDesc struct {
	desc  *prometheus.Desc
	value func(*cassandra.PoolStats) float64
}

func newPoolMetrics(ns string, cl prometheus.Labels) *poolMetrics {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, nil, cl)
	}
	return &poolMetrics{
		sessions: d("sessions", "Sessions open now."),
		levels: []poolDesc{
			{d("pool_workers", "The most requests that may run at once (WithWorkers), summed over the open sessions."),
				func(s *cassandra.PoolStats) float64 { return float64(s.Workers) }},
			{d("pool_limit", "The most requests that may start now: the workers, or the adaptive limit (WithAdaptiveLimit), summed over the open sessions."),
				func(s *cassandra.PoolStats) float64 { return float64(s.Limit) }},
			{d("pool_busy_workers", "Requests running now: sent, or being sent, to Cassandra."),
				func(s *cassandra.PoolStats) float64 { return float64(s.BusyWorkers) }},
			{d("pool_queue_capacity", "The most requests that may wait for a worker (WithQueue), summed over the open sessions."),
				func(s *cassandra.PoolStats) float64 { return float64(s.QueueCapacity) }},
			{d("pool_queue_depth", "Requests waiting for a worker now."),
				func(s *cassandra.PoolStats) float64 { return float64(s.QueueDepth) }},
			{d("pool_waiting_submitters", "Callers blocked for room in a full queue now (QueueWait policy)."),
				func(s *cassandra.PoolStats) float64 { return float64(s.WaitingSubmitters) }},
		},
		totals: []poolDesc{
			{d("pool_submitted_total", "Requests and stream page fetches the pools accepted."),
				func(s *cassandra.PoolStats) float64 { return float64(s.SubmitCount) }},
			{d("pool_completed_total", "Accepted requests that ran on a worker, whatever their outcome."),
				func(s *cassandra.PoolStats) float64 { return float64(s.CompletedCount) }},
			{d("pool_expired_total", "Queued requests dropped unsent because their context ended or the future was cancelled."),
				func(s *cassandra.PoolStats) float64 { return float64(s.ExpiredCount) }},
			{d("pool_dropped_total", "Queued requests dropped unsent by Close."),
				func(s *cassandra.PoolStats) float64 { return float64(s.DroppedCount) }},
			{d("pool_rejected_total", "Requests refused with ErrOverloaded because the queue was full (QueueFailFast policy)."),
				func(s *cassandra.PoolStats) float64 { return float64(s.RejectedCount) }},
			{d("pool_canceled_submits_total", "Submissions whose context had ended, or ended while they waited for room: nothing was submitted."),
				func(s *cassandra.PoolStats) float64 { return float64(s.CanceledSubmitCount) }},
			{d("pool_queue_wait_seconds_total", "Time spent queued by the requests a worker took."),
				func(s *cassandra.PoolStats) float64 { return s.QueueWaitDuration.Seconds() }},
		},
		live: make(map[*cassandra.AsyncSession]struct{}),
	}
}

func (p *poolMetrics) open(s *cassandra.AsyncSession) {
	p.mu.Lock()
	p.live[s] = struct{}{}
	p.mu.Unlock()
}

// close folds the final totals of s into the retired ones. The session
// calls it after its last worker stopped, so they are final.
func (p *poolMetrics) close(s *cassandra.AsyncSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.live[s]; !ok {
		return
	}
	delete(p.live, s)
	addTotals(&p.retired, s.Stats())
}

func (p *poolMetrics) describe(ch chan<- *prometheus.Desc) {
	ch <- p.sessions
	for _, m := range p.levels {
		ch <- m.desc
	}
	for _, m := range p.totals {
		ch <- m.desc
	}
}

// collect sends the sum of the open sessions' snapshots, and the totals
// of the closed ones. Holding the lock keeps a session from being counted
// both open and retired.
func (p *poolMetrics) collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	sum := p.retired
	for s := range p.live {
		st := s.Stats()
		addTotals(&sum, st)
		sum.Workers += st.Workers
		sum.Limit += st.Limit
		sum.BusyWorkers += st.BusyWorkers
		sum.QueueCapacity += st.QueueCapacity
		sum.QueueDepth += st.QueueDepth
		sum.WaitingSubmitters += st.WaitingSubmitters
	}
	n := len(p.live)
	p.mu.Unlock()

	ch <- prometheus.MustNewConstMetric(p.sessions, prometheus.GaugeValue, float64(n))
	for _, m := range p.levels {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, m.value(&sum))
	}
	for _, m := range p.totals {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, m.value(&sum))
	}
}

// addTotals adds the totals (not the levels) of s to sum.
func addTotals(sum *cassandra.PoolStats, s cassandra.PoolStats) {
	sum.SubmitCount += s.SubmitCount
	sum.CompletedCount += s.CompletedCount
	sum.ExpiredCount += s.ExpiredCount
	sum.DroppedCount += s.DroppedCount
	sum.RejectedCount += s.RejectedCount
	sum.CanceledSubmitCount += s.CanceledSubmitCount
	sum.QueueWaitDuration += s.QueueWaitDuration
}

// validUTF8 makes s a valid label value.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
