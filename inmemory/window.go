package inmemory

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Durations are kept in HDR histograms in whole microseconds, from 1 µs to
// one hour, to three significant digits: a percentile is exact to within
// 1 µs or 0.1%, whichever is larger. A longer duration is counted as one
// hour in the percentiles (the exact maximum and mean are kept aside).
// A negative duration (a clock that went back) counts as zero. One
// histogram of this shape takes about 190 KB.
const (
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// dist is the distribution of one duration (a request's Duration, or its
// QueueWait) over one interval, or over the merged window.
type dist struct {
	h        *hdrhistogram.Histogram
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

func newDist() dist { return dist{h: hdrhistogram.New(1, histHighest, histDigits)} }

// record adds v; it never allocates.
func (d *dist) record(v time.Duration) {
	if v < 0 {
		v = 0
	}
	us := int64(v / time.Microsecond)
	if us > histHighest {
		us = histHighest
	}
	// In range, so RecordValue cannot fail (it would allocate its error).
	_ = d.h.RecordValue(us)
	if d.n == 0 || v < d.min {
		d.min = v
	}
	if v > d.max {
		d.max = v
	}
	d.n++
	d.sum += v
}

func (d *dist) reset() {
	d.h.Reset()
	d.n, d.sum, d.min, d.max = 0, 0, 0, 0
}

// merge adds what from recorded.
func (d *dist) merge(from *dist) {
	if from.n == 0 {
		return
	}
	d.h.Merge(from.h)
	if d.n == 0 || from.min < d.min {
		d.min = from.min
	}
	if from.max > d.max {
		d.max = from.max
	}
	d.n += from.n
	d.sum += from.sum
}

// summary reads the percentiles. Each is the histogram's value at that
// quantile, brought within the exact minimum and maximum (a histogram
// value stands for a range up to 0.1% wide).
func (d *dist) summary() Distribution {
	if d.n == 0 {
		return Distribution{}
	}
	at := func(q float64) time.Duration {
		v := time.Duration(d.h.ValueAtQuantile(q)) * time.Microsecond
		return min(max(v, d.min), d.max)
	}
	return Distribution{
		Count: d.n,
		Min:   d.min,
		Mean:  d.sum / time.Duration(d.n),
		Max:   d.max,
		P50:   at(50),
		P95:   at(95),
		P99:   at(99),
		P999:  at(99.9),
	}
}

// interval is one slot of the ring: what the requests that ended during
// one interval of the window recorded.
type interval struct {
	epoch     int64 // which interval since the collector's start the slot holds
	requests  uint64
	errors    uint64
	latency   dist
	queueWait dist
}

func (iv *interval) reset(epoch int64) {
	iv.epoch = epoch
	iv.requests, iv.errors = 0, 0
	iv.latency.reset()
	iv.queueWait.reset()
}

// ring is the sliding window: len(slots) intervals of width each, the
// interval numbered e (counted from origin) in slots[e % len(slots)]. A
// slot is reused, and reset, when the first request of a newer interval
// lands in it, so memory never grows. The window at a given moment is the
// interval it falls in and the len(slots)-1 before it.
type ring struct {
	origin time.Time
	width  time.Duration
	slots  []interval
}

func newRing(origin time.Time, window time.Duration, n int) ring {
	r := ring{origin: origin, width: window / time.Duration(n), slots: make([]interval, n)}
	for i := range r.slots {
		r.slots[i] = interval{epoch: -1, latency: newDist(), queueWait: newDist()}
	}
	return r
}

// epoch returns the number of the interval t falls in; a time before the
// origin (a clock that went back) falls in the first.
func (r *ring) epoch(t time.Time) int64 {
	d := t.Sub(r.origin)
	if d < 0 {
		return 0
	}
	return int64(d / r.width)
}

// slot returns the slot for interval e, reset if it held an older one, or
// nil if it already holds a newer one: e has left the window (which only
// a clock that went back, or a caller delayed by a whole window between
// reading the clock and recording, can bring about).
func (r *ring) slot(e int64) *interval {
	iv := &r.slots[e%int64(len(r.slots))]
	switch {
	case iv.epoch == e:
		return iv
	case iv.epoch > e:
		return nil
	}
	iv.reset(e)
	return iv
}

// window merges the slots of the window that ends at now into latency and
// queueWait (reset first), and returns the requests and errors they hold
// and when the window starts.
func (r *ring) window(now time.Time, latency, queueWait *dist) (requests, errors uint64, start time.Time) {
	latency.reset()
	queueWait.reset()
	cur := r.epoch(now)
	first := cur - int64(len(r.slots)) + 1
	for i := range r.slots {
		iv := &r.slots[i]
		// A slot newer than now holds a request whose clock was read
		// after the snapshot's: it is part of the window too.
		if iv.epoch < first || iv.epoch < 0 {
			continue
		}
		requests += iv.requests
		errors += iv.errors
		latency.merge(&iv.latency)
		queueWait.merge(&iv.queueWait)
	}
	start = r.origin
	if first > 0 {
		start = r.origin.Add(time.Duration(first) * r.width)
	}
	return requests, errors, start
}
