package push

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// Steps of TestPush, in order.
const (
	StepConfig  = "config"
	StepConnect = "connect"
	StepTLS     = "tls"
	StepConfigs = "serviceProviderConfig"
	StepAuth    = "auth"
)

// TestResult is the answer of the admin API's "test push" button: whether the
// target was reached and accepted the token, or the step that failed.
type TestResult struct {
	OK         bool   `json:"ok"`
	Step       string `json:"step"`
	Message    string `json:"message"`
	DurationMs int64  `json:"durationMs"`
}

// TestPush reaches the push target of s (without retries), reads its
// ServiceProviderConfig and checks that it accepts the token with one
// filtered list request. It sends nothing that changes the target.
func (c *Client) TestPush(ctx context.Context, s *schema.Settings) TestResult {
	start := time.Now()
	done := func(ok bool, step, msg string) TestResult {
		return TestResult{OK: ok, Step: step, Message: msg, DurationMs: time.Since(start).Milliseconds()}
	}
	e, err := c.newEngine(s, retry{attempts: 1})
	if err != nil {
		return done(false, StepConfig, err.Error())
	}
	cfg, d := e.cfg, e.http
	resp, err := d.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, nil)
	if err != nil {
		return done(false, failedStep(err), describe(err, cfg.push.URL))
	}
	var spc struct {
		Patch struct {
			Supported bool `json:"supported"`
		} `json:"patch"`
	}
	if err := json.Unmarshal(resp.body, &spc); err != nil {
		return done(false, StepConfigs, fmt.Sprintf("serviceProviderConfig: the answer of %s/ServiceProviderConfig is not SCIM JSON: is push.url the SCIM base URL?", cfg.push.URL))
	}
	q := url.Values{"filter": {`userName eq "scimbridge-test-push"`}, "startIndex": {"1"}, "count": {"1"}}
	if _, err := d.do(ctx, http.MethodGet, "/Users", q, nil); err != nil {
		return done(false, failedStep(err), describe(err, cfg.push.URL))
	}
	patch := "PATCH supported"
	if !spc.Patch.Supported || cfg.iomete {
		patch = "updates with PUT"
	}
	return done(true, StepAuth, fmt.Sprintf("reached %s, token accepted (%s profile, %s)", cfg.push.URL, cfg.profile, patch))
}

func failedStep(err error) string {
	var se *StatusError
	switch {
	case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
		return StepAuth
	case errors.As(err, &se):
		return StepConfigs
	case isTLSError(err):
		return StepTLS
	}
	return StepConnect
}

func isTLSError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// describe says in an admin's words what went wrong reaching the target.
func describe(err error, base string) string {
	var se *StatusError
	switch {
	case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
		return fmt.Sprintf("auth: the target refused the token (HTTP %d): check push.token and push.authHeader", se.Status)
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return fmt.Sprintf("serviceProviderConfig: %s answered 404 for %s: is push.url the SCIM base URL (…/scim/v2)?", base, se.Path)
	case errors.As(err, &se):
		return fmt.Sprintf("serviceProviderConfig: %s", se.Error())
	case isTLSError(err):
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return "TLS: certificate signed by unknown authority (set push.caCertPem)"
		}
		return fmt.Sprintf("TLS: %v", err)
	}
	return fmt.Sprintf("connect: cannot reach %s: %v", base, err)
}

// Deprovision removes from the target every user and group the push client
// delivered ("Remove imported users and groups" with deprovisioning): groups
// are deleted, users deprovisioned as push.deprovision says. The bookkeeping
// of each resource is dropped once the target confirmed it.
func (c *Client) Deprovision(ctx context.Context, s *schema.Settings) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	e, err := c.newEngine(s, c.retry())
	if err != nil {
		return nil, err
	}
	if !e.cfg.iomete {
		if e.patch, err = c.patchSupported(ctx, e.http); err != nil {
			return nil, err
		}
	}
	for _, typ := range []string{bridge.MemberGroup, bridge.MemberUser} {
		states, err := c.db.ListPushStates(ctx, typ)
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			if typ == bridge.MemberGroup {
				err = e.deleteGroup(ctx, st)
			} else {
				err = e.deprovisionUser(ctx, st)
			}
			if err != nil {
				e.failed(ctx, st, err)
				var ue *UnreachableError
				if errors.As(err, &ue) {
					return nil, err
				}
			}
		}
	}
	e.rep.Sent = int(e.http.sent.Load())
	e.rep.DurationMs = time.Since(start).Milliseconds()
	if e.rep.Failed > 0 {
		raw, _ := json.Marshal(&e.rep)
		return raw, fmt.Errorf("%d resources could not be removed from the push target", e.rep.Failed)
	}
	if err := c.db.ResetPush(ctx); err != nil {
		return nil, err
	}
	return json.Marshal(&e.rep)
}
