package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/async-cassandra/cassandra"
)

// variant is one side of the comparison.
type variant struct {
	name string
	op   func(i int) error
}

// chooseVariants returns the baseline (-a) and what it is compared with
// (-b), and a function that closes the session a collector variant opened.
func chooseVariants(ctx context.Context, cfg config, ops operations, wrapped *cassandra.AsyncSession) ([2]variant, func(), error) {
	asyncOp := ops.asyncOf(wrapped)
	rawOp := ops.raw
	closeExtra := func() {}
	variants := [2]variant{{"raw", rawOp}, {cfg.against, nil}}
	switch cfg.baseline {
	case "raw":
	case "async":
		variants[0] = variant{"async", asyncOp}
	default:
		return variants, closeExtra, fmt.Errorf("-a must be raw or async, not %q", cfg.baseline)
	}
	switch cfg.against {
	case "async":
		variants[1].op = asyncOp
	case "async+memory", "async+prom", "async+otel", "async+otel1pct", "async+all":
		// The same requests through a session that reports to collectors.
		col, err := newCollector(strings.TrimPrefix(cfg.against, "async+"))
		if err != nil {
			return variants, closeExtra, err
		}
		s, err := connectWith(ctx, cfg.workers, cfg.batching, cassandra.WithCollector(col))
		if err != nil {
			return variants, closeExtra, err
		}
		closeExtra = func() { s.Close() }
		variants[1].op = ops.asyncOf(s)
	case "raw":
		// Raw against itself: the spread of the ratio is the method's own.
		variants[1].op = rawOp
	case "raw+garbage":
		variants[1].op = func(i int) error {
			garbage.obj, garbage.ch = new([64]*int), make(chan struct{})
			return rawOp(i)
		}
	case "raw+future":
		// The least that any wrapper returning a Future pays on top of the
		// driver: the future and its result, allocated per request and
		// alive until the request ends, and the frames of awaiting it
		// above the driver's, which every collection walks while the
		// request waits for the server.
		words, d := max(cfg.keep, 0)/8, max(cfg.depth, 1)
		variants[1].op = func(i int) error {
			f := make([]*int, words)
			var err error
			if d == 1 {
				err = rawOp(i) // this function is the one frame
			} else {
				err = deeper(d-2, rawOp, i) // this one, then deeper(d-2) ... deeper(0)
			}
			garbage.future = f
			return err
		}
	case "raw+handoff":
		// Raw gocql run on a goroutine of its own and awaited on a
		// channel: the least that any wrapper running requests on other
		// goroutines pays, with none of this library's code (no pool, no
		// context, no future, no result).
		variants[1].op = func(i int) error {
			done := make(chan error, 1)
			go func() { done <- rawOp(i) }()
			return <-done
		}
	case "raw+frames":
		variants[1].op = func(i int) error { return deeper(5, rawOp, i) }
	case "raw+cpu":
		n := spinsFor(cfg.burn)
		variants[1].op = func(i int) error {
			spin(n)
			return rawOp(i)
		}
	default:
		return variants, closeExtra, fmt.Errorf("-b must be async, async+memory, async+prom, async+otel, async+otel1pct, async+all, raw, raw+garbage, raw+future, raw+handoff, raw+frames or raw+cpu, not %q", cfg.against)
	}
	return variants, closeExtra, nil
}

// garbage keeps the controls' allocations on the heap: raw+garbage's
// object of 512 bytes and channel, what the wrapper allocated beyond raw
// gocql before its Done channels were reused, and raw+future's future.
var garbage struct {
	obj    *[64]*int
	ch     chan struct{}
	future []*int
}

// deeper calls op(i) n frames further down the stack. A goroutine waiting
// for the server has its whole stack walked by every garbage collection.
//
//go:noinline
func deeper(n int, op func(int) error, i int) error {
	if n == 0 {
		return op(i)
	}
	return deeper(n-1, op, i)
}

// spinSink keeps spin's work from being optimised away.
var spinSink atomic.Uint64

// spin burns CPU for n rounds of a small computation, touching no memory.
//
//go:noinline
func spin(n int) {
	x := uint64(n)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink.Store(x)
}

// spinsFor calibrates spin, before any load, to the rounds that take d of
// CPU: a fixed count burns the same CPU whether or not the goroutine is
// descheduled halfway, which a loop watching the clock would not.
func spinsFor(d time.Duration) int {
	const rounds = 1 << 24
	best := time.Duration(math.MaxInt64)
	for range 5 {
		start := time.Now()
		spin(rounds)
		best = min(best, time.Since(start))
	}
	return int(float64(rounds) * float64(d) / float64(best))
}
