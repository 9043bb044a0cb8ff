package cassandra

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These are property tests of the token arithmetic a TableScan rests on:
// whatever the tokens, the ranges a scan reads cover the ring exactly once,
// and a scan resumed from any checkpoint reads exactly what is left.

// requireTiling fails unless ranges, sorted, are non-empty and follow each
// other without gap or overlap from (MinToken to MaxToken]: every token a
// row can have is in exactly one of them.
func requireTiling(t *testing.T, ranges []TokenRange, msgAndArgs ...any) {
	t.Helper()
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, compareRanges)
	require.NotEmpty(t, rs, msgAndArgs...)
	require.Equal(t, MinToken, rs[0].Start, msgAndArgs...)
	require.Equal(t, MaxToken, rs[len(rs)-1].End, msgAndArgs...)
	for i, r := range rs {
		require.Less(t, r.Start, r.End, append([]any{"range %d is empty: %v"}, i, r)...)
		if i > 0 {
			require.Equal(t, rs[i-1].End, r.Start, "ranges %v and %v must touch, without gap or overlap", rs[i-1], r)
		}
	}
}

// randomRing returns n tokens spread over the nodes, with the edge values
// and repeats that real rings never have but metadata might.
func randomRing(rng *rand.Rand, n, nodes int) []ringToken {
	tokens := make([]ringToken, n)
	for i := range tokens {
		var v int64
		switch rng.IntN(10) {
		case 0:
			v = MinToken
		case 1:
			v = MaxToken
		case 2:
			v = MinToken + 1
		case 3:
			if i > 0 {
				v = tokens[rng.IntN(i)].token // a repeat
				break
			}
			fallthrough
		default:
			v = int64(rng.Uint64())
		}
		tokens[i] = ringToken{token: v, node: rng.IntN(nodes)}
	}
	return tokens
}

func rangesOf(owned []ownedRange) []TokenRange {
	out := make([]TokenRange, len(owned))
	for i, o := range owned {
		out[i] = o.r
	}
	return out
}

func TestRingRangesTileTheRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	requireTiling(t, rangesOf(ringRanges(nil)), "no tokens")
	for _, tok := range []int64{MinToken, MinToken + 1, -1, 0, 1, MaxToken - 1, MaxToken} {
		ring := sortRing([]ringToken{{token: tok}})
		requireTiling(t, rangesOf(ringRanges(ring)), "one token %d", tok)
	}
	for iter := range 2000 {
		ring := sortRing(randomRing(rng, 1+rng.IntN(40), 1+rng.IntN(6)))
		owned := ringRanges(ring)
		requireTiling(t, rangesOf(owned), "iteration %d", iter)
		// Each range is owned by the first token at or after its tokens,
		// wrapping past the last token to the first.
		for _, o := range owned {
			for _, tok := range []int64{o.r.Start + 1, o.r.End, o.r.Start + int64(o.r.width()/2+1)} {
				want := slices.IndexFunc(ring, func(rt ringToken) bool { return rt.token >= tok })
				if want < 0 {
					want = 0
				}
				require.Equal(t, want, o.index, "token %d of range %v", tok, o.r)
			}
		}
	}
}

func TestSplitRangeCoversItsRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(r TokenRange, n int) {
		t.Helper()
		parts := splitRange(r, n)
		if r.empty() {
			require.Empty(t, parts)
			return
		}
		require.NotEmpty(t, parts)
		require.LessOrEqual(t, len(parts), max(n, 1))
		require.Equal(t, r.Start, parts[0].Start)
		require.Equal(t, r.End, parts[len(parts)-1].End)
		lo, hi := uint64(math.MaxUint64), uint64(0)
		for i, p := range parts {
			require.False(t, p.empty(), "part %d of %v in %d: %v", i, r, n, p)
			if i > 0 {
				require.Equal(t, parts[i-1].End, p.Start)
			}
			lo, hi = min(lo, p.width()), max(hi, p.width())
		}
		require.LessOrEqual(t, hi-lo, uint64(1), "parts of %v in %d differ in width by at most one token", r, n)
	}
	check(fullRing, 1)
	check(fullRing, 7)
	check(fullRing, 1000)
	check(TokenRange{5, 5}, 3)
	check(TokenRange{0, 3}, 10) // fewer tokens than parts
	check(TokenRange{MaxToken - 1, MaxToken}, 4)
	for range 5000 {
		a, b := int64(rng.Uint64()), int64(rng.Uint64())
		if rng.IntN(4) == 0 {
			b = a + int64(rng.IntN(20))
		}
		check(TokenRange{min(a, b), max(a, b)}, rng.IntN(70))
	}
}

func TestPiecesFor(t *testing.T) {
	assert.Equal(t, 1, piecesFor(fullRing.width(), 0))
	assert.Equal(t, 1, piecesFor(fullRing.width(), 1))
	assert.Equal(t, 32, piecesFor(fullRing.width(), 32))
	assert.Equal(t, 16, piecesFor(fullRing.width()/2, 32))
	assert.Equal(t, 1, piecesFor(10, 32), "a narrow range stays whole")
	assert.Equal(t, 1, piecesFor(0, 32))
}

func TestPlanTilesTheRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 1000 {
		nodes := make([]ringNode, 1+rng.IntN(6))
		ring := sortRing(randomRing(rng, rng.IntN(50), len(nodes)))
		splits := rng.IntN(100)
		plan := planScan(ring, nodes, replication{simpleRF: 1 + rng.IntN(3)}, splits)
		ranges := make([]TokenRange, len(plan))
		for i, p := range plan {
			ranges[i] = p.r
			require.Nil(t, p.state)
			if len(ring) > 0 {
				require.NotEmpty(t, p.nodes, "every range has a replica")
			}
		}
		requireTiling(t, ranges, "iteration %d", iter)
		require.GreaterOrEqual(t, len(plan), len(ringRanges(ring)), "ranges are never merged")
		if splits > 0 {
			require.GreaterOrEqual(t, len(plan), splits, "at least about splits ranges")
		}
	}
}

func TestPlanSpreadsConsecutiveRangesOverNodes(t *testing.T) {
	// Three nodes, one token each; the ring cut into 12 parts: the first
	// parts of the plan come from different ranges, hence nodes.
	ring := sortRing([]ringToken{{-100, 0}, {0, 1}, {100, 2}})
	nodes := make([]ringNode, 3)
	plan := planScan(ring, nodes, replication{}, 12)
	require.GreaterOrEqual(t, len(plan), 12)
	var first []int
	for _, p := range plan[:3] {
		first = append(first, p.nodes[0])
	}
	assert.ElementsMatch(t, []int{0, 1, 2}, first, "the first three ranges go to three nodes")
}

// Exhaustive over a small domain: subtractRanges and mergeRanges agree with
// a token-by-token count.
func TestSubtractAndMergeAgreeWithCounting(t *testing.T) {
	const lo, hi = -6, 6
	rng := rand.New(rand.NewPCG(7, 8))
	randomRange := func() TokenRange {
		a, b := int64(lo+rng.IntN(hi-lo+1)), int64(lo+rng.IntN(hi-lo+1))
		return TokenRange{min(a, b), max(a, b)}
	}
	in := func(rs []TokenRange, tok int64) int {
		n := 0
		for _, r := range rs {
			if r.contains(tok) {
				n++
			}
		}
		return n
	}
	for range 20000 {
		r := randomRange()
		covered := make([]TokenRange, rng.IntN(5))
		for i := range covered {
			covered[i] = randomRange()
		}
		merged := mergeRanges(covered)
		rest := subtractRanges(r, merged)
		for i := 1; i < len(merged); i++ {
			require.Less(t, merged[i-1].End, merged[i].Start, "merged ranges neither overlap nor touch")
		}
		for tok := int64(lo); tok <= hi; tok++ {
			want := 0
			if in(covered, tok) > 0 {
				want = 1
			}
			require.Equal(t, want, in(merged, tok), "merge of %v at %d", covered, tok)
			left := 0
			if r.contains(tok) && want == 0 {
				left = 1
			}
			require.Equal(t, left, in(rest, tok), "%v minus %v at %d", r, covered, tok)
		}
		for _, x := range rest {
			require.False(t, x.empty())
		}
	}
}

// simulate plays a scan of plan as TableScan.Checkpoint sees it: each range
// finished, in progress at a new page state, or not moved on from where it
// started (in progress at its old state, if it had one, else untouched).
func simulate(rng *rand.Rand, plan []planRange, base *ScanCheckpoint) ScanCheckpoint {
	cp := ScanCheckpoint{Version: ScanCheckpointVersion, Keyspace: "ks", Table: "t", Statement: "stmt"}
	var done []TokenRange
	if base != nil {
		done = slices.Clone(base.Done)
		cp.Rows = base.Rows
	}
	for i, p := range plan {
		switch rng.IntN(3) {
		case 0:
			done = append(done, p.r)
			cp.Rows++
		case 1:
			cp.InProgress = append(cp.InProgress, RangeCheckpoint{Range: p.r, PageState: []byte(fmt.Sprintf("state-%d", i))})
		default:
			if p.state != nil {
				cp.InProgress = append(cp.InProgress, RangeCheckpoint{Range: p.r, PageState: p.state})
			}
		}
	}
	cp.Done = mergeRanges(done)
	return cp
}

func TestResumeReadsExactlyWhatIsLeft(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for iter := range 1000 {
		nodes := make([]ringNode, 1+rng.IntN(5))
		ring := sortRing(randomRing(rng, rng.IntN(30), len(nodes)))
		plan := planScan(ring, nodes, replication{}, rng.IntN(40))

		// A chain of crashes: each scan resumes from the last one's
		// checkpoint, on a ring that may have changed meanwhile.
		var cp *ScanCheckpoint
		for hop := range 3 {
			c := simulate(rng, plan, cp)
			require.NoError(t, c.validate("ks", "t", "stmt"), "iteration %d hop %d", iter, hop)
			cp = &c
			newRing := ring
			if rng.IntN(2) == 0 {
				newRing = sortRing(randomRing(rng, rng.IntN(30), len(nodes)))
			}
			fresh := planScan(newRing, nodes, replication{}, rng.IntN(40))
			plan = resumePlan(fresh, cp, newRing, nodes, replication{})

			// Finished ranges plus the plan left tile the ring.
			all := slices.Clone(cp.Done)
			for _, p := range plan {
				all = append(all, p.r)
			}
			requireTiling(t, all, "iteration %d hop %d", iter, hop)
			// Each range in progress is in the plan, with its own state.
			for _, ip := range cp.InProgress {
				i := slices.IndexFunc(plan, func(p planRange) bool { return p.r == ip.Range })
				require.GreaterOrEqual(t, i, 0, "range in progress %v resumed", ip.Range)
				require.Equal(t, ip.PageState, plan[i].state)
			}
			// Every other range starts from its beginning.
			for _, p := range plan {
				if p.state != nil {
					require.True(t, slices.ContainsFunc(cp.InProgress, func(ip RangeCheckpoint) bool { return ip.Range == p.r }))
				}
			}
		}
	}
}

func TestCompleteCheckpointLeavesNothing(t *testing.T) {
	ring := sortRing([]ringToken{{-5, 0}, {7, 1}})
	nodes := make([]ringNode, 2)
	plan := planScan(ring, nodes, replication{}, 8)
	cp := ScanCheckpoint{Version: ScanCheckpointVersion, Done: []TokenRange{{MinToken, 0}, {0, MaxToken}}}
	cp.Done = mergeRanges(cp.Done)
	assert.True(t, cp.Complete())
	assert.InDelta(t, 1.0, cp.Fraction(), 1e-12)
	assert.Empty(t, resumePlan(plan, &cp, ring, nodes, replication{}))
	half := ScanCheckpoint{Done: []TokenRange{{MinToken, 0}}}
	assert.False(t, half.Complete())
	assert.InDelta(t, 0.5, half.Fraction(), 1e-9)
}

func TestCheckpointValidation(t *testing.T) {
	good := ScanCheckpoint{Version: ScanCheckpointVersion, Keyspace: "ks", Table: "t", Statement: "stmt",
		Done:       []TokenRange{{MinToken, -10}},
		InProgress: []RangeCheckpoint{{Range: TokenRange{-10, 0}, PageState: []byte{1}}}}
	require.NoError(t, good.validate("ks", "t", "stmt"))
	for name, change := range map[string]func(*ScanCheckpoint){
		"version":           func(c *ScanCheckpoint) { c.Version = 99 },
		"keyspace":          func(c *ScanCheckpoint) { c.Keyspace = "other" },
		"table":             func(c *ScanCheckpoint) { c.Table = "other" },
		"statement":         func(c *ScanCheckpoint) { c.Statement = "SELECT other" },
		"rows":              func(c *ScanCheckpoint) { c.Rows = -1 },
		"empty done":        func(c *ScanCheckpoint) { c.Done = append(c.Done, TokenRange{3, 3}) },
		"empty in progress": func(c *ScanCheckpoint) { c.InProgress[0].Range = TokenRange{4, 2} },
		"no page state":     func(c *ScanCheckpoint) { c.InProgress[0].PageState = nil },
		"overlap":           func(c *ScanCheckpoint) { c.Done = append(c.Done, TokenRange{-5, 5}) },
		"overlap in done":   func(c *ScanCheckpoint) { c.Done = append(c.Done, TokenRange{MinToken, -20}) },
	} {
		cp := good
		cp.Done = slices.Clone(good.Done)
		cp.InProgress = slices.Clone(good.InProgress)
		change(&cp)
		err := cp.validate("ks", "t", "stmt")
		assert.ErrorIs(t, err, ErrInvalidCheckpoint, name)
	}
}

func TestCheckpointJSONKeepsEveryBit(t *testing.T) {
	cp := ScanCheckpoint{Version: ScanCheckpointVersion, Keyspace: "ks", Table: "t", Statement: "SELECT",
		Done:       []TokenRange{{MinToken, MinToken + 1}, {MaxToken - 1, MaxToken}},
		InProgress: []RangeCheckpoint{{Range: TokenRange{-9007199254740993, 9007199254740993}, PageState: []byte{0, 1, 255}}},
		Rows:       42}
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"start":"-9223372036854775808"`, "tokens are strings, safe from doubles")
	var back ScanCheckpoint
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, cp, back)
}

func TestReplicaPlacement(t *testing.T) {
	// Four nodes with one token each, in ring order 0..3.
	ring := sortRing([]ringToken{{-300, 0}, {-100, 1}, {100, 2}, {300, 3}})
	same := []ringNode{{"dc1", "r1"}, {"dc1", "r1"}, {"dc1", "r1"}, {"dc1", "r1"}}
	assert.Equal(t, []int{2}, replication{}.replicas(ring, same, 2), "unknown strategy: the primary alone")
	assert.Equal(t, []int{2, 3, 0}, replication{simpleRF: 3}.replicas(ring, same, 2), "SimpleStrategy walks the ring")
	assert.Equal(t, []int{3, 0, 1, 2}, replication{simpleRF: 9}.replicas(ring, same, 3), "never more than the nodes")

	// Two data centers, alternating on the ring; dc1 has two racks.
	mixed := []ringNode{{"dc1", "a"}, {"dc2", "x"}, {"dc1", "a"}, {"dc1", "b"}}
	nts := replication{dcRF: map[string]int{"dc1": 2, "dc2": 1}}
	// From node 0: dc1 rack a (0), dc2 (1), dc1 rack a again is passed
	// over for rack b (3).
	assert.Equal(t, []int{0, 1, 3}, nts.replicas(ring, mixed, 0))
	assert.Equal(t, []int{2, 3, 1}, nts.replicas(ring, mixed, 2))
	only2 := replication{dcRF: map[string]int{"dc2": 1}}
	assert.Equal(t, []int{1}, only2.replicas(ring, mixed, 0), "replicas only where the keyspace has them")
	// More replicas wanted than racks: the node passed over comes back.
	assert.Equal(t, []int{0, 3, 2}, replication{dcRF: map[string]int{"dc1": 3}}.replicas(ring, mixed, 0))
}

func TestParseReplication(t *testing.T) {
	assert.Equal(t, replication{simpleRF: 3}, parseReplication(map[string]string{
		"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}))
	assert.Equal(t, replication{dcRF: map[string]int{"dc1": 3, "dc2": 2}}, parseReplication(map[string]string{
		"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "2", "dc3": "0"}))
	assert.Equal(t, replication{}, parseReplication(map[string]string{"class": "org.apache.cassandra.locator.LocalStrategy"}))
	assert.Equal(t, replication{}, parseReplication(map[string]string{"class": "SimpleStrategy", "replication_factor": "x"}))
	assert.Equal(t, replication{}, parseReplication(nil))
}

func TestParseTableName(t *testing.T) {
	for _, c := range []struct{ in, def, ks, table string }{
		{"ks.t", "", "ks", "t"},
		{"KS.Tbl", "", "ks", "tbl"},
		{"t", "shop", "shop", "t"},
		{` "Shop"."Orders" `, "", "Shop", "Orders"},
		{`"we""ird".t_1`, "", `we"ird`, "t_1"},
		{`ks."a.b"`, "", "ks", "a.b"},
	} {
		ks, table, err := parseTableName(c.in, c.def)
		require.NoError(t, err, c.in)
		assert.Equal(t, [2]string{c.ks, c.table}, [2]string{ks, table}, c.in)
	}
	for _, in := range []string{"", "t", "a.b.c", "ks.", ".t", `"ks`, `""`, "ks.t;", "ks.t x", `"a"b`, "k-s.t"} {
		_, _, err := parseTableName(in, "")
		assert.Error(t, err, "%q", in)
	}
}

// A large ring (60 nodes of 256 tokens in two data centers and three racks)
// is planned in one pass: placement stops walking once it has its replicas.
func TestPlanLargeRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	nodes := make([]ringNode, 60)
	for i := range nodes {
		nodes[i] = ringNode{dc: fmt.Sprintf("dc%d", i%2), rack: fmt.Sprintf("r%d", i%3)}
	}
	var tokens []ringToken
	for n := range nodes {
		for range 256 {
			tokens = append(tokens, ringToken{token: int64(rng.Uint64()), node: n})
		}
	}
	ring := sortRing(tokens)
	rp := replication{dcRF: map[string]int{"dc0": 3, "dc1": 3}}
	plan := planScan(ring, nodes, rp, 32)
	ranges := make([]TokenRange, len(plan))
	for i, p := range plan {
		ranges[i] = p.r
		require.Len(t, p.nodes, 6, "three replicas in each data center")
	}
	requireTiling(t, ranges)
}
