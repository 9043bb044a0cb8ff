package wire

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// HostDialer is a gocql.HostDialer whose connections batch their writes: it
// dials as gocql would with the same ClusterConfig, wraps the connection in
// a [Conn] and turns gocql's own write coalescing off for it
// (DialedHost.DisableCoalesce), whatever WriteCoalesceWaitTime says, since
// the Conn already gathers what coalescing would and never waits for a
// timer. It is safe for concurrent use by multiple goroutines.
//
// What it dials through, in gocql's order of precedence:
//   - the ClusterConfig's HostDialer, if set: its connection is wrapped as
//     it is, TLS included (so batching sits above whatever TLS it set up);
//   - otherwise the ClusterConfig's Dialer if set, else a net.Dialer with
//     ConnectTimeout as its timeout and SocketKeepalive as its keep-alive
//     period (when positive), then TLS from SslOpts (built as gocql builds
//     it, handshake through gocql.WrapTLS), and batching above TLS, so that
//     one TLS record carries many frames.
//
// With a HostDialer of the user's, what changes is only that its
// connection's Write is called by the batching Conn's flusher goroutine,
// with several frames at a time, and SetWriteDeadline once per such write.
type HostDialer struct {
	next   gocql.HostDialer // the user's HostDialer, or nil
	dialer gocql.Dialer     // used when next is nil
	tlsCfg *tls.Config      // from SslOpts, used when next is nil; nil: plain TCP
	totals counters
}

// NewHostDialer returns a HostDialer that dials as gocql would with cfg. It
// reads cfg's HostDialer, Dialer, SslOpts (loading any CA, certificate and
// key files now, as gocql does when a session is created), SocketKeepalive
// and ConnectTimeout; later changes to cfg do not reach it. It does not
// modify cfg: see [Install].
func NewHostDialer(cfg *gocql.ClusterConfig) (*HostDialer, error) {
	if cfg.HostDialer != nil {
		if hd, ok := cfg.HostDialer.(*HostDialer); ok {
			return hd, nil // already batching: do not wrap twice
		}
		return &HostDialer{next: cfg.HostDialer}, nil
	}
	d := &HostDialer{dialer: cfg.Dialer}
	if d.dialer == nil {
		nd := &net.Dialer{Timeout: cfg.ConnectTimeout}
		if cfg.SocketKeepalive > 0 {
			nd.KeepAlive = cfg.SocketKeepalive
		}
		d.dialer = nd
	}
	if cfg.SslOpts != nil {
		t, err := tlsConfig(cfg.SslOpts)
		if err != nil {
			return nil, err
		}
		d.tlsCfg = t
	}
	return d, nil
}

// Install makes the sessions created from cfg batch their writes: it sets
// cfg.HostDialer to NewHostDialer(cfg), which keeps what cfg configured (see
// [HostDialer]), and returns it. Call it on the ClusterConfig a session is
// created from, once its other fields are final; calling it again on the
// same cfg changes nothing. SslOpts, Dialer and SocketKeepalive stay set
// but gocql ignores them from then on, as it does whenever a HostDialer is
// set: the HostDialer applies them.
func Install(cfg *gocql.ClusterConfig) (*HostDialer, error) {
	d, err := NewHostDialer(cfg)
	if err != nil {
		return nil, err
	}
	cfg.HostDialer = d
	return d, nil
}

// DialHost dials host and returns its connection wrapped in a [Conn], with
// gocql's coalescing disabled.
func (d *HostDialer) DialHost(ctx context.Context, host *gocql.HostInfo) (*gocql.DialedHost, error) {
	var dh *gocql.DialedHost
	if d.next != nil {
		var err error
		if dh, err = d.next.DialHost(ctx, host); err != nil {
			return nil, err
		}
		if dh == nil || dh.Conn == nil {
			return nil, fmt.Errorf("wire: HostDialer returned no connection for %s", host.HostnameAndPort())
		}
	} else {
		var err error
		if dh, err = d.dial(ctx, host); err != nil {
			return nil, err
		}
	}
	return &gocql.DialedHost{
		Conn:            newConn(dh.Conn, &d.totals, defaultMaxBuffered, defaultKeepCap),
		DisableCoalesce: true,
	}, nil
}

// dial is gocql's default host dialing: TCP to the host's connect address,
// then TLS when configured.
func (d *HostDialer) dial(ctx context.Context, host *gocql.HostInfo) (*gocql.DialedHost, error) {
	if ip := host.ConnectAddress(); ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("host missing connect ip address: %v", ip)
	}
	if host.Port() == 0 {
		return nil, fmt.Errorf("host missing port: %v", host.Port())
	}
	conn, err := d.dialer.DialContext(ctx, "tcp", host.ConnectAddressAndPort())
	if err != nil {
		return nil, err
	}
	// WrapTLS does the handshake under ctx, names the server after the host
	// when the config names none, and closes conn if the handshake fails.
	return gocql.WrapTLS(ctx, conn, host.HostnameAndPort(), d.tlsCfg)
}

// Stats returns the totals of every connection this HostDialer has dialed,
// open or closed.
func (d *HostDialer) Stats() Stats { return d.totals.load() }
