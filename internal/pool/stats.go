package pool

import "time"

// Counters are a pool's running totals since it was created.
type Counters struct {
	Submitted      uint64        // tasks accepted
	Completed      uint64        // tasks whose Run returned
	Expired        uint64        // queued tasks dropped because their context ended
	Dropped        uint64        // queued tasks dropped by Close
	Rejected       uint64        // Submit calls refused with ErrFull under FailFast
	CanceledSubmit uint64        // Submit calls that returned their context's error
	QueueWait      time.Duration // time spent queued by tasks a worker took
}

// Stats is a snapshot of a pool.
type Stats struct {
	Workers       int // most tasks that run at once
	Limit         int // most tasks that start running now: Workers unless SetLimit lowered it
	LiveWorkers   int // worker goroutines, running or parked
	Running       int // tasks running now
	QueueCapacity int // most tasks that wait
	Queued        int // tasks waiting now
	Waiting       int // Submit calls waiting for room now
	Counters
}

// Stats returns a consistent snapshot of the pool.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Workers:       p.cfg.Workers,
		Limit:         p.limit,
		LiveWorkers:   p.live,
		Running:       p.running,
		QueueCapacity: p.cfg.Queue,
		Queued:        p.queue.Len(),
		Waiting:       p.waiters.Len(),
		Counters:      p.counters,
	}
}
