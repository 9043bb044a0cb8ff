package cassandra

import (
	"errors"
	"fmt"
	"slices"
)

// ScanCheckpoint records how far a TableScan has read, so that a new scan
// can go on from there after a crash or a stop (see ScanResume). It is
// plain data: encode it with encoding/json (or any encoder) and keep it
// wherever suits, a file or a row.
//
// A checkpoint describes what the reader has finished: every row of the
// Done ranges, and in each InProgress range every row before its
// PageState. A scan resumed from it reads exactly the rest: the remainder
// of each range in progress, from its page state, and every range in
// neither list. So a reader that handles each row before asking for the
// next, and saves each checkpoint it is given, reads every row once in
// all, however often it is stopped, provided it also discards the work it
// did after the checkpoint it resumes from (the example in examples/scan
// truncates its output file to the length it had at the checkpoint).
//
// A page state is only valid for the statement it came from, with the same
// values: a scan resumes from a checkpoint only with the same table,
// columns and WHERE filter (the Statement field records them; the filter's
// values are not recorded, so give the same ones).
type ScanCheckpoint struct {
	// Version is the format's version, ScanCheckpointVersion.
	Version int `json:"version"`
	// Keyspace is the keyspace of the table scanned: the one the scan
	// named (read as Table is), or the cluster configuration's Keyspace
	// when the scan named the table alone.
	Keyspace string `json:"keyspace"`
	// Table is the name of the table scanned, as CQL reads it: an
	// unquoted name lower-cased, a quoted one as written.
	Table string `json:"table"`
	// Statement is the query each range was read with, its bounds as bind
	// markers.
	Statement string `json:"statement"`
	// Done lists the token ranges read completely, merged and in token
	// order.
	Done []TokenRange `json:"done"`
	// InProgress lists the ranges partly read, each with the paging state
	// after the last page the reader finished, in token order.
	InProgress []RangeCheckpoint `json:"in_progress"`
	// Rows counts the rows the reader had been handed when the checkpoint
	// was taken, those of the scans it resumed included (rows of a page
	// the reader had started but not finished are counted, though a resumed
	// scan reads them again).
	Rows int64 `json:"rows"`
}

// RangeCheckpoint is a token range the reader has read part of: every row
// before PageState (a driver paging state, opaque) has been handed over.
type RangeCheckpoint struct {
	// Range is the token range, Start exclusive and End inclusive (see
	// TokenRange).
	Range TokenRange `json:"range"`
	// PageState is the driver's paging state after the last page of Range
	// the reader finished: opaque, never empty, and valid only for the
	// checkpoint's Statement. A scan resumed from the checkpoint reads the
	// range on from there.
	PageState []byte `json:"page_state"`
}

// ScanCheckpointVersion is the ScanCheckpoint format this package writes
// and reads.
const ScanCheckpointVersion = 1

// ErrInvalidCheckpoint is the cause of the error of a scan asked to resume
// from a checkpoint that is not one of its own (another table or
// statement, another format) or that is damaged (ranges that overlap, or
// a range in progress without a page state).
var ErrInvalidCheckpoint = errors.New("cassandra: invalid scan checkpoint")

// Complete reports whether the checkpoint covers the whole ring: the scan
// it describes had finished. A scan resumed from it reads nothing.
func (cp *ScanCheckpoint) Complete() bool {
	return len(cp.InProgress) == 0 && slices.Equal(mergeRanges(cp.Done), []TokenRange{fullRing})
}

// Fraction returns the share of the token ring the checkpoint has
// finished, from 0 to 1: a measure of progress that survives resuming
// (rows are spread over the ring by their key's hash, so for a table of
// many partitions it tracks the share of rows read).
func (cp *ScanCheckpoint) Fraction() float64 {
	var done float64
	for _, r := range cp.Done {
		done += float64(r.width())
	}
	return done / float64(fullRing.width())
}

// validate checks that cp can resume a scan of ks.table read with stmt.
func (cp *ScanCheckpoint) validate(ks, table, stmt string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidCheckpoint, fmt.Sprintf(format, args...))
	}
	switch {
	case cp.Version != ScanCheckpointVersion:
		return bad("format version %d, want %d", cp.Version, ScanCheckpointVersion)
	case cp.Keyspace != ks || cp.Table != table:
		return bad("it is for table %s.%s, not %s.%s", cp.Keyspace, cp.Table, ks, table)
	case cp.Statement != stmt:
		return bad("it is for the statement %q, not %q (the columns or the filter differ)", cp.Statement, stmt)
	case cp.Rows < 0:
		return bad("negative row count %d", cp.Rows)
	}
	all := slices.Clone(cp.Done)
	for _, r := range cp.Done {
		if r.empty() {
			return bad("finished range %v is empty", r)
		}
	}
	for _, ip := range cp.InProgress {
		if ip.Range.empty() {
			return bad("range in progress %v is empty", ip.Range)
		}
		if len(ip.PageState) == 0 {
			return bad("range in progress %v has no page state", ip.Range)
		}
		all = append(all, ip.Range)
	}
	if a, b, found := overlapping(all); found {
		return bad("ranges %v and %v overlap", a, b)
	}
	return nil
}
