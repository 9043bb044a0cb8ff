package cassandra

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/pool"
)

// Bits of FuzzOptions' flags.
const (
	fuzzNilClock    = 1 << iota // WithClock(nil)
	fuzzNilOption               // a nil Option among the others
	fuzzNoBatching              // WithWriteBatching(false)
	fuzzNilConfig               // NewAsyncCluster(nil, ...)
	fuzzNoHosts                 // a configuration without hosts
	fuzzNoHealth                // leave WithHealthCheck out
	fuzzStreamCheck             // also validate stream options from the same numbers
)

// FuzzOptions gives NewAsyncCluster every combination of option values:
// workers, queue, queue-full policy, page size, prefetch, health check
// interval and timeout, a nil clock, a nil option, a nil or empty
// configuration. It never panics, and returns either a cluster and no
// error or an error and no cluster, exactly when a setting is invalid (a
// page size must also fit the protocol's int32); the
// error is this package's and names the option. A cluster it accepts can
// build its sessions' pool and host monitor (Connect does no further
// checking), closes, and refuses Connect afterwards without any I/O. The
// same numbers, as stream options, are accepted or refused by the same
// rules. The corpus in testdata/fuzz/FuzzOptions is what the fuzzer kept:
//
//	go test -run '^$' -fuzz '^FuzzOptions$' -fuzztime 3m .
func FuzzOptions(f *testing.F) {
	f.Add(DefaultWorkers, DefaultQueue, 0, DefaultPageSize, DefaultPrefetch, int64(0), int64(0), uint8(0))
	f.Add(1, 0, 1, 1, 0, int64(time.Second), int64(time.Millisecond), uint8(fuzzNoBatching))
	f.Add(0, -1, 2, 0, -1, int64(-1), int64(0), uint8(0))
	f.Add(1<<62, 1<<62, -1, 1<<62, 1<<62, int64(1), int64(1), uint8(fuzzNilClock))
	f.Add(-1<<63, -1<<63, 1<<62, -1<<63, -1<<63, int64(-1<<63), int64(-1<<63), uint8(fuzzNilOption|fuzzStreamCheck))
	f.Add(4, 4, 0, 4, 4, int64(time.Second), int64(0), uint8(fuzzNoHosts))
	f.Add(4, 4, 0, 4, 4, int64(0), int64(-5), uint8(fuzzNilConfig|fuzzStreamCheck))

	f.Fuzz(func(t *testing.T, workers, queue, policy, pageSize, prefetch int, interval, timeout int64, flags uint8) {
		cfg := gocql.NewCluster("127.0.0.1")
		switch {
		case flags&fuzzNilConfig != 0:
			cfg = nil
		case flags&fuzzNoHosts != 0:
			cfg.Hosts = nil
		}
		opts := []Option{WithWorkers(workers), WithQueue(queue), WithQueueFullPolicy(QueueFullPolicy(policy)),
			WithPageSize(pageSize), WithPrefetch(prefetch), WithWriteBatching(flags&fuzzNoBatching == 0)}
		if flags&fuzzNoHealth == 0 {
			opts = append(opts, WithHealthCheck(time.Duration(interval), time.Duration(timeout)))
		}
		if flags&fuzzNilClock != 0 {
			opts = append(opts, WithClock(nil))
		}
		if flags&fuzzNilOption != 0 {
			opts = append(opts[:2:2], append([]Option{nil}, opts[2:]...)...)
		}

		// Which setting is wrong, worked out apart from validate.
		var wrong []string
		check := func(bad bool, name string) {
			if bad {
				wrong = append(wrong, name)
			}
		}
		check(cfg == nil, "nil *gocql.ClusterConfig")
		check(cfg != nil && len(cfg.Hosts) == 0, "no hosts")
		check(flags&fuzzNilOption != 0, "nil Option")
		check(workers < 1, "WithWorkers")
		check(queue < 0, "WithQueue")
		check(policy != int(QueueWait) && policy != int(QueueFailFast), "WithQueueFullPolicy")
		check(pageSize < 1 || pageSize > math.MaxInt32, "WithPageSize") // the protocol's int32
		check(prefetch < 0, "WithPrefetch")
		check(flags&fuzzNilClock != 0, "WithClock")
		health := flags&fuzzNoHealth == 0
		check(health && interval < 0, "WithHealthCheck")
		check(health && interval > 0 && timeout <= 0, "WithHealthCheck")

		c, err := NewAsyncCluster(cfg, opts...)
		if len(wrong) == 0 {
			if err != nil || c == nil {
				t.Fatalf("valid options refused: %v", err)
			}
			p, err := pool.New(c.opts.poolConfig())
			if err != nil {
				t.Fatalf("NewAsyncCluster accepted a pool configuration the pool refuses: %v", err)
			}
			st := p.Stats()
			if st.Workers != workers || st.QueueCapacity != queue {
				t.Fatalf("the pool has %d workers and a queue of %d, want %d and %d", st.Workers, st.QueueCapacity, workers, queue)
			}
			newHostMonitor(&c.opts).stop()
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := c.Connect(context.Background()); err != ErrClosed {
				t.Fatalf("Connect after Close: %v, want ErrClosed", err)
			}
		} else {
			if err == nil || c != nil {
				t.Fatalf("invalid options (%s) accepted", strings.Join(wrong, ", "))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "cassandra: ") {
				t.Fatalf("an error without the package's prefix: %v", err)
			}
			named := false
			for _, w := range wrong {
				named = named || strings.Contains(msg, w)
			}
			if !named {
				t.Fatalf("the error names none of the wrong settings (%s): %v", strings.Join(wrong, ", "), err)
			}
		}

		if flags&fuzzStreamCheck != 0 {
			sc := streamConfig{prefetch: prefetch, maxPages: workers, maxRows: queue, pageTimeout: time.Duration(interval)}
			err := sc.validate()
			bad := prefetch < 0 || workers < 0 || queue < 0 || interval < 0
			if bad != (err != nil) {
				t.Fatalf("stream options %+v: error %v", sc, err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "cassandra: ") {
				t.Fatalf("an error without the package's prefix: %v", err)
			}
		}
	})
}
