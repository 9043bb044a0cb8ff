package cassandra

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// overloadedFuture is what a session returns for a request refused by a
// full queue.
func overloadedFuture() *Future[int] {
	return completedFuture(0, wrapQueryError("SELECT 1", 0, nil, ErrOverloaded))
}

// tries returns an fn for Retry whose first len(errs) calls fail with
// errs, in order, and whose later calls succeed with their number; and
// the count of calls.
func tries(errs ...error) (func(context.Context) *Future[int], func() int) {
	var mu sync.Mutex
	n := 0
	fn := func(context.Context) *Future[int] {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= len(errs) {
			if errors.Is(errs[n-1], ErrOverloaded) {
				return overloadedFuture()
			}
			return completedFuture(0, errs[n-1])
		}
		return completedFuture(n, nil)
	}
	return fn, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestRetryOverloadedUntilAccepted(t *testing.T) {
	rec := &sleepRecorder{}
	fn, calls := tries(ErrOverloaded, ErrOverloaded, ErrOverloaded)
	v, err := Retry(context.Background(), Backoff{Min: 10 * time.Millisecond, Max: 25 * time.Millisecond, sleep: rec.sleep}, fn)
	require.NoError(t, err)
	assert.Equal(t, 4, v)
	assert.Equal(t, 4, calls())
	waits := rec.get()
	require.Len(t, waits, 3)
	for i, nominal := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond} {
		assert.GreaterOrEqual(t, waits[i], nominal/2, "wait %d", i+1)
		assert.LessOrEqual(t, waits[i], nominal, "wait %d", i+1)
	}
}

func TestRetryZeroBackoffUsesDefaults(t *testing.T) {
	rec := &sleepRecorder{}
	fn, _ := tries(ErrOverloaded)
	_, err := Retry(context.Background(), Backoff{sleep: rec.sleep}, fn)
	require.NoError(t, err)
	waits := rec.get()
	require.Len(t, waits, 1)
	assert.GreaterOrEqual(t, waits[0], DefaultOverloadMinBackoff/2)
	assert.LessOrEqual(t, waits[0], DefaultOverloadMinBackoff)
}

// Only ErrOverloaded is retried unless Retryable says otherwise: any other
// error may come from a statement that reached a node.
func TestRetryLeavesOtherErrorsAlone(t *testing.T) {
	other := errors.New("write timeout")
	rec := &sleepRecorder{}
	fn, calls := tries(other)
	_, err := Retry(context.Background(), Backoff{sleep: rec.sleep}, fn)
	assert.Same(t, other, err)
	assert.Equal(t, 1, calls())
	assert.Empty(t, rec.get())

	fn, calls = tries(other, ErrOverloaded, other)
	v, err := Retry(context.Background(), Backoff{sleep: rec.sleep, Retryable: func(err error) bool {
		return errors.Is(err, other) || errors.Is(err, ErrOverloaded)
	}}, fn)
	require.NoError(t, err)
	assert.Equal(t, 4, v)
	assert.Equal(t, 4, calls())
}

func TestRetryTries(t *testing.T) {
	rec := &sleepRecorder{}
	fn, calls := tries(ErrOverloaded, ErrOverloaded, ErrOverloaded)
	_, err := Retry(context.Background(), Backoff{Tries: 2, sleep: rec.sleep}, fn)
	assert.ErrorIs(t, err, ErrOverloaded)
	var qe *QueryError
	assert.ErrorAs(t, err, &qe, "the last try's error, as the session gave it")
	assert.Equal(t, 2, calls())
	assert.Len(t, rec.get(), 1, "no wait after the last try")
}

// A wait ends as soon as the context ends; the error says both why Retry
// stopped and what the last try got.
func TestRetryWaitEndsWithContext(t *testing.T) {
	waiting := make(chan struct{})
	b := Backoff{Min: time.Hour, Max: time.Hour, sleep: func(ctx context.Context, d time.Duration) error {
		close(waiting)
		return sleepContext(ctx, d)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	fn, calls := tries(ErrOverloaded, ErrOverloaded)
	done := make(chan error, 1)
	go func() {
		_, err := Retry(ctx, b, fn)
		done <- err
	}()
	<-waiting
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, ErrOverloaded)
	case <-time.After(10 * time.Second):
		t.Fatal("Retry did not return when its context ended")
	}
	assert.Equal(t, 1, calls())
}

func TestRetryContextEndedBeforeTheWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	fn := func(context.Context) *Future[int] {
		calls++
		cancel() // the context ends while the try fails
		return overloadedFuture()
	}
	_, err := Retry(ctx, Backoff{}, fn)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrOverloaded)
	assert.Equal(t, 1, calls)
}

func TestRetryBadInput(t *testing.T) {
	fn, calls := tries()
	//lint:ignore SA1012 a nil context on purpose: it is reported
	_, err := Retry(nil, Backoff{}, fn)
	assert.ErrorIs(t, err, errNilContext)
	bg := context.Background()
	_, err = Retry[int](bg, Backoff{}, nil)
	assert.Error(t, err)
	for name, b := range map[string]Backoff{
		"negative min":   {Min: -1},
		"negative max":   {Max: -1},
		"min above max":  {Min: time.Second, Max: time.Millisecond},
		"negative tries": {Tries: -1},
	} {
		_, err := Retry(bg, b, fn)
		assert.Error(t, err, name)
	}
	assert.Zero(t, calls(), "nothing was tried")
	_, err = Retry(bg, Backoff{}, func(context.Context) *Future[int] { return nil })
	assert.ErrorContains(t, err, "nil *Future")
}

// End to end: a session that fails fast, a caller that backs off until
// the session has room.
func TestRetryWithFailFastSession(t *testing.T) {
	s, srv, release := sessionServer(t, WithWorkers(1), WithQueue(0), WithQueueFullPolicy(QueueFailFast))
	bg := context.Background()
	slow := s.Execute(bg, slowQuery) // takes the only worker
	running(t, srv, slowQuery, 1)

	var once sync.Once
	b := Backoff{sleep: func(ctx context.Context, d time.Duration) error {
		once.Do(release) // the slow query ends while the caller backs off
		return sleepContext(ctx, d)
	}}
	rs, err := Retry(bg, b, func(ctx context.Context) *Future[*ResultSet] { return s.Execute(ctx, fastQuery) })
	require.NoError(t, err)
	var id int
	require.NoError(t, rs.One(&id))
	assert.Equal(t, 2, id)
	assert.GreaterOrEqual(t, s.Stats().RejectedCount, uint64(1), "refused at least once")
	_, err = slow.Await(bg)
	require.NoError(t, err)
}
