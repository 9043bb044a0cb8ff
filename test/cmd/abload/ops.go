package main

import (
	"context"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra"
)

// operations are one request of the chosen -op: on raw gocql, and through
// a session of the library.
type operations struct {
	raw     func(i int) error
	asyncOf func(s *cassandra.AsyncSession) func(i int) error
}

// newOperations returns the reads (op "read") or writes of row i%rows.
// With timeout > 0 every request gets its own context.WithTimeout, on
// both sides, as a service's request handlers do.
func newOperations(ctx context.Context, op string, timeout time.Duration, raw *gocql.Session) operations {
	value := strings.Repeat("y", 100)
	// requestCtx is the context of one request. Each operation below calls
	// it itself rather than through a wrapper, so that a request waits
	// under as many frames as in the measurements without -timeout.
	requestCtx := func() (context.Context, context.CancelFunc) { return ctx, noCancel }
	if timeout > 0 {
		requestCtx = func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, timeout) }
	}
	if op == "read" {
		return operations{
			raw: func(i int) error {
				ctx, cancel := requestCtx()
				defer cancel()
				var v string
				return raw.Query(readStmt, i%rows).ScanContext(ctx, &v)
			},
			asyncOf: func(s *cassandra.AsyncSession) func(i int) error {
				return func(i int) error {
					ctx, cancel := requestCtx()
					defer cancel()
					rs, err := s.Execute(ctx, readStmt, i%rows).Await(ctx)
					if err != nil {
						return err
					}
					var v string
					return rs.One(&v)
				}
			},
		}
	}
	return operations{
		raw: func(i int) error {
			ctx, cancel := requestCtx()
			defer cancel()
			return raw.Query(writeStmt, i%rows, value).ExecContext(ctx)
		},
		asyncOf: func(s *cassandra.AsyncSession) func(i int) error {
			return func(i int) error {
				ctx, cancel := requestCtx()
				defer cancel()
				_, err := s.Execute(ctx, writeStmt, i%rows, value).Await(ctx)
				return err
			}
		},
	}
}

// noCancel is the cancel function of a request run with context.Background.
func noCancel() {}
