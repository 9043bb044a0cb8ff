package cqlstmt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// templates are statements with slots: %v for a literal, %l for an IN
// list, %c for a collection literal. Each space between tokens may be
// replaced with other white space or a comment.
var templates = []string{
	"SELECT * FROM ks.t WHERE a = %v AND b > %v LIMIT %v",
	"SELECT a, b FROM t WHERE k IN %l AND c = %v ALLOW FILTERING",
	"SELECT * FROM t WHERE (a, b) IN %l",
	"INSERT INTO t (a, b, c, d) VALUES (%v, %v, %c, %v) IF NOT EXISTS",
	"INSERT INTO ks.t (a, b) VALUES (%v, %v) USING TTL %v AND TIMESTAMP %v",
	"UPDATE t SET m = %c, l = l + %c, n = n + %v WHERE k IN %l IF c = %v",
	"UPDATE t SET m [ %v ] = %v WHERE k = %v IF EXISTS",
	"DELETE m [ %v ] FROM t WHERE k = %v IF c IN %l",
	"BEGIN BATCH INSERT INTO t (a) VALUES (%v) ; UPDATE t SET a = %v WHERE k = %v ; APPLY BATCH",
	"SELECT * FROM t WHERE a = %v AND b = %v AND c = %v AND d = %v AND e = %v",
	"CREATE KEYSPACE ks WITH replication = %c AND durable_writes = %v",
	"SELECT * FROM t WHERE token ( k ) > %v AND d < %v",
}

// gen makes random literals and records their text, so a test can check
// that none survives.
type gen struct {
	r    *rand.Rand
	lits []string
}

// lit returns a random literal of a random type.
func (g *gen) lit() string {
	var s string
	switch g.r.IntN(13) {
	case 0:
		s = "'" + strings.ReplaceAll(g.content(), "'", "''") + "'"
	case 1:
		// A $$ string ends at the first $$, even one made by its last $
		// and the closing $$: no $ inside.
		s = "$$" + strings.ReplaceAll(g.content(), "$", "") + "$$"
	case 2:
		s = strconv.FormatInt(g.r.Int64()-math.MaxInt64/2, 10)
	case 3:
		s = strconv.FormatFloat(g.r.NormFloat64()*1e6, 'g', -1, 64)
	case 4:
		s = strconv.FormatFloat(g.r.NormFloat64()*1e-9, []byte("eEf")[g.r.IntN(3)], -1, 64)
	case 5:
		s = fmt.Sprintf("0x%x", g.r.Uint64())
	case 6:
		s = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", g.r.Uint32(), g.r.IntN(1<<16), g.r.IntN(1<<16), g.r.IntN(1<<16), g.r.Int64N(1<<48))
		if g.r.IntN(2) == 0 {
			s = strings.ToUpper(s)
		}
	case 7:
		s = []string{"true", "false", "TRUE", "False", "NaN", "-NaN", "Infinity", "-Infinity"}[g.r.IntN(8)]
	case 8:
		units := []string{"y", "mo", "w", "d", "h", "m", "s", "ms", "us", "µs", "μs", "ns"}
		var b strings.Builder
		if g.r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		for range 1 + g.r.IntN(4) {
			fmt.Fprintf(&b, "%d%s", g.r.IntN(1000), units[g.r.IntN(len(units))])
		}
		s = b.String()
	case 9:
		s = fmt.Sprintf("P%dY%dM%dDT%dH%dM%dS", g.r.IntN(100), g.r.IntN(12), g.r.IntN(31), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60))
	case 10:
		s = fmt.Sprintf("-P%04d-%02d-%02dT%02d:%02d:%02d", g.r.IntN(10000), g.r.IntN(13), g.r.IntN(32), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60))
	case 11:
		s = "?"
	default:
		s = strconv.Itoa(g.r.IntN(1 << 30))
	}
	g.lits = append(g.lits, s)
	return s
}

// content returns a random string literal's content: a random word that
// no template holds, among characters that would mean something outside
// a string.
func (g *gen) content() string {
	var b strings.Builder
	extras := []string{"'", "''", "\"", "--", "//", "/*", "*/", "$", ";", "(", ")", "{", "}", ",", ":x", "?", " ", "\n", "é", "日本", "🚀", "0x1"}
	for range g.r.IntN(4) {
		b.WriteString(extras[g.r.IntN(len(extras))])
	}
	b.WriteString(g.secret())
	for range g.r.IntN(4) {
		b.WriteString(extras[g.r.IntN(len(extras))])
	}
	return b.String()
}

// secret returns a random word of 12 letters, recorded as a literal.
func (g *gen) secret() string {
	b := make([]byte, 12)
	for i := range b {
		b[i] = byte('a' + g.r.IntN(26))
	}
	g.lits = append(g.lits, string(b))
	return string(b)
}

// inList returns an IN list of 1 to 5 literals, or tuples of them.
func (g *gen) inList() string {
	tuple := g.r.IntN(3) == 0
	var b strings.Builder
	b.WriteByte('(')
	for i := range 1 + g.r.IntN(5) {
		if i > 0 {
			b.WriteString(g.sep(","))
		}
		if tuple {
			b.WriteString("(" + g.lit() + ", " + g.lit() + ")")
		} else {
			b.WriteString(g.lit())
		}
	}
	b.WriteByte(')')
	return b.String()
}

// coll returns a list, set or map literal of constants, maybe nested.
func (g *gen) coll(depth int) string {
	elem := func() string {
		if depth < 2 && g.r.IntN(4) == 0 {
			return g.coll(depth + 1)
		}
		return g.lit()
	}
	n := g.r.IntN(4)
	var parts []string
	switch g.r.IntN(3) {
	case 0:
		for range n {
			parts = append(parts, elem())
		}
		return "[" + strings.Join(parts, g.sep(",")) + "]"
	case 1:
		for range n {
			parts = append(parts, elem())
		}
		return "{" + strings.Join(parts, g.sep(",")) + "}"
	default:
		for range n {
			parts = append(parts, g.lit()+g.sep(":")+elem())
		}
		return "{" + strings.Join(parts, g.sep(",")) + "}"
	}
}

// sep returns punctuation p with random white space or comments around it.
func (g *gen) sep(p string) string {
	return g.space(true) + p + g.space(true)
}

// space returns white space, a comment, or (if empty is true) nothing.
func (g *gen) space(empty bool) string {
	choices := []string{" ", "  ", "\n\t", "\r\n", " /* " + g.secret() + " */ ", " -- " + g.secret() + "\n", " // note\n"}
	if empty {
		choices = append(choices, "", "")
	}
	return choices[g.r.IntN(len(choices))]
}

// fill fills a template's slots with random literals, and its spaces with
// random white space and comments; with blank, it fills every slot with
// "?" and keeps the spaces.
func (g *gen) fill(tmpl string, blank bool) string {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '%' && i+1 < len(tmpl):
			i++
			switch {
			case blank:
				b.WriteByte('?')
			case tmpl[i] == 'v':
				b.WriteString(g.lit())
			case tmpl[i] == 'l':
				b.WriteString(g.inList())
			case tmpl[i] == 'c':
				b.WriteString(g.coll(0))
			}
		case c == ' ' && !blank:
			b.WriteString(g.space(false))
		default:
			b.WriteByte(c)
		}
	}
	if !blank && g.r.IntN(2) == 0 {
		b.WriteString(";")
	}
	return b.String()
}

// TestPropertyLiteralsNeverSurvive fills templates with random literals,
// white space and comments, and checks that the normal form is the same
// whatever the literals, and that no literal survives in it.
func TestPropertyLiteralsNeverSurvive(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	g := &gen{r: rand.New(rand.NewPCG(seed, 17))}
	for _, tmpl := range templates {
		want := Normalize(g.fill(tmpl, true))
		for range 300 {
			g.lits = g.lits[:0]
			in := g.fill(tmpl, false)
			got := Normalize(in)
			require.Equal(t, want, got, "input %q", in)
			require.Equal(t, got, Normalize(got), "not idempotent: %q", in)
			for _, lit := range g.lits {
				if len(lit) >= 3 && !strings.Contains(want, lit) {
					require.NotContains(t, got, lit, "input %q", in)
				}
			}
		}
	}
}

// TestPropertyINListLength checks that IN lists of every length give one
// normal form.
func TestPropertyINListLength(t *testing.T) {
	want := Normalize("SELECT * FROM t WHERE k IN ?")
	for n := 0; n <= 100; n++ {
		for _, elem := range []string{"?", "1", "'x'", "(1, 'a')"} {
			in := "SELECT * FROM t WHERE k IN (" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + ")"
			assert.Equal(t, want, Normalize(in), in)
		}
	}
}

// TestPropertyIdempotent checks idempotence on every case of the tables
// and on random splices of them, which are rarely valid CQL.
func TestPropertyIdempotent(t *testing.T) {
	var corpus []string
	for _, tc := range normalizeCases {
		corpus = append(corpus, tc.in)
	}
	for _, tc := range classifyCases {
		corpus = append(corpus, tc.in)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 18))
	for range 20000 {
		a, b := corpus[r.IntN(len(corpus))], corpus[r.IntN(len(corpus))]
		in := a[:r.IntN(len(a)+1)] + b[r.IntN(len(b)+1):]
		got := Normalize(in)
		require.Equal(t, got, Normalize(got), "input %q", in)
		require.LessOrEqual(t, len(got), MaxLen)
	}
}
