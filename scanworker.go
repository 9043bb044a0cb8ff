package cassandra

import (
	"errors"
	"slices"
)

// Workers: each reads ranges of a TableScan, one at a time, and hands
// their pages to the reader.

// work reads ranges, one at a time, until none is left or the scan stops.
func (sc *TableScan) work() {
	defer sc.wg.Done()
	defer func() {
		if sc.active.Add(-1) == 0 {
			close(sc.items)
		}
	}()
	ack := make(chan struct{}, 1)
	for {
		i := int(sc.nextRange.Add(1) - 1)
		if i >= len(sc.plan) || sc.ctx.Err() != nil {
			return
		}
		if err := sc.readRange(sc.plan[i], ack); err != nil {
			if sc.ctx.Err() == nil {
				select {
				case sc.items <- scanItem{err: err}:
				case <-sc.ctx.Done():
				}
			}
			return
		}
	}
}

// readRange reads one range to its end, handing each page to the reader
// and waiting until the reader has finished it. A failed page is asked
// again, from the same position, of the next candidate node; the error is
// returned once every candidate has failed, or at once if asking again
// cannot help.
func (sc *TableScan) readRange(r *scanRange, ack chan struct{}) error {
	state := r.state
	failures := 0
	// Every replica, and two more: other nodes, else the driver's choice.
	attempts := len(r.nodes) + 2
	for {
		last, err := sc.readPages(r, sc.pickHost(r, failures), &state, &failures, ack)
		if err == nil && last {
			return nil
		}
		if err == nil { // the stream stopped early: the scan is stopping
			err = sc.ctx.Err()
			if err == nil {
				err = errors.New("cassandra: scan: a range's stream ended before its last page")
			}
		}
		if sc.ctx.Err() != nil {
			return err
		}
		failures++
		if !retryScanPage(err) || failures >= attempts {
			return sc.scanError(&r.r, err)
		}
	}
}

// readPages streams r from *state on host (any node if ""), handing the
// pages to the reader, and reports whether it reached the range's last
// page. *state follows the pages the reader has finished, and *failures
// is reset by every page that arrives.
func (sc *TableScan) readPages(r *scanRange, host string, state *[]byte, failures *int, ack chan struct{}) (last bool, err error) {
	values := make([]any, 0, 2+len(sc.cfg.whereValues))
	values = append(values, r.r.Start, r.r.End)
	values = append(values, sc.cfg.whereValues...)
	q := sc.s.Query(sc.stmt, values...).PageSize(sc.cfg.pageSize).Idempotent(true).PageState(*state)
	if sc.cfg.hasCons {
		q.Consistency(sc.cfg.cons)
	}
	if host != "" {
		q.HostID(host)
	}
	st := q.Stream(sc.ctx, Prefetch(sc.cfg.prefetch))
	defer st.Close()
	if st.done { // the stream could not start
		return false, st.err
	}
	for {
		p, err := st.nextPage()
		if err != nil || p == nil {
			return false, err
		}
		*failures = 0
		next := p.state
		select {
		case sc.items <- scanItem{page: p, rng: r, ack: ack}:
		case <-sc.ctx.Done():
			p.Close()
			return false, nil
		}
		// The reader owns the page now; wait until it is done with it, so
		// that this range holds no more than its prefetched pages meanwhile.
		select {
		case <-ack:
		case <-sc.ctx.Done():
			return false, nil
		}
		*state = next
		if next == nil {
			return true, nil
		}
	}
}

// pickHost returns the node to ask for r after failures failed attempts:
// its replicas that the driver believes up, in order, then the other nodes
// that are up, in ring order from the primary (any node can serve any
// range, at the cost of a hop), then "" for the driver's own choice. With
// ScanDataCenter, only nodes of that data center are named.
func (sc *TableScan) pickHost(r *scanRange, failures int) string {
	if len(r.nodes) == 0 {
		return ""
	}
	usable := func(n int) bool {
		h := sc.hosts[n]
		return h.IsUp() && (sc.cfg.dataCenter == "" || h.DataCenter() == sc.cfg.dataCenter)
	}
	k := 0
	for _, n := range r.nodes {
		if usable(n) {
			if k == failures {
				return sc.hosts[n].HostID()
			}
			k++
		}
	}
	for j := 1; j < len(sc.hosts); j++ {
		n := (r.nodes[0] + j) % len(sc.hosts)
		if !slices.Contains(r.nodes, n) && usable(n) {
			if k == failures {
				return sc.hosts[n].HostID()
			}
			k++
		}
	}
	return ""
}

// retryScanPage reports whether a failed page may succeed when asked
// again, of another node: not when the request itself is wrong, nor when
// the scan or the session is stopping.
func retryScanPage(err error) bool {
	switch ErrorKind(err) {
	case "canceled", "deadline", "closed", "panic", "client", "overloaded",
		"syntax", "invalid", "unauthorized", "config", "already_exists", "credentials", "protocol":
		return false
	}
	return true
}
