// Package ldapsource reads users and groups from an LDAP directory (OpenLDAP,
// Active Directory or any RFC 4511 server) for the bridge, and runs the admin
// page's "Test connection" and "Test authentication" checks.
//
// It is the only package that talks LDAP. Everything it needs comes from the
// settings document (package schema):
//
//	"connection": {"url": "ldaps://dc1.corp.example.com:636", "caCertPem": "-----BEGIN CERTIFICATE-----…",
//	               "bindDn": "CORP\\svc-scim", "bindCredential": "…",
//	               "connectTimeoutSeconds": 10, "readTimeoutSeconds": 60, "pageSize": 500, "rangeSize": 0},
//	"users":  {"usersDn": "ou=people,dc=corp,dc=example,dc=com", "objectClasses": ["person", "user"],
//	           "filter": "(memberOf:1.2.840.113556.1.4.1941:=cn=scim,ou=groups,dc=corp,dc=example,dc=com)", …},
//	"groups": {"groupsDn": "ou=groups,dc=corp,dc=example,dc=com", "objectClasses": ["group"], …}
//
// Reads stream: entries are handed to the caller one at a time, page by page
// (RFC 2696 paged results), so a directory of any size is read in constant
// memory. A read that does not finish completely, for any reason, returns an
// error; a partial read never looks like success.
//
// The user and group searches take a bulk path (bulk.go, ber.go) that keeps
// up with the directory: a dedicated connection per search, whole messages
// read into a few reused buffers, entries decoded in place, the next page
// requested while the current one is processed. go-ldap does everything
// else (the connection tests, ranged attributes) and every read when that
// dedicated connection cannot be opened (Conn.BulkPath says why).
package ldapsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// Defaults for zero settings values.
const (
	defaultConnectTimeout = 10 * time.Second
	defaultReadTimeout    = 60 * time.Second
	defaultPageSize       = 500
)

// Conn is one connected, bound directory connection. It implements
// bridge.Directory. A Conn serves one sync at a time.
type Conn struct {
	l         *ldap.Conn
	s         schema.Settings
	referrals atomic.Int64
	// bulk is true while user and group reads take the bulk path
	// (bulk.go); it turns false, for good, when that path cannot connect.
	bulk    atomic.Bool
	bulkErr atomic.Pointer[error] // why bulk turned false
}

var _ bridge.Directory = (*Conn)(nil)

// Dial connects and binds to the directory the settings describe. It has the
// signature of bridge.Dialer.
func Dial(ctx context.Context, s *schema.Settings) (bridge.Directory, error) {
	c, err := Open(ctx, s)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Open connects and binds to the directory the settings describe:
// connection.url (ldap:// or ldaps://), optionally StartTLS, then a simple bind
// as connection.bindDn (anonymous when empty). connection.connectTimeoutSeconds
// bounds all of that. Failures are *StepError values saying which step failed.
func Open(ctx context.Context, s *schema.Settings) (*Conn, error) {
	if s == nil {
		return nil, errors.New("ldapsource: no settings")
	}
	l, serr := connect(ctx, s.Connection, nil)
	if serr != nil {
		return nil, serr
	}
	c := &Conn{l: l, s: *s}
	c.bulk.Store(true)
	return c, nil
}

// connect is the one connect sequence, shared by Open and the connection
// test: dial connection.url's host (tcp), the TLS handshake of ldaps:// or
// StartTLS (tls), then a simple bind as connection.bindDn, anonymous when
// empty (bind), all within connection.connectTimeoutSeconds; the bound
// connection it returns has the read timeout. A failure names its step.
//
// The test hooks in with its probe p (nil for Open): p hears each step that
// passes, the host is resolved as a step of its own (dns; Open leaves that to
// the dial), and a probe that does not authenticate gets the connection back
// unbound after the tls step.
func connect(ctx context.Context, cc schema.Connection, p *probe) (*ldap.Conn, *StepError) {
	ep, err := parseEndpoint(cc)
	if err != nil {
		return nil, &StepError{Step: StepDNS, Message: "dns: " + err.Error(), Err: err}
	}
	timeout := seconds(cc.ConnectTimeoutSeconds, defaultConnectTimeout)
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if p != nil {
		if serr := p.resolve(dctx, ep.host, timeout); serr != nil {
			return nil, serr
		}
	}

	p.begin()
	sock, serr := dialTCP(dctx, ep, timeout)
	if serr != nil {
		return nil, serr
	}
	p.end(StepTCP, true, fmt.Sprintf("tcp: connected to %s", sock.RemoteAddr()))

	p.begin()
	var tcfg *tls.Config
	if ep.ldaps || cc.StartTLS {
		if tcfg, err = tlsConfig(cc, ep.host); err != nil {
			sock.Close()
			return nil, &StepError{Step: StepTLS, Message: "TLS: " + err.Error(), Err: err}
		}
	}
	// go-ldap's StartTLS and Bind take no context: closing the socket when
	// the deadline passes or ctx ends unblocks them.
	stop := context.AfterFunc(dctx, func() { sock.Close() })
	fail := func(l *ldap.Conn, step string, msg func(error) string, err error) (*ldap.Conn, *StepError) {
		if l != nil {
			l.Close()
		}
		sock.Close()
		if cerr := dctx.Err(); cerr != nil && !stop() {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, &StepError{Step: step, Message: msg(err), Err: err}
	}
	conn := sock
	if ep.ldaps {
		tc := tls.Client(sock, tcfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fail(nil, StepTLS, func(err error) string { return tlsMessage(err, timeout) }, err)
		}
		conn = tc
	}
	l := ldap.NewConn(conn, ep.ldaps)
	l.Start()
	l.SetTimeout(timeout)
	if cc.StartTLS {
		if err := l.StartTLS(tcfg); err != nil {
			return fail(l, StepTLS, func(err error) string { return startTLSMessage(err, timeout) }, err)
		}
	}
	p.end(StepTLS, true, tlsNote(l, cc, tcfg != nil))
	if p != nil && !p.authenticate {
		stop()
		return l, nil
	}

	p.begin()
	if err := bind(l, cc); err != nil {
		return fail(l, StepBind, func(err error) string { return bindMessage(cc, err) }, err)
	}
	p.end(StepBind, true, bindNote(cc))
	// The connect timeout is over; reads get their own. A connection it
	// closed right after the bind fails before the first read.
	p.begin()
	if !stop() {
		l.Close()
		err := dctx.Err()
		return nil, &StepError{Step: StepSearch, Message: "search: connection closed: " + err.Error(), Err: err}
	}
	l.SetTimeout(seconds(cc.ReadTimeoutSeconds, defaultReadTimeout))
	return l, nil
}

// dialTCP is the tcp step: a connection to connection.url's host and port.
func dialTCP(dctx context.Context, ep endpoint, timeout time.Duration) (net.Conn, *StepError) {
	sock, err := (&net.Dialer{Timeout: timeout}).DialContext(dctx, "tcp", ep.addr)
	if err != nil {
		return nil, &StepError{Step: StepTCP, Message: tcpMessage(ep.addr, err, timeout), Err: err}
	}
	return sock, nil
}

// bindNote is the bind step's note for the connection test.
func bindNote(cc schema.Connection) string {
	if cc.BindDN == "" {
		return "bind: anonymous bind accepted"
	}
	return fmt.Sprintf("bind: authenticated as %s", cc.BindDN)
}

// tlsNote is the tls step's note for the connection test.
func tlsNote(l *ldap.Conn, cc schema.Connection, encrypted bool) string {
	if !encrypted {
		return "TLS: not used (plain ldap:// without StartTLS): traffic, including the bind password, is not encrypted"
	}
	st, _ := l.TLSConnectionState()
	if cc.InsecureSkipVerify {
		return fmt.Sprintf("TLS: %s, but certificate verification is OFF (connection.insecureSkipVerify)", tls.VersionName(st.Version))
	}
	return fmt.Sprintf("TLS: %s with a verified certificate", tls.VersionName(st.Version))
}

// Close closes the connection.
func (c *Conn) Close() error {
	return c.l.Close()
}

// Referrals returns how many search references (referrals to other servers)
// the reads of this connection skipped. AD returns them for its
// ForestDnsZones/DomainDnsZones partitions; they are not an error.
func (c *Conn) Referrals() int {
	return int(c.referrals.Load())
}

// BulkPath reports whether user and group reads take the bulk path (whole
// messages read into reused buffers and decoded in place) and, once they no
// longer do because its dedicated connection could not be opened, why.
func (c *Conn) BulkPath() (bool, error) {
	if p := c.bulkErr.Load(); p != nil {
		return c.bulk.Load(), *p
	}
	return c.bulk.Load(), nil
}

// endpoint is connection.url taken apart.
type endpoint struct {
	host  string // for DNS and the certificate check
	addr  string // host:port
	ldaps bool
}

func parseEndpoint(cc schema.Connection) (endpoint, error) {
	raw := strings.TrimSpace(cc.URL)
	if raw == "" {
		return endpoint{}, errors.New("connection.url is not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("connection.url %q does not parse: %w", raw, err)
	}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		port = "389"
	case "ldaps":
		port = "636"
	default:
		return endpoint{}, fmt.Errorf("connection.url %q must start with ldap:// or ldaps://", raw)
	}
	host := u.Hostname()
	if host == "" {
		return endpoint{}, fmt.Errorf("connection.url %q has no host", raw)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	ldaps := strings.EqualFold(u.Scheme, "ldaps")
	if ldaps && cc.StartTLS {
		return endpoint{}, errors.New("connection.startTls works only with ldap:// URLs; ldaps:// is already encrypted")
	}
	return endpoint{host: host, addr: net.JoinHostPort(host, port), ldaps: ldaps}, nil
}

// tlsConfig verifies the server certificate against the system roots plus
// connection.caCertPem, for the URL's host, unless connection.insecureSkipVerify.
func tlsConfig(cc schema.Connection, host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if cc.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	if strings.TrimSpace(cc.CACertPEM) != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(cc.CACertPEM)) {
			return nil, errors.New("connection.caCertPem holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// bind binds simply as connection.bindDn, or anonymously when it is empty.
func bind(l *ldap.Conn, cc schema.Connection) error {
	if cc.BindDN == "" {
		return l.UnauthenticatedBind("")
	}
	if cc.BindCredential == "" {
		return errEmptyCredential
	}
	return l.Bind(cc.BindDN, cc.BindCredential)
}

var errEmptyCredential = errors.New("connection.bindCredential is empty")

func seconds(n int, def time.Duration) time.Duration {
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}
