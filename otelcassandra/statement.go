package otelcassandra

import (
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/async-cassandra/cassandra"
)

// described is what a statement contributes to every span and measurement
// about it, worked out once per statement: the span name and the
// attributes that follow from the statement alone.
type described struct {
	// name is the span name: the query summary, else the target, else
	// "cassandra" (the conventions' order of preference).
	name string
	// attrs are the statement's attributes for spans, db.query.text last
	// when it is recorded; metricAttrs are the same without the text,
	// whose cardinality has no place on a metric.
	attrs, metricAttrs []attribute.KeyValue
}

// maxSummary is the longest db.query.summary the conventions allow; a
// longer one drops its target rather than cut a name in two.
const maxSummary = 255

// describe works out what st contributes to spans and metrics. Every value
// it returns comes from a fixed set of words or from the keyspace and
// table names that cassandra.Statement already bounds, never from the
// statement's literals, so all of it is safe as a metric attribute;
// db.query.text is the normalised text, with every literal replaced by "?".
func describe(st cassandra.Statement, withText bool) described {
	op := operation(st)
	target := st.Keyspace
	switch {
	case st.Table != "" && st.Keyspace != "":
		target = st.Keyspace + "." + st.Table
	case st.Table != "":
		target = st.Table
	}
	summary := op
	if op != "" && target != "" && len(op)+1+len(target) <= maxSummary {
		summary = op + " " + target
	}

	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, semconv.DBSystemNameCassandra)
	if st.Keyspace != "" {
		attrs = append(attrs, semconv.DBNamespace(st.Keyspace))
	}
	if st.Table != "" {
		attrs = append(attrs, semconv.DBCollectionName(st.Table))
	}
	if op != "" {
		attrs = append(attrs, semconv.DBOperationName(op))
	}
	if summary != "" {
		attrs = append(attrs, semconv.DBQuerySummary(summary))
	}
	d := described{name: summary, metricAttrs: attrs[:len(attrs):len(attrs)]}
	if withText && st.Text != "" {
		attrs = append(attrs, semconv.DBQueryText(st.Text))
	}
	d.attrs = attrs
	switch {
	case d.name != "":
	case target != "":
		d.name = target
	default:
		d.name = "cassandra"
	}
	return d
}

// operation returns db.operation.name for st: the statement's kind for
// the kinds that name one CQL command, the command's leading keywords for
// schema changes and the few other commands CQL has, and "" for text it
// does not recognise (the conventions leave the attribute out then).
func operation(st cassandra.Statement) string {
	switch st.Kind {
	case cassandra.KindSelect, cassandra.KindInsert, cassandra.KindUpdate,
		cassandra.KindDelete, cassandra.KindBatch, cassandra.KindUse:
		return st.Kind.String()
	case cassandra.KindDDL:
		return schemaOperation(leadingWords(st.Text, 4))
	}
	w := leadingWords(st.Text, 1)
	if len(w) == 1 {
		switch w[0] {
		case "GRANT", "REVOKE", "LIST", "DESCRIBE", "DESC":
			return w[0]
		}
	}
	return ""
}

// schemaObjects are the things CQL's CREATE, ALTER and DROP act on, as
// they appear in db.operation.name ("CREATE TABLE", "DROP INDEX").
var schemaObjects = map[string]bool{
	"TABLE": true, "COLUMNFAMILY": true, "KEYSPACE": true, "SCHEMA": true,
	"INDEX": true, "TYPE": true, "FUNCTION": true, "AGGREGATE": true,
	"TRIGGER": true, "ROLE": true, "USER": true, "VIEW": true,
}

// schemaOperation names a schema change from its leading words: the verb
// and what it acts on ("CREATE TABLE", "ALTER KEYSPACE", "CREATE
// MATERIALIZED VIEW"), or the verb alone ("TRUNCATE", or an object it
// does not know). Like operation, it only ever returns fixed words.
func schemaOperation(w []string) string {
	if len(w) == 0 {
		return ""
	}
	switch w[0] {
	case "TRUNCATE":
		return "TRUNCATE"
	case "CREATE", "ALTER", "DROP":
	default:
		return ""
	}
	verb, rest := w[0], w[1:]
	if len(rest) >= 2 && rest[0] == "OR" && rest[1] == "REPLACE" {
		rest = rest[2:]
	}
	if len(rest) >= 1 && rest[0] == "CUSTOM" {
		rest = rest[1:]
	}
	if len(rest) >= 2 && rest[0] == "MATERIALIZED" && rest[1] == "VIEW" {
		return verb + " MATERIALIZED VIEW"
	}
	if len(rest) >= 1 && schemaObjects[rest[0]] {
		return verb + " " + rest[0]
	}
	return verb
}

// leadingWords returns up to n words at the start of text, upper-cased,
// where a word is a run of ASCII letters between spaces: the first token
// that is anything else ends the list. Normalised text has its keywords
// upper-cased and its whitespace collapsed to single spaces, so this reads
// the command a statement starts with.
func leadingWords(text string, n int) []string {
	words := make([]string, 0, n)
	for len(words) < n {
		text = strings.TrimLeft(text, " ")
		end := strings.IndexByte(text, ' ')
		if end < 0 {
			end = len(text)
		}
		w := text[:end]
		if w == "" || strings.IndexFunc(w, notLetter) >= 0 {
			break
		}
		words = append(words, strings.ToUpper(w))
		text = text[end:]
	}
	return words
}

// notLetter reports whether r is anything but an ASCII letter.
func notLetter(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }

// maxStatements bounds the statements a Collector remembers the
// description of; beyond it, statements are described on every call.
const maxStatements = 4096

// statements remembers the descriptions of statements.
type statements struct {
	withText bool
	mu       sync.RWMutex
	m        map[cassandra.Statement]described
}

// get describes st, from memory if it can.
func (s *statements) get(st cassandra.Statement) described {
	s.mu.RLock()
	d, ok := s.m[st]
	s.mu.RUnlock()
	if ok {
		return d
	}
	d = describe(st, s.withText)
	s.mu.Lock()
	if len(s.m) < maxStatements {
		s.m[st] = d
	}
	s.mu.Unlock()
	return d
}
