package cassandra

import (
	"errors"
	"fmt"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/cqlstmt"
)

// ErrClosed is the cause of the error for work submitted to, or still
// pending in, a session or cluster that has been closed or shut down:
// futures that were queued when Close was called complete with it, and so
// do queries running when Close closed the driver.
var ErrClosed = errors.New("cassandra: session closed")

// ErrOverloaded is the cause of the error for a query refused because the
// session's queue was full and the session fails fast (see
// WithQueueFullPolicy) instead of waiting. Nothing was sent, so the query
// may be tried again whatever it does (see Retry). ErrRateLimited matches
// it too.
var ErrOverloaded = errors.New("cassandra: queue full")

// ErrNotFound is returned by ResultSet.One and the single-row collectors when
// a result has no rows. It matches gocql.ErrNotFound with errors.Is.
var ErrNotFound = fmt.Errorf("cassandra: %w", gocql.ErrNotFound)

// QueryError describes a statement that failed. It carries the statement
// text, never the bound values, so its Error text is safe to log: a driver
// encoding error, whose message may quote a value, is summarised instead,
// and the text of a statement that mentions PASSWORD (CREATE ROLE ...
// WITH PASSWORD = '...') is given with its literals left out. Unwrap returns the
// underlying driver or context error, so errors.As with a
// *gocql.RequestErrWriteTimeout target, or errors.Is(err,
// context.DeadlineExceeded), see through it.
type QueryError struct {
	// Statement is the CQL text as given by the caller. For a batch it is
	// "BATCH: " followed by its statements joined by "; ".
	Statement string
	// Attempts is the number of times the driver sent the request; zero when
	// the request never left the queue.
	Attempts int
	// Host is the address of the node that answered last, if any.
	Host string
	// Err is the cause.
	Err error
}

// Error reports the statement, the attempt count and the cause.
func (e *QueryError) Error() string {
	var b strings.Builder
	b.WriteString("cassandra: query ")
	b.WriteString(quoteStatement(e.Statement))
	if e.Host != "" {
		b.WriteString(" on ")
		b.WriteString(e.Host)
	}
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt", e.Attempts)
		if e.Attempts > 1 {
			b.WriteByte('s')
		}
	}
	b.WriteString(": ")
	switch {
	case e.Err == nil:
		b.WriteString("unknown error")
	case encodingError(e.Err):
		// gocql's encoding errors often quote the value that failed.
		b.WriteString(errBoundValue)
	default:
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// errBoundValue stands in Error for a driver message that may quote a
// bound value. The driver's error stays reachable through Unwrap.
const errBoundValue = "a bound value could not be encoded for its column " +
	"(the driver's message is left out because it may contain the value; " +
	"QueryError.Err holds it)"

// encodingError reports whether err is the driver's error for a bound
// value it could not encode, whose message may quote the value. Most are
// gocql.MarshalError, a few gocql.UnmarshalError (a tuple with the wrong
// number of elements); gocql returns two kinds as they come: ParseUUID's,
// for a string bound to a uuid or timeuuid column, and time.ParseDuration's,
// for a string bound to a duration column. Both quote the string. (Rows
// are decoded by Scan, whose errors are not QueryErrors, so an
// UnmarshalError in a QueryError comes from encoding.)
func encodingError(err error) bool {
	var marshal gocql.MarshalError
	var unmarshal gocql.UnmarshalError
	if errors.As(err, &marshal) || errors.As(err, &unmarshal) {
		return true
	}
	return parseError(err)
}

// parseError reports whether err, or an error it wraps, is one of the
// parsing errors gocql returns unwrapped from encoding a value.
func parseError(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Unwrap() error }:
		if parseError(e.Unwrap()) {
			return true
		}
	case interface{ Unwrap() []error }:
		for _, w := range e.Unwrap() {
			if parseError(w) {
				return true
			}
		}
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "invalid UUID ") || strings.HasPrefix(msg, "time: ")
}

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }

// maxStatementInError bounds how much of a statement an error message
// repeats; the full text stays in QueryError.Statement.
const maxStatementInError = 200

func quoteStatement(stmt string) string {
	if mayHoldPassword(stmt) {
		// CQL takes role passwords only as literals: leave every literal out.
		stmt = cqlstmt.Normalize(stmt)
	}
	stmt = strings.Join(strings.Fields(stmt), " ")
	if len(stmt) > maxStatementInError {
		stmt = stmt[:maxStatementInError] + "…"
	}
	return fmt.Sprintf("%q", stmt)
}

// mayHoldPassword reports whether stmt mentions PASSWORD in any case, as
// CREATE ROLE, ALTER ROLE, CREATE USER and ALTER USER do when they set one.
func mayHoldPassword(stmt string) bool {
	const word = "password"
	for i := 0; i+len(word) <= len(stmt); i++ {
		if strings.EqualFold(stmt[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// wrapQueryError returns nil for a nil err; otherwise a *QueryError for stmt,
// unless err already is one.
func wrapQueryError(stmt string, attempts int, host *gocql.HostInfo, err error) error {
	if err == nil {
		return nil
	}
	var qe *QueryError
	if errors.As(err, &qe) {
		return err
	}
	qe = &QueryError{Statement: stmt, Attempts: attempts, Err: err}
	if host != nil {
		qe.Host = host.ConnectAddressAndPort()
	}
	return qe
}

// errEmptyBatch is the cause when a batch with no statements is executed.
var errEmptyBatch = errors.New("cassandra: batch has no statements")

// errNilContext is returned, or is the cause of a future's error, when a
// method is given a nil context.Context. Like net/http, the library reports
// the mistake where it is made instead of panicking on the context's first
// use, possibly on another goroutine.
var errNilContext = errors.New("cassandra: nil Context")

// errConfigure reports that the i-th Configure function (counting from 1)
// is nil, or returned nil: the driver's request cannot be built without it.
func errConfigure(i int, returned bool) error {
	if returned {
		return usagef("cassandra: Configure function %d returned nil", i+1)
	}
	return usagef("cassandra: Configure function %d is nil", i+1)
}

// usageError is a mistake in calling the library, such as a negative page
// size or a nil Configure function: ErrorKind names it "client".
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
