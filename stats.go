package cassandra

import "time"

// PoolStats is a snapshot of a session's worker pool, for dashboards and
// for sizing WithWorkers and WithQueue (docs/performance.md shows how to
// read it). Levels are values at the moment of the snapshot; fields ending
// in Count or Duration are totals since the session was connected.
//
// Every request the pool accepted is in exactly one place, so whenever no
// request is moving between two of them (when the session is idle, say):
//
//	SubmitCount = CompletedCount + ExpiredCount + DroppedCount + BusyWorkers + QueueDepth
type PoolStats struct {
	// Levels.

	Workers           int // the most requests that run at once (WithWorkers)
	Limit             int // the most requests that start now: Workers, or the adaptive limit (WithAdaptiveLimit)
	LiveWorkers       int // worker goroutines, busy or idle; they start on demand and stay until Close
	BusyWorkers       int // requests running now: sent, or being sent, to Cassandra
	QueueCapacity     int // the most requests that wait for a worker (WithQueue)
	QueueDepth        int // requests waiting for a worker now
	WaitingSubmitters int // callers blocked for room in a full queue now (QueueWait)

	// Totals.

	SubmitCount         uint64        // requests accepted by the pool
	CompletedCount      uint64        // requests that ran on a worker, whatever their outcome
	ExpiredCount        uint64        // queued requests dropped unsent because their context ended or Future.Cancel was called
	DroppedCount        uint64        // queued requests dropped unsent with ErrClosed by Close
	RejectedCount       uint64        // requests refused with ErrOverloaded (QueueFailFast)
	CanceledSubmitCount uint64        // calls whose context had ended, or ended while they waited for room: nothing was submitted
	QueueWaitDuration   time.Duration // time spent queued by the requests a worker took

	// Rate limit (WithRateLimit); all zero without one. Requests counted
	// here were held back before the pool, so they appear in the pool's
	// counters above only once they have their token.

	RateLimitWaiting       int           // level: callers waiting for a token now (QueueWait)
	RateLimitWaitCount     uint64        // requests that found no token and waited for one, whatever the outcome
	RateLimitCanceledCount uint64        // of those, the ones whose context ended, or whose session closed, first: nothing was submitted
	RateLimitRejectedCount uint64        // requests refused at once with ErrRateLimited (QueueFailFast)
	RateLimitWaitDuration  time.Duration // time requests spent waiting for a token
}

// Stats returns a consistent snapshot of the session's worker pool, and
// one of its rate limit (the two are taken one after the other).
func (s *AsyncSession) Stats() PoolStats {
	p := s.pool.Stats()
	st := PoolStats{
		Workers:             p.Workers,
		Limit:               p.Limit,
		LiveWorkers:         p.LiveWorkers,
		BusyWorkers:         p.Running,
		QueueCapacity:       p.QueueCapacity,
		QueueDepth:          p.Queued,
		WaitingSubmitters:   p.Waiting,
		SubmitCount:         p.Submitted,
		CompletedCount:      p.Completed,
		ExpiredCount:        p.Expired,
		DroppedCount:        p.Dropped,
		RejectedCount:       p.Rejected,
		CanceledSubmitCount: p.CanceledSubmit,
		QueueWaitDuration:   p.QueueWait,
	}
	s.limiter.fill(&st)
	return st
}
