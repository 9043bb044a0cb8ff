package integration

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
)

// stormFate is how one future of the cancellation storm ends.
type stormFate int

const (
	fateBefore       stormFate = iota // the context has ended before Execute
	fateCancelAtOnce                  // Future.Cancel right after Execute
	fateCancelLater                   // Future.Cancel after a random delay
	fateContextLater                  // the context's cancel after a random delay
	fateDeadline                      // the context's deadline, a random delay away
	fateAwaitTimeout                  // Await gives up after a random delay, then Cancel
	fateAfterDone                     // Cancel after the future completed: no effect
	numFates
)

var fateNames = [numFates]string{"before submit", "Cancel at once", "Cancel later",
	"context cancel later", "deadline", "Await timeout then Cancel", "Cancel after completion"}

// stormDelay is a random delay of up to 4 ms, about the time a request
// spends queued and in flight here, so that a cancellation lands before
// the request is sent as often as while it runs or after it is answered.
func stormDelay(r *rand.Rand) time.Duration {
	return time.Duration(r.Int64N(int64(4 * time.Millisecond)))
}

// The cancellation storm: 100,000 futures (10,000 with -short) of reads and
// writes, each cancelled or timed out at a random point, with Future.Cancel
// or its context: before it is submitted, while the caller waits for room
// in the queue, while it is queued, while it runs, or after it completed.
// Every future completes within a bound, with its result or with an error
// that matches the context's and names its statement. Afterwards nothing is
// running or queued, every request is accounted for, the goroutines are
// back to what they were (the pool's workers aside), and the session
// still serves.
func TestCancellationStorm(t *testing.T) {
	total := 100_000
	if testing.Short() {
		total = 10_000
	}
	const (
		submitters = 16
		window     = 64 // futures a submitter has in flight
		read       = `SELECT v FROM storm_kv WHERE id = ?`
		write      = `INSERT INTO storm_kv (id, v) VALUES (?, ?)`
	)
	// Fewer workers and a short queue than the defaults, so that requests
	// queue and callers wait for room.
	s := connect(t, cassandra.WithWorkers(32), cassandra.WithQueue(256))
	exec(t, s, `CREATE TABLE IF NOT EXISTS storm_kv (id int PRIMARY KEY, v text)`)
	// Warm up first, so that the baseline has every connection the
	// driver opens and the worker goroutines are discounted.
	warm := make([]*cassandra.Future[*cassandra.ResultSet], 1000)
	wctx, wcancel := context.WithTimeout(context.Background(), awaitBound)
	for i := range warm {
		warm[i] = s.Execute(wctx, write, i%1000, "warm")
	}
	_, err := cassandra.AwaitAll(wctx, warm...)
	wcancel()
	require.NoError(t, err)
	baseline := runtime.NumGoroutine() - s.Stats().LiveWorkers

	var (
		outcomes  [numFates][3]atomic.Int64 // per fate: succeeded, ended by its context, sent then ended
		next      atomic.Int64
		mu        sync.Mutex
		unexpects []error
	)
	unexpected := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(unexpects) < 10 {
			unexpects = append(unexpects, err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			type pending struct {
				f      *cassandra.Future[*cassandra.ResultSet]
				stmt   string
				fate   stormFate
				cancel context.CancelFunc
				timer  *time.Timer
			}
			batch := make([]pending, 0, window)
			for {
				batch = batch[:0]
				for range window {
					if next.Add(1) > int64(total) {
						break
					}
					p := pending{fate: stormFate(r.IntN(int(numFates))), stmt: read}
					id := r.IntN(1000)
					values := []any{id}
					if r.IntN(2) == 0 {
						p.stmt, values = write, []any{id, "storm"}
					}
					ctx := context.Background()
					switch p.fate {
					case fateBefore:
						ctx, p.cancel = context.WithCancel(ctx)
						p.cancel()
					case fateContextLater:
						ctx, p.cancel = context.WithCancel(ctx)
						p.timer = time.AfterFunc(stormDelay(r), p.cancel)
					case fateDeadline:
						ctx, p.cancel = context.WithTimeout(ctx, stormDelay(r))
					}
					p.f = s.Execute(ctx, p.stmt, values...)
					switch p.fate {
					case fateCancelAtOnce:
						p.f.Cancel()
					case fateCancelLater:
						p.timer = time.AfterFunc(stormDelay(r), p.f.Cancel)
					case fateAwaitTimeout:
						actx, cancel := context.WithTimeout(context.Background(), stormDelay(r))
						if _, err := p.f.Await(actx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
							unexpected(err)
						}
						cancel()
						p.f.Cancel()
					}
					batch = append(batch, p)
				}
				if len(batch) == 0 {
					return
				}
				for _, p := range batch {
					guard, cancel := context.WithTimeout(context.Background(), awaitBound)
					_, err := p.f.Await(guard)
					hung := guard.Err() != nil
					cancel()
					if hung {
						unexpected(errors.New("a future was still pending after " + awaitBound.String()))
						continue
					}
					if p.timer != nil {
						p.timer.Stop()
					}
					if p.cancel != nil {
						p.cancel()
					}
					if p.fate == fateAfterDone {
						p.f.Cancel()
						_, again := p.f.Await(context.Background())
						if again != err {
							unexpected(errors.New("Cancel after completion changed the result"))
						}
					}
					if err == nil {
						outcomes[p.fate][0].Add(1)
						continue
					}
					var qe *cassandra.QueryError
					if !errors.As(err, &qe) || qe.Statement != p.stmt ||
						!(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
						unexpected(err)
						continue
					}
					if qe.Attempts > 0 {
						outcomes[p.fate][2].Add(1)
					} else {
						outcomes[p.fate][1].Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.Empty(t, unexpects, "every future completes, with its result or its context's error naming its statement")

	var sum int64
	for f := range numFates {
		o := &outcomes[f]
		sum += o[0].Load() + o[1].Load() + o[2].Load()
		t.Logf("%-26s succeeded %6d, ended unsent %6d, ended after sending %5d", fateNames[f], o[0].Load(), o[1].Load(), o[2].Load())
	}
	assert.Equal(t, int64(total), sum, "every future was counted once")
	assert.Zero(t, outcomes[fateBefore][0].Load()+outcomes[fateBefore][2].Load(), "a context ended before Execute sends nothing")
	assert.Zero(t, outcomes[fateAfterDone][1].Load()+outcomes[fateAfterDone][2].Load(), "Cancel after completion changes nothing")

	// The requests still running when their futures were cancelled return
	// once the driver sees their contexts end.
	require.Eventually(t, func() bool {
		st := s.Stats()
		return st.BusyWorkers == 0 && st.QueueDepth == 0 && st.WaitingSubmitters == 0
	}, 30*time.Second, 10*time.Millisecond, "nothing busy, queued or waiting after the storm")
	st := s.Stats()
	t.Logf("%d futures in %v; pool: %+v", total, elapsed.Round(time.Millisecond), st)
	assert.Equal(t, st.SubmitCount, st.CompletedCount+st.ExpiredCount+st.DroppedCount, "every accepted request ran or left the queue")
	assert.NotZero(t, st.ExpiredCount, "some requests were cancelled while queued")
	assert.NotZero(t, st.CanceledSubmitCount, "some calls were cancelled before they were submitted")
	var sent int64
	for f := range numFates {
		sent += outcomes[f][2].Load()
	}
	assert.NotZero(t, sent, "some requests were cancelled after they were sent")

	// Goroutines started for the storm (timers, the driver's per-request
	// ones) have ended; the pool keeps its workers until Close. Nothing
	// signals a goroutine's end, so this polls, from this goroutine so as
	// not to count a poller of its own.
	for deadline := time.Now().Add(30 * time.Second); runtime.NumGoroutine()-s.Stats().LiveWorkers > baseline; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines besides the %d workers, %d before the storm:\n%s",
				runtime.NumGoroutine()-s.Stats().LiveWorkers, s.Stats().LiveWorkers, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}

	var v string
	require.NoError(t, exec(t, s, read, 1).One(&v), "the session still serves")
	assert.NotEmpty(t, v)
}
