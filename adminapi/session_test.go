package adminapi

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// sessionServer serves GET /api/v1/check behind the session-or-bearer
// middleware, with the sessions' clock under the test's control.
func sessionServer(t *testing.T, o SessionOptions, now *time.Time) (*echo.Echo, *sessions) {
	t.Helper()
	ss, err := newSessions("the-admin-token", o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ss.now = func() time.Time { return *now }
	e := echo.New()
	g := &routes{g: e.Group(Prefix), mw: []echo.MiddlewareFunc{ss.orBearer(bearerAuth("the-admin-token"))}}
	ss.register(g)
	g.GET("/check", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.HTTPErrorHandler = func(err error, c echo.Context) { (&server{log: slog.New(slog.DiscardHandler)}).writeError(err, c) }
	return e, ss
}

func signIn(t *testing.T, e *echo.Echo, tlsOn bool) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Prefix+"/session", strings.NewReader(`{"token":"the-admin-token"}`))
	req.Header.Set("Content-Type", "application/json")
	if tlsOn {
		req.TLS = &tls.ConnectionState{}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("sign-in set %d cookies", len(cs))
	}
	return cs[0]
}

func check(e *echo.Echo, c *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, Prefix+"/check", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// TestSessionEndsAtItsExpiry: a session works until its TTL has passed,
// then it is refused, whatever the browser still sends.
func TestSessionEndsAtItsExpiry(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	e, _ := sessionServer(t, SessionOptions{TTL: time.Hour}, &now)
	c := signIn(t, e, false)
	if c.MaxAge != 3600 || !c.Expires.Equal(now.Add(time.Hour)) || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != Prefix || c.Secure {
		t.Fatalf("cookie %+v", c)
	}
	now = now.Add(time.Hour - time.Second)
	if rec := check(e, c); rec.Code != http.StatusNoContent {
		t.Fatalf("a second before expiry: %d %s", rec.Code, rec.Body)
	}
	now = now.Add(time.Second)
	rec := check(e, c)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "your console session has ended (signed out or expired)") {
		t.Fatalf("at expiry: %d %s", rec.Code, rec.Body)
	}
}

// TestSessionCookieIsSecureOverHTTPS: Secure over TLS, and on every request
// behind an https public URL (a proxy ends TLS); an http one or none leaves
// plain-http requests without it.
func TestSessionCookieIsSecureOverHTTPS(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		publicURL string
		tls       bool
		secure    bool
	}{
		{"", false, false},
		{"", true, true},
		{"http://scim.example.com/scim/v2", false, false},
		{"https://scim.example.com/scim/v2", false, true},
	} {
		e, _ := sessionServer(t, SessionOptions{PublicURL: tt.publicURL}, &now)
		if c := signIn(t, e, tt.tls); c.Secure != tt.secure {
			t.Errorf("public URL %q, TLS %v: Secure = %v, want %v", tt.publicURL, tt.tls, c.Secure, tt.secure)
		}
	}
	if _, err := newSessions("t", SessionOptions{PublicURL: "scim.example.com"}, slog.Default()); err == nil ||
		err.Error() != `SCIMBRIDGE_BASE_URL "scim.example.com" is not an http:// or https:// URL` {
		t.Errorf("a public URL without scheme: %v", err)
	}
}

// TestSessionsAreBounded: past maxSessions, signing in ends the session that
// expires first; the others keep working.
func TestSessionsAreBounded(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	e, ss := sessionServer(t, SessionOptions{}, &now)
	first := signIn(t, e, false)
	for range maxSessions - 1 {
		now = now.Add(time.Millisecond)
		signIn(t, e, false)
	}
	second := signIn(t, e, false)
	if n := len(ss.byID); n != maxSessions {
		t.Fatalf("%d sessions held, want %d", n, maxSessions)
	}
	if rec := check(e, first); rec.Code != http.StatusUnauthorized {
		t.Errorf("the oldest session still works: %d", rec.Code)
	}
	if rec := check(e, second); rec.Code != http.StatusNoContent {
		t.Errorf("the newest session: %d %s", rec.Code, rec.Body)
	}
}
