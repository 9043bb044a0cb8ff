package pool

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handler is a Handler that reports each call on a channel.
type handler struct {
	p      *Pool
	events chan string
	stats  chan Stats // what Finish saw
}

func (h *handler) Run(context.Context) { h.events <- "run" }
func (h *handler) Finish() {
	h.stats <- h.p.Stats()
	h.events <- "finish"
}
func (h *handler) Drop(err error) { h.events <- "drop: " + err.Error() }

// Finish runs after the task's place was given back, so a caller that waits
// for Finish before submitting again never finds the pool full.
func TestFinishRunsAfterThePlaceIsFree(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 0, Policy: FailFast})
	h := &handler{p: p, events: make(chan string, 2), stats: make(chan Stats, 1)}
	for i := range 100 {
		var task Task
		require.NoError(t, p.SubmitTask(context.Background(), &task, h), "submission %d", i)
		assert.Equal(t, "run", <-h.events)
		assert.Equal(t, "finish", <-h.events)
		st := <-h.stats
		assert.Equal(t, uint64(i+1), st.CompletedCount, "counted before Finish")
	}
	assert.Equal(t, uint64(0), p.Stats().RejectedCount)
}

// TrySubmitTask never waits and does not count as a rejection.
func TestTrySubmitTaskNeverWaits(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Queue: 1, Policy: Wait})
	busy := occupy(t, p)
	queued := newProbe(false)
	require.NoError(t, queued.submit(p, context.Background()))

	h := &handler{p: p, events: make(chan string, 2), stats: make(chan Stats, 1)}
	var task Task
	assert.ErrorIs(t, p.TrySubmitTask(context.Background(), &task, h), ErrOverloaded)
	assert.Equal(t, uint64(0), p.Stats().RejectedCount)

	close(busy.release)
	<-queued.ran
	waitFor(t, p, func(s Stats) bool { return s.BusyWorkers == 0 })
	require.NoError(t, p.TrySubmitTask(context.Background(), &task, h))
	assert.Equal(t, "run", <-h.events)
	assert.Equal(t, "finish", <-h.events)
}

func TestSubmitTaskNeedsTaskAndHandler(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	assert.Error(t, p.SubmitTask(context.Background(), nil, &handler{}))
	assert.Error(t, p.SubmitTask(context.Background(), &Task{}, nil))
}
