package cassandra

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MinToken and MaxToken bound the Murmur3 token ring. MinToken is the
// ring's origin and never the token of a row (Cassandra maps the one hash
// that would give it to MaxToken), so every row's token lies in the range
// (MinToken, MaxToken].
const (
	MinToken int64 = math.MinInt64
	MaxToken int64 = math.MaxInt64
)

// TokenRange is the part of the Murmur3 token ring after Start up to and
// including End: the rows whose partition key has a token t with
// Start < t <= End. A TableScan reads each of its ranges with
// "token(pk) > Start AND token(pk) <= End". A valid range has Start < End;
// ranges that wrap around the ring are split in two at its origin, so the
// whole ring is {MinToken, MaxToken}.
//
// In JSON the tokens are strings: a 64-bit token does not survive tools
// that read every number as a double.
type TokenRange struct {
	// Start is the range's lower bound, exclusive: the token Start itself
	// is not in the range (a TableScan queries "token(pk) > Start").
	Start int64 `json:"start,string"`
	// End is the range's upper bound, inclusive: the token End is in the
	// range (a TableScan queries "token(pk) <= End").
	End int64 `json:"end,string"`
}

// String formats the range as "(Start, End]".
func (r TokenRange) String() string { return fmt.Sprintf("(%d, %d]", r.Start, r.End) }

// empty reports whether the range holds no token.
func (r TokenRange) empty() bool { return r.Start >= r.End }

// width is the number of tokens in the range (0 for an empty one); the
// whole ring's is math.MaxUint64.
func (r TokenRange) width() uint64 {
	if r.empty() {
		return 0
	}
	return uint64(r.End) - uint64(r.Start)
}

// contains reports whether token t lies in the range.
func (r TokenRange) contains(t int64) bool { return r.Start < t && t <= r.End }

// fullRing is every token a row can have.
var fullRing = TokenRange{MinToken, MaxToken}

// ringToken is one token of one node, as the cluster announces it.
type ringToken struct {
	token int64
	node  int // index of the node in the caller's list
}

// ownedRange is one range of the ring between two consecutive tokens,
// owned first by the node of its end token (the primary replica).
type ownedRange struct {
	r     TokenRange
	index int // position of the owning token in the sorted ring
}

// sortRing sorts the tokens and drops repeated ones (two nodes never own
// the same token; if the metadata says otherwise, the first one keeps it).
func sortRing(tokens []ringToken) []ringToken {
	ring := slices.Clone(tokens)
	slices.SortStableFunc(ring, func(a, b ringToken) int {
		switch {
		case a.token < b.token:
			return -1
		case a.token > b.token:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(ring, func(a, b ringToken) bool { return a.token == b.token })
}

// ringRanges divides the ring at the sorted tokens: each token ends the
// range that starts after the token before it, and the first token's range
// wraps around the origin, so it is split into (last, MaxToken] and
// (MinToken, first]. The result covers (MinToken, MaxToken] exactly once,
// in token order. With no tokens it is the whole ring, owned by nobody
// (index -1).
func ringRanges(ring []ringToken) []ownedRange {
	if len(ring) == 0 {
		return []ownedRange{{r: fullRing, index: -1}}
	}
	out := make([]ownedRange, 0, len(ring)+1)
	if r := (TokenRange{MinToken, ring[0].token}); !r.empty() {
		out = append(out, ownedRange{r: r, index: 0})
	}
	for i := 1; i < len(ring); i++ {
		out = append(out, ownedRange{r: TokenRange{ring[i-1].token, ring[i].token}, index: i})
	}
	if r := (TokenRange{ring[len(ring)-1].token, MaxToken}); !r.empty() {
		out = append(out, ownedRange{r: r, index: 0})
	}
	return out
}

// splitRange divides r into n ranges of nearly equal width, in order; fewer
// if r holds fewer than n tokens. The parts cover r exactly.
func splitRange(r TokenRange, n int) []TokenRange {
	w := r.width()
	if w == 0 {
		return nil
	}
	if n < 1 {
		n = 1
	}
	if uint64(n) > w {
		n = int(w)
	}
	out := make([]TokenRange, 0, n)
	start := r.Start
	for j := 1; j <= n; j++ {
		end := r.End
		if j < n {
			// start + w*j/n, without overflow: w*j needs 128 bits.
			hi, lo := bits.Mul64(w, uint64(j))
			q, _ := bits.Div64(hi, lo, uint64(n))
			end = int64(uint64(r.Start) + q)
		}
		out = append(out, TokenRange{start, end})
		start = end
	}
	return out
}

// piecesFor returns how many parts a range of width w is cut into so that
// no part is much wider than 1/splits of the ring.
func piecesFor(w uint64, splits int) int {
	if splits <= 1 || w == 0 {
		return 1
	}
	// ceil(w * splits / 2^64), the share of the ring times splits.
	hi, lo := bits.Mul64(w, uint64(splits))
	if lo != 0 {
		hi++
	}
	if hi < 1 {
		hi = 1
	}
	return int(hi)
}

// mergeRanges sorts ranges and joins those that overlap or touch, dropping
// empty ones. The result is the same set of tokens in the fewest ranges.
func mergeRanges(ranges []TokenRange) []TokenRange {
	rs := make([]TokenRange, 0, len(ranges))
	for _, r := range ranges {
		if !r.empty() {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, compareRanges)
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

func compareRanges(a, b TokenRange) int {
	switch {
	case a.Start < b.Start:
		return -1
	case a.Start > b.Start:
		return 1
	case a.End < b.End:
		return -1
	case a.End > b.End:
		return 1
	}
	return 0
}

// subtractRanges returns the tokens of r that none of covered (sorted and
// merged, as mergeRanges returns them) holds, in order.
func subtractRanges(r TokenRange, covered []TokenRange) []TokenRange {
	var out []TokenRange
	start := r.Start
	for _, c := range covered {
		if c.End <= start {
			continue
		}
		if c.Start >= r.End {
			break
		}
		if c.Start > start {
			out = append(out, TokenRange{start, c.Start})
		}
		start = max(start, c.End)
		if start >= r.End {
			return out
		}
	}
	if start < r.End {
		out = append(out, TokenRange{start, r.End})
	}
	return out
}

// overlapping returns the first pair of ranges that share a token, if any.
func overlapping(ranges []TokenRange) (a, b TokenRange, found bool) {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, compareRanges)
	for i := 1; i < len(rs); i++ {
		if rs[i].Start < rs[i-1].End {
			return rs[i-1], rs[i], true
		}
	}
	return TokenRange{}, TokenRange{}, false
}

// ringNode is what replica placement needs to know of a node.
type ringNode struct {
	dc, rack string
}

// replication is a keyspace's replica placement, from the replication map
// of system_schema.keyspaces. Only SimpleStrategy and
// NetworkTopologyStrategy are understood; for any other the scan knows
// only each range's primary replica.
type replication struct {
	simpleRF int            // SimpleStrategy's replication_factor; 0 otherwise
	dcRF     map[string]int // NetworkTopologyStrategy's factor per data center
}

// parseReplication reads a replication map, such as {"class":
// "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}.
// Anything it cannot read yields the zero replication (primary only).
func parseReplication(m map[string]string) replication {
	class := m["class"]
	switch {
	case strings.HasSuffix(class, "SimpleStrategy"):
		rf, err := strconv.Atoi(m["replication_factor"])
		if err != nil || rf < 1 {
			return replication{}
		}
		return replication{simpleRF: rf}
	case strings.HasSuffix(class, "NetworkTopologyStrategy"):
		dcs := map[string]int{}
		for k, v := range m {
			if k == "class" || k == "replication_factor" {
				continue
			}
			if rf, err := strconv.Atoi(v); err == nil && rf > 0 {
				dcs[k] = rf
			}
		}
		if len(dcs) == 0 {
			return replication{}
		}
		return replication{dcRF: dcs}
	}
	return replication{}
}

// replicas returns the nodes (indexes into nodes) holding the range that
// token ring[i] ends, primary first, as Cassandra places them: walking the
// ring from that token, SimpleStrategy takes the first rf distinct nodes;
// NetworkTopologyStrategy takes, in each data center, rf distinct nodes,
// preferring racks it has not used yet. Without a strategy it knows, the
// primary alone. Placement only steers requests to a node that holds the
// data: any node can serve any range, so a wrong guess costs a network hop,
// never a row.
func (rp replication) replicas(ring []ringToken, nodes []ringNode, i int) []int {
	primary := ring[i].node
	switch {
	case rp.simpleRF > 0:
		out := []int{primary}
		for j := 1; j < len(ring) && len(out) < min(rp.simpleRF, len(nodes)); j++ {
			n := ring[(i+j)%len(ring)].node
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return out
	case len(rp.dcRF) > 0:
		return rp.topologyReplicas(ring, nodes, i)
	}
	return []int{primary}
}

// topologyReplicas is NetworkTopologyStrategy's placement.
func (rp replication) topologyReplicas(ring []ringToken, nodes []ringNode, i int) []int {
	racks := map[string]map[string]bool{} // data center -> its racks
	members := map[string]int{}           // data center -> its nodes
	for _, n := range nodes {
		if racks[n.dc] == nil {
			racks[n.dc] = map[string]bool{}
		}
		racks[n.dc][n.rack] = true
		members[n.dc]++
	}
	// The walk ends once every data center has its replicas (or all of its
	// nodes), which on a large ring is long before it has gone round.
	want := 0
	for dc, rf := range rp.dcRF {
		want += min(rf, members[dc])
	}
	type dcState struct {
		chosen  int
		seen    map[string]bool
		skipped []int
	}
	state := map[string]*dcState{}
	var out []int
	for j := 0; j < len(ring) && len(out) < want; j++ {
		n := ring[(i+j)%len(ring)].node
		dc := nodes[n].dc
		rf := rp.dcRF[dc]
		if rf == 0 || slices.Contains(out, n) {
			continue
		}
		st := state[dc]
		if st == nil {
			st = &dcState{seen: map[string]bool{}}
			state[dc] = st
		}
		if st.chosen >= rf {
			continue
		}
		rack := nodes[n].rack
		switch {
		case !st.seen[rack]:
			st.seen[rack] = true
			out = append(out, n)
			st.chosen++
			if len(st.seen) == len(racks[dc]) {
				// Every rack has a replica: the nodes passed over for
				// sharing a rack come next.
				for len(st.skipped) > 0 && st.chosen < rf {
					out = append(out, st.skipped[0])
					st.skipped = st.skipped[1:]
					st.chosen++
				}
			}
		case len(st.seen) == len(racks[dc]):
			out = append(out, n)
			st.chosen++
		default:
			st.skipped = append(st.skipped, n)
		}
	}
	if len(out) == 0 {
		// The primary's data center has no replicas: keep the primary,
		// which at least owns the range.
		return []int{ring[i].node}
	}
	return out
}

// planRange is one range a scan reads, with the nodes to ask for it.
type planRange struct {
	r     TokenRange
	nodes []int  // replicas, best first; empty: let the driver choose
	state []byte // where a checkpoint left the range; nil: from its start
}

// planScan divides the ring into the ranges a scan reads: the ranges
// between the nodes' tokens, each cut into parts so that the ring is in at
// least about splits parts, each part routed to the replicas of the range
// it came from. The parts are ordered so that consecutive ones come from
// different ranges (part 1 of every range, then part 2, ...), which
// spreads the ranges read at once over the nodes.
func planScan(ring []ringToken, nodes []ringNode, rp replication, splits int) []planRange {
	owned := ringRanges(ring)
	parts := make([][]TokenRange, len(owned))
	most := 0
	for k, o := range owned {
		parts[k] = splitRange(o.r, piecesFor(o.r.width(), splits))
		most = max(most, len(parts[k]))
	}
	replicaCache := map[int][]int{}
	out := make([]planRange, 0, len(owned))
	for j := 0; j < most; j++ {
		for k, o := range owned {
			if j >= len(parts[k]) {
				continue
			}
			var reps []int
			if o.index >= 0 {
				var ok bool
				if reps, ok = replicaCache[o.index]; !ok {
					reps = rp.replicas(ring, nodes, o.index)
					replicaCache[o.index] = reps
				}
			}
			out = append(out, planRange{r: parts[k][j], nodes: reps})
		}
	}
	return out
}

// ownerOf returns the replicas of the ring range that holds token t.
func ownerOf(ring []ringToken, nodes []ringNode, rp replication, t int64) []int {
	if len(ring) == 0 {
		return nil
	}
	// The first token >= t ends t's range; past the last token, the ring
	// wraps to the first.
	i, _ := slices.BinarySearchFunc(ring, t, func(rt ringToken, t int64) int {
		switch {
		case rt.token < t:
			return -1
		case rt.token > t:
			return 1
		}
		return 0
	})
	if i == len(ring) {
		i = 0
	}
	return rp.replicas(ring, nodes, i)
}

// resumePlan is the work left by a checkpoint: its ranges in progress,
// first, each from its page state and routed to the replicas of its end
// token, then the parts of a fresh plan that the checkpoint has neither
// finished nor started. Together with the checkpoint's finished ranges
// they cover the ring exactly once (the checkpoint has been validated).
func resumePlan(fresh []planRange, cp *ScanCheckpoint, ring []ringToken, nodes []ringNode, rp replication) []planRange {
	covered := slices.Clone(cp.Done)
	out := make([]planRange, 0, len(cp.InProgress)+len(fresh))
	for _, ip := range cp.InProgress {
		covered = append(covered, ip.Range)
		out = append(out, planRange{r: ip.Range, nodes: ownerOf(ring, nodes, rp, ip.Range.End), state: ip.PageState})
	}
	covered = mergeRanges(covered)
	for _, p := range fresh {
		for _, r := range subtractRanges(p.r, covered) {
			out = append(out, planRange{r: r, nodes: p.nodes})
		}
	}
	return out
}
