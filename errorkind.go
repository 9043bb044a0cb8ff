package cassandra

import (
	"context"
	"errors"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ErrorKind classifies err for metrics labels and logs: one of a small,
// fixed set of words, never anything taken from the error's text.
//
//	""                 err is nil
//	"canceled"         the context was cancelled, or Future.Cancel called
//	"deadline"         the context's deadline passed
//	"closed"           the session was closed (ErrClosed)
//	"overloaded"       refused unsent: the queue was full or no rate-limit token (ErrOverloaded, ErrRateLimited)
//	"read_timeout", "write_timeout", "unavailable", "read_failure",
//	"write_failure", "cas_unknown", "server_overloaded", "bootstrapping",
//	"truncate", "function_failure", "syntax", "invalid", "unauthorized",
//	"config", "already_exists", "unprepared", "credentials", "protocol",
//	"server"           the node answered with that error
//	"no_connections"   the driver had no connection to any host
//	"timeout"          the driver's own timeout (gocql's ClusterConfig.Timeout)
//	"connection"       a connection broke while the request was in flight
//	"not_found"        no row where one was required (ErrNotFound)
//	"panic"            a panic was recovered (PanicError)
//	"client"           a mistake in calling the library (a nil context, a bad option)
//	"other"            anything else
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	var pe *PanicError
	var re gocql.RequestError
	switch {
	case errors.As(err, &pe):
		return "panic"
	case errors.Is(err, ErrClosed), errors.Is(err, gocql.ErrSessionClosed):
		// Before the context's errors: a request that Close ended may
		// carry the driver's cancellation too.
		return "closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, ErrOverloaded):
		return "overloaded"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.As(err, &re):
		return serverErrorKind(err, re.Code())
	case errors.Is(err, gocql.ErrNoConnections), errors.Is(err, gocql.ErrNoHosts):
		return "no_connections"
	case errors.Is(err, gocql.ErrTimeoutNoResponse):
		return "timeout"
	case isConnectionError(err):
		// The connection broke under the request (closed, reset, EOF, a
		// failed heartbeat): it may have been applied.
		return "connection"
	case isClientError(err):
		return "client"
	}
	return "other"
}

// serverErrorKind names an error the node sent, by its type (which gocql
// gives every error code it knows) or else by its code.
func serverErrorKind(err error, code int) string {
	var (
		readTimeout  *gocql.RequestErrReadTimeout
		writeTimeout *gocql.RequestErrWriteTimeout
		unavailable  *gocql.RequestErrUnavailable
		readFailure  *gocql.RequestErrReadFailure
		writeFailure *gocql.RequestErrWriteFailure
		casUnknown   *gocql.RequestErrCASWriteUnknown
		overloaded   *gocql.RequestErrOverloaded
		bootstrap    *gocql.RequestErrBootstrapping
		truncate     *gocql.RequestErrTruncate
		function     *gocql.RequestErrFunctionFailure
		syntax       *gocql.RequestErrSyntax
		invalid      *gocql.RequestErrInvalid
		unauthorized *gocql.RequestErrUnauthorized
		config       *gocql.RequestErrConfig
		exists       *gocql.RequestErrAlreadyExists
		unprepared   *gocql.RequestErrUnprepared
		credentials  *gocql.RequestErrCredentials
	)
	switch {
	case errors.As(err, &readTimeout):
		return "read_timeout"
	case errors.As(err, &writeTimeout):
		return "write_timeout"
	case errors.As(err, &unavailable):
		return "unavailable"
	case errors.As(err, &readFailure):
		return "read_failure"
	case errors.As(err, &writeFailure):
		return "write_failure"
	case errors.As(err, &casUnknown):
		return "cas_unknown"
	case errors.As(err, &overloaded):
		return "server_overloaded"
	case errors.As(err, &bootstrap):
		return "bootstrapping"
	case errors.As(err, &truncate):
		return "truncate"
	case errors.As(err, &function):
		return "function_failure"
	case errors.As(err, &syntax):
		return "syntax"
	case errors.As(err, &invalid):
		return "invalid"
	case errors.As(err, &unauthorized):
		return "unauthorized"
	case errors.As(err, &config):
		return "config"
	case errors.As(err, &exists):
		return "already_exists"
	case errors.As(err, &unprepared):
		return "unprepared"
	case errors.As(err, &credentials):
		return "credentials"
	case code == gocql.ErrCodeProtocol:
		return "protocol"
	}
	return "server"
}

// isClientError reports whether err is a mistake in calling the library.
func isClientError(err error) bool {
	var ue *usageError
	return errors.Is(err, errNilContext) || errors.Is(err, errEmptyBatch) || encodingError(err) || errors.As(err, &ue)
}
