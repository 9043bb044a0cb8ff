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
