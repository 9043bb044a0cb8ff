package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/async-cassandra/cassandra/examples/internal/extest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// service is the example running as a process of its own.
type service struct {
	cmd  *exec.Cmd
	base string      // http://address:port
	out  chan string // its output, a line at a time (standard output and error)
	// read ends when both outputs are closed, that is when the process
	// has ended.
	read sync.WaitGroup

	mu         sync.Mutex
	transcript []string // every line so far, for failure messages
}

// startService builds the example, starts it on a free port and returns
// once it accepts requests. It is stopped when the test ends, if it has not
// stopped by then.
func startService(t *testing.T) *service {
	bin := extest.Build(t)
	s := &service{out: make(chan string, 10000)}
	s.cmd = extest.Command(context.Background(), bin, "-addr", "127.0.0.1:0",
		"-keyspace", extest.Keyspace, "-health-interval", "1s")
	stdout, err := s.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	for _, r := range []io.Reader{stdout, stderr} {
		s.read.Add(1)
		go func() {
			defer s.read.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				s.mu.Lock()
				s.transcript = append(s.transcript, sc.Text())
				s.mu.Unlock()
				select {
				case s.out <- sc.Text():
				default: // nobody waits for lines this late
				}
			}
		}()
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill() // if still running
		s.read.Wait()
		_ = s.cmd.Wait()
	})
	line := s.waitFor(t, "listening on ")
	s.base = strings.TrimPrefix(line[strings.Index(line, "listening on "):], "listening on ")
	return s
}

// waitFor returns the first line of output, from now on, that contains
// substr; it fails the test if the process ends first.
func (s *service) waitFor(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.NewTimer(3 * time.Minute) // a guard: the service says it much sooner
	defer deadline.Stop()
	for {
		select {
		case line := <-s.out:
			if strings.Contains(line, substr) {
				return line
			}
		case <-deadline.C:
			require.FailNow(t, "no line with "+substr, s.output())
		}
	}
}

func (s *service) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.transcript, "\n")
}

// client sends requests to the service and decodes its JSON answers.
type client struct {
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// do sends a request and returns the status and the body, decoded into out
// if out is not nil and the request succeeded.
func (c *client) do(t *testing.T, method, path, body string, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := c.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, path, b)
	}
	return resp.StatusCode, string(b)
}

// A client's view of the service: items created, read back, listed a page
// at a time; bad cursors refused; health and metrics; then a SIGTERM while
// a request is in flight, which completes before the service exits.
func TestService(t *testing.T) {
	svc := startService(t)
	c := newClient(t, svc.base)
	list := "list-" + strconv.FormatInt(time.Now().UnixNano(), 36)

	const n = 25
	created := make([]item, n)
	for i := range created {
		code, body := c.do(t, "POST", "/lists/"+list+"/items", fmt.Sprintf(`{"text": "item %d"}`, i), &created[i])
		require.Equal(t, http.StatusCreated, code, body)
		assert.Equal(t, list, created[i].List)
		assert.Equal(t, fmt.Sprintf("item %d", i), created[i].Text)
	}

	t.Run("get", func(t *testing.T) {
		var got item
		code, body := c.do(t, "GET", "/lists/"+list+"/items/"+created[7].ID, "", &got)
		require.Equal(t, http.StatusOK, code, body)
		assert.Equal(t, created[7], got)

		code, _ = c.do(t, "GET", "/lists/"+list+"/items/d2177dd0-eaa2-11de-a572-001b779c76e3", "", nil)
		assert.Equal(t, http.StatusNotFound, code)
		code, _ = c.do(t, "GET", "/lists/"+list+"/items/not-an-id", "", nil)
		assert.Equal(t, http.StatusBadRequest, code)
		code, _ = c.do(t, "POST", "/lists/"+list+"/items", `{"txet": "typo"}`, nil)
		assert.Equal(t, http.StatusBadRequest, code)
	})

	var firstCursor string
	t.Run("pages", func(t *testing.T) {
		var got []item
		cursor, pages := "", 0
		for {
			var p page
			code, body := c.do(t, "GET", "/lists/"+list+"/items?limit=10&cursor="+url.QueryEscape(cursor), "", &p)
			require.Equal(t, http.StatusOK, code, body)
			pages++
			got = append(got, p.Items...)
			if p.NextCursor == "" {
				break
			}
			if firstCursor == "" {
				firstCursor = p.NextCursor
			}
			cursor = p.NextCursor
			require.Less(t, pages, 10, "the cursor moves on")
		}
		assert.Equal(t, 3, pages, "10, 10 and 5 items")
		assert.Equal(t, created, got, "every item once, in the order created")
	})

	t.Run("bad cursors", func(t *testing.T) {
		require.NotEmpty(t, firstCursor)
		// Each character of the cursor carries signed bits: change one in
		// the middle, and the signature no longer matches.
		b := []byte(firstCursor)
		if mid := len(b) / 2; b[mid] == 'A' {
			b[mid] = 'B'
		} else {
			b[mid] = 'A'
		}
		for name, path := range map[string]string{
			"altered":      "/lists/" + list + "/items?cursor=" + string(b),
			"truncated":    "/lists/" + list + "/items?cursor=" + firstCursor[:len(firstCursor)-4],
			"not base64":   "/lists/" + list + "/items?cursor=%25%25%25",
			"another list": "/lists/other-" + list + "/items?cursor=" + firstCursor,
		} {
			code, body := c.do(t, "GET", path, "", nil)
			assert.Equal(t, http.StatusBadRequest, code, name)
			assert.JSONEq(t, `{"error": "invalid cursor"}`, body, name)
		}
		code, _ := c.do(t, "GET", "/lists/"+list+"/items?limit=1000", "", nil)
		assert.Equal(t, http.StatusBadRequest, code)
	})

	t.Run("healthz", func(t *testing.T) {
		var h struct {
			Status  string     `json:"status"`
			HostsUp int        `json:"hosts_up"`
			Hosts   []hostJSON `json:"hosts"`
		}
		code, body := c.do(t, "GET", "/healthz", "", &h)
		require.Equal(t, http.StatusOK, code, body)
		assert.Equal(t, "ok", h.Status)
		assert.GreaterOrEqual(t, h.HostsUp, 1)
		require.NotEmpty(t, h.Hosts)
		assert.Equal(t, "up", h.Hosts[0].State)
		assert.NotEmpty(t, h.Hosts[0].Address)
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := c.do(t, "GET", "/metrics", "", nil)
		require.Equal(t, http.StatusOK, code)
		// The collector counted the inserts, by kind, table and outcome...
		assert.Regexp(t, `cassandra_client_requests_total\{keyspace="`+extest.Keyspace+
			`",kind="insert",outcome="ok",table="items"\} \d+`, body)
		assert.Contains(t, body, `cassandra_client_pool_submitted_total`)
		// ... and the service its own responses.
		assert.Regexp(t, `httpservice_http_requests_total\{code="201",method="post",route="create"\} \d+`, body)
		assert.Regexp(t, `httpservice_http_requests_total\{code="400",method="get",route="list"\} \d+`, body)
	})

	t.Run("graceful shutdown", func(t *testing.T) {
		// A request in flight: its headers are sent and the handler is
		// reading the body, as the server's "100 Continue" says, but the
		// body is not sent yet.
		conn, err := net.Dial("tcp", strings.TrimPrefix(svc.base, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		body := `{"text": "sent during the shutdown"}`
		_, err = fmt.Fprintf(conn, "POST /lists/%s/items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", list, len(body))
		require.NoError(t, err)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusContinue, resp.StatusCode)

		// SIGTERM; once the service says it is shutting down, the body.
		require.NoError(t, svc.cmd.Process.Signal(syscall.SIGTERM))
		svc.waitFor(t, "shutting down")
		_, err = io.WriteString(conn, body)
		require.NoError(t, err)
		resp, err = http.ReadResponse(br, nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode, "the request in flight completes")
		var it item
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&it))
		assert.Equal(t, "sent during the shutdown", it.Text)

		svc.waitFor(t, "shut down")
		svc.read.Wait()
		err = svc.cmd.Wait()
		require.NoError(t, err, "exit status 0: %s", svc.output())
		_, err = net.Dial("tcp", strings.TrimPrefix(svc.base, "http://"))
		var errno syscall.Errno
		require.True(t, errors.As(err, &errno) && errno == syscall.ECONNREFUSED, "nobody listens any more: %v", err)

		// The item was written before the session closed.
		s := extest.Connect(t)
		var text string
		require.NoError(t, extest.Exec(t, s, `SELECT text FROM `+extest.Keyspace+`.items WHERE list = ? AND id = ?`,
			list, it.ID).One(&text))
		assert.Equal(t, it.Text, text)
	})
}
