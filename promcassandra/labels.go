package promcassandra

import (
	"strings"
	"sync"

	"github.com/async-cassandra/cassandra"
)

// The label names of the metrics that describe statements.
const (
	labelKind      = "kind"
	labelKeyspace  = "keyspace"
	labelTable     = "table"
	labelStatement = "statement"
	labelOutcome   = "outcome"
)

// outcomeOK is the outcome label of a request that succeeded; a failed one
// has its cassandra.ErrorKind.
const outcomeOK = "ok"

// labelValues are the statement labels of one series, resolved against
// the caps: kind, keyspace, table and, with WithStatementLabel, statement.
type labelValues struct {
	values []string // the statement labels
	ok     []string // values followed by outcomeOK, for the common case
}

// with returns the label values followed by outcome.
func (l *labelValues) with(outcome string) []string {
	if outcome == outcomeOK {
		return l.ok
	}
	return append(l.values[:len(l.values):len(l.values)], outcome)
}

// statementKey is a statement as the labeler sees it, before the caps.
type statementKey struct {
	kind            cassandra.StatementKind
	keyspace, table string
	text            string // only with the statement label
}

// pair is a keyspace and a table.
type pair struct{ keyspace, table string }

// maxCached bounds the statement keys the labeler remembers, beyond those
// that the caps admit: keys of statements reported as Other are cached
// too, so that they take the read lock only, but not without limit.
const maxCached = 10000

// labeler turns a statement into its label values, admitting the first
// maxTables keyspace and table pairs and the first maxStatements
// statements, and reporting every later one as Other. It is safe for
// concurrent use; in the steady state a lookup takes a read lock.
type labeler struct {
	maxTables     int
	maxStatements int // 0: no statement label

	mu     sync.RWMutex
	cache  map[statementKey]*labelValues // by statement; at most len(series) + maxCached
	series map[statementKey]*labelValues // by resolved labels; bounded by the caps
	pairs  map[pair]struct{}             // admitted pairs
	stmts  map[string]struct{}           // admitted statements
}

func newLabeler(maxTables, maxStatements int) *labeler {
	return &labeler{
		maxTables:     maxTables,
		maxStatements: maxStatements,
		cache:         make(map[statementKey]*labelValues),
		series:        make(map[statementKey]*labelValues),
		pairs:         make(map[pair]struct{}),
		stmts:         make(map[string]struct{}),
	}
}

// names returns the statement label names, in the order of labelValues.
func (l *labeler) names() []string {
	if l.maxStatements > 0 {
		return []string{labelKind, labelKeyspace, labelTable, labelStatement}
	}
	return []string{labelKind, labelKeyspace, labelTable}
}

// labels returns the label values of st.
func (l *labeler) labels(st cassandra.Statement) *labelValues {
	key := statementKey{kind: st.Kind, keyspace: st.Keyspace, table: st.Table}
	if l.maxStatements > 0 {
		key.text = st.Text
	}
	l.mu.RLock()
	lv, ok := l.cache[key]
	l.mu.RUnlock()
	if ok {
		return lv
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if lv, ok := l.cache[key]; ok {
		return lv
	}
	res := key
	p := pair{key.keyspace, key.table}
	if _, ok := l.pairs[p]; !ok {
		if len(l.pairs) < l.maxTables {
			l.pairs[p] = struct{}{}
		} else {
			res.keyspace, res.table = Other, Other
		}
	}
	if l.maxStatements > 0 {
		if _, ok := l.stmts[key.text]; !ok {
			if len(l.stmts) < l.maxStatements {
				l.stmts[key.text] = struct{}{}
			} else {
				res.text = Other
			}
		}
	}
	lv, ok = l.series[res]
	if !ok {
		lv = newLabelValues(res, l.maxStatements > 0)
		l.series[res] = lv
	}
	if res == key || len(l.cache) < len(l.series)+maxCached {
		l.cache[key] = lv
	}
	return lv
}

func newLabelValues(k statementKey, withStatement bool) *labelValues {
	values := []string{kindLabel(k.kind), k.keyspace, k.table}
	if withStatement {
		// A label value must be valid UTF-8; the statement's text is
		// the user's, with only its literals taken out.
		values = append(values, strings.ToValidUTF8(k.text, "\uFFFD"))
	}
	return &labelValues{values: values, ok: append(values[:len(values):len(values)], outcomeOK)}
}

// kindLabels are the kind label's values: the kinds' names in lower case.
var kindLabels = map[cassandra.StatementKind]string{
	cassandra.KindOther:  "other",
	cassandra.KindSelect: "select",
	cassandra.KindInsert: "insert",
	cassandra.KindUpdate: "update",
	cassandra.KindDelete: "delete",
	cassandra.KindBatch:  "batch",
	cassandra.KindDDL:    "ddl",
	cassandra.KindUse:    "use",
}

func kindLabel(k cassandra.StatementKind) string {
	if s, ok := kindLabels[k]; ok {
		return s
	}
	return "other" // a kind added to the core later; keeps the label's values fixed
}

// outcome is the outcome label of a request, attempt or page that ended
// with err, classified as kind.
func outcome(err error, kind string) string {
	switch {
	case err == nil:
		return outcomeOK
	case kind == "":
		return "other"
	}
	return kind
}
