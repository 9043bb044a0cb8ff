package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/async-cassandra/cassandra/internal/wire"
)

// Defaults of WithConnectRetry: at most about eight seconds of waiting in
// all (six on average), so that a node that is restarting is waited for
// and a wrong address is reported soon.
const (
	DefaultConnectAttempts   = 6
	DefaultConnectBackoff    = 250 * time.Millisecond
	DefaultMaxConnectBackoff = 4 * time.Second
)

// connectRetry holds the settings of WithConnectRetry.
type connectRetry struct {
	attempts      int // 0: until ctx ends
	first, maxGap time.Duration
}

var defaultConnectRetry = connectRetry{DefaultConnectAttempts, DefaultConnectBackoff, DefaultMaxConnectBackoff}

func (r connectRetry) validate() error {
	switch {
	case r.attempts < 0:
		return fmt.Errorf("cassandra: WithConnectRetry: attempts must not be negative, got %d", r.attempts)
	case r.first <= 0:
		return fmt.Errorf("cassandra: WithConnectRetry: the first wait must be positive, got %v", r.first)
	case r.maxGap < r.first:
		return fmt.Errorf("cassandra: WithConnectRetry: the longest wait (%v) must not be shorter than the first (%v)", r.maxGap, r.first)
	}
	return nil
}

// wait returns the pause after the n-th failed try (n from 1): first,
// doubled after each try up to maxGap, less a random part of up to half,
// so that clients started together do not retry in step.
func (r connectRetry) wait(n int) time.Duration {
	d := r.first
	for i := 1; i < n && d < r.maxGap; i++ {
		d = min(2*d, r.maxGap)
		if d < 0 { // overflow: maxGap is near the largest Duration
			d = r.maxGap
		}
	}
	return d - rand.N(d/2+1)
}

// WithConnectRetry sets how AsyncCluster.Connect waits for a cluster that
// cannot be reached yet, such as a node that is still starting. Connect
// tries the contact points at most attempts times in all (0: until its
// context ends; give the context a deadline then), waiting first after
// the first failed try and twice as long after each further one, up to
// maxWait; each wait is shortened by a random part of up to half, so that
// clients started together do not retry in step. A wait ends early when
// the context ends. Defaults: DefaultConnectAttempts, DefaultConnectBackoff
// and DefaultMaxConnectBackoff. attempts 1 tries once.
//
// Only unreachable hosts are retried: refused credentials, TLS
// certificate problems, a protocol version mismatch and an unknown
// keyspace are reported after the first try (see ConnectError).
func WithConnectRetry(attempts int, first, maxWait time.Duration) Option {
	return func(o *options) { o.connect = connectRetry{attempts, first, maxWait} }
}

// setUp creates the driver session for Connect from cfg, the session's
// configuration (with this library's additions). It waits, retrying, until
// a contact point accepts a connection (dialed as the session will dial:
// TCP, then TLS when configured), then creates the session once: the
// driver initialises the configuration's HostSelectionPolicy for each
// session, and some policies (the token-aware one) refuse a second session,
// so a failed session is never followed by another. ctx bounds everything,
// and so does Close.
func (c *AsyncCluster) setUp(ctx context.Context, cfg *gocql.ClusterConfig) (*gocql.Session, error) {
	dialer, err := wire.NewHostDialer(cfg)
	if err != nil {
		return nil, err
	}
	retry := c.opts.connect
	var hosts []string
	attempt := 1
	for ; ; attempt++ {
		if c.isClosed() {
			return nil, ErrClosed
		}
		if hosts, err = reach(ctx, cfg, dialer); err == nil {
			break
		}
		ce := &ConnectError{Reason: ErrNoHostReachable, Hosts: hosts, Attempts: attempt, Err: err}
		switch {
		case tlsFailure(err):
			ce.Reason = ErrTLS
			return nil, ce
		case ctx.Err() != nil:
			ce.ctxErr = ctx.Err()
			return nil, ce
		case retry.attempts > 0 && attempt >= retry.attempts:
			return nil, ce
		}
		t := time.NewTimer(retry.wait(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			ce.ctxErr = ctx.Err()
			return nil, ce
		case <-c.done:
			t.Stop()
			return nil, ErrClosed
		}
	}

	obs := &setupObserver{next: cfg.ConnectObserver}
	cfg.ConnectObserver = obs
	gs, err := c.createSession(ctx, cfg)
	o := obs.finish()
	if err == nil {
		return gs, nil
	}
	if errors.Is(err, ErrClosed) {
		return nil, err
	}
	ce := &ConnectError{Hosts: hosts, Attempts: attempt}
	if ctx.Err() != nil {
		// A host answered, but the set-up did not finish in time.
		ce.Reason, ce.ctxErr, ce.Err = ctx.Err(), ctx.Err(), o.last
		return nil, ce
	}
	switch {
	case o.auth != nil:
		ce.Reason, ce.Err = ErrAuthentication, o.auth
	case o.tls != nil:
		ce.Reason, ce.Err = ErrTLS, o.tls
	case protocolMismatch(err):
		ce.Reason, ce.Err = ErrProtocolVersion, err
		if o.proto != nil {
			ce.Err = o.proto
		}
	case o.dials == 0:
		return nil, err // the driver refused the configuration before dialing
	default:
		ce.Reason, ce.Err = ErrNoHostReachable, err
		if o.last != nil {
			ce.Err = o.last
		}
		// The driver reports a keyspace it cannot USE as a session without
		// connections; ask the cluster whether the keyspace exists.
		if errors.Is(err, gocql.ErrNoConnectionsStarted) && cfg.Keyspace != "" {
			if exists, kerr := c.keyspaceExists(ctx, cfg.Keyspace); kerr == nil && !exists {
				ce.Reason, ce.Keyspace, ce.Err = ErrKeyspaceNotFound, cfg.Keyspace, err
			}
		}
	}
	return nil, ce
}

// isClosed reports whether Close has been called.
func (c *AsyncCluster) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// createSession runs the driver's set-up of a session from cfg on a
// goroutine of its own, since it takes no context. If ctx ends first, it
// returns ctx.Err() at once and the session that arrives late is closed as
// soon as it does; Close waits for that.
func (c *AsyncCluster) createSession(ctx context.Context, cfg *gocql.ClusterConfig) (*gocql.Session, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.connecting.Add(1)
	c.mu.Unlock()

	// The hand-over is guarded by mu: either the caller takes the driver
	// session, or it marks the attempt abandoned and the set-up goroutine
	// closes what arrives. Neither side can miss the other.
	var (
		mu        sync.Mutex
		abandoned bool
		gs        *gocql.Session
		err       error
		ready     = make(chan struct{})
	)
	go func() {
		defer c.connecting.Done()
		s, e := cfg.CreateSession()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if s != nil {
				s.Close()
			}
			return
		}
		gs, err = s, e
		close(ready)
	}()

	select {
	case <-ready:
		return gs, err
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-ready: // arrived meanwhile: nobody will use it
			if gs != nil {
				gs.Close()
			}
		default:
			abandoned = true
		}
		return nil, ctx.Err()
	}
}

// keyspaceExists asks the cluster, on a short-lived session of its own
// without a keyspace, whether keyspace exists. It uses the caller's
// configuration as given, less what belongs to one session: observers,
// listeners and the host selection policy.
func (c *AsyncCluster) keyspaceExists(ctx context.Context, keyspace string) (bool, error) {
	cfg := *c.cfg
	cfg.Keyspace = ""
	cfg.NumConns = 1
	cfg.DisableInitialHostLookup = true
	cfg.PoolConfig.HostSelectionPolicy = nil
	cfg.Metadata = gocql.MetadataConfig{CacheMode: gocql.Disabled}
	cfg.QueryObserver, cfg.BatchObserver, cfg.ConnectObserver = nil, nil, nil
	cfg.FrameHeaderObserver, cfg.StreamObserver = nil, nil
	gs, err := c.createSession(ctx, &cfg)
	if err != nil {
		return false, err
	}
	defer gs.Close()
	// Keyspace names are matched as the driver's USE "name" does: exactly.
	stmt := "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '" +
		strings.ReplaceAll(keyspace, "'", "''") + "'"
	var name string
	switch err := gs.Query(stmt).ScanContext(ctx, &name); {
	case errors.Is(err, gocql.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// reach dials every contact point of cfg at once through dialer, each
// within cfg.ConnectTimeout, and returns when one connection is made (it is
// closed at once) or every dial has failed. It returns the addresses it
// tried, as host:port, and, when none answered, their errors.
func reach(ctx context.Context, cfg *gocql.ClusterConfig, dialer gocql.HostDialer) ([]string, error) {
	if cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
	}
	targets, addrs, errs := contactPoints(ctx, cfg)
	if len(targets) == 0 {
		return addrs, joinErrors(errs)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan error, len(targets))
	for _, h := range targets {
		go func() {
			dh, err := dialer.DialHost(ctx, h)
			if err == nil {
				_ = dh.Conn.Close()
			}
			results <- err
		}()
	}
	reached := false
	for range targets {
		if err := <-results; err != nil {
			errs = append(errs, err)
		} else if !reached {
			reached = true
			cancel() // the other dials are not needed
		}
	}
	if reached {
		return addrs, nil
	}
	return addrs, joinErrors(errs)
}

// contactPoints resolves cfg.Hosts as the driver does (host or host:port,
// cfg.Port by default; a name stands for each of its addresses). It returns
// the hosts, their addresses, and the errors of the names that did not
// resolve.
func contactPoints(ctx context.Context, cfg *gocql.ClusterConfig) ([]*gocql.HostInfo, []string, []error) {
	var (
		hosts []*gocql.HostInfo
		addrs []string
		errs  []error
	)
	for _, h := range cfg.Hosts {
		name, port := h, cfg.Port
		if n, p, err := net.SplitHostPort(h); err == nil {
			pn, err := strconv.Atoi(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("contact point %q: bad port: %w", h, err))
				continue
			}
			name, port = n, pn
		}
		var ips []net.IP
		if ip := net.ParseIP(name); ip != nil {
			ips = []net.IP{ip}
		} else {
			var err error
			if ips, err = net.DefaultResolver.LookupIP(ctx, "ip", name); err != nil {
				addrs = append(addrs, net.JoinHostPort(name, strconv.Itoa(port)))
				errs = append(errs, err)
				continue
			}
		}
		for _, ip := range ips {
			hi, err := gocql.NewHostInfoFromAddrPort(ip, port)
			addrs = append(addrs, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
			if err != nil {
				errs = append(errs, fmt.Errorf("contact point %q: %w", h, err))
				continue
			}
			hosts = append(hosts, hi)
		}
	}
	return hosts, addrs, errs
}
