package cassandra

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Planning: what a TableScan reads, from the schema and the ring, before
// its workers start.

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
