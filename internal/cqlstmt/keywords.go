package cqlstmt

// kwFlags describes what the normaliser and the classifier need to know
// about a word the CQL grammar gives a meaning to.
type kwFlags uint8

const (
	// kwUpper marks a keyword: Normalize writes it upper-cased, whatever
	// case it was written in. Unquoted names are case-insensitive in CQL, so
	// upper-casing never changes what a statement means; it only makes
	// "select" and "SELECT" give one label.
	kwUpper kwFlags = 1 << iota
	// kwReserved marks a word CQL reserves: it cannot be an unquoted
	// name, so Classify never takes it for a keyspace or a table.
	kwReserved
	// kwCall marks a keyword that is also called like a function
	// (token(pk), writetime(c), keys(m) in CREATE INDEX): Normalize writes
	// no space before its "(".
	kwCall
	// kwAngle marks a collection or tuple type name: a "<" after it opens
	// type arguments (map<text, int>), written without spaces, not a
	// comparison.
	kwAngle
	// kwIn marks IN: a "(" after it opens a list of values, which
	// Normalize collapses to one "?" when every element is a constant.
	kwIn
	// kwTarget marks a keyword after which comes the name of a table or
	// type that may be followed by a column list: INSERT INTO t (a, b),
	// CREATE TABLE IF NOT EXISTS t (...), CREATE INDEX ON t (c). Normalize
	// writes a space before that "(", as it does not before a call's.
	kwTarget
)

// keywords maps the upper-cased spelling of a word to its flags. Words
// absent from it are names (kept as written).
//
// The reserved words are upper-cased, as are the unreserved words that
// shape a statement (AS, EXISTS, TTL, VALUES, ...). Type names and other
// unreserved words that tables commonly use as column names (date, text,
// user, list, count) are kept as written, so that a column keeps the
// spelling its schema gives it; TIMESTAMP and COUNTER are the exceptions,
// as USING TIMESTAMP and BEGIN COUNTER BATCH shape many writes. Words used
// only by statements that manage roles and permissions are left out.
var keywords = map[string]kwFlags{
	// Reserved.
	"ADD": kwUpper | kwReserved, "ALLOW": kwUpper | kwReserved, "ALTER": kwUpper | kwReserved,
	"AND": kwUpper | kwReserved, "APPLY": kwUpper | kwReserved, "ASC": kwUpper | kwReserved,
	"AUTHORIZE": kwUpper | kwReserved, "BATCH": kwUpper | kwReserved, "BEGIN": kwUpper | kwReserved,
	"BY": kwUpper | kwReserved, "COLUMNFAMILY": kwUpper | kwReserved | kwTarget, "CREATE": kwUpper | kwReserved,
	"DELETE": kwUpper | kwReserved, "DESC": kwUpper | kwReserved, "DESCRIBE": kwUpper | kwReserved,
	"DROP": kwUpper | kwReserved, "ENTRIES": kwUpper | kwReserved | kwCall, "EXECUTE": kwUpper | kwReserved,
	"FROM": kwUpper | kwReserved, "FULL": kwUpper | kwReserved | kwCall, "GRANT": kwUpper | kwReserved,
	"IF": kwUpper | kwReserved, "IN": kwUpper | kwReserved | kwIn, "INDEX": kwUpper | kwReserved,
	"INSERT": kwUpper | kwReserved, "INTO": kwUpper | kwReserved | kwTarget, "IS": kwUpper | kwReserved,
	"KEYSPACE": kwUpper | kwReserved, "LIMIT": kwUpper | kwReserved, "MODIFY": kwUpper | kwReserved,
	"NORECURSIVE": kwUpper | kwReserved, "NOT": kwUpper | kwReserved, "NULL": kwUpper | kwReserved,
	"OF": kwUpper | kwReserved, "ON": kwUpper | kwReserved | kwTarget, "OR": kwUpper | kwReserved,
	"ORDER": kwUpper | kwReserved, "PRIMARY": kwUpper | kwReserved, "RENAME": kwUpper | kwReserved,
	"REPLACE": kwUpper | kwReserved, "REVOKE": kwUpper | kwReserved, "SCHEMA": kwUpper | kwReserved,
	"SELECT": kwUpper | kwReserved, "SET": kwUpper | kwReserved | kwAngle, "TABLE": kwUpper | kwReserved | kwTarget,
	"TO": kwUpper | kwReserved, "TOKEN": kwUpper | kwReserved | kwCall, "TRUNCATE": kwUpper | kwReserved,
	"UNLOGGED": kwUpper | kwReserved, "UPDATE": kwUpper | kwReserved, "USE": kwUpper | kwReserved,
	"USING": kwUpper | kwReserved, "VIEW": kwUpper | kwReserved | kwTarget, "WHERE": kwUpper | kwReserved,
	"WITH": kwUpper | kwReserved, "MATERIALIZED": kwUpper | kwReserved,

	// Unreserved words that shape a statement.
	"AS": kwUpper, "EXISTS": kwUpper | kwTarget, "VALUES": kwUpper, "JSON": kwUpper,
	"DISTINCT": kwUpper, "FILTERING": kwUpper, "CONTAINS": kwUpper, "KEY": kwUpper, "KEYS": kwUpper | kwCall,
	"TTL": kwUpper | kwCall, "WRITETIME": kwUpper | kwCall, "MAXWRITETIME": kwUpper | kwCall,
	"CAST": kwUpper | kwCall, "PER": kwUpper, "PARTITION": kwUpper, "GROUP": kwUpper, "LIKE": kwUpper,
	"CLUSTERING": kwUpper, "COMPACT": kwUpper, "STORAGE": kwUpper, "STATIC": kwUpper,
	"TYPE": kwUpper | kwTarget, "FUNCTION": kwUpper, "AGGREGATE": kwUpper, "CUSTOM": kwUpper,
	"TRIGGER": kwUpper, "ROLE": kwUpper, "DEFAULT": kwUpper, "UNSET": kwUpper, "LOGGED": kwUpper,
	"COUNTER": kwUpper, "TIMESTAMP": kwUpper, "CALLED": kwUpper, "RETURNS": kwUpper,
	"SFUNC": kwUpper, "STYPE": kwUpper, "FINALFUNC": kwUpper, "INITCOND": kwUpper,

	// Type constructors, kept as written.
	"MAP": kwAngle, "LIST": kwAngle, "FROZEN": kwAngle, "TUPLE": kwAngle, "VECTOR": kwAngle,
}

// maxKeywordLen is the length of the longest word in keywords; longer
// words are names without a lookup.
const maxKeywordLen = 12

// keywordTable holds keywords for lookupKeyword: an open-addressing hash
// table, built once from keywords, with a hash that needs no
// upper-cased copy of the word. Normalize looks up every word of a
// statement, and a Go map's string hashing was most of its time.
var keywordTable = func() (t [256]struct {
	word  string
	flags kwFlags
}) {
	for w, f := range keywords {
		if len(w) > maxKeywordLen {
			panic("cqlstmt: keyword longer than maxKeywordLen: " + w)
		}
		h := keywordHash(w)
		for t[h].word != "" {
			h++ // wraps around the table, which has room to spare
		}
		t[h].word, t[h].flags = w, f
	}
	return t
}()

// keywordHash hashes a word case-insensitively.
func keywordHash(w string) uint8 {
	return uint8(len(w)*41) ^ upper(w[0])*7 ^ upper(w[len(w)-1])*13 ^ upper(w[len(w)/2])*3
}

// lookupKeyword returns the flags of word, matched case-insensitively, or
// 0 for a name.
func lookupKeyword(word string) kwFlags {
	if len(word) == 0 || len(word) > maxKeywordLen {
		return 0
	}
	for h := keywordHash(word); ; h++ {
		e := &keywordTable[h]
		if e.word == "" {
			return 0
		}
		if len(e.word) == len(word) && equalUpper(word, e.word) {
			return e.flags
		}
	}
}

// equalUpper reports whether w, upper-cased, is up.
func equalUpper(w, up string) bool {
	for i := 0; i < len(w); i++ {
		if upper(w[i]) != up[i] {
			return false
		}
	}
	return true
}

// upper returns the ASCII upper case of c; other bytes are returned as is.
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
