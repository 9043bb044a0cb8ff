package promcassandra

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// An Option configures a Collector; pass options to New.
type Option func(*config)

// config is what the options set.
type config struct {
	namespace        string
	constLabels      prometheus.Labels
	durationBuckets  []float64
	queueWaitBuckets []float64
	maxTables        int
	maxStatements    int // 0: no statement label
}

// DefaultNamespace is the prefix of every metric name unless WithNamespace
// sets another.
const DefaultNamespace = "cassandra_client"

// DefaultMaxTables is how many distinct keyspace and table pairs get labels
// of their own unless WithMaxTables says otherwise.
const DefaultMaxTables = 200

// Other is the label value that stands for every keyspace, table or
// statement beyond the caps (see WithMaxTables and WithStatementLabel).
const Other = "other"

// DefaultDurationBuckets are the upper bounds, in seconds, of the request
// duration histogram: from half a millisecond, below which a request to
// a node on another machine rarely completes, to 10 seconds, beyond the
// server's default read and write timeouts (5 and 2 seconds), so that a
// timed-out request still lands in a bucket of its own.
var DefaultDurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DefaultQueueWaitBuckets are the upper bounds, in seconds, of the queue
// wait histogram: finer than the request buckets at the low end, because
// a healthy pool hands a request to a worker within microseconds, and up
// to a second, by which time the pool is badly saturated.
var DefaultQueueWaitBuckets = []float64{.00001, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

func defaultConfig() config {
	return config{
		namespace:        DefaultNamespace,
		durationBuckets:  DefaultDurationBuckets,
		queueWaitBuckets: DefaultQueueWaitBuckets,
		maxTables:        DefaultMaxTables,
	}
}

// WithNamespace sets the prefix of every metric name (DefaultNamespace by
// default), for instance to tell apart two clients in one process along
// with WithConstLabels. It must be a valid metric name, such as "app_cql".
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithConstLabels adds labels with fixed values to every metric, for
// instance {"cluster": "orders"} when a process registers one Collector
// per cluster in the same registry. Their names must not be those the
// Collector uses itself.
func WithConstLabels(l prometheus.Labels) Option {
	return func(c *config) {
		c.constLabels = make(prometheus.Labels, len(l))
		for k, v := range l {
			c.constLabels[k] = v
		}
	}
}

// WithDurationBuckets sets the upper bounds, in seconds and in increasing
// order, of the request duration histogram's buckets
// (DefaultDurationBuckets by default).
func WithDurationBuckets(b ...float64) Option {
	return func(c *config) { c.durationBuckets = append([]float64(nil), b...) }
}

// WithQueueWaitBuckets sets the upper bounds, in seconds and in increasing
// order, of the queue wait histogram's buckets (DefaultQueueWaitBuckets by
// default).
func WithQueueWaitBuckets(b ...float64) Option {
	return func(c *config) { c.queueWaitBuckets = append([]float64(nil), b...) }
}

// WithMaxTables sets how many distinct keyspace and table pairs get
// keyspace and table labels of their own (DefaultMaxTables by default):
// the first n pairs seen keep them, and every later pair is reported with
// keyspace and table both Other. This bounds the number of series however
// many tables the application reaches (a schema per tenant, say). Zero
// reports every pair as Other.
func WithMaxTables(n int) Option { return func(c *config) { c.maxTables = n } }

// WithStatementLabel adds a "statement" label, the normalised statement
// text (cassandra.NormalizeStatement: no literals, no bound values), to
// every metric that has keyspace and table labels. The first n distinct
// statements seen keep their text; every later one is reported as Other.
// It is off by default because each statement multiplies the number of
// series, histogram buckets included; n = 0 turns it off.
func WithStatementLabel(n int) Option { return func(c *config) { c.maxStatements = n } }

// validate reports the first option that cannot work.
func (c *config) validate() error {
	if !validName(c.namespace) {
		return fmt.Errorf("promcassandra: namespace %q is not a valid metric name", c.namespace)
	}
	if err := validBuckets("duration", c.durationBuckets); err != nil {
		return err
	}
	if err := validBuckets("queue wait", c.queueWaitBuckets); err != nil {
		return err
	}
	for name := range c.constLabels {
		if !validName(name) || strings.Contains(name, ":") {
			return fmt.Errorf("promcassandra: constant label %q is not a valid label name", name)
		}
	}
	if c.maxTables < 0 {
		return errors.New("promcassandra: WithMaxTables needs n >= 0")
	}
	if c.maxStatements < 0 {
		return errors.New("promcassandra: WithStatementLabel needs n >= 0")
	}
	return nil
}

// validName reports whether s is a metric name in the classic character
// set, which every Prometheus server and query accepts unquoted (a label
// name is one without colons).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == ':'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func validBuckets(what string, b []float64) error {
	if len(b) == 0 {
		return fmt.Errorf("promcassandra: the %s histogram needs at least one bucket", what)
	}
	for i := 1; i < len(b); i++ {
		if !(b[i] > b[i-1]) {
			return fmt.Errorf("promcassandra: the %s buckets must increase (%g after %g)", what, b[i], b[i-1])
		}
	}
	return nil
}
