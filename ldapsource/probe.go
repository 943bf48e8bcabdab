package ldapsource

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// TestResult is the outcome of the admin page's "Test connection" or "Test
// authentication" button.
type TestResult struct {
	// OK is true when every step passed.
	OK bool `json:"ok"`
	// Step is the step that failed, or the last step when OK.
	Step string `json:"step"`
	// Message describes the failure (or success) in an admin's words, e.g.
	// "bind: invalid credentials (49)". It never contains the credential.
	Message    string       `json:"message"`
	DurationMs int64        `json:"durationMs"`
	Steps      []StepResult `json:"steps"`
}

// StepResult is one step of a TestResult: dns, tcp, tls, bind or search.
type StepResult struct {
	Step       string `json:"step"`
	OK         bool   `json:"ok"`
	Message    string `json:"message"`
	DurationMs int64  `json:"durationMs"`
}

// Test checks the connection the settings describe, step by step: dns
// (resolve the host), tcp (connect), tls (ldaps:// handshake or StartTLS;
// passes with a note on plain ldap://), and when authenticate is true also
// bind (as connection.bindDn, anonymous when empty) and search (a base-scope
// read of users.usersDn). It stops at the first failing step.
func Test(ctx context.Context, s *schema.Settings, authenticate bool) TestResult {
	start := time.Now()
	p := &probe{}
	p.run(ctx, s, authenticate)
	res := TestResult{OK: true, Steps: p.steps, DurationMs: time.Since(start).Milliseconds()}
	if len(p.steps) > 0 {
		last := p.steps[len(p.steps)-1]
		res.OK, res.Step, res.Message = last.OK, last.Step, last.Message
	}
	return res
}

type probe struct {
	steps []StepResult
	t0    time.Time
}

func (p *probe) begin() { p.t0 = time.Now() }

func (p *probe) end(step string, ok bool, msg string) bool {
	p.steps = append(p.steps, StepResult{Step: step, OK: ok, Message: msg, DurationMs: time.Since(p.t0).Milliseconds()})
	return ok
}

func (p *probe) run(ctx context.Context, s *schema.Settings, authenticate bool) {
	p.begin()
	if s == nil {
		p.end(StepDNS, false, "dns: no settings")
		return
	}
	cc := s.Connection
	ep, err := parseEndpoint(cc)
	if err != nil {
		p.end(StepDNS, false, "dns: "+err.Error())
		return
	}
	timeout := seconds(cc.ConnectTimeoutSeconds, defaultConnectTimeout)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if net.ParseIP(ep.host) != nil {
		p.end(StepDNS, true, fmt.Sprintf("dns: %s is an IP address", ep.host))
	} else {
		addrs, err := net.DefaultResolver.LookupHost(cctx, ep.host)
		if err != nil {
			p.end(StepDNS, false, dnsMessage(ep.host, err, timeout))
			return
		}
		p.end(StepDNS, true, fmt.Sprintf("dns: %s resolves to %s", ep.host, strings.Join(addrs, ", ")))
	}

	p.begin()
	raw, err := (&net.Dialer{Timeout: timeout}).DialContext(cctx, "tcp", ep.addr)
	if err != nil {
		p.end(StepTCP, false, tcpMessage(ep.addr, err, timeout))
		return
	}
	defer raw.Close()
	p.end(StepTCP, true, fmt.Sprintf("tcp: connected to %s", raw.RemoteAddr()))
	stop := context.AfterFunc(cctx, func() { raw.Close() })
	defer stop()

	p.begin()
	var l *ldap.Conn
	switch {
	case ep.ldaps || cc.StartTLS:
		cfg, err := tlsConfig(cc, ep.host)
		if err != nil {
			p.end(StepTLS, false, "TLS: "+err.Error())
			return
		}
		if ep.ldaps {
			tc := tls.Client(raw, cfg)
			if err := tc.HandshakeContext(cctx); err != nil {
				p.end(StepTLS, false, tlsMessage(err, timeout))
				return
			}
			l = ldap.NewConn(tc, true)
			l.Start()
		} else {
			l = ldap.NewConn(raw, false)
			l.Start()
			l.SetTimeout(timeout)
			if err := l.StartTLS(cfg); err != nil {
				l.Close()
				p.end(StepTLS, false, startTLSMessage(err, timeout))
				return
			}
		}
		defer l.Close()
		st, _ := l.TLSConnectionState()
		msg := fmt.Sprintf("TLS: %s with a verified certificate", tls.VersionName(st.Version))
		if cc.InsecureSkipVerify {
			msg = fmt.Sprintf("TLS: %s, but certificate verification is OFF (connection.insecureSkipVerify)", tls.VersionName(st.Version))
		}
		p.end(StepTLS, true, msg)
	default:
		l = ldap.NewConn(raw, false)
		l.Start()
		defer l.Close()
		p.end(StepTLS, true, "TLS: not used (plain ldap:// without StartTLS): traffic, including the bind password, is not encrypted")
	}
	if !authenticate {
		return
	}

	p.begin()
	l.SetTimeout(timeout)
	if err := bind(l, cc); err != nil {
		if cctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", cctx.Err(), err)
		}
		p.end(StepBind, false, bindMessage(cc, err))
		return
	}
	if cc.BindDN == "" {
		p.end(StepBind, true, "bind: anonymous bind accepted")
	} else {
		p.end(StepBind, true, fmt.Sprintf("bind: authenticated as %s", cc.BindDN))
	}
	// The connect timeout is over; the read gets its own.
	if !stop() {
		p.begin()
		p.end(StepSearch, false, "search: connection closed: "+cctx.Err().Error())
		return
	}

	p.begin()
	base := s.Users.UsersDN
	if strings.TrimSpace(base) == "" {
		p.end(StepSearch, false, "search: users.usersDn is not set")
		return
	}
	l.SetTimeout(seconds(cc.ReadTimeoutSeconds, defaultReadTimeout))
	res, err := l.Search(ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	switch {
	case err != nil:
		p.end(StepSearch, false, searchMessage(base, err))
	case len(res.Entries) != 1:
		p.end(StepSearch, false, fmt.Sprintf("search: the server returned %d entries for %s; the bind DN may not see it", len(res.Entries), base))
	default:
		p.end(StepSearch, true, fmt.Sprintf("search: read %s", res.Entries[0].DN))
	}
}
