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

	Workers           int // number of worker goroutines (fixed)
	BusyWorkers       int // workers currently running a task
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
	QueueWaitDuration   time.Duration // total time tasks that left the queue for a worker spent queued
}

// Stats returns a snapshot of the pool's state.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Workers:             p.cfg.Workers,
		BusyWorkers:         p.busy,
		QueueDepth:          p.queue.len,
		QueueCapacity:       p.cfg.Queue,
		WaitingSubmitters:   p.waiters.len,
		SubmitCount:         p.c.submit,
		CompletedCount:      p.c.completed,
		CanceledCount:       p.c.canceled,
		DroppedCount:        p.c.dropped,
		RejectedCount:       p.c.rejected,
		CanceledSubmitCount: p.c.canceledSubmit,
		PanicCount:          p.c.panics,
		QueueWaitDuration:   p.c.queueWait,
	}
}
