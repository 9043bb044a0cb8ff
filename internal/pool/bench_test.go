package pool

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

func benchPool(b *testing.B, cfg Config) *Pool {
	b.Helper()
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	return p
}

// BenchmarkSubmitAndWait measures submit-to-completion of a no-op task
// from one goroutine: the hand-off to an idle worker and back.
func BenchmarkSubmitAndWait(b *testing.B) {
	p := benchPool(b, Config{Workers: runtime.GOMAXPROCS(0), Queue: 1024})
	done := make(chan struct{}, 1)
	run := func(context.Context) { done <- struct{}{} }
	drop := func(error) { b.Error("dropped") }
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		if err := p.Submit(ctx, run, drop); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}

// BenchmarkSubmitAndWaitParallel is BenchmarkSubmitAndWait from
// GOMAXPROCS goroutines at once.
func BenchmarkSubmitAndWaitParallel(b *testing.B) {
	p := benchPool(b, Config{Workers: runtime.GOMAXPROCS(0), Queue: 1024})
	ctx := context.Background()
	drop := func(error) { b.Error("dropped") }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan struct{}, 1)
		run := func(context.Context) { done <- struct{}{} }
		for pb.Next() {
			if err := p.Submit(ctx, run, drop); err != nil {
				b.Error(err)
				return
			}
			<-done
		}
	})
}

// BenchmarkSubmitThroughput submits without waiting for each task, so
// tasks queue up (and, with a cancellable ctx, register a context.AfterFunc).
func BenchmarkSubmitThroughput(b *testing.B) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"cancellable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := benchPool(b, Config{Workers: runtime.GOMAXPROCS(0), Queue: 1024})
			ctx, cancel := tc.ctx()
			defer cancel()
			var wg sync.WaitGroup
			run := func(context.Context) { wg.Done() }
			drop := func(error) { b.Error("dropped"); wg.Done() }
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					wg.Add(1)
					if err := p.Submit(ctx, run, drop); err != nil {
						b.Error(err)
						wg.Done()
						return
					}
				}
			})
			wg.Wait()
		})
	}
}

// BenchmarkBaselineChannel is the cheapest possible hand-off, for reference:
// GOMAXPROCS goroutines receiving funcs from one shared channel, with no
// bound on waiting senders, no cancellation and no accounting.
func BenchmarkBaselineChannel(b *testing.B) {
	tasks := make(chan func(), 1024)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range tasks {
				f()
			}
		}()
	}
	defer func() { close(tasks); wg.Wait() }()
	done := make(chan struct{}, 1)
	f := func() { done <- struct{}{} }
	b.ReportAllocs()
	for range b.N {
		tasks <- f
		<-done
	}
}

// nopHandler is a task that does nothing.
type nopHandler struct{}

func (nopHandler) Run(context.Context) {}
func (nopHandler) Finish()             {}
func (nopHandler) Drop(error)          {}

// BenchmarkHelpNopParallel is the pool's own cost on the path of a query
// awaited by the goroutine that submitted it: submit a task that does
// nothing and Help it, from many goroutines at once (8 per processor).
func BenchmarkHelpNopParallel(b *testing.B) {
	p := benchPool(b, Config{Workers: 512})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		var h nopHandler
		for pb.Next() {
			t := new(Task)
			if err := p.SubmitTask(ctx, t, h); err != nil {
				b.Error(err)
				return
			}
			p.Help(t)
		}
	})
}
