package cassandra

import (
	"context"
	"time"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// streamFetch is the pool task that fetches one page. A stream has at most
// one fetch at a time (each page needs the previous page's state), so it
// reuses a single task.
type streamFetch struct {
	st     *Stream
	state  []byte
	number int
	// What Run fetched, handed to the reader by Finish.
	page *Page
	err  error
}

// Run fetches the page on a worker and keeps it for Finish.
func (f *streamFetch) Run() {
	st := f.st
	sent := false // the request reached the driver
	var began time.Time
	defer func() {
		if v := recover(); v != nil {
			f.page, f.err = nil, wrapQueryError(st.stmt, 0, nil, newPanicError(v))
		}
		if sent {
			st.s.adapt.end(began, 1, f.err)
		}
	}()
	ctx := st.ctx
	if d := st.cfg.pageTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := ctx.Err(); err != nil { // ended after the fetch got a place
		f.page, f.err = nil, wrapQueryError(st.stmt, 0, nil, err)
		return
	}
	st.query.PageState(f.state)
	start := st.s.now()
	began, sent = st.s.adapt.begin(), true
	it := st.query.IterContext(ctx)
	page, err := newPage(it, f.number)
	if err != nil {
		err = wrapQueryError(st.stmt, it.Attempts(), it.Host(), st.s.closedErr(ctx, withContextErr(ctx, err)))
	}
	f.page, f.err = page, err
	if m := st.s.metrics; m != nil && m.pages != nil {
		info := PageFetchInfo{Statement: m.statement(st.stmt), Number: f.number, Start: start,
			Duration: st.s.now().Sub(start), Attempts: it.Attempts(), Host: m.host(it.Host()),
			Err: err, ErrorKind: ErrorKind(err)}
		if page != nil {
			info.Rows = page.rows
		}
		m.pages.PageDone(st.parent, info)
	}
}

// Finish hands the page to the reader once the fetch's place in the pool is
// free again, as a future's result is: a reader that reaches the end of the
// stream finds its worker back in the pool, and the fetch of the next page,
// which deliver may submit from here, can take that same place.
func (f *streamFetch) Finish() {
	// deliver may submit f again; what it hands over is taken out first.
	page, err := f.page, f.err
	f.page, f.err = nil, nil
	f.st.deliver(page, err)
}

// Drop records that the fetch never ran.
func (f *streamFetch) Drop(err error) {
	f.st.deliver(nil, wrapQueryError(f.st.stmt, 0, nil, poolErr(err)))
}

// submitFetch submits the fetch of the next page; the caller has set
// fetching. The reader waits for room when it needs the page (wait); a
// prefetch, and a fetch submitted from a worker, never waits, and is left
// to the reader if the pool has no room. Each page takes a rate-limit
// token (WithRateLimit) in the same way: the reader waits for one, a
// prefetch takes one only if it is there now.
func (st *Stream) submitFetch(wait bool) {
	st.mu.Lock()
	st.fetch.state = st.next
	st.fetch.number = st.fetched + 1
	st.mu.Unlock()
	var err error
	switch {
	case wait:
		if err = st.s.limiter.wait(st.ctx); err == nil {
			err = st.s.pool.Submit(st.ctx, &st.fetch)
		}
	case !st.s.limiter.try(st.ctx):
		err = pool.ErrFull // left to the reader, as when the pool is full
	default:
		err = st.s.pool.TrySubmit(st.ctx, &st.fetch)
	}
	if err == nil {
		return
	}
	st.mu.Lock()
	st.fetching = false
	if wait && st.fetchErr == nil {
		st.fetchErr = wrapQueryError(st.stmt, 0, nil, poolErr(err))
	}
	st.mu.Unlock()
	st.signal()
}

// deliver hands a fetched page (or the error that ended fetching) to the
// reader, then prefetches further if the buffer has room.
func (st *Stream) deliver(page *Page, err error) {
	st.mu.Lock()
	st.fetching = false
	if st.closed.Load() {
		st.mu.Unlock()
		if page != nil {
			page.Close()
		}
		return
	}
	if err != nil {
		if st.fetchErr == nil {
			st.fetchErr = err
		}
		st.mu.Unlock()
		st.signal()
		return
	}
	st.fetched++
	st.rowsIn += page.rows
	st.next = page.state
	st.buffer = append(st.buffer, page)
	st.last = page.state == nil ||
		(st.cfg.maxPages > 0 && st.fetched >= st.cfg.maxPages) ||
		(st.cfg.maxRows > 0 && st.rowsIn >= st.cfg.maxRows)
	more := st.wantFetchLocked()
	if more {
		st.fetching = true
	}
	st.mu.Unlock()
	st.signal()
	if more {
		st.submitFetch(false)
	}
}

// wantFetchLocked reports whether another page should be fetched now: the
// stream has more, nothing is in flight, and the buffer has room.
func (st *Stream) wantFetchLocked() bool {
	return !st.last && !st.fetching && !st.closed.Load() && st.fetchErr == nil && len(st.buffer) < st.cfg.prefetch
}

// signal wakes the reader if it waits for a page.
func (st *Stream) signal() {
	select {
	case st.ready <- struct{}{}:
	default:
	}
}

// nextPage returns the next page for the reader, waiting for it if needed;
// nil and nil at the end of the stream.
func (st *Stream) nextPage() (*Page, error) {
	for {
		st.mu.Lock()
		if st.closed.Load() {
			st.mu.Unlock()
			return nil, nil
		}
		// A context that ended stops the stream at the next page even if
		// pages are buffered: the caller asked to stop.
		if err := st.ctx.Err(); err != nil {
			st.mu.Unlock()
			return nil, wrapQueryError(st.stmt, 0, nil, err)
		}
		if len(st.buffer) > 0 {
			p := st.buffer[0]
			st.buffer[0] = nil
			st.buffer = st.buffer[1:]
			// With prefetch 0 the buffer never has room: the reader asks
			// for a page only when it needs one (below).
			more := st.wantFetchLocked()
			if more {
				st.fetching = true
			}
			st.mu.Unlock()
			if more {
				st.submitFetch(false)
			}
			return p, nil
		}
		if st.fetchErr != nil {
			err := st.fetchErr
			st.mu.Unlock()
			return nil, err
		}
		if st.last {
			st.mu.Unlock()
			return nil, nil
		}
		start := !st.fetching
		if start {
			st.fetching = true
		}
		st.mu.Unlock()
		if start {
			st.submitFetch(true)
			continue
		}
		select {
		case <-st.ready:
		case <-st.ctx.Done():
			if st.closed.Load() {
				return nil, nil
			}
			return nil, wrapQueryError(st.stmt, 0, nil, st.ctx.Err())
		}
	}
}
