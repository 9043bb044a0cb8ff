package cassandra

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Host monitoring: every session keeps the state of each host of the
// cluster, from the driver's host events and, with WithHealthCheck, from a
// periodic check of each host. Hosts returns it; a HostCollector is told of
// every change.

// HostState says whether a host can serve requests, as far as the session
// knows: the latest signal about the host wins, whether it came from the
// driver or from a health check.
type HostState int

const (
	// HostUp means the driver reported the host up (or listed it up when
	// the session connected), or its last health check succeeded,
	// whichever came last.
	HostUp HostState = iota + 1
	// HostDown means the driver reported the host down, or its last
	// health check failed, whichever came last.
	HostDown
	// HostRemoved means the host has left the cluster. Only
	// HostCollector.HostChanged sees it: Hosts lists the hosts of the
	// cluster as it is.
	HostRemoved
)

// String returns "up", "down" or "removed".
func (st HostState) String() string {
	switch st {
	case HostUp:
		return "up"
	case HostDown:
		return "down"
	case HostRemoved:
		return "removed"
	}
	return fmt.Sprintf("HostState(%d)", int(st))
}

// HostStatus describes one host of the cluster as a session sees it.
type HostStatus struct {
	// HostID is the host's host_id, the key the driver knows it by.
	HostID string
	// Address is the host's native protocol address, "ip:port".
	Address string
	// Datacenter and Rack are the host's data center and rack, as the
	// driver last reported them (from the cluster's system tables); empty
	// when the driver does not know them.
	Datacenter, Rack string
	// Version is the host's Cassandra release (release_version, such as
	// "5.0.2"): the one its last successful health check returned, else
	// the one the driver read from the cluster's system tables.
	Version string
	// State is the host's state.
	State HostState
	// Since is when the host took State (or when the session first saw
	// the host), on the session's clock (see WithClock).
	Since time.Time
	// Reason says which signal set State: the driver's host list or one of
	// its events, or a health check (then with its error, if it failed).
	Reason string

	// The last health check of the host; all zero until one has ended.

	LastCheck           time.Time     // when it ended
	LastCheckLatency    time.Duration // how long it took, whether it succeeded or not
	LastCheckErr        error         // nil if it succeeded
	ConsecutiveFailures int           // failed checks since the last one that succeeded
}

// HostCollector is a Collector that is also told about the hosts of the
// cluster, as each session sees them (see HostStatus). Set it with
// WithCollector; the session finds it by type assertion.
type HostCollector interface {
	Collector
	// HostChanged is called once for each host when session s connects,
	// with the host's state then; after that, once for each change: a
	// host added to the cluster (with its first state), a host going down
	// or coming back up, a host removed (State HostRemoved). It is not
	// called after s.Close has returned.
	//
	// The calls of one session come one at a time, in the order of the
	// changes, on a goroutine of the driver or of the health check. They
	// must be quick and must not call s.Close or s.Shutdown (Close waits
	// for the health check, which may be waiting for this call); calling
	// s.Hosts is fine.
	HostChanged(s *AsyncSession, h HostStatus)
}

// WithHealthCheck makes every session of the cluster check each host of
// the cluster every interval, each check bounded by timeout. A check sends
// SELECT release_version, host_id FROM system.local to the host itself
// (pinned with gocql's Query.SetHostID) and fails unless that host
// answers, with its own host_id, within timeout. A failed check marks the
// host down (HostDown) even if the driver still thinks it up; a successful
// one marks it up. Hosts reports each host's last check.
//
// The driver sends a check only over its own connections to the host: a
// host the driver has down fails its checks at once and stays down until
// the driver reconnects to it (gocql's ClusterConfig.ReconnectInterval).
//
// Checks run on the driver session, not on the session's worker pool, so
// that a busy pool can neither delay them nor make a healthy host look
// slow. They are bounded instead: one check per host at a time, at most 8
// at once, and a round of checks starts only when the previous one has
// ended. They are not retried, and not reported to the Collector or to the
// query observers of the ClusterConfig.
//
// An interval of 0, the default, turns the checks off; the session then
// follows the driver's host events only. A positive interval needs a
// positive timeout.
func WithHealthCheck(interval, timeout time.Duration) Option {
	return func(o *options) { o.checkInterval, o.checkTimeout = interval, timeout }
}

// maxConcurrentChecks bounds the health checks a session has in flight: in
// a large cluster a round of checks adds at most this many requests to the
// traffic at any time.
const maxConcurrentChecks = 8

// healthCheckCQL is the health check: host_id tells who answered.
const healthCheckCQL = "SELECT release_version, host_id FROM system.local"

// What set a host's state, for HostStatus.Reason.
const (
	reasonConnect = "in the driver's host list when the session connected"
	reasonUp      = "the driver reported the host up"
	reasonDown    = "the driver reported the host down"
	reasonAdded   = "the driver reported the host added to the cluster"
	reasonRemoved = "the driver reported the host removed from the cluster"
	reasonCheckOK = "health check succeeded"
	reasonCheck   = "health check failed: "
)

// Hosts returns the state of every host of the cluster as the session knows
// it, ordered by address: from the driver's host list and host events and,
// with WithHealthCheck, from the checks. After Close it returns the last
// state known.
func (s *AsyncSession) Hosts() []HostStatus { return s.hosts.snapshot() }

// hostMonitor is a session's view of the cluster's hosts. The driver's
// events reach it from the moment the driver session exists; it calls the
// collector back only between start and stop.
type hostMonitor struct {
	collector         HostCollector // nil: none
	interval, timeout time.Duration // health check; interval 0: none
	now               func() time.Time

	// changeMu serialises the changes of state with their calls to the
	// collector, so that the collector sees them in order.
	changeMu sync.Mutex

	mu      sync.Mutex // guards what follows
	hosts   map[string]*hostEntry
	s       *AsyncSession // set by start
	started bool
	stopped bool
	cancel  context.CancelFunc // stops the health check; nil without one
	done    chan struct{}      // closed when the health check has stopped
}

// hostEntry is what the monitor keeps about one host.
type hostEntry struct {
	info    *gocql.HostInfo // the driver's, for routing the checks
	status  HostStatus
	checked bool // status.Version came from a health check
}

// checkResult is the outcome of one health check.
type checkResult struct {
	end     time.Time
	latency time.Duration
	err     error
	version string
}

func newHostMonitor(o *options) *hostMonitor {
	m := &hostMonitor{
		interval: o.checkInterval,
		timeout:  o.checkTimeout,
		now:      o.now,
		hosts:    make(map[string]*hostEntry),
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.collector, _ = o.collector.(HostCollector)
	return m
}

// install sets the monitor's host listeners on cfg, a copy of the
// cluster's configuration, beside those cfg already has, which keep being
// called (after the monitor's).
func (m *hostMonitor) install(cfg *gocql.ClusterConfig) {
	l := hostListener{m}
	hl := &cfg.Metadata.HostListener
	mux := gocql.HostListenersMux{
		HostStateChangeListeners: []gocql.HostStatusChangeListener{l},
		TopologyChangeListeners:  []gocql.TopologyChangeListener{l},
	}
	if hl.HostStateChangeListener != nil {
		mux.HostStateChangeListeners = append(mux.HostStateChangeListeners, hl.HostStateChangeListener)
	}
	if hl.TopologyChangeListener != nil {
		mux.TopologyChangeListeners = append(mux.TopologyChangeListeners, hl.TopologyChangeListener)
	}
	hl.HostStateChangeListener, hl.TopologyChangeListener = mux, mux
}

// hostListener turns the driver's host events into changes of state.
type hostListener struct{ m *hostMonitor }

func (l hostListener) OnHostUp(e gocql.HostUpEvent) {
	l.m.change(e.Host, HostUp, reasonUp, nil)
}

func (l hostListener) OnHostDown(e gocql.HostDownEvent) {
	l.m.change(e.Host, HostDown, reasonDown, nil)
}

func (l hostListener) OnNewHost(e gocql.NewHostEvent) {
	l.m.change(e.Host, driverState(e.Host), reasonAdded, nil)
}

func (l hostListener) OnRemovedHost(e gocql.RemovedHostEvent) {
	l.m.change(e.Host, HostRemoved, reasonRemoved, nil)
}

// driverState is the state the driver gives h.
func driverState(h *gocql.HostInfo) HostState {
	if h.IsUp() {
		return HostUp
	}
	return HostDown
}

// start completes the monitor's view with the driver's host list, tells
// the collector the state of every host, and starts the health check. The
// session's Close calls stop.
func (m *hostMonitor) start(s *AsyncSession) {
	hosts := s.gs.GetHosts()
	m.changeMu.Lock()
	m.mu.Lock()
	if m.stopped { // closed already (by a SessionOpened that called Close)
		m.mu.Unlock()
		m.changeMu.Unlock()
		return
	}
	m.s = s
	now := m.now()
	for _, h := range hosts {
		// A host the driver's events already told about keeps that state.
		if id := h.HostID(); id != "" && m.hosts[id] == nil {
			e := &hostEntry{}
			e.update(h)
			e.status.State, e.status.Since, e.status.Reason = driverState(h), now, reasonConnect
			m.hosts[id] = e
		}
	}
	m.started = true
	var initial []HostStatus
	if m.collector != nil {
		initial = m.statusesLocked()
	}
	if m.interval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel, m.done = cancel, make(chan struct{})
		go m.run(ctx)
	}
	m.mu.Unlock()
	for _, st := range initial {
		m.collector.HostChanged(s, st)
	}
	m.changeMu.Unlock()
}

// stop ends the collector's calls and the health check, and returns when
// both have ended. The state stays readable.
func (m *hostMonitor) stop() {
	m.changeMu.Lock() // waits for a call to the collector in progress
	m.mu.Lock()
	m.stopped = true
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	m.changeMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// snapshot returns the status of every host, ordered by address.
func (m *hostMonitor) snapshot() []HostStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusesLocked()
}

func (m *hostMonitor) statusesLocked() []HostStatus {
	out := make([]HostStatus, 0, len(m.hosts))
	for _, e := range m.hosts {
		out = append(out, e.status)
	}
	slices.SortFunc(out, func(a, b HostStatus) int {
		return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.HostID, b.HostID))
	})
	return out
}

// update copies what the driver knows about h into the entry.
func (e *hostEntry) update(h *gocql.HostInfo) {
	e.info = h
	e.status.HostID = h.HostID()
	e.status.Address = h.ConnectAddressAndPort()
	e.status.Datacenter = h.DataCenter()
	e.status.Rack = h.Rack()
	if !e.checked {
		if v := h.Version(); v.Major > 0 {
			e.status.Version = fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
			if v.Qualifier != "" {
				e.status.Version += "-" + v.Qualifier
			}
		}
	}
}

// change applies one signal about host h: it sets the host's state, with
// the outcome of a health check if check is not nil, and tells the
// collector if the state changed.
func (m *hostMonitor) change(h *gocql.HostInfo, state HostState, reason string, check *checkResult) {
	id := h.HostID()
	if id == "" {
		return // the driver cannot route to it either
	}
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	e, known := m.hosts[id]
	if !known {
		// Nothing to remove; and a check that ends after its host left
		// says nothing about the cluster.
		if state == HostRemoved || check != nil {
			m.mu.Unlock()
			return
		}
		e = &hostEntry{}
		m.hosts[id] = e
	}
	if check == nil {
		e.update(h)
	} else {
		e.status.LastCheck, e.status.LastCheckLatency, e.status.LastCheckErr = check.end, check.latency, check.err
		if check.err != nil {
			e.status.ConsecutiveFailures++
		} else {
			e.status.ConsecutiveFailures = 0
			e.status.Version, e.checked = check.version, true
		}
	}
	changed := !known || e.status.State != state
	if changed {
		e.status.State, e.status.Since, e.status.Reason = state, m.now(), reason
	}
	if state == HostRemoved {
		delete(m.hosts, id)
	}
	st, s := e.status, m.s
	notify := changed && m.started && !m.stopped && m.collector != nil
	m.mu.Unlock()
	if notify {
		m.collector.HostChanged(s, st)
	}
}

// run checks every host every interval until ctx ends. A round that takes
// longer than the interval is followed at once by the next; rounds never
// overlap.
func (m *hostMonitor) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkAll checks every host the monitor knows, at most
// maxConcurrentChecks at once, and returns when every check has ended.
func (m *hostMonitor) checkAll(ctx context.Context) {
	m.mu.Lock()
	hosts := make([]*gocql.HostInfo, 0, len(m.hosts))
	for _, e := range m.hosts {
		hosts = append(hosts, e.info)
	}
	s := m.s
	m.mu.Unlock()
	sem := make(chan struct{}, maxConcurrentChecks)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			m.check(ctx, s.gs, h)
		}()
	}
}

// check runs one health check of h and records its outcome, unless ctx
// ended (the session is closing: that says nothing about the host).
func (m *hostMonitor) check(ctx context.Context, gs *gocql.Session, h *gocql.HostInfo) {
	id := h.HostID()
	cctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	start := m.now()
	// One attempt, on h only, seen by no observer: a check measures the
	// host, and is not the application's traffic.
	iter := gs.Query(healthCheckCQL).SetHostID(id).Consistency(gocql.One).
		Idempotent(false).RetryPolicy(nil).Observer(nil).IterContext(cctx)
	var (
		version  string
		answerer gocql.UUID
	)
	found := iter.Scan(&version, &answerer)
	err := iter.Close()
	end := m.now()
	if ctx.Err() != nil {
		return
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("cassandra: health check: no answer within %v: %w", m.timeout, err)
	case err != nil:
		err = fmt.Errorf("cassandra: health check: %w", err)
	case !found:
		err = errors.New("cassandra: health check: system.local returned no row")
	case answerer.String() != id:
		// The driver sent the check somewhere else: it says nothing
		// about h.
		err = fmt.Errorf("cassandra: health check of host %s was answered by host %s", id, answerer)
	}
	res := &checkResult{end: end, latency: end.Sub(start), err: err, version: version}
	if err != nil {
		m.change(h, HostDown, reasonCheck+err.Error(), res)
		return
	}
	m.change(h, HostUp, reasonCheckOK, res)
}
