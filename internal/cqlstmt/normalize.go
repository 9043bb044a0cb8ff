package cqlstmt

// MaxLen is the most bytes Normalize returns. A longer normal form is cut
// after its last whole token that leaves room, and " …" is appended, so a
// statement of several megabytes never becomes a label several megabytes
// long. 1000 bytes hold any statement a person would read in a log line.
const MaxLen = 1000

// ellipsis ends a normal form that was cut at MaxLen.
const ellipsis = "…"

// maxDepth is how many nested brackets the normaliser tracks. Brackets
// nested deeper are copied token by token (their literals still become
// "?") but never collapse, so the normaliser's memory is fixed.
const maxDepth = 16

// Normalize returns the normal form of a CQL statement: the same
// statement with no literal in it, fit to be a metric label or to be
// logged, and equal for every statement that differs from it only in
// literal values, letter case of keywords, white space or comments.
//
//   - String literals ('...', in which a doubled quote is a quote, and
//     $$...$$), numbers (integers, floats with exponents, hex, negative
//     numbers, NaN, Infinity), UUIDs and timeuuids, blobs (0x...), booleans
//     and durations (1h30m, -10µs, P1D, PT1H, P0001-02-03T04:05:06) become
//     "?", as do positional markers.
//   - A collection literal or IN list whose elements are all constants or
//     "?" becomes one "?": a list [...], a set or map {...} (tuples and
//     collections nested in them included), and an IN list, so
//     "IN (1, 2, 3)" and "IN ('a')" are both "IN ?", the form a driver
//     sends for a bound list. Other brackets stay, their literals replaced:
//     calls (now(), token(?)), VALUES and column lists and tuples, whose
//     length is fixed by the statement, and any bracket holding a name or
//     a named marker ({street: ?}, IN (:a, :b)).
//   - Named markers (:name) and quoted names ("Foo", quotes and case kept)
//     stay as written; so do unquoted names.
//   - Keywords are upper-cased (see keywords.go for the list): CQL's
//     unquoted names are case-insensitive, so this does not change what
//     the statement means.
//   - Comments (--, //, /* */) are removed and tokens are separated by one
//     space, except where CQL is usually written without one: after "(",
//     "[" and "{", around ".", before ")", "]", "}", ",", ";" and ":",
//     before the "(" of a call and inside type arguments (map<text, int>).
//     A final ";" is dropped.
//   - An unterminated string, quoted name or block comment hides the rest
//     of the statement: it becomes one "?".
//   - The result is at most MaxLen bytes; see MaxLen.
//
// Normalize is idempotent: Normalize(Normalize(s)) == Normalize(s). It runs
// in time linear in len(stmt), never panics, returns valid UTF-8 for valid
// UTF-8 input, and allocates at most once, for the result (not at all when
// stmt is already in normal form, as most statements with markers are).
func Normalize(stmt string) string {
	var z normalizer
	z.lastSep = -1
	for i := 0; ; {
		t := lex(stmt, i, valueLike(z.prev))
		if t.kind == tEOF {
			break
		}
		i = t.end
		z.token(stmt[t.start:t.end], t)
	}
	return z.result(stmt)
}

// normalizer writes the normal form of a statement token by token.
//
// Its output is virtual: z.n counts every byte written, but only the first
// MaxLen are kept in buf. That is enough, because the output only ever
// grows at its end or shrinks back to where a bracket opened (when the
// bracket collapses to "?"), so the bytes kept in buf are always the
// output's first bytes; and a statement whose final output is longer than
// MaxLen is cut within MaxLen anyway.
type normalizer struct {
	buf [MaxLen]byte
	n   int // bytes written, of which min(n, MaxLen) are in buf

	// lastSep is where the last separating space was written among those
	// that leave room for " …" within MaxLen, or -1: the place a long
	// output is cut, always between two whole tokens.
	lastSep int

	prev      kind    // the kind of the last token written
	prevFlags kwFlags // its keyword flags
	target    bool    // the last token is (part of) a name after a kwTarget keyword
	semis     int     // ";" seen but not yet written: dropped at the end
	angle     int     // type argument lists open: map<...

	frames   [maxDepth]frame // the brackets open, innermost last
	depth    int             // how many of frames are in use
	overflow int             // brackets open beyond maxDepth
}

// frame is an open bracket.
type frame struct {
	start     int     // z.n before the bracket and its separator: where a collapse cuts back to
	lastSep   int     // z.lastSep before the bracket
	prev      kind    // the token before the bracket, restored by a collapse
	prevFlags kwFlags // its flags
	closer    byte    // the byte that closes this bracket
	collapse  bool    // the bracket holds a literal or an IN list: it may collapse to "?"
	ok        bool    // every token inside so far is a constant, a marker, a "," or a ":"
}

// token writes the normal form of one token, whose text is text.
func (z *normalizer) token(text string, t token) {
	if t.kind == tSemi {
		// Held back until another token comes, so a final ";" is dropped.
		z.semis++
		z.prev, z.prevFlags = tSemi, 0
		return
	}
	for ; z.semis > 0; z.semis-- {
		z.emit(tSemi, 0, ";")
	}
	switch t.kind {
	case tValue:
		z.emit(tValue, 0, "?")
	case tOpen:
		z.open(text)
	case tClose:
		z.close(text)
	case tOp:
		switch {
		case text == "<" && z.prevFlags&kwAngle != 0 && (z.prev == tWord || z.prev == tKeyword):
			z.angle++
			z.emit(tTypeOpen, 0, text)
		case text == ">" && z.angle > 0:
			z.angle--
			z.emit(tTypeClose, 0, text)
		default:
			z.emit(tOp, 0, text)
		}
	default:
		z.emit(t.kind, t.flags, text)
	}
}

// open writes the opening bracket text and starts tracking it.
func (z *normalizer) open(text string) {
	var collapse bool
	var closer byte
	switch text[0] {
	case '{':
		// Sets, maps and UDT literals: always a literal.
		collapse, closer = true, '}'
	case '[':
		// A list literal, unless it subscripts what comes before: m['k'].
		collapse, closer = !valueLike(z.prev), ']'
	default:
		// An IN list, or a tuple inside a literal; not a call such as
		// now() or token(pk), nor a VALUES or column list (which has a
		// fixed length, and whose elements are worth seeing).
		call := z.prev == tWord || z.prev == tQuoted || z.prev == tKeyword
		inLiteral := z.depth > 0 && z.overflow == 0 && z.frames[z.depth-1].collapse && !call
		collapse, closer = (z.prev == tKeyword && z.prevFlags&kwIn != 0) || inLiteral, ')'
	}
	if z.depth == maxDepth || z.overflow > 0 {
		z.frames[z.depth-1].ok = false
		z.overflow++
		z.emit(tOpen, 0, text)
		return
	}
	z.frames[z.depth] = frame{
		start:     z.n,
		lastSep:   z.lastSep,
		prev:      z.prev,
		prevFlags: z.prevFlags,
		closer:    closer,
		collapse:  collapse,
		ok:        true,
	}
	z.depth++
	z.emit(tOpen, 0, text)
}

// close writes the closing bracket text, or, if it closes a literal made
// only of constants, replaces the whole bracket with "?".
func (z *normalizer) close(text string) {
	if z.overflow > 0 {
		z.overflow--
		z.emit(tClose, 0, text)
		return
	}
	if z.depth > 0 && z.frames[z.depth-1].closer == text[0] {
		z.depth--
		f := &z.frames[z.depth]
		if f.collapse && f.ok {
			z.n, z.lastSep = f.start, f.lastSep
			z.prev, z.prevFlags = f.prev, f.prevFlags
			z.emit(tValue, 0, "?")
			return
		}
	}
	// Not collapsed, or closing nothing: an ordinary token, which tells
	// the enclosing bracket that it holds more than constants.
	z.emit(tClose, 0, text)
}

// emit writes one token of kind k, preceded by a space where the normal
// form puts one, and marks the innermost bracket as not a constant literal
// unless the token may appear in one.
func (z *normalizer) emit(k kind, f kwFlags, text string) {
	if z.spaceBefore(k, text) {
		if z.n+len(" "+ellipsis) <= MaxLen {
			z.lastSep = z.n
		}
		z.write(" ", false)
	}
	z.write(text, k == tKeyword)
	switch k {
	case tWord, tQuoted:
		z.target = (z.prev == tKeyword && z.prevFlags&kwTarget != 0) || (z.prev == tDot && z.target)
	case tDot:
		// ks.tbl: the dot carries the flag to the table's name.
	default:
		z.target = false
	}
	z.prev, z.prevFlags = k, f
	if z.depth > 0 {
		switch k {
		case tValue, tComma, tColon, tOpen:
			// An opening bracket is judged when it closes: collapsed, it
			// leaves a "?"; not collapsed, its closer marks this frame.
		default:
			z.frames[z.depth-1].ok = false
		}
	}
}

// spaceBefore reports whether the normal form separates a token of kind k
// and text text from the one before it.
func (z *normalizer) spaceBefore(k kind, text string) bool {
	if z.n == 0 {
		return false
	}
	switch z.prev {
	case tOpen, tDot:
		return false
	case tTypeOpen:
		// Except that "<" and "=" written together would read as "<=".
		return text[0] == '='
	}
	switch k {
	case tClose, tComma, tSemi, tDot, tColon, tTypeOpen, tTypeClose:
		return false
	case tOpen:
		switch text[0] {
		case '(':
			// A call: now(), token(pk); but INSERT INTO t (a, b).
			call := (z.prev == tWord || z.prev == tQuoted) && !z.target ||
				(z.prev == tKeyword && z.prevFlags&kwCall != 0)
			return !call
		case '[':
			// A subscript: m['k'].
			return !valueLike(z.prev)
		}
	}
	return true
}

// write appends text to the output, upper-cased if up, keeping what fits
// in buf.
func (z *normalizer) write(text string, up bool) {
	if z.n < MaxLen {
		m := copy(z.buf[z.n:], text)
		if up {
			for j := z.n; j < z.n+m; j++ {
				z.buf[j] = upper(z.buf[j])
			}
		}
	}
	z.n += len(text)
}

// result returns the output, stmt itself if the two are equal (so a
// statement already in normal form costs no allocation), and the output
// cut at its last separator with " …" appended if it is longer than MaxLen.
func (z *normalizer) result(stmt string) string {
	if z.n <= MaxLen {
		out := z.buf[:z.n]
		if string(out) == stmt {
			return stmt
		}
		return string(out)
	}
	if z.lastSep < 0 {
		// The first token alone is too long.
		return ellipsis
	}
	n := z.lastSep + copy(z.buf[z.lastSep:], " "+ellipsis)
	return string(z.buf[:n])
}
