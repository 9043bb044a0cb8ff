package integration

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/async-cassandra/cassandra"
	"github.com/async-cassandra/cassandra/test/internal/node"
)

// holdProxy forwards TCP connections to the real node. While it holds, what
// the client writes stays in the proxy, so a request sent then is held
// before it reaches the node, as by a slow network, and its driver call
// waits for an answer that comes only after release.
type holdProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	held    bool
	waiting int           // reads held at the gate now
	release chan struct{} // closed by Release
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &holdProxy{ln: ln, target: target, release: make(chan struct{})}
	close(p.release)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Hold makes the proxy keep what clients write from now on.
func (p *holdProxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.held, p.release = true, make(chan struct{})
	}
}

// Release forwards what was held, and everything after.
func (p *holdProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.held = false
		close(p.release)
	}
}

// pass waits until writes may pass.
func (p *holdProxy) pass() {
	p.mu.Lock()
	gate := p.release
	p.waiting++
	p.mu.Unlock()
	<-gate
	p.mu.Lock()
	p.waiting--
	p.mu.Unlock()
}

// holding reports whether a client's write is held at the gate.
func (p *holdProxy) holding() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held && p.waiting > 0
}

func (p *holdProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.pipe(s, c, true) }()
		go func() { defer p.wg.Done(); p.pipe(c, s, false) }()
	}
}

// pipe copies src to dst; client-to-node data waits at the gate.
func (p *holdProxy) pipe(dst, src net.Conn, gated bool) {
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if gated {
				p.pass()
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

func (p *holdProxy) close() {
	p.Release()
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// connectThrough opens a session on the test keyspace whose every
// connection goes through p, with one worker and no queue.
func connectThrough(t *testing.T, p *holdProxy) *cassandra.AsyncSession {
	t.Helper()
	cfg := gocql.NewCluster(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port())))
	cfg.Keyspace = keyspace
	cfg.Timeout = 10 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	cfg.NumConns = 1
	cfg.DisableInitialHostLookup = true
	cfg.AddressTranslator = gocql.AddressTranslatorFunc(func(net.IP, int) (net.IP, int) {
		return net.IPv4(127, 0, 0, 1), p.port()
	})
	cluster, err := cassandra.NewAsyncCluster(cfg, cassandra.WithWorkers(1), cassandra.WithQueue(0),
		cassandra.WithQueueFullPolicy(cassandra.QueueFailFast))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cluster.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Close()) })
	return s
}

// Future.Cancel follows one rule against a real node too: whatever the
// context and whether Await comes before or after Cancel, the future
// completes with context.Canceled at once, the request held on its way to
// the node is abandoned, the only worker is free again, and the session
// goes on serving.
func TestCancelAgainstTheNode(t *testing.T) {
	host := node.Hosts()[0]
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "9042")
	}
	p := newHoldProxy(t, host)
	s := connectThrough(t, p)
	exec(t, s, `CREATE TABLE IF NOT EXISTS cancel_rows (id int PRIMARY KEY, v int)`)
	exec(t, s, `INSERT INTO cancel_rows (id, v) VALUES (1, 10)`)

	contexts := map[string]func() (context.Context, context.CancelFunc){
		"background": func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
		"deadline": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		},
	}
	for name, newCtx := range contexts {
		for _, awaitFirst := range []bool{true, false} {
			t.Run(name+map[bool]string{true: "/await then cancel", false: "/cancel then await"}[awaitFirst], func(t *testing.T) {
				ctx, cancel := newCtx()
				defer cancel()
				p.Hold()
				f := s.Execute(ctx, `SELECT v FROM cancel_rows WHERE id = 1`)
				require.Eventually(t, p.holding, 10*time.Second, time.Millisecond, "the request was sent, and held")
				errs := make(chan error, 1)
				if awaitFirst {
					go func() { _, err := f.Await(ctx); errs <- err }()
					f.Cancel()
				} else {
					f.Cancel()
					_, err := f.Await(ctx)
					errs <- err
				}
				assert.ErrorIs(t, <-errs, context.Canceled)
				require.Eventually(t, func() bool { return s.Stats().BusyWorkers == 0 }, 10*time.Second, time.Millisecond,
					"the place comes back while the request is still held")
				p.Release()
				var v int
				require.NoError(t, exec(t, s, `SELECT v FROM cancel_rows WHERE id = 1`).One(&v))
				assert.Equal(t, 10, v)
			})
		}
	}
}
