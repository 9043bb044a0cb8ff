package pool

import "time"

// Stats is a snapshot of a pool's state. Levels are current values; fields
// ending in Count or Duration are cumulative since the pool was created.
//
// Every accepted Submit is accounted for exactly once:
//
//	SubmitCount = CompletedCount + CanceledCount + DroppedCount + BusyWorkers + QueueDepth
//
// whenever no task is between two of those states (for example, when the
// pool is idle or closed).
type Stats struct {
	// Pool status (levels).

	Workers           int // most tasks that run at once, and most worker goroutines
	LiveWorkers       int // worker goroutines running now (started on demand, until the pool closes)
	BusyWorkers       int // tasks running now, on a worker or on the goroutine awaiting them
	QueueDepth        int // tasks currently waiting for a worker
	QueueCapacity     int // most tasks that may wait for a worker
	WaitingSubmitters int // Submit calls currently blocked waiting for room (Wait policy)

	// Counters (cumulative).

	SubmitCount         uint64        // Submit calls that accepted a task
	CompletedCount      uint64        // tasks whose run returned (or panicked)
	CanceledCount       uint64        // accepted tasks dropped because their ctx ended before they ran
	DroppedCount        uint64        // queued tasks dropped with ErrClosed by Close
	RejectedCount       uint64        // Submit calls that returned ErrOverloaded
	CanceledSubmitCount uint64        // Submit calls that returned ctx.Err() (ctx done on entry or while waiting for room)
	PanicCount          uint64        // panics recovered from run or drop
	HelpedCount         uint64        // tasks run by Help, on the goroutine waiting for them
	QueueWaitDuration   time.Duration // total time tasks that left the queue for a worker spent queued
}

// Stats returns a snapshot of the pool's state.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	busy, _ := p.counts()
	return Stats{
		Workers:             p.cfg.Workers,
		LiveWorkers:         p.live,
		BusyWorkers:         busy,
		QueueDepth:          p.queue.len,
		QueueCapacity:       p.cfg.Queue,
		WaitingSubmitters:   p.waiters.len,
		SubmitCount:         p.submitted.Load(),
		CompletedCount:      p.completed.Load(),
		CanceledCount:       p.canceled.Load(),
		DroppedCount:        p.c.dropped,
		RejectedCount:       p.c.rejected,
		CanceledSubmitCount: p.c.canceledSubmit,
		PanicCount:          p.panics.Load(),
		HelpedCount:         p.helped.Load(),
		QueueWaitDuration:   p.c.queueWait,
	}
}
