package cassandra

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// These tests run table scans against the in-process CQL server, which
// answers each token range with the rows whose (made-up) tokens lie in it.
// The same scans against a real node are in test/integration, and against
// a cluster that loses a node in test/faults.

// scanKey is the start of every range statement of a scan of ks.numbers.
const scanKey = `SELECT * FROM "ks"."numbers" WHERE token("id")`

// scanStmt is the whole statement.
const scanStmt = `SELECT * FROM "ks"."numbers" WHERE token("id") > ? AND token("id") <= ?`

// scanTokens gives rows 0..n-1 tokens spread over the ring, the ring's
// extremes included.
func scanTokens(n int) []int64 {
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	tokens := make([]int64, n)
	for i := range tokens {
		switch i {
		case 0:
			tokens[i] = MaxToken
		case 1:
			tokens[i] = MinToken + 1
		case 2:
			tokens[i] = 0
		case 3:
			tokens[i] = 0 // two rows with one token
		default:
			tokens[i] = int64(rng.Uint64())
			if tokens[i] == MinToken {
				tokens[i]++
			}
		}
	}
	return tokens
}

// idRows returns rows 0..n-1 of one int column id, and their tokens.
func idRows(n int) ([][]any, []int64) {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{i}
	}
	return rows, scanTokens(n)
}

// scanConnect connects a session with cfg; everything is closed, and
// goroutine leaks checked, when the test ends.
func scanConnect(t *testing.T, cfg *gocql.ClusterConfig, servers []*cqltest.Server, opts ...Option) *AsyncSession {
	t.Helper()
	cfg.Keyspace = "ks"
	cluster, err := NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, cluster.Close())
		for _, srv := range servers {
			srv.Close()
		}
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	})
	return s
}

// scanServer serves ks.numbers with rows 0..n-1 and connects a session.
func scanServer(t *testing.T, n int, opts ...Option) (*cqltest.Server, *AsyncSession) {
	t.Helper()
	srv := cqltest.NewServer(t)
	rows, tokens := idRows(n)
	srv.SetTokenRows(scanKey, cqltest.Cols("id", cqltest.Int), rows, tokens)
	return srv, scanConnect(t, srv.ClusterConfig(), []*cqltest.Server{srv}, opts...)
}

// scanCtx bounds a test's scan.
func scanCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readScan reads the scan to its end.
func readScan(sc *TableScan) ([]int, error) {
	var got []int
	for sc.Next() {
		var v int
		if err := sc.Scan(&v); err != nil {
			return got, err
		}
		got = append(got, v)
	}
	return got, sc.Err()
}

// requireEachOnce fails unless ids holds 0..n-1 once each.
func requireEachOnce(t *testing.T, n int, ids []int, msgAndArgs ...any) {
	t.Helper()
	seen := make([]int, n)
	for _, id := range ids {
		require.True(t, id >= 0 && id < n, "unknown id %d", id)
		seen[id]++
	}
	for id, c := range seen {
		if c != 1 {
			require.Failf(t, "not every row read exactly once", "row %d read %d times; %v", id, c, msgAndArgs)
		}
	}
}

func TestScanReadsEveryRowOnce(t *testing.T) {
	const n = 2000
	srv, s := scanServer(t, n)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(50),
		ScanParallelism(4), ScanSplits(10), ScanPrefetch(1))
	assert.Equal(t, ScanProgress{}, sc.Progress(), "nothing before the first read")
	got, err := readScan(sc)
	require.NoError(t, err)
	requireEachOnce(t, n, got)

	assert.Contains(t, srv.Statements(), scanStmt)
	p := sc.Progress()
	assert.GreaterOrEqual(t, p.RangesTotal, 10)
	assert.Equal(t, p.RangesTotal, p.RangesDone)
	assert.Equal(t, int64(n), p.Rows)
	assert.InDelta(t, 1.0, p.Fraction, 1e-9)
	assert.GreaterOrEqual(t, p.Pages, int64(n/50))
	cp := sc.Checkpoint()
	assert.True(t, cp.Complete(), "the last checkpoint covers the ring")
	assert.Equal(t, int64(n), cp.Rows)
	assert.Equal(t, scanStmt, cp.Statement)
	assert.Equal(t, [2]string{"ks", "numbers"}, [2]string{cp.Keyspace, cp.Table})
}

func TestScanRowsAndPages(t *testing.T) {
	const n = 500
	_, s := scanServer(t, n)
	var ids []int
	sc := s.Scan(scanCtx(t), "ks.numbers", ScanPartitionKey("id"), ScanPageSize(40))
	for row, err := range sc.Rows() {
		require.NoError(t, err)
		var id int
		require.NoError(t, row.Scan(&id))
		m := map[string]any{}
		require.NoError(t, row.MapScan(m))
		assert.Equal(t, id, m["id"])
		require.Len(t, row.Columns(), 1)
		ids = append(ids, id)
	}
	requireEachOnce(t, n, ids)

	ids = ids[:0]
	pages := 0
	sc = s.Scan(scanCtx(t), "ks.numbers", ScanPartitionKey("id"), ScanPageSize(40))
	for page, err := range sc.Pages() {
		require.NoError(t, err)
		pages++
		got, err := CollectRows(page, RowTo[int])
		require.NoError(t, err)
		assert.LessOrEqual(t, len(got), 40)
		ids = append(ids, got...)
	}
	requireEachOnce(t, n, ids)
	assert.Equal(t, int64(pages), sc.Progress().Pages)
	assert.Equal(t, int64(n), sc.Progress().Rows)

	// The collectors read a scan like any rows; routing off, or to one data
	// center, changes where pages are read, not what.
	for _, opts := range [][]ScanOption{nil, {ScanRouting(false)}, {ScanDataCenter("datacenter1")}, {ScanDataCenter("elsewhere")}} {
		all, err := CollectRows(s.Scan(scanCtx(t), "ks.numbers", append(opts, ScanPartitionKey("id"))...), RowTo[int])
		require.NoError(t, err)
		requireEachOnce(t, n, all)
	}
}

func TestScanRowIsValidOnlyInItsIteration(t *testing.T) {
	_, s := scanServer(t, 10)
	var kept Row
	for row, err := range s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id")).Rows() {
		require.NoError(t, err)
		kept = row
		break
	}
	assert.ErrorIs(t, kept.Scan(new(int)), errStaleRow)
	assert.Nil(t, kept.Columns())
}

// While the reader holds its first row, the scan fetches at most
// parallelism × (1 + prefetch) pages; the rest arrive as it reads.
func TestScanMemoryIsBounded(t *testing.T) {
	const n, pageSize, parallelism, prefetch = 4000, 10, 3, 2
	srv, s := scanServer(t, n)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(pageSize),
		ScanParallelism(parallelism), ScanSplits(6), ScanPrefetch(prefetch))
	require.True(t, sc.Next())
	const bound = parallelism * (1 + prefetch)
	require.Eventually(t, func() bool { return srv.Requests(scanKey) == bound }, 10*time.Second, time.Millisecond,
		"every range in flight fills its pages")
	assert.Never(t, func() bool { return srv.Requests(scanKey) > bound }, 100*time.Millisecond, 5*time.Millisecond,
		"no range fetches beyond its prefetch while the reader waits")
	ids := []int{}
	var v int
	require.NoError(t, sc.Scan(&v))
	ids = append(ids, v)
	rest, err := readScan(sc)
	require.NoError(t, err)
	requireEachOnce(t, n, append(ids, rest...))
}

// A reader that stops at any row and resumes from the last checkpoint it
// was given reads every row exactly once, counting the rows it had read up
// to that checkpoint.
func TestScanResumesFromCheckpointExactlyOnce(t *testing.T) {
	const n = 1500
	_, s := scanServer(t, n)
	opts := []ScanOption{ScanPartitionKey("id"), ScanPageSize(25), ScanParallelism(3), ScanSplits(7)}
	for _, stopAfter := range []int{1, 24, 25, 26, 333, 1000, n - 1, n} {
		var last []byte // the last checkpoint, as saved
		var kept []int  // rows read up to it
		var ids []int
		sc := s.Scan(scanCtx(t), "numbers", append(opts, ScanCheckpoints(func(cp ScanCheckpoint) error {
			assert.Equal(t, int64(len(ids)), cp.Rows, "a checkpoint counts the rows read before it")
			b, err := json.Marshal(cp)
			last, kept = b, slices.Clone(ids)
			return err
		}))...)
		for row, err := range sc.Rows() {
			require.NoError(t, err)
			var id int
			require.NoError(t, row.Scan(&id))
			ids = append(ids, id)
			if len(ids) == stopAfter {
				break // a crash: whatever was read after the checkpoint is lost
			}
		}
		// Before its first checkpoint, a reader starts again from scratch.
		var cp *ScanCheckpoint
		if last != nil {
			cp = new(ScanCheckpoint)
			require.NoError(t, json.Unmarshal(last, cp))
		}
		got := kept
		hops := 0
		// Resume, crash again half-way, resume again: still exactly once.
		for {
			hops++
			require.Less(t, hops, 20)
			var next *ScanCheckpoint
			var since []int
			sc := s.Scan(scanCtx(t), "numbers", append(opts, ScanResume(cp), ScanCheckpoints(func(c ScanCheckpoint) error {
				next, got = &c, append(got, since...)
				since = since[:0]
				return nil
			}))...)
			read := 0
			for sc.Next() {
				var id int
				require.NoError(t, sc.Scan(&id))
				since = append(since, id)
				if read++; hops == 1 && read == 200 {
					break
				}
			}
			require.NoError(t, sc.Err())
			sc.Close()
			if next == nil || next.Complete() {
				require.Empty(t, since, "rows after the final checkpoint")
				break
			}
			cp = next
		}
		requireEachOnce(t, n, got, "stop after %d", stopAfter)
	}
}

func TestScanResumeFromCompleteCheckpointReadsNothing(t *testing.T) {
	srv, s := scanServer(t, 100)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"))
	_, err := readScan(sc)
	require.NoError(t, err)
	cp := sc.Checkpoint()
	before := srv.Requests(scanKey)

	sc = s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanResume(&cp))
	assert.Equal(t, cp, sc.Checkpoint(), "before it starts, a scan's checkpoint is the one it resumes")
	got, err := readScan(sc)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, before, srv.Requests(scanKey), "nothing is read again")
	assert.Equal(t, 0, sc.Progress().RangesTotal)
	assert.InDelta(t, 1.0, sc.Progress().Fraction, 1e-9)
}

func TestScanRejectsAnotherScansCheckpoint(t *testing.T) {
	srv, s := scanServer(t, 100)
	rows, tokens := idRows(100)
	srv.SetTokenRows(`SELECT id FROM "ks"."numbers"`, cqltest.Cols("id", cqltest.Int), rows, tokens)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanColumns("id"))
	_, err := readScan(sc)
	require.NoError(t, err)
	cp := sc.Checkpoint()

	sc = s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanResume(&cp))
	got, err := readScan(sc)
	assert.Empty(t, got)
	require.ErrorIs(t, err, ErrInvalidCheckpoint)
	var se *ScanError
	require.ErrorAs(t, err, &se)
	assert.Nil(t, se.Range)
	assert.Contains(t, err.Error(), "columns or the filter differ")
}

// Each range goes to the node that owns it: every node of this cluster
// holds only its own rows, and the scan still reads them all.
func TestScanRoutesRangesToTheirOwners(t *testing.T) {
	const n = 900
	servers := cqltest.NewCluster(t, 3)
	// cqltest gives node i the token i × (MaxInt64 / 3).
	nodeTokens := []int64{0, math.MaxInt64 / 3, 2 * (math.MaxInt64 / 3)}
	owner := func(tok int64) int {
		for i, nt := range nodeTokens {
			if tok <= nt {
				return i
			}
		}
		return 0 // past the last token: the ring wraps to the first
	}
	rows, tokens := idRows(n)
	perNode := make([][][]any, 3)
	perTokens := make([][]int64, 3)
	for i, tok := range tokens {
		o := owner(tok)
		perNode[o] = append(perNode[o], rows[i])
		perTokens[o] = append(perTokens[o], tok)
	}
	for i, srv := range servers {
		require.NotEmpty(t, perNode[i])
		srv.SetTokenRows(scanKey, cqltest.Cols("id", cqltest.Int), perNode[i], perTokens[i])
	}
	s := scanConnect(t, servers[0].ClusterConfig(), servers)
	require.Eventually(t, func() bool { return len(s.Gocql().GetHosts()) == 3 }, 10*time.Second, time.Millisecond)

	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(30), ScanSplits(12))
	got, err := readScan(sc)
	require.NoError(t, err)
	requireEachOnce(t, n, got)
	for i, srv := range servers {
		assert.Positive(t, srv.Requests(scanKey), "node %d served its ranges", i)
	}
}

// A page that fails on the range's node is asked of another node, from
// the same position.
func TestScanFailsOverToAnotherNode(t *testing.T) {
	const n = 900
	servers := cqltest.NewCluster(t, 3)
	rows, tokens := idRows(n)
	for _, srv := range servers {
		srv.SetTokenRows(scanKey, cqltest.Cols("id", cqltest.Int), rows, tokens)
	}
	servers[0].FailPage(scanKey, 2, cqltest.ReadTimeout()) // every time
	s := scanConnect(t, servers[0].ClusterConfig(), servers)
	require.Eventually(t, func() bool { return len(s.Gocql().GetHosts()) == 3 }, 10*time.Second, time.Millisecond)

	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(30))
	got, err := readScan(sc)
	require.NoError(t, err)
	requireEachOnce(t, n, got)
	assert.Positive(t, servers[0].PageRequests(scanKey, 2), "node 1 failed its second pages")
}

// When every node fails a page, the scan ends with a *ScanError naming the
// range; the checkpoint then resumes it, and no row is lost.
func TestScanFailureIsTypedAndResumable(t *testing.T) {
	const n = 600
	srv, s := scanServer(t, n)
	fault := srv.FailPage(scanKey, 3, cqltest.ReadTimeout())
	opts := []ScanOption{ScanPartitionKey("id"), ScanPageSize(20), ScanParallelism(2), ScanSplits(4)}
	var kept, ids []int
	sc := s.Scan(scanCtx(t), "numbers", append(opts, ScanCheckpoints(func(ScanCheckpoint) error {
		kept = slices.Clone(ids)
		return nil
	}))...)
	for sc.Next() {
		var id int
		require.NoError(t, sc.Scan(&id))
		ids = append(ids, id)
	}
	err := sc.Err()
	require.Error(t, err)
	var se *ScanError
	require.ErrorAs(t, err, &se)
	require.NotNil(t, se.Range, "the failed range is named")
	assert.Equal(t, [2]string{"ks", "numbers"}, [2]string{se.Keyspace, se.Table})
	var timeout *gocql.RequestErrReadTimeout
	assert.ErrorAs(t, err, &timeout, "the driver's error is reachable")
	var qe *QueryError
	assert.ErrorAs(t, err, &qe)
	assert.Contains(t, err.Error(), se.Range.String())
	assert.Less(t, sc.Progress().RangesDone, sc.Progress().RangesTotal)

	cp := sc.Checkpoint()
	assert.Equal(t, int64(len(kept)), cp.Rows)
	assert.False(t, cp.Complete())
	fault.Times(0)
	rest, err := readScan(s.Scan(scanCtx(t), "numbers", append(opts, ScanResume(&cp))...))
	require.NoError(t, err)
	requireEachOnce(t, n, append(kept, rest...))
}

func TestScanContextEndsIt(t *testing.T) {
	_, s := scanServer(t, 500)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := s.Scan(ctx, "numbers", ScanPartitionKey("id"), ScanPageSize(10))
	require.True(t, sc.Next())
	cancel()
	for sc.Next() {
	}
	require.ErrorIs(t, sc.Err(), context.Canceled)
	var se *ScanError
	assert.ErrorAs(t, sc.Err(), &se)
}

// Close from another goroutine frees a reader waiting for pages.
func TestScanCloseFromAnotherGoroutine(t *testing.T) {
	srv, s := scanServer(t, 500)
	release := make(chan struct{})
	defer close(release)
	srv.DelayPage(scanKey, 2, release)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(10), ScanParallelism(2))
	require.True(t, sc.Next())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		require.Eventually(t, func() bool { return srv.PageRequests(scanKey, 2) >= 2 }, 10*time.Second, time.Millisecond)
		assert.NoError(t, sc.Close())
	}()
	for sc.Next() {
	}
	wg.Wait()
	assert.NoError(t, sc.Err(), "Close ends reading without an error")
	assert.NoError(t, sc.Close(), "Close is idempotent")
	assert.False(t, sc.Next())
}

func TestScanCheckpointCallbackErrorEndsIt(t *testing.T) {
	_, s := scanServer(t, 100)
	boom := errors.New("disk full")
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(10),
		ScanCheckpoints(func(ScanCheckpoint) error { return boom }))
	got, err := readScan(sc)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, int64(1), sc.Progress().Pages, "the first page is read, then its checkpoint fails")
	assert.Equal(t, int64(len(got)), sc.Progress().Rows)
	assert.LessOrEqual(t, len(got), 10)
	var se *ScanError
	assert.ErrorAs(t, err, &se)
}

func TestScanColumnsAndFilter(t *testing.T) {
	const stmt = `SELECT id, v FROM "ks"."numbers" WHERE token("id") > ? AND token("id") <= ? AND v > ? ALLOW FILTERING`
	srv, s := scanServer(t, 0)
	rows := make([][]any, 50)
	for i := range rows {
		rows[i] = []any{i, i * 2}
	}
	srv.SetTokenRows(stmt, cqltest.Cols("id", cqltest.Int, "v", cqltest.Int), rows, scanTokens(50))
	srv.SetBindTypes(stmt, cqltest.Bigint, cqltest.Bigint, cqltest.Int)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanColumns("id", "v"),
		ScanWhere("v > ?", 7), ScanAllowFiltering(), ScanConsistency(gocql.LocalOne))
	n := 0
	for sc.Next() {
		var id, v int
		require.NoError(t, sc.Scan(&id, &v))
		assert.Equal(t, id*2, v)
		n++
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, 50, n)
	assert.Contains(t, srv.Statements(), stmt)
	assert.Equal(t, stmt, sc.Checkpoint().Statement)
}

func TestScanPartitionKeyFromSchema(t *testing.T) {
	// The in-process server's schema tables are empty: without
	// ScanPartitionKey the table cannot be found.
	srv, s := scanServer(t, 10)
	got, err := readScan(s.Scan(scanCtx(t), "numbers"))
	assert.Empty(t, got)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ks.numbers not found")
	assert.Contains(t, srv.Statements(),
		`SELECT column_name, kind, position FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`)
}

func TestScanBadInput(t *testing.T) {
	_, s := scanServer(t, 10)
	ctx := scanCtx(t)
	var nilCtx context.Context
	for name, sc := range map[string]*TableScan{
		"nil ctx":          s.Scan(nilCtx, "numbers"),
		"nil option":       s.Scan(ctx, "numbers", nil),
		"parallelism":      s.Scan(ctx, "numbers", ScanParallelism(0)),
		"splits":           s.Scan(ctx, "numbers", ScanSplits(-1)),
		"page size":        s.Scan(ctx, "numbers", ScanPageSize(-1)),
		"prefetch":         s.Scan(ctx, "numbers", ScanPrefetch(-1)),
		"empty column":     s.Scan(ctx, "numbers", ScanColumns("id", " ")),
		"empty key column": s.Scan(ctx, "numbers", ScanPartitionKey("")),
		"blank filter":     s.Scan(ctx, "numbers", ScanWhere("  ")),
		"table name":       s.Scan(ctx, "a.b.c", ScanPartitionKey("id")),
	} {
		var got []error
		for _, err := range sc.Rows() {
			got = append(got, err)
		}
		require.Len(t, got, 1, name)
		var se *ScanError
		assert.ErrorAs(t, got[0], &se, name)
		assert.ErrorIs(t, sc.Err(), got[0], name)
		assert.NoError(t, sc.Close(), name)
	}

	// A session without a keyspace needs one in the name.
	srv := cqltest.NewServer(t)
	cluster, err := NewAsyncCluster(srv.ClusterConfig())
	require.NoError(t, err)
	defer cluster.Close()
	bare, err := cluster.Connect(ctx)
	require.NoError(t, err)
	_, err = readScan(bare.Scan(ctx, "numbers", ScanPartitionKey("id")))
	assert.ErrorContains(t, err, "no keyspace")

	// A closed session.
	require.NoError(t, bare.Close())
	_, err = readScan(bare.Scan(ctx, "ks.numbers", ScanPartitionKey("id")))
	assert.ErrorIs(t, err, ErrClosed)
}

// Progress and Checkpoint may be read from another goroutine while the
// scan runs (the race detector checks).
func TestScanProgressFromAnotherGoroutine(t *testing.T) {
	const n = 3000
	_, s := scanServer(t, n)
	sc := s.Scan(scanCtx(t), "numbers", ScanPartitionKey("id"), ScanPageSize(20), ScanParallelism(4))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var seen []ScanProgress
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			seen = append(seen, sc.Progress())
			_ = sc.Checkpoint()
		}
	}()
	got, err := readScan(sc)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	requireEachOnce(t, n, got)
	require.NotEmpty(t, seen)
	for i := 1; i < len(seen); i++ {
		assert.GreaterOrEqual(t, seen[i].Rows, seen[i-1].Rows, "rows only grow")
		assert.GreaterOrEqual(t, seen[i].RangesDone, seen[i-1].RangesDone)
	}
}
