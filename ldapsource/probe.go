package ldapsource

import (
	"context"
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
	p := &probe{authenticate: authenticate}
	p.run(ctx, s)
	res := TestResult{OK: true, Steps: p.steps, DurationMs: time.Since(start).Milliseconds()}
	if len(p.steps) > 0 {
		last := p.steps[len(p.steps)-1]
		res.OK, res.Step, res.Message = last.OK, last.Step, last.Message
	}
	return res
}

// probe is the connection test's hook into connect: it times each step and
// records its outcome. A nil probe (Open's) records nothing.
type probe struct {
	authenticate bool
	steps        []StepResult
	t0           time.Time
}

func (p *probe) begin() {
	if p != nil {
		p.t0 = time.Now()
	}
}

func (p *probe) end(step string, ok bool, msg string) {
	if p != nil {
		p.steps = append(p.steps, StepResult{Step: step, OK: ok, Message: msg, DurationMs: time.Since(p.t0).Milliseconds()})
	}
}

// resolve is the test's dns step.
func (p *probe) resolve(ctx context.Context, host string, timeout time.Duration) *StepError {
	if net.ParseIP(host) != nil {
		p.end(StepDNS, true, fmt.Sprintf("dns: %s is an IP address", host))
		return nil
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return &StepError{Step: StepDNS, Message: dnsMessage(host, err, timeout), Err: err}
	}
	p.end(StepDNS, true, fmt.Sprintf("dns: %s resolves to %s", host, strings.Join(addrs, ", ")))
	return nil
}

func (p *probe) run(ctx context.Context, s *schema.Settings) {
	p.begin()
	if s == nil {
		p.end(StepDNS, false, "dns: no settings")
		return
	}
	l, serr := connect(ctx, s.Connection, p)
	if serr != nil {
		p.end(serr.Step, false, serr.Message)
		return
	}
	defer l.Close()
	if !p.authenticate {
		return
	}

	p.begin()
	base := s.Users.UsersDN
	if strings.TrimSpace(base) == "" {
		p.end(StepSearch, false, "search: users.usersDn is not set")
		return
	}
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
