package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

// The bad-input matrix: every way of calling the library wrongly that a
// real node can answer, each checked for the same promises. The error is
// typed (a *cassandra.QueryError for anything that names a statement), it
// names the statement and never the bound values, nothing panics, every
// future completes within a bound, and the session goes on serving. The
// goroutine check is TestMain's.

// secret is the text of every bound value in the matrix: it must never
// appear in an error message.
const secret = "SECRET-b4d1nput"

// awaitBound is the longest any future of the matrix may take; hitting it
// fails the test as a hung future.
const awaitBound = 60 * time.Second

// awaitOrFail awaits f within awaitBound and fails the test if the bound,
// rather than the future, ended the wait.
func awaitOrFail(t *testing.T, f *cassandra.Future[*cassandra.ResultSet]) (*cassandra.ResultSet, error) {
	t.Helper()
	guard, cancel := context.WithTimeout(context.Background(), awaitBound)
	defer cancel()
	rs, err := f.Await(guard)
	if guard.Err() != nil {
		select {
		case <-f.Done():
		default:
			t.Fatalf("future still pending after %v: hung", awaitBound)
		}
	}
	return rs, err
}

// streamErr reads st to its end within awaitBound and returns its error
// and how many rows it gave.
func streamErr(t *testing.T, st *cassandra.Stream) (int, error) {
	t.Helper()
	type result struct {
		rows int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		n := 0
		for st.Next() {
			n++
		}
		done <- result{n, st.Err()}
	}()
	select {
	case r := <-done:
		require.NoError(t, st.Close())
		return r.rows, r.err
	case <-time.After(awaitBound):
		st.Close()
		t.Fatalf("stream still reading after %v: hung", awaitBound)
		return 0, nil
	}
}

// badCase is one row of the matrix.
type badCase struct {
	name string
	// run makes the mistake and returns the error it got.
	run func(t *testing.T) error
	// stmt is the statement the error must name in a *QueryError; empty for
	// mistakes that are not about a statement (Connect, options).
	stmt string
	// check asserts what is particular to the case, such as the cause.
	check func(t *testing.T, err error)
	// own marks an error that is the caller's own context's, returned as
	// it is (Await and Connect document it), so not a cassandra error.
	own bool
	// driverPanic marks a case where gocql panics: the error wraps the
	// *PanicError the worker recovered.
	driverPanic bool
}

// checkBad asserts the promises every case shares.
func checkBad(t *testing.T, c badCase, err error) {
	t.Helper()
	require.Error(t, err, "a mistake is an error")
	msg := err.Error()
	t.Logf("%s", truncate(msg, 300))
	assert.NotContains(t, msg, secret, "a bound value leaked into the message")
	var pe *cassandra.PanicError
	assert.Equal(t, c.driverPanic, errors.As(err, &pe), "a recovered panic only where the driver panics: %v", err)
	if !c.own {
		assert.True(t, strings.HasPrefix(msg, "cassandra: "), "the message says where it comes from: %s", truncate(msg, 100))
	}
	assert.Less(t, len(msg), 4<<10, "the message stays short, whatever the statement's size")
	if c.stmt == "" {
		return
	}
	var qe *cassandra.QueryError
	require.ErrorAs(t, err, &qe, "a statement's error is a *QueryError")
	assert.Equal(t, c.stmt, qe.Statement, "it names the statement")
	head := strings.Join(strings.Fields(c.stmt), " ")
	head = head[:min(len(head), 40)]
	assert.Contains(t, msg, head, "the message names the statement")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// causeIs returns a check that err matches target.
func causeIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		assert.ErrorIs(t, err, target)
	}
}

// causeAs returns a check that err's chain holds an error of type T.
func causeAs[T error]() func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var target T
		assert.ErrorAs(t, err, &target)
	}
}

// causeContains returns a check that err's message contains every part.
func causeContains(parts ...string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		for _, p := range parts {
			assert.Contains(t, err.Error(), p)
		}
	}
}

func TestBadInputMatrix(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS badinput_kv (id int PRIMARY KEY, n int, t text, b blob)`)
	exec(t, s, `CREATE TABLE IF NOT EXISTS badinput_types (id int PRIMARY KEY, u uuid, tu timeuuid, d duration, `+
		`ts timestamp, ip inet, dec decimal, l list<int>, m map<text, int>, tup tuple<int, text>, `+
		`lt list<frozen<tuple<int, text>>>)`)
	exec(t, s, `INSERT INTO badinput_kv (id, n, t) VALUES (?, ?, ?)`, 2, 2, secret)
	ctx := context.Background()

	const (
		insert  = `INSERT INTO badinput_kv (id, n, t) VALUES (?, ?, ?)`
		selectN = `SELECT n FROM badinput_kv WHERE id = ?`
		// A column of every kind whose encoding can fail in its own way.
		setType = `UPDATE badinput_types SET %s = ? WHERE id = 1`
	)
	execute := func(stmt string, values ...any) func(t *testing.T) error {
		return func(t *testing.T) error {
			_, err := awaitOrFail(t, s.Execute(ctx, stmt, values...))
			return err
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var nilCtx context.Context

	// A logged batch over batch_size_fail_threshold (50 KiB by default):
	// 100 statements of 1 KiB each.
	bigBatch := s.Batch(gocql.LoggedBatch)
	for i := range 100 {
		bigBatch.Query(insert, i, i, secret+strings.Repeat("x", 1<<10))
	}
	bigBatchStmt := "BATCH: " + strings.TrimSuffix(strings.Repeat(insert+"; ", 100), "; ")

	// Statements of several megabytes. A valid one is prepared, and the
	// server's prepared statement cache (the larger of 10 MiB and 1/256 of
	// the heap) refuses one that takes more than all of it: an 8 MB literal
	// takes about 16 MB there. One over native_transport_max_frame_size
	// (16 MiB) is refused as it arrives; an invalid one fails to parse. (A
	// valid statement of a few MB that fits the cache is left out: it
	// evicts every other client's prepared statements from the shared node.)
	literal := strings.Repeat("x", 8<<20)
	hugeInsert := `INSERT INTO badinput_kv (id, t) VALUES (3, '` + literal + `')`
	hugeSyntax := `SELEC n FROM badinput_kv WHERE t = '` + literal[:3<<20] + `'`
	overFrame := `INSERT INTO badinput_kv (id, t) VALUES (3, '` + literal + literal + literal[:2<<20] + `')`

	cases := []badCase{
		{name: "invalid CQL", stmt: `SELEC n FROM badinput_kv`,
			run: execute(`SELEC n FROM badinput_kv`), check: causeAs[*gocql.RequestErrSyntax]()},
		{name: "invalid CQL with values", stmt: `SELECT n FROM badinput_kv WHERE id = ? AND`,
			run: execute(`SELECT n FROM badinput_kv WHERE id = ? AND`, secret), check: causeAs[*gocql.RequestErrSyntax]()},
		{name: "too few values", stmt: insert,
			run: execute(insert, 1, 2), check: causeContains("expected 3 values")},
		{name: "too many values", stmt: selectN,
			run: execute(selectN, 1, secret), check: causeContains("expected 1 values")},
		{name: "values for a statement without markers", stmt: `SELECT n FROM badinput_kv WHERE id = 1`,
			run: execute(`SELECT n FROM badinput_kv WHERE id = 1`, secret), check: causeContains("expected 0 values")},
		{name: "text for an int column", stmt: insert,
			run: execute(insert, 1, secret, "t"), check: causeAs[gocql.MarshalError]()},
		{name: "int for a text column", stmt: insert,
			run: execute(insert, 1, 2, 12345678), check: causeAs[gocql.MarshalError]()},
		{name: "text for the key", stmt: selectN,
			run: execute(selectN, secret), check: causeAs[gocql.MarshalError]()},
		{name: "text for a uuid", stmt: sprintf(setType, "u"),
			run: execute(sprintf(setType, "u"), secret), check: causeContains("could not be encoded")},
		{name: "text for a timeuuid", stmt: sprintf(setType, "tu"),
			run: execute(sprintf(setType, "tu"), secret), check: causeContains("could not be encoded")},
		{name: "text for a duration", stmt: sprintf(setType, "d"),
			run: execute(sprintf(setType, "d"), secret), check: causeContains("could not be encoded")},
		{name: "text for a timestamp", stmt: sprintf(setType, "ts"),
			run: execute(sprintf(setType, "ts"), secret), check: causeAs[gocql.MarshalError]()},
		{name: "text for an inet", stmt: sprintf(setType, "ip"),
			run: execute(sprintf(setType, "ip"), secret), check: causeAs[gocql.MarshalError]()},
		{name: "text for a decimal", stmt: sprintf(setType, "dec"),
			run: execute(sprintf(setType, "dec"), secret), check: causeAs[gocql.MarshalError]()},
		{name: "texts for a list<int>", stmt: sprintf(setType, "l"),
			run: execute(sprintf(setType, "l"), []string{secret}), check: causeAs[gocql.MarshalError]()},
		{name: "wrong map", stmt: sprintf(setType, "m"),
			run: execute(sprintf(setType, "m"), map[string]string{secret: secret}), check: causeAs[gocql.MarshalError]()},
		// gocql binds a tuple's elements as values of their own.
		{name: "one value for a tuple", stmt: sprintf(setType, "tup"),
			run: execute(sprintf(setType, "tup"), []any{1, secret}), check: causeContains("expected 2 values send got 1")},
		{name: "short tuple in a list", stmt: sprintf(setType, "lt"),
			run: execute(sprintf(setType, "lt"), [][]any{{secret}}), check: causeAs[gocql.UnmarshalError]()},
		// gocql panics on a struct with unexported fields for a tuple (in
		// reflect); the worker recovers it, and the session carries on.
		{name: "unexported fields for a tuple", stmt: sprintf(setType, "lt"), driverPanic: true,
			run: execute(sprintf(setType, "lt"), []struct {
				n int
				s string
			}{{1, secret}}), check: causeAs[*cassandra.PanicError]()},
		{name: "nil key", stmt: selectN,
			run: execute(selectN, nil), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "nil key in a write", stmt: insert,
			run: execute(insert, nil, 1, secret), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "unset key", stmt: insert,
			run: execute(insert, gocql.UnsetValue, 1, secret), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "channel value", stmt: insert,
			run: execute(insert, 1, make(chan int), secret), check: causeAs[gocql.MarshalError]()},
		{name: "func value", stmt: insert,
			run: execute(insert, 1, 2, func() {}), check: causeAs[gocql.MarshalError]()},
		{name: "struct value", stmt: insert,
			run: execute(insert, 1, struct{ S string }{secret}, "t"), check: causeAs[gocql.MarshalError]()},
		{name: "map value", stmt: insert,
			run: execute(insert, 1, 2, map[string]string{"k": secret}), check: causeAs[gocql.MarshalError]()},
		{name: "value over the frame limit", stmt: `UPDATE badinput_kv SET b = ? WHERE id = 4`,
			run:   execute(`UPDATE badinput_kv SET b = ? WHERE id = 4`, append([]byte(secret), make([]byte, 17<<20)...)),
			check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "unknown keyspace", stmt: `SELECT n FROM badinput_nosuch_ks.kv WHERE id = ?`,
			run: execute(`SELECT n FROM badinput_nosuch_ks.kv WHERE id = ?`, 1), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "unknown table", stmt: `SELECT n FROM badinput_nosuch WHERE id = ?`,
			run: execute(`SELECT n FROM badinput_nosuch WHERE id = ?`, 1), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "unknown column", stmt: `SELECT nosuch FROM badinput_kv WHERE id = ?`,
			run: execute(`SELECT nosuch FROM badinput_kv WHERE id = ?`, 1), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "unknown table, stream", stmt: `SELECT n FROM badinput_nosuch`,
			run: func(t *testing.T) error {
				_, err := streamErr(t, s.Stream(ctx, `SELECT n FROM badinput_nosuch`))
				return err
			}, check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "oversized batch", stmt: bigBatchStmt,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, bigBatch.Execute(ctx))
				return err
			}, check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "unknown batch type", stmt: "BATCH: " + insert,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Batch(gocql.BatchType(9)).Query(insert, 1, 2, secret).Execute(ctx))
				return err
			}, check: causeContains("unknown batch type 9")},
		{name: "empty batch", stmt: "BATCH: ",
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Batch(gocql.LoggedBatch).Execute(ctx))
				return err
			}, check: causeContains("no statements")},
		{name: "statement of 8 MB", stmt: hugeInsert,
			run: execute(hugeInsert), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "statement of 18 MB", stmt: overFrame,
			run: execute(overFrame), check: causeAs[*gocql.RequestErrInvalid]()},
		{name: "invalid statement of 3 MB", stmt: hugeSyntax,
			run: execute(hugeSyntax), check: causeAs[*gocql.RequestErrSyntax]()},
		{name: "negative page size", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Query(selectN, 1).PageSize(-1).Execute(ctx))
				return err
			}, check: causeContains("PageSize")},
		{name: "page size beyond the protocol", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Query(selectN, 1).PageSize(1<<32+5).Execute(ctx))
				return err
			}, check: causeContains("PageSize: must be at most 2147483647")},
		{name: "negative page size, stream", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := streamErr(t, s.Query(selectN, 1).PageSize(-5).Stream(ctx))
				return err
			}, check: causeContains("PageSize")},
		{name: "negative prefetch, stream", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := streamErr(t, s.Query(selectN, 1).Stream(ctx, cassandra.Prefetch(-1)))
				return err
			}, check: causeContains("Prefetch")},
		{name: "negative MaxRows, stream", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := streamErr(t, s.Query(selectN, 1).Stream(ctx, cassandra.MaxRows(-1)))
				return err
			}, check: causeContains("MaxRows")},
		{name: "zero page size option", run: func(t *testing.T) error {
			_, err := cassandra.NewAsyncCluster(newClusterConfig(), cassandra.WithPageSize(0))
			return err
		}, check: causeContains("WithPageSize")},
		{name: "negative page size option", run: func(t *testing.T) error {
			_, err := cassandra.NewAsyncCluster(newClusterConfig(), cassandra.WithPageSize(-1))
			return err
		}, check: causeContains("WithPageSize")},
		{name: "nil context, Execute", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Execute(nilCtx, selectN, secret))
				return err
			}, check: causeContains("nil Context")},
		{name: "nil context, batch", stmt: "BATCH: " + insert,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Batch(gocql.LoggedBatch).Query(insert, 1, 2, secret).Execute(nilCtx))
				return err
			}, check: causeContains("nil Context")},
		{name: "nil context, stream", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := streamErr(t, s.Stream(nilCtx, selectN, 1))
				return err
			}, check: causeContains("nil Context")},
		{name: "nil context, Await", run: func(t *testing.T) error {
			f := s.Execute(ctx, selectN, 1)
			_, err := f.Await(nilCtx)
			_, werr := awaitOrFail(t, f)
			assert.NoError(t, werr, "the future is unaffected")
			return err
		}, check: causeContains("nil Context")},
		{name: "nil context, AwaitAll", run: func(t *testing.T) error {
			f := s.Execute(ctx, selectN, 1)
			_, err := cassandra.AwaitAll(nilCtx, f)
			_, werr := awaitOrFail(t, f)
			assert.NoError(t, werr, "the future is unaffected")
			return err
		}, check: causeContains("nil Context")},
		{name: "nil future, AwaitAll", run: func(t *testing.T) error {
			_, err := cassandra.AwaitAll[*cassandra.ResultSet](ctx, nil)
			return err
		}, check: causeContains("future 0 is nil")},
		{name: "nil future, AwaitAny", run: func(t *testing.T) error {
			f := s.Execute(ctx, selectN, 1)
			i, _, err := cassandra.AwaitAny(ctx, f, nil)
			assert.Equal(t, -1, i)
			_, werr := awaitOrFail(t, f)
			assert.NoError(t, werr, "the future is unaffected")
			return err
		}, check: causeContains("future 1 is nil")},
		{name: "nil context, Connect", run: func(t *testing.T) error {
			c, err := cassandra.NewAsyncCluster(newClusterConfig())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Connect(nilCtx)
			return err
		}, check: causeContains("nil Context")},
		{name: "nil context, Shutdown", run: func(t *testing.T) error {
			return s.Shutdown(nilCtx)
		}, check: causeContains("nil Context")},
		{name: "cancelled context, Execute", stmt: insert,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Execute(cancelled, insert, 1, 2, secret))
				return err
			}, check: causeIs(context.Canceled)},
		{name: "cancelled context, batch", stmt: "BATCH: " + insert,
			run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Batch(gocql.LoggedBatch).Query(insert, 1, 2, secret).Execute(cancelled))
				return err
			}, check: causeIs(context.Canceled)},
		{name: "cancelled context, stream", stmt: selectN,
			run: func(t *testing.T) error {
				_, err := streamErr(t, s.Stream(cancelled, selectN, 1))
				return err
			}, check: causeIs(context.Canceled)},
		{name: "cancelled context, Connect", own: true, run: func(t *testing.T) error {
			c, err := cassandra.NewAsyncCluster(newClusterConfig())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Connect(cancelled)
			return err
		}, check: causeIs(context.Canceled)},
		{name: "cancelled context, Await", own: true, run: func(t *testing.T) error {
			// Await returns the done context's error unless the future has
			// completed: this one is still waiting for a worker.
			f, release := pendingFuture(t)
			defer release()
			_, err := f.Await(cancelled)
			return err
		}, check: causeIs(context.Canceled)},
		{name: "scan text into an int", run: func(t *testing.T) error {
			rs := exec(t, s, `SELECT t FROM badinput_kv WHERE id = 2`)
			require.True(t, rs.Next())
			var n int
			err := rs.Scan(&n)
			assert.ErrorContains(t, err, `column "t"`)
			return err
		}},
		{name: "scan with too few destinations", run: func(t *testing.T) error {
			rs := exec(t, s, `SELECT n, t FROM badinput_kv WHERE id = 2`)
			require.True(t, rs.Next())
			var n int
			return rs.Scan(&n)
		}, check: causeContains("1 destinations for 2 columns")},
		{name: "scan into a struct that does not fit", run: func(t *testing.T) error {
			type wrong struct{ N string }
			rs := exec(t, s, `SELECT n, t FROM badinput_kv WHERE id = 2`)
			_, err := cassandra.CollectRows(rs, cassandra.RowToStructByName[wrong])
			return err
		}, check: causeContains(`column "t"`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(t)
			checkBad(t, c, err)
			if c.check != nil {
				c.check(t, err)
			}
		})
	}

	// Not mistakes: a zero page size is the session's, and nil writes NULL.
	rs, err := awaitOrFail(t, s.Query(selectN, 2).PageSize(0).Execute(ctx))
	require.NoError(t, err, "a zero page size means the session's")
	assert.Equal(t, 1, rs.RowCount())
	exec(t, s, insert, 5, nil, nil)
	var n *int
	require.NoError(t, exec(t, s, selectN, 5).One(&n))
	assert.Nil(t, n, "a nil value is NULL")

	// The matrix left nothing behind, and the session still serves.
	st := s.Stats()
	assert.Zero(t, st.BusyWorkers)
	assert.Zero(t, st.QueueDepth)
	exec(t, s, insert, 1, 2, "fine")
	var got int
	require.NoError(t, exec(t, s, selectN, 1).One(&got))
	assert.Equal(t, 2, got)
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// proxySession opens a session on the test keyspace whose connections go
// through p (see holdProxy), with opts.
func proxySession(t *testing.T, p *holdProxy, opts ...cassandra.Option) (*cassandra.AsyncCluster, *cassandra.AsyncSession) {
	t.Helper()
	cfg := gocql.NewCluster(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port())))
	cfg.Keyspace = keyspace
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	cfg.NumConns = 1
	cfg.DisableInitialHostLookup = true
	cfg.AddressTranslator = gocql.AddressTranslatorFunc(func(net.IP, int) (net.IP, int) {
		return net.IPv4(127, 0, 0, 1), p.port()
	})
	cluster, err := cassandra.NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Close()) })
	return cluster, s
}

// nodeProxy returns a holdProxy in front of the test node.
func nodeProxy(t *testing.T) *holdProxy {
	t.Helper()
	host := node.Hosts()[0]
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "9042")
	}
	return newHoldProxy(t, host)
}

// pendingFuture returns a future that cannot complete until release is
// called: its request is held on its way to the node.
func pendingFuture(t *testing.T) (*cassandra.Future[*cassandra.ResultSet], func()) {
	t.Helper()
	p := nodeProxy(t)
	_, s := proxySession(t, p)
	p.Hold()
	f := s.Execute(context.Background(), `SELECT release_version FROM system.local`)
	return f, func() {
		p.Release()
		_, err := awaitOrFail(t, f)
		assert.NoError(t, err, "released, the request completes")
	}
}

// Using a session or cluster after Close, closing twice, and closing while
// futures are awaited: every call returns, every future completes with a
// result or with an error that matches ErrClosed and names its statement.
func TestBadInputLifecycle(t *testing.T) {
	ctx := context.Background()
	const stmt = `SELECT release_version FROM system.local`

	t.Run("use after Close", func(t *testing.T) {
		cluster, s := proxySession(t, nodeProxy(t))
		require.NoError(t, s.Close())
		closed := []badCase{
			{name: "Execute", stmt: stmt, run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Execute(ctx, stmt))
				return err
			}},
			{name: "Query", stmt: stmt, run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Query(stmt).Consistency(gocql.One).Execute(ctx))
				return err
			}},
			{name: "Batch", stmt: "BATCH: INSERT INTO badinput_kv (id, t) VALUES (?, ?)", run: func(t *testing.T) error {
				_, err := awaitOrFail(t, s.Batch(gocql.LoggedBatch).Query(`INSERT INTO badinput_kv (id, t) VALUES (?, ?)`, 1, secret).Execute(ctx))
				return err
			}},
			{name: "Stream", stmt: stmt, run: func(t *testing.T) error {
				_, err := streamErr(t, s.Stream(ctx, stmt))
				return err
			}},
			{name: "Connect on a closed cluster", run: func(t *testing.T) error {
				require.NoError(t, cluster.Close())
				_, err := cluster.Connect(ctx)
				return err
			}},
		}
		for _, c := range closed {
			t.Run(c.name, func(t *testing.T) {
				err := c.run(t)
				checkBad(t, c, err)
				assert.ErrorIs(t, err, cassandra.ErrClosed)
			})
		}
		assert.NoError(t, s.Shutdown(ctx), "Shutdown after Close has nothing left to do")
		assert.Zero(t, s.Stats().BusyWorkers)
	})

	t.Run("double Close", func(t *testing.T) {
		cluster, s := proxySession(t, nodeProxy(t))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(2)
			go func() { defer wg.Done(); assert.NoError(t, s.Close()) }()
			go func() { defer wg.Done(); assert.NoError(t, cluster.Close()) }()
		}
		wg.Wait()
		assert.NoError(t, s.Close())
		assert.NoError(t, cluster.Close())
		_, err := awaitOrFail(t, s.Execute(ctx, stmt))
		assert.ErrorIs(t, err, cassandra.ErrClosed)
	})

	// Requests held on their way to the node, and more queued behind them,
	// when Close is called from another goroutine while every future is
	// being awaited.
	for _, how := range []string{"Close", "Shutdown then Close"} {
		t.Run(how+" during Await", func(t *testing.T) {
			p := nodeProxy(t)
			_, s := proxySession(t, p, cassandra.WithWorkers(4), cassandra.WithQueue(64))
			exec(t, s, `CREATE TABLE IF NOT EXISTS badinput_kv (id int PRIMARY KEY, n int, t text, b blob)`)
			const insert = `INSERT INTO badinput_kv (id, n, t) VALUES (?, ?, ?)`
			p.Hold()
			const n = 40
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for i := range n {
				f := s.Execute(ctx, insert, 100+i, i, secret)
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := awaitOrFail(t, f)
					errs <- err
				}()
			}
			require.Eventually(t, p.holding, 10*time.Second, time.Millisecond, "the first requests were sent, and held")
			if how == "Shutdown then Close" {
				sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				assert.ErrorIs(t, s.Shutdown(sctx), context.DeadlineExceeded, "held requests cannot drain")
				cancel()
			}
			closed := make(chan struct{})
			go func() { defer close(closed); assert.NoError(t, s.Close()) }()
			select {
			case <-closed:
			case <-time.After(awaitBound):
				t.Fatal("Close did not return while requests were held")
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if err == nil {
					continue // sent before Close, answered
				}
				failed++
				checkBad(t, badCase{stmt: insert}, err)
				assert.ErrorIs(t, err, cassandra.ErrClosed)
			}
			assert.Greater(t, failed, n-4, "at least every queued request failed")
			st := s.Stats()
			assert.Zero(t, st.BusyWorkers)
			assert.Zero(t, st.QueueDepth)
			p.Release()
		})
	}
}

// A partition of 40 MB in 640 rows of 64 KiB is read whole by Execute, in
// one page or many, and by a stream in pages of 16 rows whose heap stays
// far below the partition's size.
func TestBadInputLargePartition(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS badinput_wide (p int, c int, v blob, PRIMARY KEY (p, c))`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const rows, size = 640, 64 << 10
	val := bytes.Repeat([]byte{'v'}, size)
	futs := make([]*cassandra.Future[*cassandra.ResultSet], rows)
	for c := range rows {
		futs[c] = s.Execute(ctx, `INSERT INTO badinput_wide (p, c, v) VALUES (1, ?, ?)`, c, val)
	}
	_, err := cassandra.AwaitAll(ctx, futs...)
	require.NoError(t, err)

	read := func(t *testing.T, r cassandra.Rows) (n, bytes int) {
		var c int
		var v []byte
		for r.Next() {
			require.NoError(t, r.Scan(&c, &v))
			require.Equal(t, n, c, "in clustering order, none missing")
			n++
			bytes += len(v)
		}
		require.NoError(t, r.Err())
		return n, bytes
	}
	// The default page size (5000 rows) takes the partition in one page of
	// 40 MB; pages of 50 rows take 13. A read is not idempotent unless
	// marked so, so the driver does not retry it: one attempt per page.
	for pageSize, pages := range map[int]int{0: 1, 50: 13} {
		t.Run(fmt.Sprintf("Execute, page size %d", pageSize), func(t *testing.T) {
			rs, err := awaitOrFail(t, s.Query(`SELECT c, v FROM badinput_wide WHERE p = 1`).PageSize(pageSize).Execute(ctx))
			require.NoError(t, err)
			assert.Equal(t, rows, rs.RowCount())
			assert.Equal(t, pages, rs.Attempts())
			n, b := read(t, rs)
			assert.Equal(t, rows, n)
			assert.Equal(t, rows*size, b)
		})
	}
	t.Run("Stream", func(t *testing.T) {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var peak uint64
		st := s.Query(`SELECT c, v FROM badinput_wide WHERE p = 1`).PageSize(16).Stream(ctx,
			cassandra.OnPage(func(cassandra.PageInfo) {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}))
		defer st.Close()
		n, b := read(t, st)
		assert.Equal(t, rows, n)
		assert.Equal(t, rows*size, b)
		grew := int64(peak) - int64(before.HeapInuse)
		t.Logf("heap in use grew by at most %d MB while streaming %d MB", grew>>20, rows*size>>20)
		assert.Less(t, grew, int64(rows*size/2), "a stream holds a few pages, not the partition")
	})
}
