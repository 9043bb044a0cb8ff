package cassandra

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// DefaultScanParallelism is how many token ranges a TableScan reads at
// once unless ScanParallelism says otherwise.
const DefaultScanParallelism = 8

// TableScan reads every row of a table, in parallel, in bounded memory,
// and can be resumed after a crash. It divides the token ring into ranges
// (at the nodes' tokens, then further, see ScanSplits), reads up to
// ScanParallelism ranges at once, each as a stream of pages with
//
//	SELECT ... FROM ks.table WHERE token(pk) > ? AND token(pk) <= ?
//
// sent to a node that holds the range, and hands the rows to one reader.
// The ranges cover the ring exactly once, so every row is read once,
// whatever the table's size and however its partitions are spread; rows
// come in no particular order.
//
// Each page is one request on the session's worker pool, so a scan counts
// against the session's bound on requests in flight, as a Stream does.
// Memory is bounded: a scan holds at most parallelism × (1 + prefetch)
// pages (the page being read, one waiting in each range being read, and
// the pages fetched ahead).
//
// Read a TableScan from one goroutine, in one of three ways:
//   - Next, Scan and Err, as with database/sql's Rows, then Close;
//   - for row, err := range scan.Rows();
//   - for page, err := range scan.Pages(), a page at a time.
//
// Breaking out of a range loop closes the scan. A plain
// `for row := range scan.Rows()` that ignores the second value would miss
// the error that ended the scan early: always check it.
//
// As the reader finishes each page, the scan's position moves on and
// ScanCheckpoints hands a ScanCheckpoint to a callback; ScanResume starts
// a new scan from one. Progress reports how far the scan has come, from
// any goroutine.
//
// A page that fails (a timeout, a node that went down) is asked again,
// from the same position, of the range's other replicas, then of other
// nodes (any node can serve any range); if every attempt fails the scan
// ends with a *ScanError naming the range, and the last checkpoint resumes
// it. A scan never ends without an error while a range is unread.
type TableScan struct {
	s      *AsyncSession
	table  string // as the caller named it
	cfg    scanConfig
	ctx    context.Context
	cancel context.CancelFunc

	// Set by start, on the reader's goroutine, before any worker runs;
	// read-only afterwards.
	ks, tbl string
	stmt    string
	hosts   []*gocql.HostInfo // the ring's nodes, for routing
	plan    []*scanRange
	resumed *ScanCheckpoint // validated copy of cfg.resume

	// Reader state: touched only by the goroutine that reads.
	started bool
	done    bool
	cur     *scanItem // the page being read
	rowSeq  uint64    // bumped by every row Next moves to; a Row keeps its own
	err     error

	nextRange atomic.Int64  // index in plan of the next range a worker takes
	items     chan scanItem // pages and errors, from the workers to the reader
	active    atomic.Int32  // workers still running; the last one closes items
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once

	rows atomic.Int64 // rows handed to the reader by this scan

	mu         sync.Mutex // guards the fields below and every scanRange's pos and finished
	startTime  time.Time
	pages      int64
	rangesDone int
	doneWidth  float64 // tokens in finished ranges, the checkpoint's included
}

// scanRange is one range of the plan.
type scanRange struct {
	planRange
	// Guarded by TableScan.mu: the paging state after the last page the
	// reader finished (the starting state until then), and whether the
	// reader has finished the range's last page.
	pos      []byte
	finished bool
}

// scanItem is what a worker hands the reader: a page of a range, with the
// channel on which the reader says it has finished the page, or the error
// that ended the worker.
type scanItem struct {
	page *Page
	rng  *scanRange
	ack  chan<- struct{}
	err  error
}

// ScanError reports why a TableScan ended early: the range it was reading,
// if a range failed, and the cause, which Unwrap returns (often a
// *QueryError, whose cause is the driver's or the context's error).
type ScanError struct {
	// Keyspace and Table name the table (empty if the name was invalid).
	Keyspace, Table string
	// Range is the range whose read failed; nil when the failure is not a
	// range's (planning, a checkpoint callback, the context).
	Range *TokenRange
	// Err is the cause.
	Err error
}

// Error names the table, the range and the cause.
func (e *ScanError) Error() string {
	var b strings.Builder
	b.WriteString("cassandra: scan")
	if e.Table != "" {
		b.WriteString(" of ")
		b.WriteString(e.Keyspace)
		b.WriteByte('.')
		b.WriteString(e.Table)
	}
	if e.Range != nil {
		b.WriteString(", range ")
		b.WriteString(e.Range.String())
	}
	b.WriteString(": ")
	if e.Err == nil {
		b.WriteString("unknown error")
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ScanError) Unwrap() error { return e.Err }

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
		return fmt.Errorf("cassandra: ScanParallelism: need at least 1, got %d", c.parallelism)
	case c.splits < 0:
		return fmt.Errorf("cassandra: ScanSplits: must not be negative, got %d", c.splits)
	case c.pageSize < 0:
		return fmt.Errorf("cassandra: ScanPageSize: must not be negative, got %d", c.pageSize)
	case c.prefetch < 0:
		return fmt.Errorf("cassandra: ScanPrefetch: must not be negative, got %d", c.prefetch)
	}
	for _, col := range c.columns {
		if strings.TrimSpace(col) == "" {
			return errors.New("cassandra: ScanColumns: empty selector")
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

// Scan starts reading every row of table ("keyspace.table", or "table" in
// the session's keyspace; quote names as in CQL, e.g. `"Shop"."Orders"`)
// and returns at once. The scan plans its ranges, reading the table's
// partition key and its keyspace's replication from the schema tables and
// the ring from the driver, when the reader first asks for a row; then it
// starts its workers. ctx bounds the whole scan. The scan never returns
// nil: a problem at the start (an invalid option or name, a missing table,
// a checkpoint of another scan, a closed session) is reported by Err and
// ends iteration.
func (s *AsyncSession) Scan(ctx context.Context, table string, opts ...ScanOption) *TableScan {
	cfg := scanConfig{parallelism: DefaultScanParallelism, prefetch: -1}
	var bad error
	for _, o := range opts {
		if o == nil {
			bad = errors.New("cassandra: Scan: nil ScanOption")
			continue
		}
		o(&cfg)
	}
	if cfg.prefetch == -1 {
		cfg.prefetch = s.opts.prefetch
	}
	if cfg.pageSize == 0 {
		cfg.pageSize = s.opts.pageSize
	}
	if cfg.splits == 0 {
		cfg.splits = 4 * cfg.parallelism
	}
	sc := &TableScan{s: s, table: table, cfg: cfg, items: make(chan scanItem)}
	if ctx == nil {
		sc.ctx, sc.cancel = context.WithCancel(context.Background())
		sc.fail(errNilContext)
		return sc
	}
	sc.ctx, sc.cancel = context.WithCancel(ctx)
	if bad == nil {
		bad = cfg.validate()
	}
	if bad != nil {
		sc.fail(bad)
	}
	return sc
}

// fail ends the scan before it started.
func (sc *TableScan) fail(err error) {
	sc.err = sc.scanError(nil, err)
	sc.started, sc.done = true, true
	sc.cancel()
}

// scanError wraps err for range r (nil: not a range's failure).
func (sc *TableScan) scanError(r *TokenRange, err error) error {
	var se *ScanError
	if err == nil || errors.As(err, &se) {
		return err
	}
	if r != nil {
		r = &TokenRange{r.Start, r.End}
	}
	return &ScanError{Keyspace: sc.ks, Table: sc.tbl, Range: r, Err: err}
}

// ---- planning --------------------------------------------------------------

// start plans the scan and starts its workers, on the reader's goroutine.
func (sc *TableScan) start() error {
	ctx := sc.ctx
	if err := ctx.Err(); err != nil {
		return err
	}
	if sc.s.closed.Load() {
		return ErrClosed
	}
	ks, tbl, err := parseTableName(sc.table, sc.s.cluster.cfg.Keyspace)
	if err != nil {
		return err
	}
	sc.ks, sc.tbl = ks, tbl
	pk := sc.cfg.partitionKey
	if len(pk) == 0 {
		if pk, err = sc.partitionKey(ctx); err != nil {
			return err
		}
	}
	if err := sc.checkPartitioner(ctx); err != nil {
		return err
	}
	sc.stmt = sc.statement(pk)
	rp := replication{}
	if !sc.cfg.noRouting {
		rp = sc.replication(ctx)
	}
	ring, nodes := sc.ring()
	plan := planScan(ring, nodes, rp, sc.cfg.splits)
	if cp := sc.cfg.resume; cp != nil {
		if err := cp.validate(ks, tbl, sc.stmt); err != nil {
			return err
		}
		sc.resumed = cp
		plan = resumePlan(plan, cp, ring, nodes, rp)
		for _, r := range cp.Done {
			sc.doneWidth += float64(r.width())
		}
	}
	sc.plan = make([]*scanRange, len(plan))
	for i, p := range plan {
		if sc.cfg.noRouting {
			p.nodes = nil
		}
		sc.plan[i] = &scanRange{planRange: p, pos: p.state}
	}

	workers := min(sc.cfg.parallelism, len(sc.plan))
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.startTime = sc.s.now()
	if sc.closed.Load() { // Close won the race: start nothing
		return nil
	}
	if workers == 0 {
		close(sc.items)
		return nil
	}
	sc.active.Store(int32(workers))
	sc.wg.Add(workers)
	for range workers {
		go sc.work()
	}
	return nil
}

// parseTableName splits "ks.table" (or "table", in keyspace def) into its
// two names, as CQL reads them: unquoted names are case-insensitive
// (lower-cased), quoted ones are taken as written ("" stands for ").
func parseTableName(name, def string) (ks, table string, err error) {
	bad := func(why string) error {
		return fmt.Errorf("cassandra: Scan: table name %q: %s", name, why)
	}
	var parts []string
	rest := strings.TrimSpace(name)
	for {
		var part string
		if strings.HasPrefix(rest, `"`) {
			i := 1
			var b strings.Builder
			for {
				j := strings.IndexByte(rest[i:], '"')
				if j < 0 {
					return "", "", bad("unterminated quoted name")
				}
				b.WriteString(rest[i : i+j])
				i += j + 1
				if strings.HasPrefix(rest[i:], `"`) {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			part, rest = b.String(), rest[i:]
			if part == "" {
				return "", "", bad("empty quoted name")
			}
		} else {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				i = len(rest)
			}
			part, rest = rest[:i], rest[i:]
			if part == "" || strings.TrimFunc(part, isIdentRune) != "" {
				return "", "", bad("want keyspace.table or table, with names of letters, digits and _, or quoted")
			}
			part = strings.ToLower(part)
		}
		parts = append(parts, part)
		if rest == "" {
			break
		}
		if rest[0] != '.' || len(parts) == 2 {
			return "", "", bad("want keyspace.table or table")
		}
		rest = rest[1:]
	}
	if len(parts) == 1 {
		if def == "" {
			return "", "", bad("no keyspace, and the cluster configuration sets none")
		}
		return def, parts[0], nil
	}
	return parts[0], parts[1], nil
}

func isIdentRune(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

// quoteIdent quotes a name for CQL, keeping its case.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// schemaQuery runs a query on the schema tables, which every node holds.
func (sc *TableScan) schemaQuery(ctx context.Context, stmt string, values ...any) (*ResultSet, error) {
	return sc.s.Query(stmt, values...).Consistency(gocql.One).Idempotent(true).Execute(ctx).Await(ctx)
}

// partitionKey reads the table's partition key columns, in order.
func (sc *TableScan) partitionKey(ctx context.Context) ([]string, error) {
	rs, err := sc.schemaQuery(ctx, `SELECT column_name, kind, position FROM system_schema.columns `+
		`WHERE keyspace_name = ? AND table_name = ?`, sc.ks, sc.tbl)
	if err != nil {
		return nil, err
	}
	type keyCol struct {
		name string
		pos  int
	}
	var key []keyCol
	columns := 0
	for rs.Next() {
		var name, kind string
		var pos int
		if err := rs.Scan(&name, &kind, &pos); err != nil {
			return nil, err
		}
		columns++
		if kind == "partition_key" {
			key = append(key, keyCol{name, pos})
		}
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if columns == 0 {
		return nil, fmt.Errorf("cassandra: Scan: table %s.%s not found (or its schema cannot be read: see ScanPartitionKey)", sc.ks, sc.tbl)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("cassandra: Scan: table %s.%s has no partition key columns in system_schema.columns", sc.ks, sc.tbl)
	}
	slices.SortFunc(key, func(a, b keyCol) int { return a.pos - b.pos })
	names := make([]string, len(key))
	for i, k := range key {
		names[i] = k.name
	}
	return names, nil
}

// replication reads the keyspace's replica placement; on any failure the
// scan routes to each range's primary replica only, which is still right.
func (sc *TableScan) replication(ctx context.Context) replication {
	rs, err := sc.schemaQuery(ctx, `SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, sc.ks)
	if err != nil {
		return replication{}
	}
	var m map[string]string
	if rs.Next() {
		_ = rs.Scan(&m)
	}
	rs.Close()
	return parseReplication(m)
}

// checkPartitioner makes sure the cluster uses Murmur3Partitioner, the
// only partitioner whose tokens the scan knows.
func (sc *TableScan) checkPartitioner(ctx context.Context) error {
	name := ""
	for _, h := range sc.s.gs.GetHosts() {
		if p := h.Partitioner(); p != "" {
			name = p
			break
		}
	}
	if name == "" {
		rs, err := sc.schemaQuery(ctx, `SELECT partitioner FROM system.local`)
		if err != nil {
			return err
		}
		if rs.Next() {
			_ = rs.Scan(&name)
		}
		rs.Close()
	}
	if !strings.HasSuffix(name, "Murmur3Partitioner") {
		return fmt.Errorf("cassandra: Scan: the cluster's partitioner is %q; only Murmur3Partitioner is supported", name)
	}
	return nil
}

// statement builds the range query.
func (sc *TableScan) statement(pk []string) string {
	quoted := make([]string, len(pk))
	for i, c := range pk {
		quoted[i] = quoteIdent(c)
	}
	token := "token(" + strings.Join(quoted, ", ") + ")"
	cols := "*"
	if len(sc.cfg.columns) > 0 {
		cols = strings.Join(sc.cfg.columns, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s.%s WHERE %s > ? AND %s <= ?", cols, quoteIdent(sc.ks), quoteIdent(sc.tbl), token, token)
	if w := strings.TrimSpace(sc.cfg.where); w != "" {
		b.WriteString(" AND ")
		b.WriteString(w)
	}
	if sc.cfg.allowFiltering {
		b.WriteString(" ALLOW FILTERING")
	}
	return b.String()
}

// ring reads the nodes and their tokens from the driver.
func (sc *TableScan) ring() ([]ringToken, []ringNode) {
	hosts := sc.s.gs.GetHosts()
	// A stable order, so that a plan is reproducible.
	slices.SortFunc(hosts, func(a, b *gocql.HostInfo) int { return strings.Compare(a.HostID(), b.HostID()) })
	sc.hosts = hosts
	nodes := make([]ringNode, len(hosts))
	var tokens []ringToken
	for i, h := range hosts {
		nodes[i] = ringNode{dc: h.DataCenter(), rack: h.Rack()}
		for _, t := range h.Tokens() {
			if v, err := strconv.ParseInt(t, 10, 64); err == nil {
				tokens = append(tokens, ringToken{token: v, node: i})
			}
		}
	}
	return sortRing(tokens), nodes
}

// ---- workers ---------------------------------------------------------------

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

// ---- reading ---------------------------------------------------------------

// begin starts the scan on the first read; false if it has ended.
func (sc *TableScan) begin() bool {
	if sc.done {
		return false
	}
	if sc.closed.Load() {
		sc.finish(nil)
		return false
	}
	if !sc.started {
		sc.started = true
		if err := sc.start(); err != nil {
			sc.finish(sc.scanError(nil, err))
			return false
		}
	}
	return true
}

// receive returns the next page for the reader, waiting for one; nil and
// nil when every range has been read or the scan was closed.
func (sc *TableScan) receive() (*scanItem, error) {
	select {
	case it, ok := <-sc.items:
		if !ok {
			return nil, sc.ended()
		}
		if it.err != nil {
			return nil, it.err
		}
		return &it, nil
	case <-sc.ctx.Done():
		if sc.closed.Load() {
			return nil, nil
		}
		return nil, sc.scanError(nil, sc.ctx.Err())
	}
}

// ended is the outcome once every worker has stopped: nil if every range
// is finished (or the scan was closed), else the reason it was not.
func (sc *TableScan) ended() error {
	if sc.closed.Load() {
		return nil
	}
	if err := sc.ctx.Err(); err != nil {
		return sc.scanError(nil, err)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, r := range sc.plan {
		if !r.finished {
			// Never expected: no range is ever left silently.
			return sc.scanError(&r.r, errors.New("cassandra: scan: workers ended with this range unread"))
		}
	}
	return nil
}

// pageDone records that the reader has finished the current page: the
// range's position moves past it, the worker may go on, and the
// checkpoint callback runs.
func (sc *TableScan) pageDone() error {
	it := sc.cur
	sc.cur = nil
	r := it.rng
	sc.mu.Lock()
	r.pos = it.page.state
	if r.pos == nil {
		r.finished = true
		sc.rangesDone++
		sc.doneWidth += float64(r.r.width())
	}
	sc.pages++
	sc.mu.Unlock()
	it.ack <- struct{}{}
	if fn := sc.cfg.onCheckpoint; fn != nil {
		if err := fn(sc.Checkpoint()); err != nil {
			return sc.scanError(nil, fmt.Errorf("checkpoint callback: %w", err))
		}
	}
	return nil
}

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

// Checkpoint returns the scan's position now: what the reader has
// finished, as ScanCheckpoints hands it over. It may be called from any
// goroutine at any time, also after the scan ended with an error, to save
// the position to resume from. Before the scan has planned its ranges
// (until the first read), it is the checkpoint the scan resumes from, or a
// zero ScanCheckpoint.
func (sc *TableScan) Checkpoint() ScanCheckpoint {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.startTime.IsZero() {
		if cp := sc.cfg.resume; cp != nil {
			c := *cp
			c.Done, c.InProgress = slices.Clone(cp.Done), slices.Clone(cp.InProgress)
			return c
		}
		return ScanCheckpoint{}
	}
	cp := ScanCheckpoint{Version: ScanCheckpointVersion, Keyspace: sc.ks, Table: sc.tbl, Statement: sc.stmt,
		Rows: sc.rows.Load()}
	var done []TokenRange
	if sc.resumed != nil {
		done = slices.Clone(sc.resumed.Done)
		cp.Rows += sc.resumed.Rows
	}
	for _, r := range sc.plan {
		switch {
		case r.finished:
			done = append(done, r.r)
		case r.pos != nil:
			cp.InProgress = append(cp.InProgress, RangeCheckpoint{Range: r.r, PageState: slices.Clone(r.pos)})
		}
	}
	cp.Done = mergeRanges(done)
	slices.SortFunc(cp.InProgress, func(a, b RangeCheckpoint) int { return compareRanges(a.Range, b.Range) })
	return cp
}

// ScanProgress is a snapshot of how far a TableScan has come.
type ScanProgress struct {
	// RangesDone and RangesTotal count this scan's ranges: finished, and in
	// all. A resumed scan has only the ranges its checkpoint left.
	RangesDone, RangesTotal int
	// Rows counts the rows handed to the reader by this scan (in a page
	// loop, every row of every page handed over); Pages counts the pages
	// the reader has finished.
	Rows, Pages int64
	// Fraction is the share of the token ring finished, from 0 to 1,
	// counting what a checkpoint resumed from had finished.
	Fraction float64
	// Elapsed is the time since the scan started reading.
	Elapsed time.Duration
	// RowsPerSecond is Rows / Elapsed.
	RowsPerSecond float64
}

// Progress returns a snapshot of the scan's progress. It may be called
// from any goroutine at any time; before the first read it is zero.
func (sc *TableScan) Progress() ScanProgress {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.startTime.IsZero() {
		return ScanProgress{}
	}
	p := ScanProgress{RangesDone: sc.rangesDone, RangesTotal: len(sc.plan), Rows: sc.rows.Load(), Pages: sc.pages,
		Fraction: sc.doneWidth / float64(fullRing.width()), Elapsed: sc.s.now().Sub(sc.startTime)}
	if p.Elapsed > 0 {
		p.RowsPerSecond = float64(p.Rows) / p.Elapsed.Seconds()
	}
	return p
}

// Every reader of rows works with the generic collectors.
var _ Rows = (*TableScan)(nil)
