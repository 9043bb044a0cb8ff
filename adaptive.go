package cassandra

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of an AdaptiveLimit whose fields are zero.
const (
	DefaultAdaptiveMin       = 8
	DefaultAdaptiveTolerance = 4.0
	DefaultAdaptiveWindow    = 100 * time.Millisecond
)

// AdaptiveLimit configures WithAdaptiveLimit. The zero value uses the
// defaults.
type AdaptiveLimit struct {
	// Min is the fewest requests the session lets run at once, however
	// slow the cluster gets, and the limit it starts at, to learn the
	// cluster's quiet latency first (see WithAdaptiveLimit). 0 means
	// DefaultAdaptiveMin, or WithWorkers if that is less; it must not
	// exceed WithWorkers.
	Min int
	// Tolerance is how many times its quiet latency the cluster's latency
	// may reach before the limit shrinks: the trade between latency and
	// throughput. 0 means DefaultAdaptiveTolerance; otherwise it must be
	// more than 1.
	Tolerance float64
	// Window is how often the limit is revised, from the requests that
	// finished in the last window. 0 means DefaultAdaptiveWindow.
	Window time.Duration
}

// WithAdaptiveLimit makes the number of requests a session runs at once
// follow what the cluster can take, between l.Min and WithWorkers, which
// becomes the ceiling. It is off by default: the limit is then WithWorkers.
//
// A session with an adaptive limit measures each request's time in flight
// (per page: a request that reads several pages counts as that many round
// trips) and, every l.Window, compares the window's mean with the quiet
// latency: the mean of the last window in which no more than l.Min
// requests ran, or of a later window if that was faster. While the mean
// stays within l.Tolerance times the quiet latency, the limit grows (by
// about its square root per window, and only while the session uses at
// least half of it). Beyond that it shrinks by half the shortfall, by at
// most a quarter per window, so that one slow window (a garbage
// collection on the node) does not undo the others. A request that ends in a sign of overload
// (the node's Overloaded, read or write timeout, the driver's timeout, or
// the request's deadline passing while it was in flight) cuts the limit by
// a fifth at the end of the window instead. A quiet latency that has become
// too low (the cluster, or the work, got slower for good) corrects itself:
// the limit shrinks to l.Min, where the next window measures it afresh.
//
// Requests beyond the limit wait in the queue, and the queue-full policy
// decides what happens when it is full: with QueueFailFast the excess is
// refused with ErrOverloaded at once, which keeps latency low under a load
// the cluster cannot take; with QueueWait callers wait, within their
// contexts. Requests refused with ErrOverloaded never reach the cluster, so
// they do not lower the limit.
//
// The limit follows the session's mean latency, so it suits a session
// whose mix of work is steady; a session that runs both point reads and
// long scans is better split into two. PoolStats.Limit and the exporters'
// pool limit show the current value. docs/adaptive-limit.md shows it under a
// load three times what a node sustains, and through a frozen node.
func WithAdaptiveLimit(l AdaptiveLimit) Option {
	return func(o *options) { o.adaptive, o.adaptiveSet = l, true }
}

// validateAdaptive reports an invalid AdaptiveLimit.
func (o *options) validateAdaptive() error {
	if !o.adaptiveSet {
		return nil
	}
	l := o.adaptive
	switch {
	case l.Min < 0:
		return fmt.Errorf("cassandra: WithAdaptiveLimit: Min must not be negative, got %d", l.Min)
	case l.Min > o.workers:
		return fmt.Errorf("cassandra: WithAdaptiveLimit: Min (%d) must not exceed WithWorkers (%d)", l.Min, o.workers)
	case l.Tolerance != 0 && !(l.Tolerance > 1) || math.IsInf(l.Tolerance, 0):
		return fmt.Errorf("cassandra: WithAdaptiveLimit: Tolerance must be more than 1 and finite, got %v", l.Tolerance)
	case l.Window < 0:
		return fmt.Errorf("cassandra: WithAdaptiveLimit: Window must not be negative, got %v", l.Window)
	}
	return nil
}

// Shares of the limit an overload signal and a window far too slow cut.
const (
	adaptiveDropFactor  = 0.8
	adaptiveMinGradient = 0.5
	// adaptiveSmoothing is the share of a window's gradient that a cut
	// applies, so that one noisy window does not halve the limit.
	adaptiveSmoothing = 0.5
	// adaptiveMinSamples is the fewest requests a window needs before its
	// mean latency counts, so that one slow request does not move the limit.
	adaptiveMinSamples = 8
)

// adaptive moves the pool's limit after the latency and the outcome of the
// requests that ran on it.
type adaptive struct {
	min, max  int
	tolerance float64
	window    time.Duration
	now       func() time.Time
	set       func(int) int // sets the pool's limit; returns what it set

	inflight atomic.Int64 // requests between begin and end
	peak     atomic.Int64 // most requests in flight during the window

	mu       sync.Mutex
	limit    float64       // the limit as computed; the pool holds it rounded
	quiet    time.Duration // the quiet latency; 0 until a quiet window was seen
	winStart time.Time
	sum      time.Duration // latency of the window's measured requests
	n        int           // measured requests in the window
	drops    int           // overload signals in the window
}

func newAdaptive(l AdaptiveLimit, workers int, now func() time.Time, set func(int) int) *adaptive {
	a := &adaptive{min: l.Min, max: workers, tolerance: l.Tolerance, window: l.Window, now: now, set: set}
	if a.min == 0 {
		a.min = min(DefaultAdaptiveMin, workers)
	}
	if a.tolerance == 0 {
		a.tolerance = DefaultAdaptiveTolerance
	}
	if a.window == 0 {
		a.window = DefaultAdaptiveWindow
	}
	a.limit = float64(a.set(a.min))
	a.winStart = now()
	return a
}

// begin is called when a request starts on a worker; it returns the time
// to hand to end. A nil adaptive does nothing.
func (a *adaptive) begin() time.Time {
	if a == nil {
		return time.Time{}
	}
	n := a.inflight.Add(1)
	for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
	}
	return a.now()
}

// end is called when the request that began at start ends, after round
// trips to the cluster (at least one), with err its outcome.
func (a *adaptive) end(start time.Time, trips int, err error) {
	if a == nil {
		return
	}
	now := a.now()
	a.inflight.Add(-1)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err == nil:
		a.sum += now.Sub(start) / time.Duration(max(trips, 1))
		a.n++
	case overloadSignal(err):
		a.drops++
	}
	if now.Sub(a.winStart) >= a.window && (a.n >= adaptiveMinSamples || a.drops > 0) {
		a.reviseLocked(now)
	}
}

// overloadSignal reports whether err says the cluster, or the way to it,
// is taking more than it can.
func overloadSignal(err error) bool {
	switch ErrorKind(err) {
	case "server_overloaded", "read_timeout", "write_timeout", "timeout", "deadline":
		return true
	}
	return false
}

// reviseLocked ends the window: it moves the limit after what the window
// saw, and starts the next.
func (a *adaptive) reviseLocked(now time.Time) {
	limit := a.limit
	switch {
	case a.drops > 0:
		limit *= adaptiveDropFactor
	case a.n > 0:
		mean := max(a.sum/time.Duration(a.n), 1)
		peak := a.peak.Load()
		// A window in which few requests ran measures the quiet latency
		// afresh, whether the one known was lower or higher; a busier
		// window only lowers it.
		if peak <= int64(a.min) || a.quiet == 0 || mean < a.quiet {
			a.quiet = mean
		}
		g := a.tolerance * float64(a.quiet) / float64(mean)
		g = min(max(g, adaptiveMinGradient), 1)
		if g == 1 && float64(peak) >= limit/2 {
			limit += math.Sqrt(limit)
		} else {
			limit *= 1 - adaptiveSmoothing*(1-g)
		}
	}
	a.limit = min(max(limit, float64(a.min)), float64(a.max))
	a.set(int(math.Round(a.limit)))
	a.winStart, a.sum, a.n, a.drops = now, 0, 0, 0
	a.peak.Store(a.inflight.Load())
}
