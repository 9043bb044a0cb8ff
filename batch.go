package cassandra

import (
	"context"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Batch groups statements that run as one request, built with
// AsyncSession.Batch:
//
//	fut := session.Batch(gocql.LoggedBatch).
//		Query("INSERT INTO users (id, name) VALUES (?, ?)", id, name).
//		Query("INSERT INTO users_by_name (name, id) VALUES (?, ?)", name, id).
//		Execute(ctx)
//
// A logged batch is applied atomically (all or nothing, eventually); an
// unlogged batch saves round trips for writes to one partition; a counter
// batch holds only counter updates. If the statements of a logged batch have
// IF conditions, it is a conditional batch: ResultSet.Applied tells whether
// it was applied. Like Query, a Batch may be executed many times; each
// execution works on the statements and settings the batch had when
// Execute was called.
type Batch struct {
	s       *AsyncSession
	kind    gocql.BatchType
	entries []batchEntry

	cons       gocql.Consistency
	hasCons    bool
	serial     gocql.Consistency
	hasSerial  bool
	idempotent bool
	hasIdem    bool
	retry      gocql.RetryPolicy
	timestamp  int64
	hasTS      bool
	configure  []func(*gocql.Batch) *gocql.Batch
}

type batchEntry struct {
	stmt   string
	values []any
}

// Query adds a statement with its values.
func (b *Batch) Query(stmt string, values ...any) *Batch {
	b.entries = append(b.entries, batchEntry{stmt, values})
	return b
}

// Size returns the number of statements.
func (b *Batch) Size() int { return len(b.entries) }

// Consistency sets the consistency level (default: the cluster's).
func (b *Batch) Consistency(c gocql.Consistency) *Batch { b.cons, b.hasCons = c, true; return b }

// SerialConsistency sets the serial consistency of a conditional batch.
func (b *Batch) SerialConsistency(c gocql.Consistency) *Batch {
	b.serial, b.hasSerial = c, true
	return b
}

// Idempotent marks the batch safe to run more than once (see Query.Idempotent).
func (b *Batch) Idempotent(v bool) *Batch { b.idempotent, b.hasIdem = v, true; return b }

// RetryPolicy sets the driver's retry policy, in place of the session's (see
// WithRetryPolicy); it applies only to idempotent batches.
func (b *Batch) RetryPolicy(p gocql.RetryPolicy) *Batch { b.retry = p; return b }

// Timestamp sets the write timestamp of every statement, in microseconds
// since the Unix epoch.
func (b *Batch) Timestamp(micros int64) *Batch { b.timestamp, b.hasTS = micros, true; return b }

// Configure registers fn to adjust the driver's batch. The functions run, in
// order, on the caller's goroutine when Execute is called. fn must return
// the batch it is given (or one derived from it); a nil fn, or one that
// returns nil or panics, makes the execution fail with an error.
func (b *Batch) Configure(fn func(*gocql.Batch) *gocql.Batch) *Batch {
	b.configure = append(b.configure, fn)
	return b
}

// statement names the batch in errors: its statements, never its values.
func (b *Batch) statement() string {
	stmts := make([]string, len(b.entries))
	for i, e := range b.entries {
		stmts[i] = e.stmt
	}
	return batchStatement(stmts)
}

// batchStatement names a batch of stmts in errors.
func batchStatement(stmts []string) string {
	return "BATCH: " + strings.Join(stmts, "; ")
}

// build returns a fresh driver batch with b's settings. It fails only if a
// Configure function is nil, returns nil or panics.
func (b *Batch) build() (gb *gocql.Batch, err error) {
	defer func() {
		if v := recover(); v != nil {
			gb, err = nil, newPanicError(v)
		}
	}()
	gb = b.s.gs.Batch(b.kind)
	b.s.applyBatchPolicies(gb)
	for _, e := range b.entries {
		gb.Query(e.stmt, e.values...)
	}
	if b.hasCons {
		gb.Consistency(b.cons)
	}
	if b.hasSerial {
		gb.SerialConsistency(b.serial)
	}
	if b.hasIdem {
		// gocql treats a batch as idempotent when every entry is.
		for i := range gb.Entries {
			gb.Entries[i].Idempotent = b.idempotent
		}
	}
	if b.retry != nil {
		gb.RetryPolicy(perRequest(b.retry))
	}
	if b.hasTS {
		gb.WithTimestamp(b.timestamp)
	}
	for i, fn := range b.configure {
		if fn == nil {
			return nil, errConfigure(i, false)
		}
		if gb = fn(gb); gb == nil {
			return nil, errConfigure(i, true)
		}
	}
	return gb, nil
}

// Execute runs the batch on the session's worker pool and returns a future
// of its result. The ResultSet of a batch without conditions has no rows;
// that of a conditional batch has one row, as ResultSet.Applied describes.
// Context semantics are those of Query.Execute. A batch with no statements,
// or of an unknown kind, fails without being sent.
func (b *Batch) Execute(ctx context.Context) *Future[*ResultSet] {
	stmt := b.statement()
	var err error
	switch {
	case len(b.entries) == 0:
		err = errEmptyBatch
	case b.kind != gocql.LoggedBatch && b.kind != gocql.UnloggedBatch && b.kind != gocql.CounterBatch:
		err = usagef("cassandra: unknown batch type %d", b.kind)
	}
	if err != nil {
		return completedFuture[*ResultSet](nil, &QueryError{Statement: stmt, Err: err})
	}
	// The driver's batch is built now, so adding statements later does not
	// affect this execution.
	gb, err := b.build()
	return b.s.submit(ctx, stmt, nil, gb, false, err)
}
