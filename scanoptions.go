package cassandra

import (
	"errors"
	"slices"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ScanOption configures one TableScan.
type ScanOption func(*scanConfig)

type scanConfig struct {
	columns        []string
	where          string
	whereValues    []any
	allowFiltering bool
	cons           gocql.Consistency
	hasCons        bool
	parallelism    int
	splits         int // 0: 4 × parallelism
	pageSize       int // 0: the session's
	prefetch       int // < 0: the session's
	onCheckpoint   func(ScanCheckpoint) error
	resume         *ScanCheckpoint
	partitionKey   []string
	dataCenter     string
	noRouting      bool
}

// ScanColumns sets what each row holds: CQL selectors as they would be
// written after SELECT, such as "id", "\"Name\"" or "writetime(v)" (default
// every column, *). They are copied into the statement as written.
func ScanColumns(selectors ...string) ScanOption {
	return func(c *scanConfig) { c.columns = slices.Clone(selectors) }
}

// ScanWhere adds a condition on the rows, a CQL fragment such as
// "status = ?" or "v > ? AND w < ?", with the values of its bind markers.
// It is joined to the token condition with AND, so it cannot use OR (CQL
// has none) and must not restrict the partition key. Filtering on a
// column that is neither indexed nor the start of the clustering key needs
// ScanAllowFiltering, and then Cassandra reads every row and drops those
// that fail: it saves network and client work, not the nodes' reading.
func ScanWhere(cql string, values ...any) ScanOption {
	return func(c *scanConfig) { c.where, c.whereValues = cql, slices.Clone(values) }
}

// ScanAllowFiltering appends ALLOW FILTERING to the statement, which
// Cassandra requires for most ScanWhere filters (see there).
func ScanAllowFiltering() ScanOption { return func(c *scanConfig) { c.allowFiltering = true } }

// ScanConsistency sets the consistency level of every page (default: the
// cluster's).
func ScanConsistency(cons gocql.Consistency) ScanOption {
	return func(c *scanConfig) { c.cons, c.hasCons = cons, true }
}

// ScanParallelism sets how many ranges are read at once (default
// DefaultScanParallelism). Each range in flight holds at most 1 + prefetch
// pages and has at most one request in flight.
func ScanParallelism(n int) ScanOption { return func(c *scanConfig) { c.parallelism = n } }

// ScanSplits sets into about how many ranges the ring is divided (default
// 4 × parallelism): the ranges between the nodes' tokens are cut into
// parts no wider than 1/n of the ring, so there are at least the cluster's
// token ranges and about n in all. More ranges even out the work at the
// end of a scan; each costs at least one request.
func ScanSplits(n int) ScanOption { return func(c *scanConfig) { c.splits = n } }

// ScanPageSize sets the rows per page (default the session's WithPageSize).
func ScanPageSize(n int) ScanOption { return func(c *scanConfig) { c.pageSize = n } }

// ScanPrefetch sets how many pages each range fetches ahead of the reader
// (default the session's WithPrefetch). With 0 a range fetches its next
// page only when the reader has finished the current one.
func ScanPrefetch(n int) ScanOption { return func(c *scanConfig) { c.prefetch = n } }

// ScanCheckpoints calls fn with the scan's checkpoint each time the reader
// finishes a page (that is, when it asks for the row after the page's
// last row, or when a Pages loop moves on), on the reader's goroutine,
// before the scan goes on. Saving each checkpoint, the reader can resume
// after a crash without losing a row (see ScanCheckpoint). A non-nil error
// from fn ends the scan with that error. fn runs once per page, so a slow
// fn (one that syncs a file, say) slows the scan down; it may skip saving
// some checkpoints, since each one supersedes the last.
func ScanCheckpoints(fn func(ScanCheckpoint) error) ScanOption {
	return func(c *scanConfig) { c.onCheckpoint = fn }
}

// ScanResume makes the scan go on where cp left off: it reads the ranges in
// progress from their page states and the ranges cp has not touched, and
// nothing cp has finished. cp must come from a scan of the same table with
// the same columns and filter; otherwise the scan ends with an error
// matching ErrInvalidCheckpoint before reading anything. A nil cp starts
// from the beginning, so a program can pass whatever checkpoint it found.
// The cluster may have changed in between: the work left is divided and
// routed by the ring as it is now.
func ScanResume(cp *ScanCheckpoint) ScanOption {
	return func(c *scanConfig) {
		if cp == nil {
			c.resume = nil
			return
		}
		clone := *cp
		clone.Done = slices.Clone(cp.Done)
		clone.InProgress = slices.Clone(cp.InProgress)
		c.resume = &clone
	}
}

// ScanPartitionKey names the table's partition key columns, in order,
// instead of reading them from system_schema.columns: for a node whose
// schema tables cannot be read.
func ScanPartitionKey(columns ...string) ScanOption {
	return func(c *scanConfig) { c.partitionKey = slices.Clone(columns) }
}

// ScanDataCenter routes each range only to its replicas in data center dc
// (default: any replica, the primary first). In a cluster of several data
// centers, set it to keep the scan's load in one of them.
func ScanDataCenter(dc string) ScanOption { return func(c *scanConfig) { c.dataCenter = dc } }

// ScanRouting sets whether each range is sent to a node that holds it
// (default true, with gocql's Query.SetHostID). Off, the driver's host
// selection policy chooses, as for any query; token-aware policies cannot
// route a token range by themselves, since the statement binds no
// partition key.
func ScanRouting(on bool) ScanOption { return func(c *scanConfig) { c.noRouting = !on } }

func (c *scanConfig) validate() error {
	switch {
	case c.parallelism < 1:
		return usagef("cassandra: ScanParallelism: need at least 1, got %d", c.parallelism)
	case c.splits < 0:
		return usagef("cassandra: ScanSplits: must not be negative, got %d", c.splits)
	case c.pageSize < 0:
		return usagef("cassandra: ScanPageSize: must not be negative, got %d", c.pageSize)
	case c.prefetch < 0:
		return usagef("cassandra: ScanPrefetch: must not be negative, got %d", c.prefetch)
	}
	for _, col := range c.columns {
		if strings.TrimSpace(col) == "" {
			return usagef("cassandra: ScanColumns: empty selector")
		}
	}
	for _, col := range c.partitionKey {
		if col == "" {
			return errors.New("cassandra: ScanPartitionKey: empty column name")
		}
	}
	if c.where != "" && strings.TrimSpace(c.where) == "" {
		return errors.New("cassandra: ScanWhere: blank condition")
	}
	return nil
}
