// Package cqlstmt reads CQL statements for metrics and logs, without
// executing or fully parsing them: Normalize gives a statement's normal
// form, with every literal replaced by "?", and Classify gives its kind
// and the keyspace and table it acts on.
//
// Metric labels and log lines must never carry bound values or literals:
// they may be personal data, and every distinct value would be a new
// label. Bound values never reach this package; literals written into the
// statement text are what Normalize removes, so that
//
//	SELECT * FROM users WHERE id = 42 AND name IN ('a', 'b')
//	select * from users where id=7 and name in ('c') -- by hand
//
// both become "SELECT * FROM users WHERE id = ? AND name IN ?".
//
// Both functions work from one lexer (lex.go) that follows Cassandra's own
// grammar for literals, comments and quoting, and both are linear in the
// statement's length, allocation-light, and safe on any input: text that
// is not CQL is classified as Other and normalised token by token, and an
// unterminated quote or comment hides the rest of the statement.
//
// Neither function bounds how many different statements an application
// sends: a caller that labels metrics by statement must still cap the
// number of labels it keeps (a batch of n statements, for one, has a
// different normal form for each n). Normalize is a pure function of its
// input, so a caller may cache its results by statement text.
package cqlstmt
