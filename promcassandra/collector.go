package promcassandra

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/async-cassandra/cassandra"
)

// Collector turns what sessions report through cassandra.WithCollector
// into Prometheus metrics. It is a cassandra.Collector (with the
// AttemptCollector, PageCollector and SessionCollector extensions) on one
// side and a prometheus.Collector on the other: register it with a
// registry and pass it to cassandra.WithCollector. One Collector may serve
// any number of clusters and sessions; their requests add up.
//
// A Collector is safe for concurrent use by multiple goroutines. Its
// cassandra.Collector methods run on the goroutines that ran the requests
// and take a read lock and a few atomic operations in the steady state.
type Collector struct {
	cfg    config
	labels *labeler

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	requestRows *prometheus.CounterVec
	queueWait   prometheus.Histogram
	attempts    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	pages       *prometheus.CounterVec
	streamRows  *prometheus.CounterVec

	pool  *poolMetrics
	hosts *hostMetrics
}

var (
	_ cassandra.AttemptCollector = (*Collector)(nil)
	_ cassandra.PageCollector    = (*Collector)(nil)
	_ cassandra.SessionCollector = (*Collector)(nil)
	_ cassandra.HostCollector    = (*Collector)(nil)
	_ prometheus.Collector       = (*Collector)(nil)
)

// New returns a Collector configured by opts. It fails if an option cannot
// work: a namespace that is not a valid metric name, buckets that do not
// increase, a negative cap, or a constant label that is not a valid label
// name or that clashes with one of the Collector's own.
func New(opts ...Option) (*Collector, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, labels: newLabeler(cfg.maxTables, cfg.maxStatements)}
	stmt := c.labels.names()
	withOutcome := append(stmt[:len(stmt):len(stmt)], labelOutcome)
	ns, cl := cfg.namespace, cfg.constLabels
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl}, labels)
	}

	c.requests = counter("requests_total",
		"Requests (Execute and Batch.Execute) that ended, by statement and outcome: ok, or the cassandra.ErrorKind of the error.", withOutcome)
	c.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "request_duration_seconds", ConstLabels: cl, Buckets: cfg.durationBuckets,
		Help: "Time from Execute until the request ended, whatever its outcome: queue wait, every page and every attempt.",
	}, stmt)
	c.requestRows = counter("request_rows_total", "Rows returned by requests that succeeded.", stmt)
	c.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "queue_wait_seconds", ConstLabels: cl, Buckets: cfg.queueWaitBuckets,
		Help: "Time requests waited in a session's queue for a worker; requests refused before they were queued are left out.",
	})
	c.attempts = counter("attempts_total",
		"Requests the driver sent to a node (every try, retries and speculative executions included, stream pages too), by outcome.", withOutcome)
	c.retries = counter("retries_total",
		"Attempts beyond the first for one page of a request: retries and speculative executions.", stmt)
	c.pages = counter("stream_pages_total", "Pages fetched by streams, by outcome.", withOutcome)
	c.streamRows = counter("stream_rows_total", "Rows in the pages that streams fetched.", stmt)
	c.pool = newPoolMetrics(ns, cl)
	c.hosts = newHostMetrics(ns, cl)

	// Registering with a throw-away registry checks every metric's name
	// and labels now, rather than at the caller's MustRegister.
	if err := prometheus.NewPedanticRegistry().Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// RequestDone records a request: its outcome, duration, rows and queue
// wait. It implements cassandra.Collector.
func (c *Collector) RequestDone(_ context.Context, r cassandra.RequestInfo) {
	lv := c.labels.labels(r.Statement)
	c.requests.WithLabelValues(lv.with(outcome(r.Err, r.ErrorKind))...).Inc()
	c.duration.WithLabelValues(lv.values...).Observe(r.Duration.Seconds())
	if r.Err == nil && r.Rows > 0 {
		c.requestRows.WithLabelValues(lv.values...).Add(float64(r.Rows))
	}
	// A request refused before it reached the queue (ErrOverloaded, a
	// nil context, a closed session) neither waited nor was sent.
	if r.Err == nil || r.QueueWait > 0 || r.Attempts > 0 {
		c.queueWait.Observe(r.QueueWait.Seconds())
	}
}

// AttemptDone records one request the driver sent to a node. It
// implements cassandra.AttemptCollector.
func (c *Collector) AttemptDone(_ context.Context, a cassandra.AttemptInfo) {
	lv := c.labels.labels(a.Statement)
	c.attempts.WithLabelValues(lv.with(outcome(a.Err, a.ErrorKind))...).Inc()
	if a.Attempt > 0 {
		c.retries.WithLabelValues(lv.values...).Inc()
	}
}

// PageDone records one page a stream fetched. It implements
// cassandra.PageCollector.
func (c *Collector) PageDone(_ context.Context, p cassandra.PageFetchInfo) {
	lv := c.labels.labels(p.Statement)
	c.pages.WithLabelValues(lv.with(outcome(p.Err, p.ErrorKind))...).Inc()
	if p.Rows > 0 {
		c.streamRows.WithLabelValues(lv.values...).Add(float64(p.Rows))
	}
}

// SessionOpened starts reporting the pool of s at every scrape. It
// implements cassandra.SessionCollector.
func (c *Collector) SessionOpened(s *cassandra.AsyncSession) { c.pool.open(s) }

// SessionClosed stops reporting the pool of s, keeping its totals in the
// pool counters so that they never go down. It implements
// cassandra.SessionCollector.
func (c *Collector) SessionClosed(s *cassandra.AsyncSession) { c.pool.close(s) }

// SetHostState sets the host_up gauge of host, in datacenter, to 1 if up
// and 0 if not. It is the hook for a host monitor (the cassandra package's
// host listeners or periodic health checks): call it on every change of a
// host's state, with host as the monitor names it (an address and port
// such as "10.0.0.1:9042"). A host whose datacenter changes keeps one
// series, under its new datacenter. Hosts are not capped: their number is
// the cluster's.
func (c *Collector) SetHostState(host, datacenter string, up bool) {
	c.hosts.set(host, datacenter, up)
}

// ForgetHost removes the host_up series of host, for a host monitor to
// call when a host leaves the cluster (a host that is merely down should
// stay, at 0, so that alerts see it). Forgetting a host that was never
// set does nothing.
func (c *Collector) ForgetHost(host string) { c.hosts.forget(host) }

// HostChanged keeps host_up in step with the session's host monitor: 1
// for a host that is up, 0 for one that is down, and no series for one
// removed from the cluster. It implements cassandra.HostCollector, so a
// Collector set with cassandra.WithCollector needs no other wiring.
func (c *Collector) HostChanged(_ *cassandra.AsyncSession, h cassandra.HostStatus) {
	if h.State == cassandra.HostRemoved {
		c.ForgetHost(h.Address)
		return
	}
	c.SetHostState(h.Address, h.Datacenter, h.State == cassandra.HostUp)
}

// Describe sends the descriptors of every metric the Collector exports.
// It implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.vectors() {
		m.Describe(ch)
	}
	c.pool.describe(ch)
	c.hosts.gauge.Describe(ch)
}

// Collect sends the current value of every metric: the counters and
// histograms fed by requests, attempts and pages, the pool metrics read
// from the Stats of every open session, and the host gauges. It
// implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.vectors() {
		m.Collect(ch)
	}
	c.pool.collect(ch)
	c.hosts.gauge.Collect(ch)
}

func (c *Collector) vectors() []prometheus.Collector {
	return []prometheus.Collector{c.requests, c.duration, c.requestRows, c.queueWait,
		c.attempts, c.retries, c.pages, c.streamRows}
}

// hostMetrics is the host_up gauge and the datacenter of each host in it.
type hostMetrics struct {
	gauge *prometheus.GaugeVec
	mu    sync.Mutex
	dc    map[string]string // by host
}

func newHostMetrics(ns string, cl prometheus.Labels) *hostMetrics {
	return &hostMetrics{
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "host_up", ConstLabels: cl,
			Help: "Whether the host monitor last saw the host up (1) or down (0).",
		}, []string{"host", "datacenter"}),
		dc: make(map[string]string),
	}
}

func (h *hostMetrics) set(host, dc string, up bool) {
	host, dc = validUTF8(host), validUTF8(dc)
	v := 0.0
	if up {
		v = 1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.dc[host]; ok && old != dc {
		h.gauge.DeleteLabelValues(host, old)
	}
	h.dc[host] = dc
	h.gauge.WithLabelValues(host, dc).Set(v)
}

func (h *hostMetrics) forget(host string) {
	host = validUTF8(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	if dc, ok := h.dc[host]; ok {
		h.gauge.DeleteLabelValues(host, dc)
		delete(h.dc, host)
	}
}
