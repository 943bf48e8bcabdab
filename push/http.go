package push

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

const scimJSON = "application/scim+json"

// StatusError is a final non-2xx answer of the target.
type StatusError struct {
	Method, Path string
	Status       int
	ScimType     string
	Detail       string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.ScimType != "" {
		msg += " " + e.ScimType
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// UnreachableError says the target could not be reached at all (network
// errors on every attempt): the run stops and nothing is marked failed.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "push target unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// retry tunes the retries of one request.
type retry struct {
	attempts int           // total attempts, at least 1
	base     time.Duration // first backoff
	max      time.Duration // longest wait, also for Retry-After
}

// doer sends SCIM requests to one target with auth, a per-request timeout
// and retries (network errors, 5xx, 429 with Retry-After).
type doer struct {
	hc      *http.Client
	base    string
	header  string
	value   string
	timeout time.Duration
	retry   retry
	sent    atomic.Int64
	observe func(method, path string, status int) // Client.OnResponse
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func newDoer(p *schema.Push, r retry, hc *http.Client) (*doer, error) {
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: p.InsecureSkipVerify} //nolint:gosec // off unless push.insecureSkipVerify
		if p.CACertPEM != "" {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM([]byte(p.CACertPEM)) {
				return nil, errors.New("push.caCertPem: no PEM certificate found")
			}
			tlsCfg.RootCAs = pool
		}
		tr.TLSClientConfig = tlsCfg
		tr.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: tr}
	}
	// Never follow a redirect: net/http drops only Authorization on a
	// cross-host one, so a token in another header (push.authHeader) would
	// reach the other host. The 3xx is the answer, reported as a non-2xx.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc = &noRedirect
	value := p.Token
	if strings.EqualFold(p.AuthHeader, "Authorization") {
		value = "Bearer " + p.Token
	}
	return &doer{hc: hc, base: strings.TrimRight(p.URL, "/"), header: p.AuthHeader, value: value,
		timeout: time.Duration(p.TimeoutSeconds) * time.Second, retry: r}, nil
}

// do sends one request, retrying what may succeed later. A 2xx answer returns
// a response; a final non-2xx a *StatusError; network errors on every attempt
// an *UnreachableError.
func (d *doer) do(ctx context.Context, method, path string, query url.Values, body any) (*response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
	}
	target := d.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var last error
	for attempt := 1; ; attempt++ {
		// A cancelled run (a shutdown) sends nothing more; a request already
		// sent gets its answer (inflightGrace), so that it is recorded.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		actx, release := inflight(ctx)
		resp, err := d.once(actx, method, target, payload)
		release()
		if d.observe != nil {
			status := 0
			if err == nil {
				status = resp.status
			}
			d.observe(method, path, status)
		}
		wait := time.Duration(0)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
			}
			last = &UnreachableError{Err: fmt.Errorf("%s %s: %w", method, path, err)}
		case resp.status >= 200 && resp.status < 300:
			return resp, nil
		default:
			se := statusError(method, path, resp)
			if resp.status != http.StatusTooManyRequests && resp.status < 500 {
				return nil, se
			}
			last = se
			wait = retryAfter(resp.header.Get("Retry-After"), time.Now())
		}
		if attempt >= d.retry.attempts {
			return nil, last
		}
		if wait == 0 {
			// Exponential backoff with full jitter.
			ceil := d.retry.base << (attempt - 1)
			if ceil > d.retry.max || ceil <= 0 {
				ceil = d.retry.max
			}
			wait = time.Duration(rand.Int64N(int64(ceil)) + 1)
		}
		wait = min(wait, d.retry.max)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		case <-t.C:
		}
	}
}

// inflightGrace is how long a request already sent may still take to be
// answered once its run is cancelled.
const inflightGrace = 2 * time.Second

// inflight returns the context of one request: cancelled inflightGrace
// after ctx is, not at once.
func inflight(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(inflightGrace, cancel)
	})
	return c, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

func (d *doer) once(ctx context.Context, method, target string, payload []byte) (*response, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", scimJSON)
	if payload != nil {
		req.Header.Set("Content-Type", scimJSON)
	}
	if d.header != "" {
		req.Header.Set(d.header, d.value)
	}
	d.sent.Add(1)
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func statusError(method, path string, resp *response) *StatusError {
	se := &StatusError{Method: method, Path: path, Status: resp.status}
	var e struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(resp.body, &e) == nil {
		se.ScimType, se.Detail = e.ScimType, e.Detail
	}
	if se.Detail == "" && se.ScimType == "" {
		se.Detail = strings.TrimSpace(string(resp.body))
		if len(se.Detail) > 200 {
			se.Detail = se.Detail[:200]
		}
	}
	return se
}

// retryAfter parses a Retry-After header: seconds or an HTTP date; 0 if absent.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s)*time.Second + time.Millisecond
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
