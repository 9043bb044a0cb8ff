package pool

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetLimitClamps(t *testing.T) {
	p := newPool(t, Config{Workers: 4, Queue: 8})
	assert.Equal(t, 4, p.Stats().Limit, "the limit starts at Workers")
	assert.Equal(t, 1, p.SetLimit(0))
	assert.Equal(t, 1, p.SetLimit(-5))
	assert.Equal(t, 4, p.SetLimit(100))
	assert.Equal(t, 3, p.SetLimit(3))
	assert.Equal(t, 3, p.Stats().Limit)
}

// A lower limit queues what Workers alone would have started, and raising
// it again starts the queued tasks at once, oldest first.
func TestSetLimitLowerThenRaise(t *testing.T) {
	p := newPool(t, Config{Workers: 4, Queue: 8})
	p.SetLimit(2)
	a, b := occupy(t, p), occupy(t, p)
	c, d := newProbe(p, true), newProbe(p, true)
	require.NoError(t, c.submit(context.Background()))
	require.NoError(t, d.submit(context.Background()))
	s := p.Stats()
	assert.Equal(t, 2, s.Running)
	assert.Equal(t, 2, s.Queued, "two idle worker places are held back by the limit")

	p.SetLimit(3)
	<-c.started
	s = p.Stats()
	assert.Equal(t, 3, s.Running)
	assert.Equal(t, 1, s.Queued)
	select {
	case <-d.started:
		t.Fatal("d started beyond the limit")
	default:
	}

	p.SetLimit(4)
	<-d.started
	for _, pr := range []*probe{a, b, c, d} {
		close(pr.release)
		<-pr.finished
	}
}

// Lowering the limit below what runs stops nothing; a queued task starts
// only once fewer than the new limit run.
func TestSetLimitBelowRunning(t *testing.T) {
	p := newPool(t, Config{Workers: 3, Queue: 4})
	running := []*probe{occupy(t, p), occupy(t, p), occupy(t, p)}
	p.SetLimit(1)
	q := newProbe(p, true)
	require.NoError(t, q.submit(context.Background()))

	close(running[0].release)
	st := <-running[0].finished
	assert.Equal(t, 2, st.Running, "the finished task's worker did not take the queued one")
	assert.Equal(t, 1, st.Queued)
	close(running[1].release)
	st = <-running[1].finished
	assert.Equal(t, 1, st.Running)
	assert.Equal(t, 1, st.Queued)

	close(running[2].release) // now none runs: the queued task may start
	<-running[2].finished
	<-q.started
	assert.Equal(t, 1, p.Stats().Running)
	close(q.release)
	<-q.finished
}

// With no queue, a submitter waiting for room under a lowered limit is
// answered when the limit rises.
func TestSetLimitWakesWaiters(t *testing.T) {
	p := newPool(t, Config{Workers: 2, Queue: 0})
	p.SetLimit(1)
	a := occupy(t, p)
	w := newProbe(p, true)
	errc := make(chan error, 1)
	go func() { errc <- w.submit(context.Background()) }()
	waitFor(t, p, func(s Stats) bool { return s.Waiting == 1 })
	p.SetLimit(2)
	require.NoError(t, <-errc)
	<-w.started
	close(a.release)
	close(w.release)
	<-a.finished
	<-w.finished
}
