package main

import (
	"context"

	"github.com/async-cassandra/cassandra"
)

// A workload is one kind of operation, run over and over.
type workload struct {
	// reads says that the operation reads the rows fill writes.
	reads bool
	// op runs operation number i and returns the rows it read.
	op func(r *runner, ctx context.Context, i int64) (rows int, err error)
}

// workloads are the -w choices.
var workloads = map[string]workload{
	"insert": {op: (*runner).insert},
	"select": {reads: true, op: (*runner).selectRow},
	"mixed":  {reads: true, op: (*runner).mixed},
	"scan":   {reads: true, op: (*runner).scan},
}

func insertStmt(c *config) string {
	return `INSERT INTO ` + c.keyspace + `.` + c.table + ` (id, v) VALUES (?, ?)`
}

func selectStmt(c *config) string {
	return `SELECT v FROM ` + c.keyspace + `.` + c.table + ` WHERE id = ?`
}

func scanStmt(c *config) string {
	return `SELECT id, v FROM ` + c.keyspace + `.` + c.table + ` LIMIT ?`
}

// runner holds what the operations share: the session, the statements and
// the value every insert writes.
type runner struct {
	s                    *cassandra.AsyncSession
	rows                 int64
	scanRows             int
	insertQ, selectQ, sq string
	value                []byte
}

func newRunner(s *cassandra.AsyncSession, c *config) *runner {
	return &runner{s: s, rows: int64(c.rows), scanRows: c.scanRows,
		insertQ: insertStmt(c), selectQ: selectStmt(c), sq: scanStmt(c), value: make([]byte, c.size)}
}

// key spreads operations over the keys in turn.
func (r *runner) key(i int64) int { return int(i % r.rows) }

// insert writes one row.
func (r *runner) insert(ctx context.Context, i int64) (int, error) {
	_, err := r.s.Execute(ctx, r.insertQ, r.key(i), r.value).Await(ctx)
	return 0, err
}

// selectRow reads one row by key; a missing row is an error (not_found).
func (r *runner) selectRow(ctx context.Context, i int64) (int, error) {
	rs, err := r.s.Execute(ctx, r.selectQ, r.key(i)).Await(ctx)
	if err != nil {
		return 0, err
	}
	var v []byte
	if err := rs.One(&v); err != nil {
		return 0, err
	}
	return 1, nil
}

// mixed is one insert in ten, and nine selects.
func (r *runner) mixed(ctx context.Context, i int64) (int, error) {
	if i%10 == 0 {
		return r.insert(ctx, i)
	}
	return r.selectRow(ctx, i)
}

// scan streams scanRows rows page by page, reading every row.
func (r *runner) scan(ctx context.Context, _ int64) (int, error) {
	st := r.s.Query(r.sq, r.scanRows).Stream(ctx)
	defer st.Close()
	var (
		id int
		v  []byte
		n  int
	)
	for st.Next() {
		if err := st.Scan(&id, &v); err != nil {
			return n, err
		}
		n++
	}
	return n, st.Err()
}
