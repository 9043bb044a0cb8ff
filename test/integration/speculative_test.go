package integration

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// attemptCounter is a gocql observer that counts the attempts it sees.
type attemptCounter struct{ n atomic.Int64 }

func (c *attemptCounter) ObserveQuery(context.Context, gocql.ObservedQuery) { c.n.Add(1) }
func (c *attemptCounter) ObserveBatch(context.Context, gocql.ObservedBatch) { c.n.Add(1) }

// With speculative execution on and a delay far below any round trip, a
// statement that is not marked idempotent is sent exactly once: the
// driver sees one attempt per request, and the node applies each counter
// increment once. An idempotent statement in the same session does
// speculate, which shows the delay was short enough to fire.
func TestSpeculativeExecutionNeverForNonIdempotent(t *testing.T) {
	s := connect(t, cassandra.WithSpeculativeExecution(2, time.Microsecond))
	exec(t, s, `CREATE TABLE IF NOT EXISTS spec_counters (id text PRIMARY KEY, n counter)`)
	exec(t, s, `TRUNCATE spec_counters`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const increments, batches = 50, 10
	for i := range increments {
		obs := &attemptCounter{}
		rs, err := s.Query(`UPDATE spec_counters SET n = n + 1 WHERE id = ?`, "q").
			Configure(func(q *gocql.Query) *gocql.Query { return q.Observer(obs) }).
			Execute(ctx).Await(ctx)
		require.NoError(t, err, "increment %d", i)
		assert.Equal(t, 1, rs.Attempts(), "increment %d", i)
		assert.EqualValues(t, 1, obs.n.Load(), "increment %d: attempts observed", i)
	}
	for i := range batches {
		obs := &attemptCounter{}
		rs, err := s.Batch(gocql.CounterBatch).
			Query(`UPDATE spec_counters SET n = n + 1 WHERE id = ?`, "b").
			Configure(func(b *gocql.Batch) *gocql.Batch { return b.Observer(obs) }).
			Execute(ctx).Await(ctx)
		require.NoError(t, err, "batch %d", i)
		assert.Equal(t, 1, rs.Attempts(), "batch %d", i)
		assert.EqualValues(t, 1, obs.n.Load(), "batch %d: attempts observed", i)
	}
	counter := func(id string) int64 {
		var n int64
		require.NoError(t, exec(t, s, `SELECT n FROM spec_counters WHERE id = ?`, id).One(&n))
		return n
	}
	assert.EqualValues(t, increments, counter("q"), "each increment applied once")
	assert.EqualValues(t, batches, counter("b"), "each counter batch applied once")

	// The control: the same read marked idempotent speculates. On a
	// one-node cluster a speculative execution finds no other node and
	// fails the request with ErrNoConnections (docs/retries.md); on
	// several nodes the observer sees more than one attempt.
	ctrl := &attemptCounter{}
	var runs, noNode int64
	for runs = 1; runs <= 50; runs++ {
		_, err := s.Query(`SELECT n FROM spec_counters WHERE id = ?`, "q").Idempotent(true).
			Configure(func(q *gocql.Query) *gocql.Query { return q.Observer(ctrl) }).
			Execute(ctx).Await(ctx)
		if errors.Is(err, gocql.ErrNoConnections) {
			noNode++
			break
		}
		require.NoError(t, err)
		if ctrl.n.Load() > runs {
			break
		}
	}
	require.Eventually(t, func() bool { return noNode > 0 || ctrl.n.Load() > runs },
		10*time.Second, time.Millisecond, "an idempotent statement speculated")
	t.Logf("control: %d runs, %d failed with no node left, %d attempts observed", runs, noNode, ctrl.n.Load())
}
