//go:build !race

package inmemory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/inmemory"
)

// Once a statement and an error kind have been seen, recording allocates
// nothing, even when an interval's slot is reused. (The race detector
// allocates on its own, hence the build tag.)
func TestRecordingDoesNotAllocate(t *testing.T) {
	clk := newClock()
	c := inmemory.New(inmemory.WithClock(clk.Now))
	warm(c)
	ctx := context.Background()
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if i%100 == 0 {
			clk.Add(10 * time.Second) // a new interval: its slot is reset
		}
		c.RequestDone(ctx, benchInfo(i))
		c.AttemptDone(ctx, cassandra.AttemptInfo{Attempt: i % 2})
		c.PageDone(ctx, cassandra.PageFetchInfo{Rows: 10})
		i++
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uint64(1001+2*len(benchStatements)), c.Snapshot().RequestCount)
}
