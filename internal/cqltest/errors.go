package cqltest

import (
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

// ServerError is an ERROR response the server sends instead of a result; see
// [Server.FailPage]. Build one with [ReadTimeout], [ReadTimeoutOf],
// [WriteTimeout], [WriteTimeoutOf], [Unavailable], [Overloaded], [Invalid],
// [SyntaxError], [ServerFailure], [IsBootstrapping] or, for anything else,
// [CustomError].
//
// gocql v2 turns each code into its typed error, e.g. ReadTimeout into
// *gocql.RequestErrReadTimeout and Overloaded into a RequestError with
// code gocql.ErrCodeOverloaded.
type ServerError struct {
	name string
	// build creates a fresh message per response so that concurrent responses
	// never share (or race on) one message value. cl is the consistency level of
	// the failed request.
	build func(cl primitive.ConsistencyLevel) message.Error
}

// String names the error kind.
func (e ServerError) String() string { return e.name }

func (e ServerError) message(cl primitive.ConsistencyLevel) message.Error {
	if e.build == nil {
		return &message.ServerError{ErrorMessage: "cqltest: zero ServerError"}
	}
	return e.build(cl)
}

// ReadTimeout is a READ_TIMEOUT error (code 0x1200): no replica answered in
// time, data not present. It carries the request's consistency level.
func ReadTimeout() ServerError {
	return ServerError{"ReadTimeout", func(cl primitive.ConsistencyLevel) message.Error {
		return &message.ReadTimeout{
			ErrorMessage: "Operation timed out - received only 0 responses.",
			Consistency:  cl, Received: 0, BlockFor: 1, DataPresent: false,
		}
	}}
}

// WriteTimeout is a WRITE_TIMEOUT error (code 0x1100) of write type SIMPLE.
func WriteTimeout() ServerError {
	return ServerError{"WriteTimeout", func(cl primitive.ConsistencyLevel) message.Error {
		return &message.WriteTimeout{
			ErrorMessage: "Operation timed out - received only 0 responses.",
			Consistency:  cl, Received: 0, BlockFor: 1, WriteType: primitive.WriteTypeSimple,
		}
	}}
}

// ReadTimeoutOf is a READ_TIMEOUT error (code 0x1200) with the given
// replica counts and data flag, for the cases a retry policy tells apart.
func ReadTimeoutOf(received, blockFor int, dataPresent bool) ServerError {
	return ServerError{"ReadTimeout", func(cl primitive.ConsistencyLevel) message.Error {
		return &message.ReadTimeout{
			ErrorMessage: "Operation timed out",
			Consistency:  cl, Received: int32(received), BlockFor: int32(blockFor), DataPresent: dataPresent,
		}
	}}
}

// WriteTimeoutOf is a WRITE_TIMEOUT error (code 0x1100) of the given write
// type ("SIMPLE", "BATCH", "UNLOGGED_BATCH", "COUNTER", "BATCH_LOG", "CAS",
// "VIEW" or "CDC"), with 0 of 1 replicas answering.
func WriteTimeoutOf(writeType string) ServerError {
	return ServerError{"WriteTimeout", func(cl primitive.ConsistencyLevel) message.Error {
		return &message.WriteTimeout{
			ErrorMessage: "Operation timed out - received only 0 responses.",
			Consistency:  cl, Received: 0, BlockFor: 1, WriteType: primitive.WriteType(writeType),
		}
	}}
}

// Unavailable is an UNAVAILABLE error (code 0x1000): 1 replica required, 0 alive.
func Unavailable() ServerError {
	return ServerError{"Unavailable", func(cl primitive.ConsistencyLevel) message.Error {
		return &message.Unavailable{
			ErrorMessage: "Cannot achieve consistency level",
			Consistency:  cl, Required: 1, Alive: 0,
		}
	}}
}

// Overloaded is an OVERLOADED error (code 0x1001).
func Overloaded() ServerError {
	return ServerError{"Overloaded", func(primitive.ConsistencyLevel) message.Error {
		return &message.Overloaded{ErrorMessage: "Server is in overloaded state"}
	}}
}

// IsBootstrapping is an IS_BOOTSTRAPPING error (code 0x1002).
func IsBootstrapping() ServerError {
	return ServerError{"IsBootstrapping", func(primitive.ConsistencyLevel) message.Error {
		return &message.IsBootstrapping{ErrorMessage: "Cannot read from a bootstrapping node"}
	}}
}

// Invalid is an INVALID error (code 0x2200) with the given message.
func Invalid(msg string) ServerError {
	return ServerError{"Invalid", func(primitive.ConsistencyLevel) message.Error {
		return &message.Invalid{ErrorMessage: msg}
	}}
}

// SyntaxError is a SYNTAX_ERROR error (code 0x2000) with the given message.
func SyntaxError(msg string) ServerError {
	return ServerError{"SyntaxError", func(primitive.ConsistencyLevel) message.Error {
		return &message.SyntaxError{ErrorMessage: msg}
	}}
}

// ServerFailure is a SERVER_ERROR error (code 0x0000) with the given message.
func ServerFailure(msg string) ServerError {
	return ServerError{"ServerFailure", func(primitive.ConsistencyLevel) message.Error {
		return &message.ServerError{ErrorMessage: msg}
	}}
}

// CustomError sends any error message of the native-protocol library. newMsg is
// called once per response and must return a fresh value each time.
func CustomError(newMsg func() message.Error) ServerError {
	return ServerError{"Custom", func(primitive.ConsistencyLevel) message.Error { return newMsg() }}
}
