package cassandra

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// The reasons Connect gives up, found in ConnectError.Reason and matched
// with errors.Is on Connect's error.
var (
	// ErrNoHostReachable means that no contact point accepted a
	// connection before Connect gave up (every try was refused, timed out
	// or was cut, or a host name did not resolve), or that one did but the
	// session's connections then failed. Connect retries the first case
	// (see WithConnectRetry).
	ErrNoHostReachable = errors.New("cassandra: no host reachable")
	// ErrAuthentication means that a node refused the credentials, or
	// asked for credentials the configuration does not give. Connect does
	// not retry it: the same credentials would be refused again, and every
	// try would cost the node a password check. ConnectError.Err holds the
	// driver's error, typed (*gocql.RequestErrCredentials) when the node
	// refused the credentials.
	ErrAuthentication = errors.New("cassandra: authentication failed")
	// ErrTLS means that the TLS handshake failed for a reason a retry
	// cannot fix: the node's certificate is not trusted or does not name
	// the address dialed, the node refused the client's certificate, or the
	// node does not speak TLS. ConnectError.Err holds the crypto/tls or
	// crypto/x509 error. Connect does not retry it.
	ErrTLS = errors.New("cassandra: TLS handshake failed")
	// ErrProtocolVersion means that the nodes do not speak the native
	// protocol version set in ClusterConfig.ProtoVersion, or (with
	// ProtoVersion 0) any version the driver speaks. Connect does not retry
	// it.
	ErrProtocolVersion = errors.New("cassandra: protocol version not supported")
	// ErrKeyspaceNotFound means that ClusterConfig.Keyspace names a keyspace
	// the cluster does not have. It matches gocql.ErrKeyspaceDoesNotExist.
	// Connect does not retry it.
	ErrKeyspaceNotFound = fmt.Errorf("cassandra: %w", gocql.ErrKeyspaceDoesNotExist)
)

// ConnectError is the error of a Connect that could not set up a session.
// Its text names the contact points and the reason, and never holds a
// password: the driver's errors quote at most the user name.
type ConnectError struct {
	// Reason says why Connect gave up: ErrNoHostReachable,
	// ErrAuthentication, ErrTLS, ErrProtocolVersion, ErrKeyspaceNotFound,
	// or the context's error when ctx ended after a host had answered but
	// before the session was set up.
	Reason error
	// Hosts are the addresses Connect tried, as host:port.
	Hosts []string
	// Keyspace is the configured keyspace when Reason is
	// ErrKeyspaceNotFound.
	Keyspace string
	// Attempts is how many times Connect tried to reach the hosts.
	Attempts int
	// Err is the cause, as the driver, crypto/tls or the network reported
	// it on the last try; nil if nothing was reported before ctx ended.
	// For ErrNoHostReachable with several hosts it holds one error per
	// host (errors.As finds each).
	Err error

	ctxErr error // the context's error, when ctx ended
}

// Error reports the hosts, the reason, the attempts and the cause.
func (e *ConnectError) Error() string {
	var b strings.Builder
	b.WriteString("cassandra: connect to ")
	const maxHosts = 5
	for i, h := range e.Hosts {
		if i == maxHosts {
			fmt.Fprintf(&b, " and %d more", len(e.Hosts)-maxHosts)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(h)
	}
	b.WriteString(": ")
	if e.Reason == nil {
		b.WriteString("failed")
	} else {
		b.WriteString(strings.TrimPrefix(e.Reason.Error(), "cassandra: "))
	}
	if e.Keyspace != "" {
		fmt.Fprintf(&b, " (%q)", e.Keyspace)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.ctxErr != nil && e.ctxErr != e.Reason {
		fmt.Fprintf(&b, " (%v)", e.ctxErr)
	}
	if e.Err != nil && !errors.Is(e.Reason, ErrKeyspaceNotFound) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason, the cause and, when ctx ended, its error, so
// that errors.Is and errors.As see each.
func (e *ConnectError) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range []error{e.Reason, e.Err, e.ctxErr} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// hostErrors holds the errors of several hosts.
type hostErrors []error

func (e hostErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e hostErrors) Unwrap() []error { return e }

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return errors.New("no contact points")
	case 1:
		return errs[0]
	}
	return hostErrors(errs)
}

// tlsFailure reports whether err is a TLS handshake failure that a retry
// cannot fix: a certificate that is not trusted, has expired or names
// another host, an alert from the peer (it refused the handshake or the
// client's certificate), or a peer that does not speak TLS.
func tlsFailure(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &unknown) ||
		errors.As(err, &hostname) || errors.As(err, &invalid) ||
		(errors.As(err, &op) && op.Op == "remote error") // how crypto/tls reports an alert
}

// authFailure reports whether err, from the driver's connection start-up,
// says that the credentials were refused or missing. The driver returns a
// typed error for the node's refusal, and plain ones for a node that wants
// credentials the configuration does not have.
func authFailure(err error) bool {
	var cred *gocql.RequestErrCredentials
	if errors.As(err, &cred) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "authentication required") || strings.HasPrefix(msg, "unexpected authenticator")
}

// protocolMismatch reports whether the driver's session error says that no
// node speaks the protocol version asked for (or, negotiating, any the
// driver speaks). The driver's error for this has no exported type.
func protocolMismatch(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unsupported protocol version") || strings.Contains(msg, "failed to discover protocol version")
}

// setupObserver watches the driver's connections while Connect sets a
// session up: the driver reports there, typed, why a connection failed,
// before it folds the reason into the text of its session error. After
// the set-up it only passes reports on to the configuration's own
// observer.
type setupObserver struct {
	next gocql.ConnectObserver // the user's, or nil

	mu sync.Mutex
	setupReport
}

// setupReport is what a setupObserver saw: how many connections the
// driver tried, the last error, and the first of each kind Connect does
// not retry.
type setupReport struct {
	done                   bool
	dials                  int
	last, auth, tls, proto error
}

// ObserveConnect records one of the driver's connection attempts.
func (o *setupObserver) ObserveConnect(c gocql.ObservedConnect) {
	if o.next != nil {
		o.next.ObserveConnect(c)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.dials++
	if c.Err == nil {
		return
	}
	o.last = c.Err
	switch {
	case authFailure(c.Err):
		if o.auth == nil {
			o.auth = c.Err
		}
	case tlsFailure(c.Err):
		if o.tls == nil {
			o.tls = c.Err
		}
	case strings.HasPrefix(c.Err.Error(), "unsupported protocol version"):
		o.proto = c.Err
	}
}

// finish ends the recording and returns what was seen.
func (o *setupObserver) finish() setupReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	return o.setupReport
}
