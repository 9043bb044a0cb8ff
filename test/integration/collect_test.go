package integration

import (
	"context"
	"math/big"
	"net"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/inf.v0"

	"github.com/async-cassandra/cassandra"
)

type collectUser struct {
	Team      string
	UserID    int       // user_id
	FullName  string    // full_name
	Mail      string    `cql:"email"`
	CreatedAt time.Time // created_at
	Tags      []string
	Internal  string `cql:"-"`
}

var collectT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func collectUsers() []collectUser {
	return []collectUser{
		{Team: "core", UserID: 1, FullName: "Ada Lovelace", Mail: "ada@example.com", CreatedAt: collectT0, Tags: []string{"admin", "math"}},
		{Team: "core", UserID: 2, FullName: "Alan Turing", Mail: "alan@example.com", CreatedAt: collectT0.Add(time.Hour), Tags: nil},
		{Team: "core", UserID: 3, FullName: "Grace Hopper", Mail: "grace@example.com", CreatedAt: collectT0.Add(2 * time.Hour), Tags: []string{"navy"}},
	}
}

func collectSetup(t *testing.T) *cassandra.AsyncSession {
	t.Helper()
	s := connect(t)
	exec(t, s, `CREATE TABLE IF NOT EXISTS collect_users (team text, user_id int, full_name text, email text, created_at timestamp, tags set<text>, PRIMARY KEY (team, user_id))`)
	exec(t, s, `TRUNCATE collect_users`)
	for _, u := range collectUsers() {
		exec(t, s, `INSERT INTO collect_users (team, user_id, full_name, email, created_at, tags) VALUES (?, ?, ?, ?, ?, ?)`,
			u.Team, u.UserID, u.FullName, u.Mail, u.CreatedAt, u.Tags)
	}
	return s
}

func TestCollectStructs(t *testing.T) {
	s := collectSetup(t)
	const all = `SELECT team, user_id, full_name, email, created_at, tags FROM collect_users WHERE team = ?`

	t.Run("RowToStructByName", func(t *testing.T) {
		users, err := cassandra.CollectRows(exec(t, s, all, "core"), cassandra.RowToStructByName[collectUser])
		require.NoError(t, err)
		require.Len(t, users, 3)
		for i, want := range collectUsers() {
			assert.True(t, want.CreatedAt.Equal(users[i].CreatedAt))
			users[i].CreatedAt = want.CreatedAt
			assert.Equal(t, want, users[i])
		}
		// Column order does not matter when matching by name.
		users, err = cassandra.CollectRows(exec(t, s, `SELECT tags, email, created_at, full_name, user_id, team FROM collect_users WHERE team = ?`, "core"),
			cassandra.RowToStructByName[collectUser])
		require.NoError(t, err)
		require.Len(t, users, 3)
		assert.Equal(t, "Grace Hopper", users[2].FullName)
		assert.Equal(t, "grace@example.com", users[2].Mail)

		// A field without a column is an error in strict mode.
		_, err = cassandra.CollectRows(exec(t, s, `SELECT team, user_id, full_name FROM collect_users WHERE team = ?`, "core"),
			cassandra.RowToStructByName[collectUser])
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no column")

		// So is a column without a field.
		type partial struct{ UserID int }
		_, err = cassandra.CollectRows(exec(t, s, `SELECT user_id, full_name FROM collect_users WHERE team = ?`, "core"),
			cassandra.RowToStructByName[partial])
		require.Error(t, err)
		assert.Contains(t, err.Error(), "full_name")
	})

	t.Run("RowToAddrOfStructByName", func(t *testing.T) {
		u, err := cassandra.CollectExactlyOneRow(exec(t, s, all+` AND user_id = ?`, "core", 3), cassandra.RowToAddrOfStructByName[collectUser])
		require.NoError(t, err)
		require.NotNil(t, u)
		assert.Equal(t, "Grace Hopper", u.FullName)
		assert.Equal(t, []string{"navy"}, u.Tags)
	})

	t.Run("RowToStructByNameLax", func(t *testing.T) {
		users, err := cassandra.CollectRows(exec(t, s, `SELECT user_id, email FROM collect_users WHERE team = ?`, "core"),
			cassandra.RowToStructByNameLax[collectUser])
		require.NoError(t, err)
		require.Len(t, users, 3)
		assert.Equal(t, collectUser{UserID: 2, Mail: "alan@example.com"}, users[1])
	})

	t.Run("RowToStructByPos", func(t *testing.T) {
		type pos struct {
			A int
			B string
			//lint:ignore U1000 present to show that RowToStructByPos skips unexported fields
			skip string
			C    []string
		}
		got, err := cassandra.CollectRows(exec(t, s, `SELECT user_id, full_name, tags FROM collect_users WHERE team = ?`, "core"),
			cassandra.RowToStructByPos[pos])
		require.NoError(t, err)
		assert.Equal(t, []pos{
			{A: 1, B: "Ada Lovelace", C: []string{"admin", "math"}},
			{A: 2, B: "Alan Turing"},
			{A: 3, B: "Grace Hopper", C: []string{"navy"}},
		}, got)

		_, err = cassandra.CollectRows(exec(t, s, `SELECT user_id, full_name FROM collect_users WHERE team = ?`, "core"),
			cassandra.RowToStructByPos[pos])
		require.Error(t, err)
	})

	t.Run("RowTo", func(t *testing.T) {
		names, err := cassandra.CollectRows(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ?`, "core"), cassandra.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, []string{"Ada Lovelace", "Alan Turing", "Grace Hopper"}, names)

		ids, err := cassandra.CollectRows(exec(t, s, `SELECT user_id FROM collect_users WHERE team = ?`, "core"), cassandra.RowToAddrOf[int])
		require.NoError(t, err)
		require.Len(t, ids, 3)
		assert.Equal(t, 3, *ids[2])

		// An empty result is an empty, non-nil slice.
		names, err = cassandra.CollectRows(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ?`, "nobody"), cassandra.RowTo[string])
		require.NoError(t, err)
		assert.NotNil(t, names)
		assert.Empty(t, names)

		// More than one column is an error.
		_, err = cassandra.CollectRows(exec(t, s, `SELECT user_id, full_name FROM collect_users WHERE team = ?`, "core"), cassandra.RowTo[string])
		require.Error(t, err)
	})

	t.Run("AppendRows", func(t *testing.T) {
		out := []string{"existing"}
		out, err := cassandra.AppendRows(out, exec(t, s, `SELECT email FROM collect_users WHERE team = ?`, "core"), cassandra.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, []string{"existing", "ada@example.com", "alan@example.com", "grace@example.com"}, out)
	})
}

func TestCollectOne(t *testing.T) {
	s := collectSetup(t)

	name, err := cassandra.CollectOneRow(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ?`, "core"), cassandra.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, "Ada Lovelace", name, "the first row")

	_, err = cassandra.CollectOneRow(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ?`, "nobody"), cassandra.RowTo[string])
	assert.ErrorIs(t, err, cassandra.ErrNotFound)
	assert.ErrorIs(t, err, gocql.ErrNotFound)

	_, err = cassandra.CollectExactlyOneRow(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ?`, "nobody"), cassandra.RowTo[string])
	assert.ErrorIs(t, err, cassandra.ErrNotFound)

	name, err = cassandra.CollectExactlyOneRow(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ?`, "core"), cassandra.RowTo[string])
	assert.ErrorIs(t, err, cassandra.ErrTooManyRows)
	assert.Empty(t, name, "the zero value on error")

	name, err = cassandra.CollectExactlyOneRow(exec(t, s, `SELECT full_name FROM collect_users WHERE team = ? AND user_id = ?`, "core", 2), cassandra.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, "Alan Turing", name)

	// A conversion error comes back as the error, with the zero value.
	n, err := cassandra.CollectOneRow(exec(t, s, `SELECT created_at FROM collect_users WHERE team = ?`, "core"), cassandra.RowTo[bool])
	require.Error(t, err)
	assert.False(t, n)
}

func TestCollectForEachRowAndAll(t *testing.T) {
	s := collectSetup(t)

	var (
		id   int
		name string
		tags []string
	)
	var seen []string
	count := 0
	err := cassandra.ForEachRow(exec(t, s, `SELECT user_id, full_name, tags FROM collect_users WHERE team = ?`, "core"),
		[]any{&id, &name, &tags}, func() error {
			count++
			assert.Equal(t, count, id)
			seen = append(seen, name)
			if id == 2 {
				assert.Empty(t, tags, "a NULL set scans as empty, not as the previous row's value")
			}
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, []string{"Ada Lovelace", "Alan Turing", "Grace Hopper"}, seen)

	// fn's error stops the loop and comes back.
	stop := assert.AnError
	calls := 0
	err = cassandra.ForEachRow(exec(t, s, `SELECT user_id, full_name, tags FROM collect_users WHERE team = ?`, "core"),
		[]any{&id, &name, &tags}, func() error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	// A wrong number of destinations is an error.
	err = cassandra.ForEachRow(exec(t, s, `SELECT user_id, full_name FROM collect_users WHERE team = ?`, "core"),
		[]any{&id}, func() error { return nil })
	require.Error(t, err)

	rows, err := exec(t, s, `SELECT user_id, full_name, email, created_at, tags FROM collect_users WHERE team = ?`, "core").All()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	for i, u := range collectUsers() {
		assert.Equal(t, u.UserID, rows[i]["user_id"])
		assert.Equal(t, u.FullName, rows[i]["full_name"])
		assert.Equal(t, u.Mail, rows[i]["email"])
		assert.True(t, u.CreatedAt.Equal(rows[i]["created_at"].(time.Time)))
		if u.Tags == nil {
			assert.Equal(t, []string(nil), rows[i]["tags"])
		} else {
			assert.Equal(t, u.Tags, rows[i]["tags"])
		}
		assert.Len(t, rows[i], 5)
	}

	empty, err := exec(t, s, `SELECT user_id FROM collect_users WHERE team = ?`, "nobody").All()
	require.NoError(t, err)
	assert.Empty(t, empty)
}

// TestCollectMapScanMatchesGocql reads the same rows with our MapScan (and
// RowToMap) and with gocql's Iter.MapScan: every value must be equal.
func TestCollectMapScanMatchesGocql(t *testing.T) {
	s := connect(t)
	exec(t, s, `CREATE TYPE IF NOT EXISTS collect_point (x int, label text)`)
	exec(t, s, `CREATE TABLE IF NOT EXISTS collect_mapscan (
		id int PRIMARY KEY, a text, b bigint, c smallint, d tinyint, e varint, f decimal, g double, h float,
		i boolean, j blob, k inet, l uuid, m timeuuid, n timestamp, o date, p time, q duration,
		r list<int>, s set<text>, t map<text, int>, u tuple<int, text>, v frozen<collect_point>,
		w vector<float, 3>, x frozen<list<frozen<map<text, int>>>>, y ascii)`)
	exec(t, s, `TRUNCATE collect_mapscan`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	varint, _ := new(big.Int).SetString("98765432109876543210", 10)
	exec(t, s, `INSERT INTO collect_mapscan (id, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w, x, y)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (?, ?), ?, ?, ?, ?)`,
		1, "text", int64(-9), int16(300), int8(-100), varint, inf.NewDec(31415, 4), 1.5, float32(2.5),
		true, []byte("bytes"), net.ParseIP("::1"), gocql.MustRandomUUID(), gocql.TimeUUID(), collectT0,
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 5*time.Hour+time.Nanosecond, gocql.Duration{Months: 1, Days: 2, Nanoseconds: 3},
		[]int{1, 2}, []string{"y", "x"}, map[string]int{"k": 1}, 42, "answer",
		map[string]any{"x": 7, "label": "seven"}, []float32{1, 2, 3}, []map[string]int{{"a": 1}}, "ascii")
	// And a row that is NULL everywhere but its key.
	exec(t, s, `INSERT INTO collect_mapscan (id) VALUES (?)`, 2)

	for _, id := range []int{1, 2} {
		const q = `SELECT * FROM collect_mapscan WHERE id = ?`
		want := map[string]any{}
		iter := s.Gocql().Query(q, id).IterContext(ctx)
		require.True(t, iter.MapScan(want), "gocql MapScan, id %d", id)
		require.NoError(t, iter.Close())
		require.Len(t, want, 27, "26 columns, the tuple split in two")

		rs := exec(t, s, q, id)
		require.True(t, rs.Next())
		got := map[string]any{}
		require.NoError(t, rs.MapScan(got))
		assert.False(t, rs.Next())
		require.NoError(t, rs.Err())
		assert.Len(t, got, len(want))
		for k, v := range want {
			assert.Equal(t, v, got[k], "id %d, column %s: MapScan", id, k)
		}

		m, err := cassandra.CollectExactlyOneRow(exec(t, s, q, id), cassandra.RowToMap)
		require.NoError(t, err)
		for k, v := range want {
			assert.Equal(t, v, m[k], "id %d, column %s: RowToMap", id, k)
		}
	}
}
