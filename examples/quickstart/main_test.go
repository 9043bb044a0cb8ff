package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra/examples/internal/extest"
)

// The quickstart runs to the end against the node and prints each step's
// outcome, then the collector's summary.
func TestQuickstart(t *testing.T) {
	bin := extest.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := extest.Command(ctx, bin, "-keyspace", extest.Keyspace)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "quickstart failed: %s", stderr.String())
	got := string(out)
	t.Log(got)

	assert.Contains(t, got, "inserted 1000 users concurrently")
	assert.Contains(t, got, "user 42: {ID:42 Name:user 42 Email:user42@example.com}")
	// 1000 and not 1001: the batch removed the LWT's row at the end of the
	// last run.
	assert.Regexp(t, `streamed 1000 users in \d+ pages`, got)
	assert.Contains(t, got, `insert "first" if not exists: applied=true`)
	assert.Contains(t, got, `insert "second" if not exists: applied=false`)
	assert.Contains(t, got, "batch applied")
	// The summary: every request ended well, and the inserts were counted
	// under their statement.
	assert.Regexp(t, `requests\s+\d+ in .*: (\d+) ok, 0 failed`, got)
	assert.Regexp(t, `\s1000\s+0\s.*INSERT INTO `+extest.Keyspace+`\.users`, got)
}
