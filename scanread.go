package cassandra

import (
	"iter"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Next advances to the next row, waiting for a page if needed, and reports
// whether there is one. At the end of the scan, or on an error (see Err),
// it returns false and releases the scan. Moving past the last row of a
// page finishes that page (see ScanCheckpoints).
func (sc *TableScan) Next() bool {
	if !sc.begin() {
		return false
	}
	for {
		if sc.cur != nil {
			if sc.cur.page.Next() {
				sc.rowSeq++
				sc.rows.Add(1)
				return true
			}
			if err := sc.cur.page.Err(); err != nil {
				rng := sc.cur.rng.r
				sc.finish(sc.scanError(&rng, err))
				return false
			}
			if err := sc.pageDone(); err != nil {
				sc.finish(err)
				return false
			}
		}
		it, err := sc.receive()
		if err != nil || it == nil {
			sc.finish(err)
			return false
		}
		sc.cur = it
	}
}

// finish ends reading with err (nil at a clean end) and releases the scan.
func (sc *TableScan) finish(err error) {
	if sc.err == nil {
		sc.err = err
	}
	sc.done = true
	sc.release()
}

// release is Close from the reader, which also drops its current page.
func (sc *TableScan) release() {
	if sc.cur != nil {
		sc.cur.page.Close()
		sc.cur = nil
	}
	sc.Close()
}

// Scan copies the current row into dest, as ResultSet.Scan does.
func (sc *TableScan) Scan(dest ...any) error {
	if sc.cur == nil {
		if sc.err != nil {
			return sc.err
		}
		return errNoRow
	}
	return sc.cur.page.Scan(dest...)
}

// MapScan copies the current row into m, as ResultSet.MapScan does.
func (sc *TableScan) MapScan(m map[string]any) error { return mapScan(sc, m) }

// Columns returns the rows' columns while a page is being read (nil
// otherwise).
func (sc *TableScan) Columns() []gocql.ColumnInfo {
	if sc.cur == nil {
		return nil
	}
	return sc.cur.page.Columns()
}

// onRow reports whether the scan is still on the row numbered seq.
func (sc *TableScan) onRow(seq uint64) bool { return !sc.done && sc.cur != nil && sc.rowSeq == seq }

// Err returns the error that ended the scan, if any: a *ScanError whose
// cause is a request's error, the context's, or the checkpoint callback's.
// It is nil after a clean end or Close.
func (sc *TableScan) Err() error { return sc.err }

// Close stops the scan: every request in flight is abandoned and frees its
// worker, and reading ends without an error. Close returns when the
// scan's goroutines have ended. It is idempotent, may be called from any
// goroutine, and returns nil. The page the reader holds stays valid until
// the reader moves on.
func (sc *TableScan) Close() error {
	sc.closeOnce.Do(func() {
		sc.mu.Lock()
		sc.closed.Store(true) // under mu: start sees it, or its workers are counted
		sc.mu.Unlock()
		sc.cancel()
		sc.wg.Wait()
	})
	return nil
}

// Rows returns an iterator over the scan's rows. Each Row is valid only
// until the loop continues. The iterator yields a final (zero Row, error)
// pair if the scan ended with an error. Breaking out of the loop closes
// the scan (the page being read is then not finished, so the last
// checkpoint is before it). The iterator can be used once.
func (sc *TableScan) Rows() iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		defer sc.release()
		for sc.Next() {
			if !yield(Row{sc, sc.rowSeq}, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Row{}, err)
		}
	}
}

// Pages returns an iterator over the scan's pages, from all its ranges as
// they arrive. Each page is valid until the loop continues, which releases
// it and finishes it (see ScanCheckpoints). Page.Number counts the pages
// of the page's range, from where the range was last started (a resumed
// or retried range starts again at 1). Pages may be empty. The iterator yields a final (nil,
// error) pair if the scan ended with an error. Breaking out of the loop
// closes the scan, without finishing the page. Do not mix Pages with Next
// or Rows.
func (sc *TableScan) Pages() iter.Seq2[*Page, error] {
	return func(yield func(*Page, error) bool) {
		defer sc.release()
		if !sc.begin() {
			if err := sc.Err(); err != nil {
				yield(nil, err)
			}
			return
		}
		for {
			it, err := sc.receive()
			if err != nil || it == nil {
				sc.finish(err)
				if err != nil {
					yield(nil, err)
				}
				return
			}
			sc.cur = it
			sc.rows.Add(int64(it.page.Len()))
			ok := yield(it.page, nil)
			if !ok {
				return
			}
			it.page.Close()
			if err := sc.pageDone(); err != nil {
				sc.finish(err)
				yield(nil, err)
				return
			}
		}
	}
}

// ---- checkpoints and progress ----------------------------------------------
