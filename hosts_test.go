package cassandra

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

// Host monitoring against the in-process CQL server. cqltest.NewCluster
// gives several nodes with their own host IDs, all on 127.0.0.1; gocql
// keys its down events by IP alone, so the tests that need the driver's
// own events use a single node.

// hostRecorder is a HostCollector that keeps every change it is told.
type hostRecorder struct {
	mu      sync.Mutex
	changes []HostStatus
	from    []*AsyncSession
}

func (r *hostRecorder) RequestDone(context.Context, RequestInfo) {}

func (r *hostRecorder) HostChanged(s *AsyncSession, h HostStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, h)
	r.from = append(r.from, s)
}

// states returns the states the recorder was told for host id, in order.
func (r *hostRecorder) states(id string) []HostState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []HostState
	for _, h := range r.changes {
		if h.HostID == id {
			out = append(out, h.State)
		}
	}
	return out
}

func (r *hostRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes)
}

// connectTo connects a session to srv (and the nodes it lists) with opts,
// after configure changes the driver's configuration if it is not nil. The
// returned closeAll closes the session and servers; the caller defers it
// after deferring its goleak check.
func connectTo(t *testing.T, srv *cqltest.Server, servers []*cqltest.Server, configure func(*gocql.ClusterConfig), opts ...Option) (*AsyncSession, func()) {
	t.Helper()
	cfg := srv.ClusterConfig()
	if configure != nil {
		configure(cfg)
	}
	cluster, err := NewAsyncCluster(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	return s, func() {
		assert.NoError(t, cluster.Close())
		for _, srv := range servers {
			srv.Close()
		}
	}
}

// hostOf returns the status of host id in s.Hosts(), or false.
func hostOf(s *AsyncSession, id string) (HostStatus, bool) {
	for _, h := range s.Hosts() {
		if h.HostID == id {
			return h, true
		}
	}
	return HostStatus{}, false
}

// waitHost waits until host id's status satisfies cond and returns it.
func waitHost(t *testing.T, s *AsyncSession, id, what string, cond func(HostStatus) bool) HostStatus {
	t.Helper()
	var last HostStatus
	var seen bool
	if !assert.Eventually(t, func() bool {
		h, ok := hostOf(s, id)
		last, seen = h, ok
		return ok && cond(h)
	}, 10*time.Second, time.Millisecond) {
		t.Fatalf("%s: not within 10 s; host listed: %v, last status: %+v", what, seen, last)
	}
	return last
}

func mustUUID(t *testing.T, s string) gocql.UUID {
	t.Helper()
	u, err := gocql.ParseUUID(s)
	require.NoError(t, err)
	return u
}

// checkCols are the columns of the health check's answer.
var checkCols = cqltest.Cols("release_version", cqltest.Text, "host_id", cqltest.UUID)

func TestHostStateString(t *testing.T) {
	assert.Equal(t, "up", HostUp.String())
	assert.Equal(t, "down", HostDown.String())
	assert.Equal(t, "removed", HostRemoved.String())
	assert.Equal(t, "HostState(0)", HostState(0).String())
}

func TestWithHealthCheckValidates(t *testing.T) {
	cfg := gocql.NewCluster("127.0.0.1")
	_, err := NewAsyncCluster(cfg, WithHealthCheck(-time.Second, time.Second))
	assert.ErrorContains(t, err, "interval")
	_, err = NewAsyncCluster(cfg, WithHealthCheck(time.Second, 0))
	assert.ErrorContains(t, err, "timeout")
	_, err = NewAsyncCluster(cfg, WithHealthCheck(0, 0))
	assert.NoError(t, err, "zero turns the checks off")
}

// Hosts lists every node from the start, with the driver's metadata, and
// a HostCollector hears of each once.
func TestHostsListsEveryNodeAtConnect(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	servers := cqltest.NewCluster(t, 3, cqltest.WithDataCenter("dc-test"))
	rec := &hostRecorder{}
	s, closeAll := connectTo(t, servers[0], servers, nil, WithCollector(rec))
	defer closeAll()

	hosts := s.Hosts()
	require.Len(t, hosts, 3)
	byID := map[string]HostStatus{}
	for i, h := range hosts {
		byID[h.HostID] = h
		if i > 0 {
			assert.Less(t, hosts[i-1].Address, h.Address, "ordered by address")
		}
	}
	for i, srv := range servers {
		h, ok := byID[srv.HostID()]
		require.True(t, ok, "node %d is listed", i+1)
		assert.Equal(t, srv.Addr(), h.Address)
		assert.Equal(t, "dc-test", h.Datacenter)
		assert.Equal(t, "rack1", h.Rack)
		assert.Equal(t, "5.0.0", h.Version)
		assert.Equal(t, HostUp, h.State)
		assert.False(t, h.Since.IsZero())
		// The driver may confirm a host up just after the session
		// connected (its pool filling in): either reason is right.
		assert.Contains(t, []string{reasonConnect, reasonUp}, h.Reason)
		assert.True(t, h.LastCheck.IsZero(), "no health check without WithHealthCheck")
		assert.Equal(t, []HostState{HostUp}, rec.states(srv.HostID()), "node %d reported once", i+1)
	}
	rec.mu.Lock()
	for _, from := range rec.from {
		assert.Same(t, s, from)
	}
	rec.mu.Unlock()
	assert.Zero(t, servers[0].Requests(healthCheckCQL), "no check is sent without WithHealthCheck")
}

// Each node receives its own check, and answers it: the check is pinned
// to the host it checks. The version comes from the check's answer.
func TestHealthCheckIsRoutedToEachHost(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	servers := cqltest.NewCluster(t, 3)
	// Node 3 reports another release to its check than to the driver's
	// peers tables, to show where Version comes from.
	servers[2].SetRows(healthCheckCQL, checkCols, [][]any{{"5.0.9", mustUUID(t, servers[2].HostID())}})
	start := time.Now()
	// An hour: the round the session starts with is the only one.
	s, closeAll := connectTo(t, servers[0], servers, nil, WithHealthCheck(time.Hour, 5*time.Second))
	defer closeAll()

	for i, srv := range servers {
		h := waitHost(t, s, srv.HostID(), "node checked", func(h HostStatus) bool { return !h.LastCheck.IsZero() })
		assert.NoError(t, h.LastCheckErr, "node %d", i+1)
		assert.Zero(t, h.ConsecutiveFailures)
		assert.Equal(t, HostUp, h.State)
		assert.Positive(t, h.LastCheckLatency)
		assert.False(t, h.LastCheck.Before(start))
		assert.Equal(t, 1, srv.Requests(healthCheckCQL), "node %d received its own check, and only that", i+1)
	}
	h, _ := hostOf(s, servers[2].HostID())
	assert.Equal(t, "5.0.9", h.Version, "from the check")
	h, _ = hostOf(s, servers[1].HostID())
	assert.Equal(t, "5.0.0", h.Version)
}

// A check answered by another host than the one it checks fails: the
// monitor does not take the driver's routing on trust.
func TestHealthCheckRejectsAnAnswerFromAnotherHost(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	servers := cqltest.NewCluster(t, 2)
	servers[1].SetRows(healthCheckCQL, checkCols, [][]any{{"5.0.0", mustUUID(t, servers[0].HostID())}})
	s, closeAll := connectTo(t, servers[0], servers, nil, WithHealthCheck(time.Hour, 5*time.Second))
	defer closeAll()

	h := waitHost(t, s, servers[1].HostID(), "node 2 down", func(h HostStatus) bool { return h.State == HostDown })
	require.Error(t, h.LastCheckErr)
	assert.Contains(t, h.LastCheckErr.Error(), "answered by host "+servers[0].HostID())
	assert.True(t, strings.HasPrefix(h.Reason, reasonCheck), h.Reason)
	assert.Equal(t, 1, h.ConsecutiveFailures)
	h1 := waitHost(t, s, servers[0].HostID(), "node 1 checked", func(h HostStatus) bool { return !h.LastCheck.IsZero() })
	assert.Equal(t, HostUp, h1.State)
}

// A failing check marks its host down although the driver still has it up,
// a successful one marks it up again, and the collector hears of each
// change once however many checks repeat it.
func TestFailingHealthCheckMarksHostDownThenUp(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	servers := cqltest.NewCluster(t, 2)
	servers[1].FailPage(healthCheckCQL, 1, cqltest.ServerFailure("disk on fire"))
	rec := &hostRecorder{}
	s, closeAll := connectTo(t, servers[0], servers, nil, WithCollector(rec), WithHealthCheck(5*time.Millisecond, 5*time.Second))
	defer closeAll()
	id1, id2 := servers[0].HostID(), servers[1].HostID()

	h := waitHost(t, s, id2, "three failed checks", func(h HostStatus) bool { return h.ConsecutiveFailures >= 3 })
	assert.Equal(t, HostDown, h.State)
	assert.Equal(t, "server", ErrorKind(h.LastCheckErr))
	assert.Contains(t, h.Reason, "disk on fire")
	for _, gh := range s.Gocql().GetHosts() {
		if gh.HostID() == id2 {
			assert.True(t, gh.IsUp(), "the driver still has the host up")
		}
	}

	servers[1].ClearFaults(healthCheckCQL)
	h = waitHost(t, s, id2, "node 2 up again", func(h HostStatus) bool { return h.State == HostUp })
	assert.NoError(t, h.LastCheckErr)
	assert.Zero(t, h.ConsecutiveFailures)
	assert.Equal(t, reasonCheckOK, h.Reason)
	// More rounds pass without a change.
	n := servers[1].Requests(healthCheckCQL)
	require.Eventually(t, func() bool { return servers[1].Requests(healthCheckCQL) >= n+3 }, 10*time.Second, time.Millisecond)

	require.NoError(t, s.Close())
	assert.Equal(t, []HostState{HostUp, HostDown, HostUp}, rec.states(id2))
	assert.Equal(t, []HostState{HostUp}, rec.states(id1))
}

// A check that gets no answer within its timeout fails, and takes about
// the timeout.
func TestHealthCheckTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	never := make(chan struct{}) // the server releases it on Close
	srv.DelayPage(healthCheckCQL, 1, never)
	const timeout = 50 * time.Millisecond
	s, closeAll := connectTo(t, srv, []*cqltest.Server{srv}, nil, WithHealthCheck(time.Hour, timeout))
	defer closeAll()

	h := waitHost(t, s, srv.HostID(), "down", func(h HostStatus) bool { return h.State == HostDown })
	assert.ErrorIs(t, h.LastCheckErr, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, h.LastCheckLatency, timeout)
}

// Checks do not wait for the session's worker pool: with its only worker
// busy and no room in the queue, the host is still checked, and up.
func TestHealthCheckIsNotStarvedByAFullPool(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	srv.SetRows(slowQuery, cqltest.Cols("id", cqltest.Int), [][]any{{1}})
	hold := make(chan struct{})
	srv.DelayPage(slowQuery, 1, hold)
	s, closeAll := connectTo(t, srv, []*cqltest.Server{srv}, nil,
		WithWorkers(1), WithQueue(0), WithQueueFullPolicy(QueueFailFast), WithHealthCheck(5*time.Millisecond, 5*time.Second))
	defer closeAll()
	defer close(hold)

	fut := s.Execute(context.Background(), slowQuery)
	running(t, srv, slowQuery, 1)
	_, err := s.Execute(context.Background(), fastQuery).Await(context.Background())
	require.ErrorIs(t, err, ErrOverloaded, "the pool is full")

	n := srv.Requests(healthCheckCQL)
	require.Eventually(t, func() bool { return srv.Requests(healthCheckCQL) >= n+2 }, 10*time.Second, time.Millisecond,
		"checks go on while the pool is full")
	h, _ := hostOf(s, srv.HostID())
	assert.Equal(t, HostUp, h.State)
	assert.NoError(t, h.LastCheckErr)
	assert.Equal(t, 1, s.Stats().BusyWorkers, "the check took no worker")
	select {
	case <-fut.Done():
		t.Fatal("the slow query ended early")
	default:
	}
}

// userHostListener stands for a host listener set on the ClusterConfig.
type userHostListener struct {
	mu     sync.Mutex
	events []string
}

func (l *userHostListener) OnHostUp(gocql.HostUpEvent) { l.add("up") }
func (l *userHostListener) OnHostDown(gocql.HostDownEvent) {
	l.add("down")
}
func (l *userHostListener) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}
func (l *userHostListener) saw(e string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.events {
		if x == e {
			return true
		}
	}
	return false
}

// The driver's own host events move a host down and up, without health
// checks; the listener already set on the ClusterConfig is still called.
func TestDriverEventsMoveHostDownAndUp(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	user := &userHostListener{}
	rec := &hostRecorder{}
	s, closeAll := connectTo(t, srv, []*cqltest.Server{srv}, func(cfg *gocql.ClusterConfig) {
		cfg.ReconnectInterval = 10 * time.Millisecond
		cfg.Metadata.HostListener.HostStateChangeListener = user
	}, WithCollector(rec))
	defer closeAll()
	id := srv.HostID()

	srv.Down()
	h := waitHost(t, s, id, "down", func(h HostStatus) bool { return h.State == HostDown })
	assert.Equal(t, reasonDown, h.Reason)
	srv.Up()
	h = waitHost(t, s, id, "up", func(h HostStatus) bool { return h.State == HostUp })
	assert.Equal(t, reasonUp, h.Reason)
	// The user's listener is called after the session's, so it may see
	// "up" just after the session does.
	assert.Eventually(t, func() bool { return user.saw("down") && user.saw("up") }, 10*time.Second, time.Millisecond,
		"the user's listener is chained")

	require.NoError(t, s.Close())
	assert.Equal(t, []HostState{HostUp, HostDown, HostUp}, rec.states(id))
}

// Topology events add and remove hosts; a check that ends after its host
// left is dropped; nothing reaches the collector after Close.
func TestTopologyEvents(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	rec := &hostRecorder{}
	s, closeAll := connectTo(t, srv, []*cqltest.Server{srv}, nil, WithCollector(rec))
	defer closeAll()

	newID := "4f1c3b1e-0000-4000-8000-000000000042"
	added, err := gocql.NewTestHostInfoFromRow(map[string]any{
		"rpc_address": net.ParseIP("10.0.0.42"), "data_center": "dc2", "rack": "r9",
		"host_id": mustUUID(t, newID), "release_version": "4.1.3", "native_port": 9042,
	})
	require.NoError(t, err)
	l := hostListener{s.hosts}

	l.OnNewHost(gocql.NewHostEvent{Host: added})
	h, ok := hostOf(s, newID)
	require.True(t, ok)
	assert.Equal(t, HostStatus{HostID: newID, Address: "10.0.0.42:9042", Datacenter: "dc2", Rack: "r9",
		Version: "4.1.3", State: HostUp, Since: h.Since, Reason: reasonAdded}, h)
	l.OnNewHost(gocql.NewHostEvent{Host: added}) // no change
	l.OnHostUp(gocql.HostUpEvent{Host: added})   // no change

	l.OnRemovedHost(gocql.RemovedHostEvent{Host: added})
	_, ok = hostOf(s, newID)
	assert.False(t, ok, "a removed host leaves the list")
	assert.Len(t, s.Hosts(), 1)
	s.hosts.change(added, HostDown, reasonCheck+"late", &checkResult{err: assert.AnError})
	_, ok = hostOf(s, newID)
	assert.False(t, ok, "a late check does not bring it back")
	l.OnRemovedHost(gocql.RemovedHostEvent{Host: added}) // no change
	assert.Equal(t, []HostState{HostUp, HostRemoved}, rec.states(newID))

	require.NoError(t, s.Close())
	n := rec.count()
	l.OnNewHost(gocql.NewHostEvent{Host: added})
	assert.Equal(t, n, rec.count(), "no call after Close")
	_, ok = hostOf(s, newID)
	assert.True(t, ok, "the state is still kept after Close")
}

// Close stops the health check at once, even with checks in flight, and
// leaves no goroutine behind (the deferred goleak check).
func TestCloseStopsHealthCheck(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	srv := cqltest.NewServer(t)
	never := make(chan struct{})
	srv.DelayPage(healthCheckCQL, 1, never)
	rec := &hostRecorder{}
	s, closeAll := connectTo(t, srv, []*cqltest.Server{srv}, nil, WithCollector(rec), WithHealthCheck(time.Millisecond, time.Hour))
	defer closeAll()

	running(t, srv, healthCheckCQL, 1)
	closed := make(chan struct{})
	go func() {
		_ = s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a check that gets no answer")
	}
	h, _ := hostOf(s, srv.HostID())
	assert.True(t, h.LastCheck.IsZero(), "a check ended by Close says nothing about the host")
	assert.Equal(t, HostUp, h.State)
	assert.Equal(t, []HostState{HostUp}, rec.states(srv.HostID()))
}
