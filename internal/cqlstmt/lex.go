package cqlstmt

import "strings"

// kind is the kind of a token as Normalize and Classify see it. Literals
// of every type and "?" markers share one kind, tValue: the rest of the
// package never treats a literal differently from a marker, which is what
// makes the normal form independent of the values in a statement.
type kind uint8

const (
	tNone      kind = iota // nothing yet: the start of the statement
	tWord                  // an unquoted name, or a word the grammar knows but Normalize keeps as written
	tKeyword               // a keyword (kwUpper), written upper-cased
	tQuoted                // a quoted name: "Foo", with "" for a quote inside
	tValue                 // a literal, a "?" marker, or what an unterminated quote or comment hides
	tNamed                 // a named marker: :name or :"Name"
	tOpen                  // ( [ {
	tClose                 // ) ] }
	tComma                 // ,
	tSemi                  // ;
	tDot                   // .
	tColon                 // : that is not part of a named marker, as in map literals
	tOp                    // = < > <= >= != + - * / %
	tTypeOpen              // < after a collection type name: map<
	tTypeClose             // > closing a tTypeOpen
	tOther                 // any other single byte
	tEOF                   // the end of the statement
)

// token is one token of a statement: its kind, its bytes s[start:end] in
// the statement, and, for words, the keyword flags.
type token struct {
	kind       kind
	flags      kwFlags
	start, end int
}

// valueLike reports whether a token of kind k can end an operand, so that
// a "-" after it subtracts rather than starts a negative number, and a "["
// after it subscripts rather than starts a list literal.
func valueLike(k kind) bool {
	switch k {
	case tWord, tQuoted, tValue, tNamed, tClose, tTypeClose:
		return true
	}
	return false
}

// lex returns the token at or after s[i], skipping white space and
// comments. afterValue says whether the previous token was valueLike,
// which decides whether "-1" is one literal or a minus and a literal, as
// in Cassandra's own grammar, and whether ":x" is a named marker or a map
// literal's ":" before a value.
//
// Every path advances by at least one byte and every scan is forward
// only, so lexing a whole statement is linear in its length. An
// unterminated string, quoted name or block comment runs to the end of
// the statement and comes back as a tValue, so that what it hides is
// never copied to the output.
func lex(s string, i int, afterValue bool) token {
	for i < len(s) {
		c := s[i]
		if isSpace(c) {
			i++
			continue
		}
		if (c == '-' || c == '/') && i+1 < len(s) && s[i+1] == c {
			// A line comment: -- or //.
			j := strings.IndexByte(s[i+2:], '\n')
			if j < 0 {
				i = len(s)
				break
			}
			i += 2 + j + 1
			continue
		}
		if c == '/' && i+1 < len(s) && s[i+1] == '*' {
			// A block comment; CQL's do not nest.
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return token{kind: tValue, start: i, end: len(s)}
			}
			i += 2 + j + 2
			continue
		}
		break
	}
	if i >= len(s) {
		return token{kind: tEOF, start: len(s), end: len(s)}
	}

	c := s[i]
	switch {
	case c == '\'':
		end, _ := scanQuoted(s, i, '\'')
		return token{kind: tValue, start: i, end: end}
	case c == '"':
		end, closed := scanQuoted(s, i, '"')
		if !closed {
			return token{kind: tValue, start: i, end: end}
		}
		return token{kind: tQuoted, start: i, end: end}
	case c == '$' && i+1 < len(s) && s[i+1] == '$':
		// A $$...$$ string: no escapes, it ends at the first $$.
		j := strings.Index(s[i+2:], "$$")
		if j < 0 {
			return token{kind: tValue, start: i, end: len(s)}
		}
		return token{kind: tValue, start: i, end: i + 2 + j + 2}
	case c == '?':
		return token{kind: tValue, start: i, end: i + 1}
	case isDigit(c):
		if isUUID(s, i) {
			return token{kind: tValue, start: i, end: scanWord(s, i+36)}
		}
		return token{kind: tValue, start: i, end: scanNumber(s, i)}
	case c == '-' && !afterValue:
		if i+1 < len(s) && isDigit(s[i+1]) {
			return token{kind: tValue, start: i, end: scanNumber(s, i+1)}
		}
		if end, ok := scanNegativeWord(s, i+1); ok {
			return token{kind: tValue, start: i, end: end}
		}
		return token{kind: tOp, start: i, end: i + 1}
	case isWordStart(c):
		return lexWord(s, i)
	case c == ':':
		// After a value, ":" separates a map key or UDT field from its
		// value ({1:true}, {f:x}); elsewhere ":name" is a named marker.
		if afterValue {
			return token{kind: tColon, start: i, end: i + 1}
		}
		if i+1 < len(s) && isWordStart(s[i+1]) {
			return token{kind: tNamed, start: i, end: scanWord(s, i+1)}
		}
		if i+1 < len(s) && s[i+1] == '"' {
			end, closed := scanQuoted(s, i+1, '"')
			if !closed {
				return token{kind: tValue, start: i, end: end}
			}
			return token{kind: tNamed, start: i, end: end}
		}
		return token{kind: tColon, start: i, end: i + 1}
	case c == '(' || c == '[' || c == '{':
		return token{kind: tOpen, start: i, end: i + 1}
	case c == ')' || c == ']' || c == '}':
		return token{kind: tClose, start: i, end: i + 1}
	case c == ',':
		return token{kind: tComma, start: i, end: i + 1}
	case c == ';':
		return token{kind: tSemi, start: i, end: i + 1}
	case c == '.':
		return token{kind: tDot, start: i, end: i + 1}
	case c == '<' || c == '>' || c == '!':
		if i+1 < len(s) && s[i+1] == '=' {
			return token{kind: tOp, start: i, end: i + 2}
		}
		if c == '!' {
			return token{kind: tOther, start: i, end: i + 1}
		}
		return token{kind: tOp, start: i, end: i + 1}
	case c == '=' || c == '+' || c == '-' || c == '*' || c == '/' || c == '%':
		return token{kind: tOp, start: i, end: i + 1}
	}
	return token{kind: tOther, start: i, end: i + 1}
}

// lexWord lexes the token that starts with the word character s[i]: a
// UUID, an ISO 8601 duration, a boolean, NaN or Infinity (all literals), a
// keyword, or a name.
func lexWord(s string, i int) token {
	if isUUID(s, i) {
		// Word characters glued to a UUID go with it: a malformed literal
		// is still hidden.
		return token{kind: tValue, start: i, end: scanWord(s, i+36)}
	}
	if isAltDuration(s, i) {
		return token{kind: tValue, start: i, end: i + altDurationLen}
	}
	end := scanWord(s, i)
	w := s[i:end]
	if isLiteralWord(w) {
		return token{kind: tValue, start: i, end: end}
	}
	f := lookupKeyword(w)
	if f&kwUpper != 0 {
		return token{kind: tKeyword, flags: f, start: i, end: end}
	}
	return token{kind: tWord, flags: f, start: i, end: end}
}

// scanNegativeWord reports whether the word at s[i] (just after a "-" in
// a place where a value may start) is a literal that can be negative:
// NaN, Infinity or an ISO 8601 duration. It returns the word's end.
func scanNegativeWord(s string, i int) (int, bool) {
	if i >= len(s) || !isWordStart(s[i]) {
		return 0, false
	}
	if isAltDuration(s, i) {
		return i + altDurationLen, true
	}
	end := scanWord(s, i)
	w := s[i:end]
	if strings.EqualFold(w, "nan") || strings.EqualFold(w, "infinity") || isISODuration(w) {
		return end, true
	}
	return 0, false
}

// scanQuoted returns the end of the string or quoted name that opens with
// the quote q at s[i], where a doubled quote stands for one quote inside:
// just past the closing quote, or len(s) and closed false if it is never
// closed.
func scanQuoted(s string, i int, q byte) (end int, closed bool) {
	j := i + 1
	for {
		k := strings.IndexByte(s[j:], q)
		if k < 0 {
			return len(s), false
		}
		j += k + 1
		if j < len(s) && s[j] == q {
			j++ // a doubled quote: one quote inside
			continue
		}
		return j, true
	}
}

// scanNumber returns the end of the numeric literal whose first digit is
// s[i]: an integer, a float with an optional exponent (1.5e-3), a hex
// blob or number (0xCAFE), or a duration (1h30m, 10µs). Any word
// characters glued to it go with it, so a malformed literal is hidden
// whole rather than split into a number and a name.
func scanNumber(s string, i int) int {
	j := i
	mantissa := true // only digits and at most one '.' so far: an exponent may follow
	dot := false
	for j < len(s) {
		c := s[j]
		switch {
		case isDigit(c):
			j++
		case c == '.':
			if dot {
				mantissa = false
			}
			dot = true
			j++
		case c == 'e' || c == 'E':
			if mantissa && j+2 < len(s) && (s[j+1] == '+' || s[j+1] == '-') && isDigit(s[j+2]) {
				j += 3
			} else {
				j++
			}
			mantissa = false
		case isWordByte(c):
			mantissa = false
			j++
		default:
			return j
		}
	}
	return j
}

// scanWord returns the end of the run of word characters from s[i].
func scanWord(s string, i int) int {
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	return i
}

// isLiteralWord reports whether a whole word is a literal: true, false,
// NaN, Infinity (in any case, as the grammar reads them) or an ISO 8601
// duration such as P1D or PT1H30M.
func isLiteralWord(w string) bool {
	switch len(w) {
	case 3:
		if strings.EqualFold(w, "nan") {
			return true
		}
	case 4:
		if strings.EqualFold(w, "true") {
			return true
		}
	case 5:
		if strings.EqualFold(w, "false") {
			return true
		}
	case 8:
		if strings.EqualFold(w, "infinity") {
			return true
		}
	}
	return isISODuration(w)
}

// isISODuration reports whether w is an ISO 8601 duration in designator
// form: P, then one or more groups of digits and a unit letter, with at
// most one T between the date and the time part (P1Y2M3D, PT1H30M, P2W).
// The check is deliberately loose about the order of units: a name that
// happens to match only becomes "?", which hides nothing.
func isISODuration(w string) bool {
	if len(w) < 3 || (w[0] != 'P' && w[0] != 'p') {
		return false
	}
	groups, timePart := 0, false
	for i := 1; i < len(w); {
		if w[i] == 'T' || w[i] == 't' {
			if timePart {
				return false
			}
			timePart = true
			i++
			continue
		}
		j := i
		for j < len(w) && isDigit(w[j]) {
			j++
		}
		if j == i || j == len(w) {
			return false
		}
		switch upper(w[j]) {
		case 'Y', 'M', 'W', 'D', 'H', 'S':
		default:
			return false
		}
		groups++
		i = j + 1
	}
	return groups > 0
}

// altDurationLen is the length of an ISO 8601 duration in alternative
// form: P0001-02-03T04:05:06.
const altDurationLen = 20

// isAltDuration reports whether s[i:] starts with an ISO 8601 duration in
// alternative form, which holds '-' and ':' and so is not one word.
func isAltDuration(s string, i int) bool {
	const pattern = "P0000-00-00T00:00:00"
	if len(s)-i < altDurationLen || upper(s[i]) != 'P' {
		return false
	}
	for k := 1; k < altDurationLen; k++ {
		c, p := s[i+k], pattern[k]
		switch p {
		case '0':
			if !isDigit(c) {
				return false
			}
		case 'T':
			if upper(c) != 'T' {
				return false
			}
		default:
			if c != p {
				return false
			}
		}
	}
	return i+altDurationLen == len(s) || !isWordByte(s[i+altDurationLen])
}

// isUUID reports whether s[i:] starts with a UUID in its 8-4-4-4-12 hex
// form (which covers timeuuids).
func isUUID(s string, i int) bool {
	if len(s)-i < 36 || s[i+8] != '-' || s[i+13] != '-' {
		return false
	}
	for k := 0; k < 36; k++ {
		c := s[i+k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// isWordStart reports whether c starts a word. Bytes of multi-byte UTF-8
// sequences count as word bytes, so a word never ends inside a character
// and Normalize never splits one (CQL allows non-ASCII only in quotes, so
// such words are invalid anyway; they are kept whole, as names).
func isWordStart(c byte) bool { return isLetter(c) || c == '_' || c >= 0x80 }

// isWordByte reports whether c continues a word.
func isWordByte(c byte) bool { return isWordStart(c) || isDigit(c) }
