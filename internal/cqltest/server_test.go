package cqltest_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/internal/cqltest"
)

const usersQuery = "SELECT id, name, score, data, active, uid FROM ks.users"

// setup starts a server with a 10-row users table and connects a session.
// The returned finish closes the session and server and checks for leaks.
func setup(t *testing.T) (*cqltest.Server, *gocql.Session, func()) {
	t.Helper()
	srv := cqltest.NewServer(t)
	rows := make([][]any, 10)
	for i := range rows {
		uid := gocql.UUID{byte(i)}
		rows[i] = []any{i, fmt.Sprintf("user%d", i), int64(i) * 100, []byte{byte(i)}, i%2 == 0, uid}
	}
	srv.SetRows(usersQuery, cqltest.Cols(
		"id", cqltest.Int, "name", cqltest.Text, "score", cqltest.Bigint,
		"data", cqltest.Blob, "active", cqltest.Boolean, "uid", cqltest.UUID), rows)
	session, err := srv.ClusterConfig().CreateSession()
	require.NoError(t, err)
	return srv, session, func() {
		session.Close()
		srv.Close()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	}
}

// ignoreHeartbeatRace ignores gocql v2.1.2's control-connection heartbeat
// goroutine, which leaks when Session.Close runs before that goroutine (started
// with go at the end of session setup) has switched the control connection from
// "starting" to "started": close then skips the quit signal. Seen once in
// several hundred runs on a loaded 2-CPU machine; see
// apache/cassandra-gocql-driver#1273 and scylladb/gocql#966. Any other leak,
// including an unclosed session, still fails the check.
var ignoreHeartbeatRace = goleak.IgnoreTopFunction(
	"github.com/apache/cassandra-gocql-driver/v2.(*controlConn).heartBeat")

type user struct {
	id     int
	name   string
	score  int64
	data   []byte
	active bool
	uid    gocql.UUID
}

func scanUser(iter *gocql.Iter) (user, bool) {
	var u user
	ok := iter.Scan(&u.id, &u.name, &u.score, &u.data, &u.active, &u.uid)
	return u, ok
}

func TestConnectAndSystemLocal(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()

	var version string
	require.NoError(t, session.Query("SELECT release_version FROM system.local").Scan(&version))
	assert.Equal(t, "5.0.0", version)

	var key, dc string
	require.NoError(t, session.Query("SELECT key, data_center FROM system.local WHERE key = ?", "local").Scan(&key, &dc))
	assert.Equal(t, "local", key)
	assert.Equal(t, "datacenter1", dc)
	t.Logf("statements: %q", srv.Statements())
}

func TestPagingReturnsAllRowsInOrder(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()

	iter := session.Query(usersQuery).PageSize(3).Iter()
	var got []user
	for u, ok := scanUser(iter); ok; u, ok = scanUser(iter) {
		got = append(got, u)
	}
	require.NoError(t, iter.Close())
	require.Len(t, got, 10)
	for i, u := range got {
		assert.Equal(t, user{i, fmt.Sprintf("user%d", i), int64(i) * 100, []byte{byte(i)}, i%2 == 0, gocql.UUID{byte(i)}}, u)
	}
	assert.Equal(t, 4, srv.Requests(usersQuery))
	for page := 1; page <= 4; page++ {
		assert.Equal(t, 1, srv.PageRequests(usersQuery, page), "page %d", page)
	}
	assert.Equal(t, 0, srv.PageRequests(usersQuery, 5))
}

func TestFailPageReadTimeout(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	srv.FailPage(usersQuery, 2, cqltest.ReadTimeout())

	iter := session.Query(usersQuery).PageSize(3).Iter()
	var ids []int
	for u, ok := scanUser(iter); ok; u, ok = scanUser(iter) {
		ids = append(ids, u.id)
	}
	err := iter.Close()
	assert.Equal(t, []int{0, 1, 2}, ids)
	var rt *gocql.RequestErrReadTimeout
	require.True(t, errors.As(err, &rt), "got %T: %v", err, err)
	assert.Equal(t, gocql.One, rt.Consistency)
	assert.Equal(t, 0, srv.PageRequests(usersQuery, 3))
}

func TestFailPageTimesThenSucceeds(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	srv.FailPage(usersQuery, 1, cqltest.Overloaded()).Times(1)

	var id int
	err := session.Query(usersQuery).Scan(&id, new(string), new(int64), new([]byte), new(bool), new(gocql.UUID))
	var reqErr gocql.RequestError
	require.True(t, errors.As(err, &reqErr), "got %T: %v", err, err)
	assert.Equal(t, gocql.ErrCodeOverloaded, reqErr.Code())

	require.NoError(t, session.Query(usersQuery).Scan(&id, new(string), new(int64), new([]byte), new(bool), new(gocql.UUID)))
	assert.Equal(t, 2, srv.Requests(usersQuery))
}

func TestDelayPage(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	release := make(chan struct{})
	srv.DelayPage(usersQuery, 2, release)

	rows := make(chan int)
	done := make(chan error, 1)
	go func() {
		iter := session.Query(usersQuery).PageSize(3).Iter()
		for u, ok := scanUser(iter); ok; u, ok = scanUser(iter) {
			rows <- u.id
		}
		close(rows)
		done <- iter.Close()
	}()

	for i := 0; i < 3; i++ {
		assert.Equal(t, i, <-rows)
	}
	select { // negative check: page 2 is held back
	case id := <-rows:
		t.Fatalf("got row %d before page 2 was released", id)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	var rest []int
	for id := range rows {
		rest = append(rest, id)
	}
	require.NoError(t, <-done)
	assert.Equal(t, []int{3, 4, 5, 6, 7, 8, 9}, rest)
	assert.Equal(t, 4, srv.Requests(usersQuery))
}

func TestDelayPageReleasedByClose(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	srv.DelayPage(usersQuery, 1, make(chan struct{})) // never released

	done := make(chan error, 1)
	go func() { done <- session.Query(usersQuery).Exec() }()
	// The request is counted when it arrives; wait for it without sleeping blindly.
	require.Eventually(t, func() bool { return srv.Requests(usersQuery) == 1 }, 5*time.Second, time.Millisecond)
	srv.Close() // closes connections: the client sees an error, nothing leaks
	require.Error(t, <-done)
}

func TestDropConnectionOnPage(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	srv.DropConnectionOnPage(usersQuery, 2)

	iter := session.Query(usersQuery).PageSize(3).Iter()
	n := 0
	for _, ok := scanUser(iter); ok; _, ok = scanUser(iter) {
		n++
	}
	err := iter.Close()
	require.Error(t, err)
	assert.Equal(t, 3, n)
	t.Logf("error after drop: %T %v", err, err)
}

func TestManualPaging(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()

	var state []byte
	var ids []int
	for page := 1; ; page++ {
		iter := session.Query(usersQuery).PageSize(3).PageState(state).Iter()
		for u, ok := scanUser(iter); ok; u, ok = scanUser(iter) {
			ids = append(ids, u.id)
		}
		state = iter.PageState()
		require.NoError(t, iter.Close())
		assert.Equal(t, page, srv.Requests(usersQuery), "one request per page")
		assert.Equal(t, min(3*page, 10), len(ids))
		if len(state) == 0 {
			require.Equal(t, 4, page)
			break
		}
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ids)
}

func TestBindTypesAndWrites(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	const byID = "SELECT name FROM ks.users WHERE id = ?"
	srv.SetRows(byID, cqltest.Cols("name", cqltest.Text), [][]any{{"user7"}})
	srv.SetBindTypes(byID, cqltest.Int)

	var name string
	require.NoError(t, session.Query(byID, 7).Scan(&name))
	assert.Equal(t, "user7", name)

	require.NoError(t, session.Query("INSERT INTO ks.users (id, name) VALUES (?, ?)", "a", "b").Exec())
	srv.FailPage("INSERT INTO ks.users", 1, cqltest.WriteTimeout())
	err := session.Query("INSERT INTO ks.users (id, name) VALUES (?, ?)", "a", "b").Exec()
	var wt *gocql.RequestErrWriteTimeout
	require.True(t, errors.As(err, &wt), "got %T: %v", err, err)
	assert.Equal(t, 2, srv.Requests("INSERT INTO ks.users"))

	err = session.Query("SELECT * FROM ks.unknown").Exec()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no rows registered")
}

func TestProtocolNegotiation(t *testing.T) {
	for _, v := range []int{0, 3, 4} { // 0: gocql tries v5, gets a protocol error, falls back to v4
		srv := cqltest.NewServer(t)
		cfg := srv.ClusterConfig()
		cfg.ProtoVersion = v
		session, err := cfg.CreateSession()
		require.NoError(t, err, "proto %d", v)
		var version string
		require.NoError(t, session.Query("SELECT release_version FROM system.local").Scan(&version))
		assert.Equal(t, "5.0.0", version)
		session.Close()
		srv.Close()
	}
	goleak.VerifyNone(t, ignoreHeartbeatRace)
}

func TestEchoValues(t *testing.T) {
	srv, session, finish := setup(t)
	defer finish()
	const echo = "SELECT arg0, arg1 FROM ks.echo WHERE k = ? AND name = ?"
	srv.EchoValues("SELECT arg0, arg1 FROM ks.echo", cqltest.Int, cqltest.Text)

	for i := range 3 {
		var n int
		var name string
		require.NoError(t, session.Query(echo, i, fmt.Sprintf("n%d", i)).Scan(&n, &name))
		assert.Equal(t, i, n)
		assert.Equal(t, fmt.Sprintf("n%d", i), name)
	}
	err := session.Query("SELECT arg0, arg1 FROM ks.echo WHERE k = ?", 1).Exec()
	var reqErr gocql.RequestError
	require.True(t, errors.As(err, &reqErr), "a statement with one value fewer: got %T: %v", err, err)
	assert.Equal(t, gocql.ErrCodeInvalid, reqErr.Code())
	assert.Equal(t, 4, srv.Requests("SELECT arg0, arg1 FROM ks.echo"))
}

// A NewCluster looks like one cluster of three nodes to gocql, and a query
// pinned to a node with SetHostID is answered by that node.
func TestClusterRoutesByHostID(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreHeartbeatRace)
	servers := cqltest.NewCluster(t, 3)
	session, err := servers[0].ClusterConfig().CreateSession()
	require.NoError(t, err)
	defer func() {
		session.Close()
		for _, s := range servers {
			s.Close()
		}
	}()

	want := map[string]bool{}
	for _, s := range servers {
		want[s.HostID()] = true
	}
	require.Len(t, want, 3, "host IDs are distinct")
	require.Eventually(t, func() bool {
		up := 0
		for _, h := range session.GetHosts() {
			if want[h.HostID()] && h.IsUp() {
				up++
			}
		}
		return up == 3
	}, 10*time.Second, 5*time.Millisecond, "gocql sees the three nodes up")

	const stmt = "SELECT host_id FROM system.local"
	for i, s := range servers {
		var id gocql.UUID
		require.NoError(t, session.Query(stmt).SetHostID(s.HostID()).Scan(&id))
		assert.Equal(t, s.HostID(), id.String(), "node %d answers for itself", i+1)
		assert.Equal(t, 1, s.Requests(stmt), "node %d got its query and only that", i+1)
	}
}

// Down makes the server look like a stopped node and Up like a restarted
// one: gocql's queries fail, then work again once it has reconnected.
func TestDownAndUp(t *testing.T) {
	srv := cqltest.NewServer(t)
	cfg := srv.ClusterConfig()
	cfg.ReconnectInterval = 10 * time.Millisecond
	session, err := cfg.CreateSession()
	require.NoError(t, err)
	defer func() {
		session.Close()
		srv.Close()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	}()
	const stmt = "SELECT release_version FROM system.local"
	require.NoError(t, session.Query(stmt).Exec())

	srv.Down()
	require.Eventually(t, func() bool { return session.Query(stmt).Exec() != nil },
		10*time.Second, 5*time.Millisecond, "queries fail while the server is down")
	srv.Up()
	require.Eventually(t, func() bool { return session.Query(stmt).Exec() == nil },
		10*time.Second, 5*time.Millisecond, "queries work again once gocql has reconnected")
}

func TestTokenRowsAnswerEachRange(t *testing.T) {
	srv := cqltest.NewServer(t)
	const q = "SELECT id FROM ks.t WHERE token(id) > ? AND token(id) <= ?"
	tokens := []int64{50, -10, 7, 7, math.MaxInt64, math.MinInt64 + 1}
	rows := make([][]any, len(tokens))
	for i := range rows {
		rows[i] = []any{i}
	}
	srv.SetTokenRows(q, cqltest.Cols("id", cqltest.Int), rows, tokens)
	session, err := srv.ClusterConfig().CreateSession()
	require.NoError(t, err)
	defer func() {
		session.Close()
		srv.Close()
		goleak.VerifyNone(t, ignoreHeartbeatRace)
	}()
	read := func(lo, hi int64) []int {
		var got []int
		iter := session.Query(q, lo, hi).PageSize(1).Iter() // one row a page
		var id int
		for iter.Scan(&id) {
			got = append(got, id)
		}
		require.NoError(t, iter.Close())
		return got
	}
	assert.Equal(t, []int{5, 1, 2, 3, 0, 4}, read(math.MinInt64, math.MaxInt64), "the whole ring, in token order")
	assert.Equal(t, []int{2, 3}, read(-10, 7), "start excluded, end included")
	assert.Equal(t, []int{4}, read(50, math.MaxInt64))
	assert.Empty(t, read(7, 49))
	assert.Equal(t, 6+2+1+1, srv.Requests(q), "one request per row, and one for the empty range")
}
