package cqltest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/datastax/go-cassandra-native-protocol/message"
)

// SetTokenRows registers rows for statements starting with query that read
// a token range, as a parallel table scan does: the statement's first two
// bound values are bigints, the range's bounds, and only the rows whose
// token t (tokens[i] for rows[i]) satisfies first < t <= second are
// returned, in token order, paged as usual. Further bound values (a filter's)
// are ignored. PREPARE reports the two bounds as bigints (SetBindTypes with
// the same key overrides this, for statements with more markers).
func (s *Server) SetTokenRows(query string, columns []Column, rows [][]any, tokens []int64) {
	s.tb.Helper()
	if len(tokens) != len(rows) {
		s.tb.Fatalf("cqltest: SetTokenRows(%q): %d tokens for %d rows", query, len(tokens), len(rows))
		return
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return tokens[order[a]] < tokens[order[b]] })
	sorted := make([][]any, len(rows))
	toks := make([]int64, len(rows))
	for i, j := range order {
		sorted[i], toks[i] = rows[j], tokens[j]
	}
	t, err := newTable(columns, sorted)
	if err != nil {
		s.tb.Fatalf("cqltest: SetTokenRows(%q): %v", query, err)
		return
	}
	t.tokens = toks
	key := normalize(query)
	s.mu.Lock()
	s.tables[key] = t
	s.bindTypes[key] = []Type{Bigint, Bigint}
	s.mu.Unlock()
}

// inRange returns the rows of a SetTokenRows table within the range the
// request's first two values bound.
func (t *table) inRange(opts *message.QueryOptions) (message.RowSet, message.Error) {
	if len(opts.PositionalValues) < 2 {
		return nil, &message.Invalid{ErrorMessage: fmt.Sprintf(
			"cqltest: a token range statement needs two bigint values, got %d", len(opts.PositionalValues))}
	}
	var bounds [2]int64
	for i := range bounds {
		b := opts.PositionalValues[i].Contents
		if len(b) != 8 {
			return nil, &message.Invalid{ErrorMessage: fmt.Sprintf("cqltest: token bound %d is %d bytes, want 8", i, len(b))}
		}
		bounds[i] = int64(binary.BigEndian.Uint64(b))
	}
	// First row with token > start, first row with token > end.
	from, _ := slices.BinarySearch(t.tokens, bounds[0])
	for from < len(t.tokens) && t.tokens[from] <= bounds[0] {
		from++
	}
	to := from
	for to < len(t.tokens) && t.tokens[to] <= bounds[1] {
		to++
	}
	return t.rows[from:to], nil
}
