package cassandra

import (
	"context"
	"errors"
	"sync"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/wire"
)

// AsyncCluster holds the driver configuration and the options shared by the
// sessions it connects. Creating one does no I/O.
//
// Authentication, TLS, compression, host selection and every other
// connection setting stay in gocql's ClusterConfig: set cfg.Authenticator
// (for example gocql.PasswordAuthenticator) and cfg.SslOpts before calling
// NewAsyncCluster. The cluster keeps cfg; do not modify it afterwards.
//
// An AsyncCluster is safe for concurrent use by multiple goroutines.
type AsyncCluster struct {
	cfg  *gocql.ClusterConfig
	opts options

	mu       sync.Mutex
	closed   bool
	sessions map[*AsyncSession]struct{}
	// connecting counts Connect calls whose driver session may still arrive;
	// Close waits for them so that no goroutine outlives the cluster.
	connecting sync.WaitGroup
	done       chan struct{} // closed by Close: Connect stops retrying
}

// NewAsyncCluster returns a cluster that connects with cfg and gives its
// sessions the options opts. It returns an error, and no cluster, if cfg is
// nil or has no hosts, or if an option is nil or invalid.
func NewAsyncCluster(cfg *gocql.ClusterConfig, opts ...Option) (*AsyncCluster, error) {
	if cfg == nil {
		return nil, errors.New("cassandra: NewAsyncCluster: nil *gocql.ClusterConfig")
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("cassandra: NewAsyncCluster: the configuration has no hosts")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("cassandra: NewAsyncCluster: nil Option")
		}
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &AsyncCluster{cfg: cfg, opts: o, sessions: make(map[*AsyncSession]struct{}), done: make(chan struct{})}, nil
}

// Connect opens a session: the driver's connection pools, the control
// connection, and this library's worker pool.
//
// Connect first waits until a contact point accepts a connection, dialed
// as the session will dial (TCP, then TLS when configured), retrying with
// back-off while none does, as WithConnectRetry says; then it sets the
// session up, once. ctx bounds all of it, including the waits between
// tries. gocql's own set-up takes no context, so it runs on a goroutine of
// its own; if ctx ends first, Connect returns at once and the session that
// arrives late is closed as soon as it does. The set-up is bounded in any
// case by cfg.ConnectTimeout and cfg.Timeout.
//
// When no session can be set up, the error is a *ConnectError whose
// Reason says why (errors.Is matches it): ErrNoHostReachable,
// ErrAuthentication, ErrTLS, ErrProtocolVersion or ErrKeyspaceNotFound,
// or ctx's error when ctx ended after a host had answered. Only
// ErrNoHostReachable is retried. Errors the driver raises about the
// configuration itself, before dialing, are returned as they are. After
// Close, Connect returns ErrClosed.
func (c *AsyncCluster) Connect(ctx context.Context) (*AsyncSession, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.isClosed() {
		return nil, ErrClosed
	}

	// The session gets a copy of the configuration, with this library's
	// additions; the caller's stays as it was.
	cfg := *c.cfg
	m := newMetrics(c.opts.collector, cfg.Keyspace)
	m.install(&cfg)
	var wd *wire.HostDialer
	if c.opts.batching {
		var err error
		if wd, err = wire.Install(&cfg); err != nil {
			return nil, err
		}
	}
	hm := newHostMonitor(&c.opts)
	hm.install(&cfg)
	retry := c.opts.installRetry(&cfg)
	gs, err := c.setUp(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	s, err := newSession(c, gs, m, wd, hm)
	if err != nil {
		gs.Close()
		return nil, err
	}
	s.retry = retry

	if sc, ok := c.opts.collector.(SessionCollector); ok {
		sc.SessionOpened(s)
	}
	// After SessionOpened, so that a collector hears of the session before
	// its hosts; Close stops it.
	hm.start(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.Close()
		return nil, ErrClosed
	}
	c.sessions[s] = struct{}{}
	return s, nil
}

// forget removes a closed session from the cluster's set.
func (c *AsyncCluster) forget(s *AsyncSession) {
	c.mu.Lock()
	delete(c.sessions, s)
	c.mu.Unlock()
}

// Close closes every session the cluster connected (see AsyncSession.Close)
// and waits for connections still being set up to finish and close. Later
// Connect calls return ErrClosed. Close is idempotent.
func (c *AsyncCluster) Close() error {
	c.mu.Lock()
	if !c.closed {
		close(c.done)
	}
	c.closed = true
	sessions := make([]*AsyncSession, 0, len(c.sessions))
	for s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	c.connecting.Wait()
	return nil
}
