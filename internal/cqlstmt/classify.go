package cqlstmt

import (
	"fmt"
	"strings"
)

// Kind is what a statement does, as a metric label: few values, known in
// advance.
type Kind uint8

const (
	// Other is any statement not of another kind (GRANT, REVOKE, LIST,
	// DESCRIBE, ...) and what Classify returns for text it does not
	// recognise. It is the zero Kind.
	Other Kind = iota
	// Select reads: SELECT.
	Select
	// Insert writes new rows: INSERT.
	Insert
	// Update changes rows: UPDATE.
	Update
	// Delete removes rows or cells: DELETE.
	Delete
	// Batch groups writes: BEGIN [UNLOGGED | COUNTER] BATCH ... APPLY BATCH.
	Batch
	// DDL changes the schema: CREATE, ALTER, DROP and TRUNCATE, whatever
	// they act on (tables, keyspaces, types, functions, roles, ...).
	DDL
	// Use sets the connection's keyspace: USE.
	Use
)

var kindNames = [...]string{
	Other:  "OTHER",
	Select: "SELECT",
	Insert: "INSERT",
	Update: "UPDATE",
	Delete: "DELETE",
	Batch:  "BATCH",
	DDL:    "DDL",
	Use:    "USE",
}

// String returns the kind's name in upper case, as CQL writes its
// keywords: "SELECT", "INSERT", ..., "DDL", "USE", "OTHER".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Info is what Classify learns about a statement: its kind, and the
// keyspace and table it acts on where the statement names them.
type Info struct {
	// Kind is what the statement does.
	Kind Kind
	// Keyspace is the keyspace the statement names, or "" if it names none
	// (an unqualified table is in the session's keyspace, which only the
	// caller knows). For USE, CREATE/ALTER/DROP KEYSPACE it is the
	// keyspace itself.
	Keyspace string
	// Table is the table the statement acts on, or "". For CREATE INDEX
	// and CREATE/DROP TRIGGER it is the table the index or trigger is on;
	// for a materialized view, the view. For a batch, Keyspace is set only
	// when every statement in the batch names the same keyspace, and Table
	// when they also all name the same table.
	Table string
}

// maxNameLen bounds the names Classify returns, so that a label stays
// short. It is generous (Cassandra limits keyspace names to 48
// characters), so that no real name is left out.
const maxNameLen = 222

// Classify reports what a statement does and which keyspace and table it
// acts on, for metric labels and logs. It reads only as far as it needs,
// at most once through the statement, never panics, and never fails:
// what it does not recognise is Other, and a name it cannot find is "".
//
// Names are given as Cassandra stores them: an unquoted name in lower
// case (CQL folds it), a quoted one unquoted with its case kept. A name
// that Cassandra would refuse (anything but ASCII letters, digits and _)
// or longer than 222 bytes is left out, so Keyspace and Table are always
// short, and safe as label values. The strings returned share no memory
// with stmt, so a label does not keep a large statement alive.
func Classify(stmt string) Info {
	c := cursor{s: stmt}
	t := c.next()
	switch {
	case c.is(t, "SELECT"):
		ks, tbl := c.fromTarget(false)
		return Info{Kind: Select, Keyspace: ks, Table: tbl}
	case c.is(t, "INSERT"):
		ks, tbl := c.insertTarget()
		return Info{Kind: Insert, Keyspace: ks, Table: tbl}
	case c.is(t, "UPDATE"):
		ks, tbl, _ := c.name()
		return Info{Kind: Update, Keyspace: ks, Table: tbl}
	case c.is(t, "DELETE"):
		ks, tbl := c.fromTarget(false)
		return Info{Kind: Delete, Keyspace: ks, Table: tbl}
	case c.is(t, "BEGIN"):
		return c.batch()
	case c.is(t, "USE"):
		_, ks, _ := c.name()
		return Info{Kind: Use, Keyspace: ks}
	case c.is(t, "TRUNCATE"):
		if c.is(c.peek(), "TABLE") || c.is(c.peek(), "COLUMNFAMILY") {
			c.next()
		}
		ks, tbl, _ := c.name()
		return Info{Kind: DDL, Keyspace: ks, Table: tbl}
	case c.is(t, "CREATE"), c.is(t, "ALTER"), c.is(t, "DROP"):
		return c.schema(c.is(t, "CREATE"))
	}
	return Info{Kind: Other}
}

// batch classifies the rest of a statement that began with BEGIN.
func (c *cursor) batch() Info {
	t := c.next()
	if c.is(t, "UNLOGGED") || c.is(t, "COUNTER") || c.is(t, "LOGGED") {
		t = c.next()
	}
	if !c.is(t, "BATCH") {
		return Info{Kind: Other}
	}
	// The target the statements share so far; n counts the statements.
	var ks, tbl string
	n := 0
	sameKs, sameTbl := true, true
	add := func(k, t string, ok bool) {
		if n == 0 {
			ks, tbl = k, t
		}
		sameKs = sameKs && ok && k == ks
		// A table is only the same in the same keyspace: t and ks.t may
		// differ, as the session's keyspace need not be ks.
		sameTbl = sameTbl && sameKs && t == tbl && t != ""
		n++
	}
	for depth := 0; ; {
		t := c.next()
		switch {
		case t.kind == tEOF:
			if n == 0 || !sameTbl {
				tbl = ""
			}
			if n == 0 || !sameKs {
				ks = ""
			}
			return Info{Kind: Batch, Keyspace: ks, Table: tbl}
		case t.kind == tOpen:
			depth++
		case t.kind == tClose:
			depth = max(depth-1, 0)
		case depth != 0:
		case c.is(t, "INSERT"):
			k, tb := c.insertTarget()
			add(k, tb, tb != "")
		case c.is(t, "UPDATE"):
			k, tb, ok := c.name()
			add(k, tb, ok)
		case c.is(t, "DELETE"):
			k, tb := c.fromTarget(true)
			add(k, tb, tb != "")
		}
	}
}

// schema classifies the rest of a CREATE, ALTER or DROP statement.
func (c *cursor) schema(create bool) Info {
	info := Info{Kind: DDL}
	t := c.next()
	if c.is(t, "OR") { // CREATE OR REPLACE FUNCTION
		c.next()
		t = c.next()
	}
	if c.is(t, "CUSTOM") { // CREATE CUSTOM INDEX
		t = c.next()
	}
	if c.is(t, "MATERIALIZED") {
		t = c.next()
	}
	switch {
	case c.is(t, "TABLE"), c.is(t, "COLUMNFAMILY"), c.is(t, "VIEW"):
		c.skipIfExists()
		info.Keyspace, info.Table, _ = c.name()
	case c.is(t, "KEYSPACE"), c.is(t, "SCHEMA"):
		c.skipIfExists()
		_, info.Keyspace, _ = c.name()
	case c.is(t, "INDEX"):
		c.skipIfExists()
		if !create {
			// DROP INDEX [ks.]idx: only the keyspace is known.
			info.Keyspace, _, _ = c.name()
			return info
		}
		if !c.is(c.peek(), "ON") {
			c.name() // the index's own name
		}
		if c.is(c.next(), "ON") {
			info.Keyspace, info.Table, _ = c.name()
		}
	case c.is(t, "TRIGGER"):
		c.skipIfExists()
		c.name()
		if c.is(c.next(), "ON") {
			info.Keyspace, info.Table, _ = c.name()
		}
	case c.is(t, "TYPE"), c.is(t, "FUNCTION"), c.is(t, "AGGREGATE"):
		// Not tables: only a qualifying keyspace is worth a label.
		c.skipIfExists()
		info.Keyspace, _, _ = c.name()
	}
	return info
}

// insertTarget reads INTO [ks.]tbl after INSERT.
func (c *cursor) insertTarget() (ks, tbl string) {
	if !c.is(c.peek(), "INTO") {
		return "", ""
	}
	c.next()
	ks, tbl, _ = c.name()
	return ks, tbl
}

// fromTarget reads on to the FROM of a SELECT or DELETE, outside
// brackets, and the name after it. In a batch (inBatch), it stops at the
// start of the next statement, so a malformed DELETE does not take the
// next statement's table.
func (c *cursor) fromTarget(inBatch bool) (ks, tbl string) {
	for depth := 0; ; {
		t := c.peek()
		switch {
		case t.kind == tEOF:
			return "", ""
		case t.kind == tOpen:
			depth++
		case t.kind == tClose:
			depth = max(depth-1, 0)
		case depth != 0:
		case c.is(t, "FROM"):
			c.next()
			ks, tbl, _ = c.name()
			return ks, tbl
		case inBatch && (c.is(t, "INSERT") || c.is(t, "UPDATE") || c.is(t, "DELETE") || c.is(t, "APPLY")):
			return "", ""
		}
		c.next()
	}
}

// skipIfExists skips IF EXISTS or IF NOT EXISTS.
func (c *cursor) skipIfExists() {
	if !c.is(c.peek(), "IF") {
		return
	}
	c.next()
	if c.is(c.peek(), "NOT") {
		c.next()
	}
	if c.is(c.peek(), "EXISTS") {
		c.next()
	}
}

// name reads a name that may be qualified by a keyspace: tbl or ks.tbl.
// For an unqualified name ks is "" and the name is in tbl. ok reports
// whether a name was there at all; either part is "" if it is not a name
// Cassandra would accept (see Classify).
func (c *cursor) name() (ks, tbl string, ok bool) {
	t := c.peek()
	if !isName(t) {
		return "", "", false
	}
	c.next()
	first := c.ident(t)
	if c.peek().kind != tDot {
		return "", first, true
	}
	c.next()
	t = c.peek()
	if !isName(t) {
		return first, "", true
	}
	c.next()
	return first, c.ident(t), true
}

// isName reports whether t can be a keyspace or table name: a quoted
// name, or a word that CQL does not reserve.
func isName(t token) bool {
	return t.kind == tQuoted || (t.kind == tWord || t.kind == tKeyword) && t.flags&kwReserved == 0
}

// ident returns the name t stands for as Cassandra stores it, or "" if
// Cassandra would refuse it, in a string of its own.
func (c *cursor) ident(t token) string {
	text := c.s[t.start:t.end]
	quoted := t.kind == tQuoted
	if quoted {
		text = text[1 : len(text)-1]
	}
	if len(text) == 0 || len(text) > maxNameLen {
		return ""
	}
	lower := false
	for i := 0; i < len(text); i++ {
		ch := text[i]
		switch {
		case 'A' <= ch && ch <= 'Z':
			lower = lower || !quoted
		case 'a' <= ch && ch <= 'z', isDigit(ch), ch == '_':
		default:
			return ""
		}
	}
	if lower {
		return strings.ToLower(text)
	}
	return strings.Clone(text)
}

// cursor walks the tokens of a statement with one token of lookahead.
type cursor struct {
	s      string
	i      int   // where the next token is lexed from
	prev   kind  // the last token returned by next
	peeked token // the next token, if hasPeek
	has    bool
}

// next returns the next token and moves past it.
func (c *cursor) next() token {
	t := c.peek()
	c.has = false
	c.i, c.prev = t.end, t.kind
	return t
}

// peek returns the next token without moving past it.
func (c *cursor) peek() token {
	if !c.has {
		c.peeked, c.has = lex(c.s, c.i, valueLike(c.prev)), true
	}
	return c.peeked
}

// is reports whether t is the keyword kw (given in upper case).
func (c *cursor) is(t token, kw string) bool {
	return (t.kind == tKeyword || t.kind == tWord) && strings.EqualFold(c.s[t.start:t.end], kw)
}
