package cassandra

import (
	"context"
	"errors"
	"strings"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
)

func TestQueryErrorUnwrapsAndNamesTheStatement(t *testing.T) {
	timeout := &gocql.RequestErrWriteTimeout{Consistency: gocql.Quorum, Received: 1, BlockFor: 2, WriteType: "SIMPLE"}
	err := wrapQueryError("INSERT INTO t (k) VALUES (?)", 2, nil, timeout)

	var qe *QueryError
	assert.ErrorAs(t, err, &qe)
	assert.Equal(t, 2, qe.Attempts)
	var wt *gocql.RequestErrWriteTimeout
	assert.ErrorAs(t, err, &wt)
	assert.Contains(t, err.Error(), `"INSERT INTO t (k) VALUES (?)"`)
	assert.Contains(t, err.Error(), "after 2 attempts")

	// Wrapping twice keeps the first QueryError.
	assert.Same(t, err, wrapQueryError("other", 0, nil, err))
	assert.NoError(t, wrapQueryError("x", 0, nil, nil))

	dl := wrapQueryError("SELECT 1", 0, nil, context.DeadlineExceeded)
	assert.ErrorIs(t, dl, context.DeadlineExceeded)
	assert.NotContains(t, dl.Error(), "attempt", "a request that never left the queue has no attempts")
}

func TestQueryErrorWithholdsBoundValues(t *testing.T) {
	_, cause := gocql.Marshal(gocql.NewNativeType(4, gocql.TypeInt, ""), "secret-value-123")
	assert.Error(t, cause)
	assert.Contains(t, cause.Error(), "secret-value-123", "the driver's own message quotes the value")

	err := wrapQueryError("INSERT INTO t (k) VALUES (?)", 1, nil, cause)
	assert.NotContains(t, err.Error(), "secret-value-123")
	var me gocql.MarshalError
	assert.True(t, errors.As(err, &me), "the driver's error stays reachable")
}

func TestQueryErrorShortensLongStatements(t *testing.T) {
	stmt := "SELECT " + strings.Repeat("a, ", 200) + "b FROM t"
	err := &QueryError{Statement: stmt, Err: errors.New("boom")}
	assert.Less(t, len(err.Error()), 300)
	assert.Equal(t, stmt, err.Statement, "the full text stays in the field")
}

func TestErrNotFoundMatchesGocql(t *testing.T) {
	assert.ErrorIs(t, ErrNotFound, gocql.ErrNotFound)
}

func TestQueryErrorWithholdsPasswordLiterals(t *testing.T) {
	for _, stmt := range []string{
		"CREATE ROLE alice WITH PASSWORD = 'hunter2-secret' AND LOGIN = true",
		"alter role alice with password='hunter2-secret'",
		"CREATE USER bob WITH PASSWORD 'hunter2-secret' NOSUPERUSER",
		"ALTER ROLE alice WITH HASHED PASSWORD = 'hunter2-secret'",
	} {
		err := wrapQueryError(stmt, 1, nil, errors.New("role does not exist"))
		assert.NotContains(t, err.Error(), "hunter2-secret", stmt)
		assert.Contains(t, strings.ToUpper(err.Error()), "PASSWORD", "the statement is still named: %s", err)
		var qe *QueryError
		assert.ErrorAs(t, err, &qe)
		assert.Equal(t, stmt, qe.Statement, "the field keeps the caller's text")
	}
	err := wrapQueryError("SELECT v FROM t WHERE k = 'visible'", 1, nil, errors.New("x"))
	assert.Contains(t, err.Error(), "'visible'", "other statements are quoted as written")
}

// Whatever the column type and whatever the wrong value, a driver error
// from encoding a bound value never reaches QueryError's message: most are
// gocql.MarshalError, but gocql returns ParseUUID's and ParseDuration's
// errors, which quote the string, as they come.
func TestQueryErrorWithholdsEveryEncodingError(t *testing.T) {
	const secret = "SECRET-0123"
	types := []string{"int", "bigint", "smallint", "tinyint", "varint", "decimal", "float", "double",
		"boolean", "text", "ascii", "blob", "uuid", "timeuuid", "timestamp", "date", "time", "duration",
		"inet", "list<int>", "list<uuid>", "set<timeuuid>", "map<int,int>", "map<text,duration>",
		"tuple<int,text>", "tuple<uuid,int>", "list<frozen<tuple<int,duration>>>", "vector<float, 3>", "frozen<list<uuid>>", "counter"}
	values := []any{secret, []byte(secret), []string{secret}, map[string]string{secret: secret},
		map[int]string{1: secret}, []any{secret, secret}, []any{secret}, [][]any{{secret}}, [3]string{secret, secret, secret},
		struct{ A string }{secret}, &struct{ A string }{secret}, 3.5, -1, 1 << 40, "1", "1" + secret}
	failures := 0
	for _, typ := range types {
		info := gocql.NewNativeType(4, gocql.TypeCustom, typ)
		for _, v := range values {
			_, cause := gocql.Marshal(info, v)
			if cause == nil {
				continue
			}
			failures++
			err := wrapQueryError("INSERT INTO t (k) VALUES (?)", 1, nil, cause)
			assert.NotContains(t, err.Error(), secret, "%s <- %T: %v", typ, v, cause)
			assert.Equal(t, "client", ErrorKind(err), "%s <- %T: an encoding error is the caller's", typ, v)
			assert.ErrorIs(t, err, cause, "the driver's error stays reachable")
		}
	}
	assert.Greater(t, failures, 200, "most pairs fail to encode")

	// Other errors keep their message: only the encoding errors are
	// withheld.
	for _, cause := range []error{errors.New("gocql: expected 3 values send got 2"), gocql.ErrConnectionClosed} {
		err := wrapQueryError("SELECT 1", 1, nil, cause)
		assert.Contains(t, err.Error(), cause.Error())
	}
}
