package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"strconv"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/async-cassandra/cassandra"
)

const (
	defaultLimit = 20  // items per page when the client does not say
	maxLimit     = 100 // items per page at most
	maxBodyBytes = 64 << 10
)

// item is an item of a list, as stored and as sent to clients.
type item struct {
	List    string    `json:"list"`
	ID      string    `json:"id"` // a timeuuid: items sort by creation
	Text    string    `json:"text"`
	Created time.Time `json:"created"`
}

// page is one page of a list.
type page struct {
	Items []item `json:"items"`
	// NextCursor, when set, fetches the next page (?cursor=...); it is
	// absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// server holds what the handlers share. Its handlers are safe for
// concurrent use, as an AsyncSession is.
type server struct {
	session  *cassandra.AsyncSession
	keyspace string
	cursors  cursorCodec
	// timeout bounds each request's work against Cassandra, waiting for a
	// worker included.
	timeout time.Duration
}

// routes returns the service's handler: the API, /healthz, and /metrics
// serving reg. Every route counts its responses in reg.
func (s *server) routes(reg *prometheus.Registry) http.Handler {
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpservice_http_requests_total",
		Help: "HTTP requests served, by route, method and status code.",
	}, []string{"route", "method", "code"})
	reg.MustRegister(responses)

	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		counter := responses.MustCurryWith(prometheus.Labels{"route": route})
		mux.Handle(pattern, promhttp.InstrumentHandlerCounter(counter, h))
	}
	handle("POST /lists/{list}/items", "create", s.createItem)
	handle("GET /lists/{list}/items/{id}", "get", s.getItem)
	handle("GET /lists/{list}/items", "list", s.listItems)
	handle("GET /healthz", "healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// createItem adds an item to a list: POST {"text": "..."}, 201 with the item.
func (s *server) createItem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "the body must be a JSON object with a text field")
		return
	}

	// The request's deadline: Execute counts the wait for a worker in it,
	// and the future fails with context.DeadlineExceeded when it passes.
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	id := gocql.TimeUUID() // made here, so a retry writes the same row
	it := item{List: r.PathValue("list"), ID: id.String(), Text: body.Text, Created: id.Time().UTC().Truncate(time.Millisecond)}
	_, err := s.session.Query(`INSERT INTO `+s.keyspace+`.items (list, id, text, created) VALUES (?, ?, ?, ?)`,
		it.List, id, it.Text, it.Created).Idempotent(true).Execute(ctx).Await(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/lists/"+it.List+"/items/"+it.ID)
	writeJSON(w, http.StatusCreated, it)
}

// getItem returns one item: 200, or 404 if the list has no such item.
func (s *server) getItem(w http.ResponseWriter, r *http.Request) {
	id, err := gocql.ParseUUID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid item id")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	rs, err := s.session.Query(`SELECT list, id, text, created FROM `+s.keyspace+`.items WHERE list = ? AND id = ?`,
		r.PathValue("list"), id).Idempotent(true).Execute(ctx).Await(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	it, err := cassandra.CollectOneRow(rs, rowToItem)
	if err != nil {
		s.fail(w, r, err) // ErrNotFound: 404
		return
	}
	writeJSON(w, http.StatusOK, it)
}

// listItems returns one page of a list, oldest first: ?limit=N (default 20,
// at most 100) and ?cursor= from the previous page's next_cursor.
func (s *server) listItems(w http.ResponseWriter, r *http.Request) {
	list := r.PathValue("list")
	limit := defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(maxLimit))
			return
		}
		limit = n
	}
	var state []byte // nil: the first page
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if state, err = s.cursors.decode(list, c); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}

	// One page of limit rows, from where the cursor left off. SinglePage
	// keeps Execute from fetching the rest; rs.PageState says where the
	// next page starts, nil after the last.
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	rs, err := s.session.Query(`SELECT list, id, text, created FROM `+s.keyspace+`.items WHERE list = ?`, list).
		PageSize(limit).PageState(state).SinglePage().Idempotent(true).Execute(ctx).Await(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := cassandra.CollectRows(rs, rowToItem)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := page{Items: items}
	if next := rs.PageState(); len(next) > 0 {
		p.NextCursor = s.cursors.encode(list, next)
	}
	if p.Items == nil {
		p.Items = []item{} // [] rather than null
	}
	writeJSON(w, http.StatusOK, p)
}

// rowToItem reads a row of items; the id column is a timeuuid.
func rowToItem(row cassandra.CollectableRow) (item, error) {
	var it item
	var id gocql.UUID
	if err := row.Scan(&it.List, &id, &it.Text, &it.Created); err != nil {
		return item{}, err
	}
	it.ID, it.Created = id.String(), it.Created.UTC()
	return it, nil
}

// hostJSON is a host as /healthz shows it.
type hostJSON struct {
	Address    string    `json:"address"`
	Datacenter string    `json:"datacenter"`
	State      string    `json:"state"`
	Since      time.Time `json:"since"`
	Reason     string    `json:"reason,omitempty"`
}

// healthz reports the cluster's hosts as the session's host monitor sees
// them (the driver's events and the session's own health checks): 200
// while at least one host is up, so that the service can answer, and 503
// when none is.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	var health struct {
		Status  string     `json:"status"`
		HostsUp int        `json:"hosts_up"`
		Hosts   []hostJSON `json:"hosts"`
	}
	health.Hosts = []hostJSON{}
	for _, h := range s.session.Hosts() {
		if h.State == cassandra.HostUp {
			health.HostsUp++
		}
		health.Hosts = append(health.Hosts, hostJSON{
			Address: h.Address, Datacenter: h.Datacenter, State: h.State.String(), Since: h.Since, Reason: h.Reason,
		})
	}
	code := http.StatusOK
	health.Status = "ok"
	if health.HostsUp == 0 {
		code, health.Status = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, code, health)
}

// fail answers a request whose query failed, with a status that tells the
// client what to do; the details go to the log, not to the client.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, cassandra.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, context.DeadlineExceeded):
		// The request's deadline passed, in the queue or at the node.
		writeError(w, http.StatusGatewayTimeout, "the database did not answer in time")
	case errors.Is(err, cassandra.ErrOverloaded), errors.Is(err, cassandra.ErrClosed):
		// Too much in flight already, or shutting down: try again later.
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy, try again")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
		writeError(w, 499, "client closed request")
	default:
		log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("writing the response: %v", err)
	}
}
