package cassandra

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// recorder is a collector that keeps everything it is told.
type recorder struct {
	mu       sync.Mutex
	requests []RequestInfo
	attempts []AttemptInfo
	pages    []PageFetchInfo
	opened   []*AsyncSession
	closed   []*AsyncSession
	ctxs     []context.Context
}

func (r *recorder) RequestDone(ctx context.Context, info RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, info)
	r.ctxs = append(r.ctxs, ctx)
}

func (r *recorder) AttemptDone(_ context.Context, a AttemptInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
}

func (r *recorder) PageDone(_ context.Context, p PageFetchInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pages = append(r.pages, p)
}

func (r *recorder) SessionOpened(s *AsyncSession) {
	r.mu.Lock()
	r.opened = append(r.opened, s)
	r.mu.Unlock()
}
func (r *recorder) SessionClosed(s *AsyncSession) {
	r.mu.Lock()
	r.closed = append(r.closed, s)
	r.mu.Unlock()
}

// userObserver stands for an observer the user set on the ClusterConfig.
type userObserver struct {
	mu    sync.Mutex
	stmts []string
}

func (o *userObserver) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	o.mu.Lock()
	o.stmts = append(o.stmts, q.Statement)
	o.mu.Unlock()
}

type reqKey struct{}

// A known workload reports exactly what was executed: one RequestDone per
// request with its statement normalised, attempts with the user's own
// observer still called, stream pages, and errors by kind.
func TestCollectorSeesTheWorkload(t *testing.T) {
	rec := &recorder{}
	user := &userObserver{}
	srv := cqltest.NewServer(t)
	rows := make([][]any, 25)
	for i := range rows {
		rows[i] = []any{i}
	}
	srv.SetRows(streamQuery, cqltest.Cols("id", cqltest.Int), rows)
	srv.SetRows("SELECT id FROM ks.fast WHERE id = 7", cqltest.Cols("id", cqltest.Int), [][]any{{7}})
	srv.SetRows("SELECT id FROM ks.broken", cqltest.Cols("id", cqltest.Int), [][]any{{1}})
	srv.FailPage("SELECT id FROM ks.broken", 1, cqltest.ReadTimeout())
	cfg := srv.ClusterConfig()
	cfg.QueryObserver = user
	cluster, err := NewAsyncCluster(cfg, WithCollector(rec), WithPageSize(10))
	require.NoError(t, err)
	s, err := cluster.Connect(context.Background())
	require.NoError(t, err)
	defer srv.Close()
	defer cluster.Close()
	assert.Nil(t, cfg.BatchObserver, "the caller's configuration is left alone")
	assert.Same(t, user, cfg.QueryObserver)

	ctx := context.WithValue(context.Background(), reqKey{}, "caller")
	_, err = s.Execute(ctx, "SELECT id FROM ks.fast WHERE id = 7").Await(ctx)
	require.NoError(t, err)
	_, err = s.Execute(ctx, streamQuery).Await(ctx) // 3 pages
	require.NoError(t, err)
	_, err = s.Execute(ctx, "SELECT id FROM ks.broken").Await(ctx)
	require.Error(t, err)
	_, err = s.Batch(gocql.UnloggedBatch).Query("INSERT INTO ks.t (id) VALUES (1)").Execute(ctx).Await(ctx)
	require.NoError(t, err)
	_, err = readInts(s.Query(streamQuery).PageSize(10).Stream(ctx))
	require.NoError(t, err)
	//lint:ignore SA1012 a nil context on purpose: it is reported too
	_, err = s.Execute(nil, "SELECT id FROM ks.fast WHERE id = 7").Await(ctx)
	require.Error(t, err)
	require.NoError(t, s.Close())

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.requests, 5, "one per Execute and Batch.Execute, none for stream pages")
	byText := map[string]RequestInfo{}
	for i, r := range rec.requests {
		byText[r.Statement.Text+map[bool]string{true: " (nil ctx)"}[rec.ctxs[i] == context.Background()]] = r
		if rec.ctxs[i] != context.Background() {
			assert.Equal(t, "caller", rec.ctxs[i].Value(reqKey{}), "the context the request was submitted with")
		}
	}
	point := byText["SELECT id FROM ks.fast WHERE id = ?"]
	assert.Equal(t, KindSelect, point.Statement.Kind)
	assert.Equal(t, "ks", point.Statement.Keyspace)
	assert.Equal(t, "fast", point.Statement.Table)
	assert.Equal(t, 1, point.Attempts)
	assert.Equal(t, 1, point.Rows)
	assert.Equal(t, 1, point.Pages)
	assert.NotEmpty(t, point.Host)
	assert.NoError(t, point.Err)
	assert.Empty(t, point.ErrorKind)
	assert.Len(t, point.Tries, 1)
	assert.GreaterOrEqual(t, point.Duration, point.QueueWait)
	assert.Positive(t, point.Duration)

	scan := byText["SELECT id FROM ks.numbers"]
	assert.Equal(t, 25, scan.Rows)
	assert.Equal(t, 3, scan.Pages)
	assert.Equal(t, 3, scan.Attempts)
	assert.Len(t, scan.Tries, 3)

	broken := byText["SELECT id FROM ks.broken"]
	assert.Equal(t, "read_timeout", broken.ErrorKind)
	var qe *QueryError
	assert.ErrorAs(t, broken.Err, &qe)

	batch := byText["BEGIN BATCH INSERT INTO ks.t (id) VALUES (?) APPLY BATCH"]
	assert.Equal(t, KindBatch, batch.Statement.Kind)
	assert.Equal(t, "t", batch.Statement.Table)
	assert.Len(t, batch.Tries, 1)

	nilCtx := byText["SELECT id FROM ks.fast WHERE id = ? (nil ctx)"]
	assert.Equal(t, "client", nilCtx.ErrorKind)
	assert.Zero(t, nilCtx.Attempts)

	require.Len(t, rec.pages, 3)
	sort.Slice(rec.pages, func(i, j int) bool { return rec.pages[i].Number < rec.pages[j].Number })
	for i, p := range rec.pages {
		assert.Equal(t, i+1, p.Number)
		assert.Equal(t, []int{10, 10, 5}[i], p.Rows)
		assert.Equal(t, 1, p.Attempts)
		assert.Equal(t, "SELECT id FROM ks.numbers", p.Statement.Text)
	}

	// Attempts: 1 + 3 + 1 (the failed read) + 1 (batch) + 3 (stream).
	assert.Len(t, rec.attempts, 9)
	kinds := map[string]int{}
	for _, a := range rec.attempts {
		kinds[a.ErrorKind]++
	}
	assert.Equal(t, map[string]int{"": 8, "read_timeout": 1}, kinds)
	user.mu.Lock()
	assert.Len(t, user.stmts, 8, "the user's query observer is still called (batches have their own)")
	user.mu.Unlock()

	assert.Equal(t, []*AsyncSession{s}, rec.opened)
	assert.Equal(t, []*AsyncSession{s}, rec.closed)
}

// A request cancelled while it runs is reported once, when the driver has
// returned, with the error its future completed with.
func TestCollectorSeesACancelledRequest(t *testing.T) {
	rec := &recorder{}
	s, srv, _ := sessionServer(t, WithCollector(rec))
	f := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	f.Cancel()
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.requests) == 1
	}, 10*time.Second, time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, "canceled", rec.requests[0].ErrorKind)
	assert.True(t, errors.Is(rec.requests[0].Err, context.Canceled))
}

func TestErrorKind(t *testing.T) {
	for want, err := range map[string]error{
		"":                  nil,
		"canceled":          wrapQueryError("s", 0, nil, context.Canceled),
		"deadline":          context.DeadlineExceeded,
		"closed":            ErrClosed,
		"overloaded":        wrapQueryError("s", 0, nil, ErrOverloaded),
		"not_found":         ErrNotFound,
		"panic":             &PanicError{Value: "x"},
		"write_timeout":     &gocql.RequestErrWriteTimeout{},
		"unavailable":       &gocql.RequestErrUnavailable{},
		"syntax":            &gocql.RequestErrSyntax{},
		"server_overloaded": &gocql.RequestErrOverloaded{},
		"no_connections":    gocql.ErrNoConnections,
		"timeout":           gocql.ErrTimeoutNoResponse,
		"connection":        gocql.ErrConnectionClosed,
		"client":            errNilContext,
		"other":             errors.New("something"),
	} {
		assert.Equal(t, want, ErrorKind(err), "%v", err)
	}
	// However the broken connection shows itself, it is a connection error.
	for _, err := range []error{io.EOF, errNetReset, errConnClosedByWriting, errors.New(errHeartbeat)} {
		assert.Equal(t, "connection", ErrorKind(wrapQueryError("s", 1, nil, err)), "%v", err)
	}
	// Every mistake in calling the library is a client error.
	for _, err := range []error{
		wrapQueryError("s", 0, nil, errConfigure(0, true)),
		usagef("cassandra: PageSize: must not be negative, got %d", -1),
	} {
		assert.Equal(t, "client", ErrorKind(err), "%v", err)
	}
}

func TestNormalizeStatement(t *testing.T) {
	assert.Equal(t, "SELECT * FROM users WHERE id = ? AND name IN ?",
		NormalizeStatement("select * from users where id=42 and name in ('a','b') -- by hand"))
}

// BenchmarkCollector shows what the hook costs: none (no collector), a
// collector that does nothing, and one that also receives every attempt.
func BenchmarkCollector(b *testing.B) {
	for name, c := range map[string]Collector{"none": nil, "request": nopCollector{}, "attempts": nopAttemptCollector{}} {
		b.Run("collector="+name, func(b *testing.B) {
			srv := cqltest.NewServer(b)
			srv.SetRows("SELECT v FROM ks.kv", cqltest.Cols("v", cqltest.Text), [][]any{{"value"}})
			cluster, err := NewAsyncCluster(srv.ClusterConfig(), WithCollector(c))
			require.NoError(b, err)
			defer cluster.Close()
			s, err := cluster.Connect(context.Background())
			require.NoError(b, err)
			benchmarkConcurrently(b, 64, func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
				func(ctx context.Context) error {
					rs, err := s.Execute(ctx, "SELECT v FROM ks.kv").Await(ctx)
					if err != nil {
						return err
					}
					var v string
					return rs.One(&v)
				})
		})
	}
}

type nopCollector struct{}

func (nopCollector) RequestDone(context.Context, RequestInfo) {}

type nopAttemptCollector struct{ nopCollector }

func (nopAttemptCollector) AttemptDone(context.Context, AttemptInfo) {}

// Collectors passes each call to every collector that wants it, and a
// combination of collectors none of which wants attempts costs none.
func TestCollectorsFanOut(t *testing.T) {
	full, plain := &recorder{}, &onlyRequests{}
	s, _, _ := sessionServer(t, WithCollector(Collectors(full, nil, plain)))
	fastQueryRuns(t, s, "one request")
	full.mu.Lock()
	assert.Len(t, full.requests, 1)
	assert.Len(t, full.attempts, 1)
	assert.Len(t, full.opened, 1)
	full.mu.Unlock()
	assert.Equal(t, int32(1), plain.n.Load())

	assert.Nil(t, newMetrics(Collectors(plain), "").attempts, "nobody wants attempts")
	assert.Nil(t, newMetrics(Collectors(plain), "").pages, "nobody wants pages")
	assert.NotNil(t, newMetrics(Collectors(plain, full), "").attempts)
}

// onlyRequests implements Collector and nothing else.
type onlyRequests struct{ n atomic.Int32 }

func (o *onlyRequests) RequestDone(context.Context, RequestInfo) { o.n.Add(1) }
