package pool

import (
	"context"
	"testing"
)

// roundTrip is a task that waits for an answer from another goroutine, as
// a query waits for the driver's connection reader.
type roundTrip struct {
	server chan<- chan struct{}
	reply  chan struct{}
}

func (r *roundTrip) Run(context.Context) { r.server <- r.reply; <-r.reply }
func (r *roundTrip) Finish()             {}
func (r *roundTrip) Drop(error)          {}

// BenchmarkHelpParallel is the path of a query awaited by the goroutine
// that submitted it: many goroutines (512 with GOMAXPROCS 2) submit a task,
// run it themselves with Help, and wait in it for another goroutine's
// answer, so that they contend for the pool as they do under load.
func BenchmarkHelpParallel(b *testing.B) {
	p := benchPool(b, Config{Workers: 512})
	server := make(chan chan struct{}, 512)
	go func() {
		for r := range server {
			r <- struct{}{}
		}
	}()
	b.Cleanup(func() { close(server) })
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(256)
	b.RunParallel(func(pb *testing.PB) {
		h := &roundTrip{server: server, reply: make(chan struct{})}
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

// nopHandler is a task that does nothing.
type nopHandler struct{}

func (nopHandler) Run(context.Context) {}
func (nopHandler) Finish()             {}
func (nopHandler) Drop(error)          {}

// BenchmarkHelpNopParallel is the pool's own cost on the path of
// BenchmarkHelpParallel: submit and Help a task that does nothing, from
// many goroutines at once (8 per processor).
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
