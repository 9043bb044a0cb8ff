package inmemory

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/async-cassandra/cassandra"
)

// Snapshot is what a Collector had measured at one moment: a value the
// collector no longer touches. Totals (fields ending in Count) run from the
// collector's creation; Window covers the last few seconds only.
//
// Requests are counted once each, by Execute or Batch.Execute, whatever
// their outcome (refused, cancelled and failed requests included); the
// pages of a Stream are counted apart, as stream pages.
type Snapshot struct {
	// Time is when the snapshot was taken, Start when the collector was
	// created, both on the collector's clock.
	Time, Start time.Time

	// Requests.

	RequestCount uint64            // requests that ended
	SuccessCount uint64            // requests that ended without an error
	ErrorCount   uint64            // requests that ended with an error: RequestCount - SuccessCount
	ErrorsByKind map[string]uint64 // ErrorCount by cassandra.ErrorKind ("syntax", "deadline", ...)
	RowCount     uint64            // rows the requests returned
	PageCount    uint64            // pages the requests fetched

	// Attempts: every request the driver sent to a node, for requests and
	// stream pages alike.

	AttemptCount      uint64 // attempts
	RetryCount        uint64 // attempts beyond the first of a page: retries and speculative executions
	AttemptErrorCount uint64 // attempts that failed (a later retry may have succeeded)

	// Streams.

	StreamPageCount  uint64 // pages fetched by streams, failed fetches included
	StreamRowCount   uint64 // rows in those pages
	StreamErrorCount uint64 // page fetches that failed

	// Window holds the latency percentiles and the rate of the last
	// moments.
	Window WindowStats

	// Statements are the requests by statement, most frequent first: one
	// entry per distinct statement (text in normal form, kind, keyspace
	// and table), up to the collector's WithMaxStatements, and one entry
	// with Other set for the statements beyond. Their RequestCounts add up
	// to RequestCount. See TopByCount and TopByTime.
	Statements []StatementStats

	// Sessions are the pool statistics of the sessions open on the
	// collector, in the order they were opened, read just before the rest
	// of the snapshot.
	Sessions []cassandra.PoolStats
}

// WindowStats describes the requests that ended during the window: the
// interval the snapshot falls in and the ones before it, so a window
// between WithWindow minus one interval and WithWindow long (shorter for
// a collector younger than that).
type WindowStats struct {
	// Start is where the window begins: the start of its oldest
	// interval, or the collector's creation (Snapshot.Start) while the
	// collector is younger than the window.
	Start time.Time
	// Duration is the window's length, from Start up to the snapshot's
	// Time; zero, as is RequestsPerSecond, if Time is not after Start.
	Duration time.Duration
	// Interval is the step the window slides by: the window (WithWindow)
	// divided by the number of intervals (WithIntervals).
	Interval time.Duration

	RequestCount      uint64  // requests that ended in the window
	ErrorCount        uint64  // of which failed
	RequestsPerSecond float64 // RequestCount / Duration

	// Latency is the distribution of the requests' Duration: the time
	// from Execute until the request was over, queue wait included.
	Latency Distribution
	// QueueWait is the distribution of the requests' time waiting for a
	// worker (zero for a request refused at once).
	QueueWait Distribution
}

// Distribution sums up a set of durations. The percentiles come from an
// HDR histogram: each is within 1 µs or 0.1% (whichever is larger) of the
// exact percentile of the durations, and lies between Min and Max, which,
// with Mean, are exact. All are zero when Count is.
type Distribution struct {
	// Count is how many durations the distribution holds: in a
	// WindowStats, one per request, so it equals RequestCount.
	Count uint64
	// Min and Max are the shortest and the longest duration, Mean their
	// average.
	Min, Mean, Max time.Duration
	// P50, P95, P99 and P999 are the 50th, 95th, 99th and 99.9th
	// percentiles. In them a duration longer than an hour counts as one
	// hour.
	P50, P95, P99, P999 time.Duration
}

// StatementStats are the totals of one statement since the collector's
// creation.
type StatementStats struct {
	// Statement is the statement's normal form and classification, as
	// the session reported it. Zero when Other is set.
	Statement cassandra.Statement
	// Other marks the entry that adds up every statement beyond the
	// collector's WithMaxStatements.
	Other bool

	RequestCount  uint64        // requests of the statement
	ErrorCount    uint64        // of which failed
	RowCount      uint64        // rows they returned
	TotalDuration time.Duration // sum of their latencies
	MaxDuration   time.Duration // the longest of their latencies
}

// add records one request.
func (s *StatementStats) add(d time.Duration, rows int, failed bool) {
	s.RequestCount++
	if failed {
		s.ErrorCount++
	}
	s.RowCount += uint64(max(rows, 0))
	s.TotalDuration += d
	s.MaxDuration = max(s.MaxDuration, d)
}

// MeanDuration returns the mean latency of the statement's requests.
func (s StatementStats) MeanDuration() time.Duration {
	if s.RequestCount == 0 {
		return 0
	}
	return s.TotalDuration / time.Duration(s.RequestCount)
}

// Label returns the statement's text, or "(other statements)" for the
// Other entry.
func (s StatementStats) Label() string {
	if s.Other {
		return "(other statements)"
	}
	return s.Statement.Text
}

// sortByCount orders stats by RequestCount, most first; ties by text.
func sortByCount(stats []StatementStats) {
	slices.SortFunc(stats, func(a, b StatementStats) int {
		return cmp.Or(cmp.Compare(b.RequestCount, a.RequestCount), cmp.Compare(a.Label(), b.Label()))
	})
}

// TopByCount returns the n most frequent statements (all of them if n is
// larger), most frequent first.
func (s Snapshot) TopByCount(n int) []StatementStats {
	return slices.Clone(s.Statements[:min(max(n, 0), len(s.Statements))])
}

// TopByTime returns the n statements with the largest TotalDuration (all
// of them if n is larger), largest first: where the time went.
func (s Snapshot) TopByTime(n int) []StatementStats {
	all := slices.Clone(s.Statements)
	slices.SortStableFunc(all, func(a, b StatementStats) int { return cmp.Compare(b.TotalDuration, a.TotalDuration) })
	return all[:min(max(n, 0), len(all))]
}

// topStatements is how many statements String lists in each ranking.
const topStatements = 5

// String returns a summary of the snapshot on a few lines, as a command
// prints it at the end of a run:
//
//	requests    1003 in 12.3s: 1001 ok, 2 failed (syntax 1, invalid 1)
//	rows        1042 in 1010 pages
//	attempts    1005: 2 retries, 2 failed
//	streams     10 pages, 1000 rows, 0 failed
//	window      last 12.3s: 1003 requests, 81.5/s, 2 failed
//	latency     p50 1.21ms  p95 3.4ms  p99 5.6ms  p99.9 9.01ms  max 12.3ms  mean 1.5ms
//	queue wait  p50 2µs  p95 40µs  ...
//	session 1   64 workers (12 live, 0 busy), queue 0 of 1024, 1003 submitted, 0 rejected, 0 expired
//	top statements by count:
//	  requests  failed   total   mean  statement
//	      1000       0    1.2s  1.2ms  INSERT INTO demo.users (id, name) VALUES (?, ?)
//	         2       2  3.01ms  1.5ms  SELECT * FROM demo.missing
//	top statements by total time:
//	  ...
func (s Snapshot) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "requests\t%d in %v: %d ok, %d failed%s\n", s.RequestCount, round(s.Time.Sub(s.Start)),
		s.SuccessCount, s.ErrorCount, kinds(s.ErrorsByKind))
	fmt.Fprintf(w, "rows\t%d in %d pages\n", s.RowCount, s.PageCount)
	fmt.Fprintf(w, "attempts\t%d: %d retries, %d failed\n", s.AttemptCount, s.RetryCount, s.AttemptErrorCount)
	fmt.Fprintf(w, "streams\t%d pages, %d rows, %d failed\n", s.StreamPageCount, s.StreamRowCount, s.StreamErrorCount)
	win := s.Window
	fmt.Fprintf(w, "window\tlast %v: %d requests, %.1f/s, %d failed\n", round(win.Duration), win.RequestCount,
		win.RequestsPerSecond, win.ErrorCount)
	fmt.Fprintf(w, "latency\t%s\n", win.Latency)
	fmt.Fprintf(w, "queue wait\t%s\n", win.QueueWait)
	for i, p := range s.Sessions {
		fmt.Fprintf(w, "session %d\t%d workers (limit %d, %d live, %d busy), queue %d of %d, %d submitted, %d rejected, %d expired\n",
			i+1, p.Workers, p.Limit, p.LiveWorkers, p.BusyWorkers, p.QueueDepth, p.QueueCapacity, p.SubmitCount,
			p.RejectedCount, p.ExpiredCount)
	}
	w.Flush()
	if len(s.Statements) > 0 {
		b.WriteString("top statements by count:\n")
		writeStatements(&b, s.TopByCount(topStatements))
		b.WriteString("top statements by total time:\n")
		writeStatements(&b, s.TopByTime(topStatements))
	}
	return b.String()
}

// String returns the distribution on one line: "p50 1.21ms  p95 3.4ms
// p99 5.6ms  p99.9 9.01ms  max 12.3ms  mean 1.5ms", or "none" if empty.
func (d Distribution) String() string {
	if d.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %v  p95 %v  p99 %v  p99.9 %v  max %v  mean %v",
		round(d.P50), round(d.P95), round(d.P99), round(d.P999), round(d.Max), round(d.Mean))
}

// writeStatements writes one line per statement: aligned figures, then
// the statement (the text after a line's last tab is not a column, so a
// long statement does not widen the others).
func writeStatements(b *strings.Builder, stats []StatementStats) {
	w := tabwriter.NewWriter(b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "requests\tfailed\ttotal\tmean\t  statement\n")
	for _, st := range stats {
		fmt.Fprintf(w, "%d\t%d\t%v\t%v\t  %s\n", st.RequestCount, st.ErrorCount,
			round(st.TotalDuration), round(st.MeanDuration()), st.Label())
	}
	w.Flush()
}

// kinds formats errors by kind as " (syntax 1, invalid 1)", most first.
func kinds(byKind map[string]uint64) string {
	if len(byKind) == 0 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(byKind), func(a, b string) int {
		return cmp.Or(cmp.Compare(byKind[b], byKind[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, byKind[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// round keeps three significant digits of d, for reading.
func round(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for x := d; x >= 1000 || x <= -1000; x /= 10 {
		unit *= 10
	}
	return d.Round(unit)
}
