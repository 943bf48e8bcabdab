package adminapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// SessionCookie is the name of the admin console's session cookie. It is
// scoped to Prefix, HttpOnly and SameSite=Strict.
const SessionCookie = "scimbridge_session"

// DefaultSessionTTL is how long a console session lasts after sign-in.
const DefaultSessionTTL = 8 * time.Hour

// maxSessions bounds the sessions held at once; signing in past it ends the
// session that expires first.
const maxSessions = 1000

// SessionOptions configure the admin console's sign-in, which trades the
// admin token for a session cookie (POST /api/v1/session) so that the page
// never keeps the token. Bearer clients are not affected.
type SessionOptions struct {
	// TTL is how long a session lasts from sign-in. Default: DefaultSessionTTL.
	TTL time.Duration
	// PublicURL is the URL clients reach scimbridge at when it runs behind a
	// proxy (SCIMBRIDGE_BASE_URL), e.g. "https://scim.example.com/scim/v2".
	// An https URL makes the cookie Secure, and its origin is trusted for
	// cookie-authenticated writes. Without it the cookie is Secure when the
	// request came over TLS.
	PublicURL string
}

// sessions holds the signed-in console sessions in memory: a restart signs
// everyone out. Only a digest of each session id is kept.
type sessions struct {
	token  [32]byte // digest of the admin token
	ttl    time.Duration
	secure bool // every cookie Secure (an https PublicURL)
	csrf   *http.CrossOriginProtection
	log    *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	byID map[[32]byte]time.Time // digest of the session id → expiry
}

func newSessions(token string, o SessionOptions, log *slog.Logger) (*sessions, error) {
	ss := &sessions{
		token: sha256.Sum256([]byte(strings.TrimSpace(token))),
		ttl:   o.TTL,
		csrf:  http.NewCrossOriginProtection(),
		log:   log,
		now:   time.Now,
		byID:  map[[32]byte]time.Time{},
	}
	if ss.ttl <= 0 {
		ss.ttl = DefaultSessionTTL
	}
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("SCIMBRIDGE_BASE_URL %q is not an http:// or https:// URL", o.PublicURL)
		}
		ss.secure = u.Scheme == "https"
		if err := ss.csrf.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("SCIMBRIDGE_BASE_URL %q: %w", o.PublicURL, err)
		}
	}
	return ss, nil
}

// register adds the session route to the authenticated routes, and sign-in
// and sign-out beside them without authentication.
func (ss *sessions) register(authed *routes) {
	authed.GET("/session", ss.current)
	open := &routes{g: authed.g, mw: []echo.MiddlewareFunc{bodyLimit(MaxBodyBytes)}}
	open.POST("/session", ss.signIn)
	open.DELETE("/session", ss.signOut)
}

// errCrossOrigin refuses a cookie-authenticated write sent from another site.
var errCrossOrigin = &apiError{status: http.StatusForbidden,
	body: errorBody{Error: "cross-origin request refused: a signed-in console session only accepts writes from the console's own page"}}

// crossOrigin refuses state-changing requests that a browser marks as sent
// by another origin (Sec-Fetch-Site, else Origin against Host).
func (ss *sessions) crossOrigin(c echo.Context) error {
	if err := ss.csrf.Check(c.Request()); err != nil {
		ss.log.Warn("cross-origin request refused", "method", c.Request().Method, "path", c.Request().URL.Path,
			"origin", c.Request().Header.Get("Origin"))
		return errCrossOrigin
	}
	return nil
}

// signIn exchanges the admin token for a session cookie. The SCIM token, or
// any other, is refused.
func (ss *sessions) signIn(c echo.Context) error {
	if err := ss.crossOrigin(c); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest(`send {"token": "<admin token>"} as JSON`)
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(in.Token)))
	if in.Token == "" || subtle.ConstantTimeCompare(sum[:], ss.token[:]) != 1 {
		ss.log.Warn("console sign-in refused", "remote", c.RealIP())
		return &apiError{status: http.StatusUnauthorized,
			body: errorBody{Error: "sign-in refused: that is not the admin token (SCIMBRIDGE_ADMIN_TOKEN)"}}
	}
	id, expires, err := ss.create()
	if err != nil {
		return internal("creating the session", err)
	}
	c.SetCookie(ss.cookie(c, id, expires))
	ss.log.Info("console signed in", "remote", c.RealIP())
	return c.JSON(http.StatusOK, map[string]any{"expiresAt": expires.UTC()})
}

// current answers how the request is authenticated and, for a session, when
// it expires.
func (ss *sessions) current(c echo.Context) error {
	if exp, ok := c.Get(sessionExpiryKey).(time.Time); ok {
		return c.JSON(http.StatusOK, map[string]any{"via": "session", "expiresAt": exp.UTC()})
	}
	return c.JSON(http.StatusOK, map[string]any{"via": "bearer", "expiresAt": nil})
}

// signOut ends the session of the request's cookie, if any, and clears it.
func (ss *sessions) signOut(c echo.Context) error {
	if err := ss.crossOrigin(c); err != nil {
		return err
	}
	if ck, err := c.Cookie(SessionCookie); err == nil {
		ss.mu.Lock()
		delete(ss.byID, sha256.Sum256([]byte(ck.Value)))
		ss.mu.Unlock()
	}
	gone := ss.cookie(c, "", time.Unix(0, 0))
	gone.MaxAge = -1
	c.SetCookie(gone)
	ss.log.Info("console signed out", "remote", c.RealIP())
	return c.NoContent(http.StatusNoContent)
}

func (ss *sessions) cookie(c echo.Context, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: value, Path: Prefix,
		Expires: expires, MaxAge: int(ss.ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: ss.secure || c.Request().TLS != nil,
	}
}

// create starts a session and returns its id.
func (ss *sessions) create() (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := ss.now()
	expires := now.Add(ss.ttl)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, exp := range ss.byID {
		if !now.Before(exp) {
			delete(ss.byID, k)
		}
	}
	if len(ss.byID) >= maxSessions {
		var first [32]byte
		var firstExp time.Time
		for k, exp := range ss.byID {
			if firstExp.IsZero() || exp.Before(firstExp) {
				first, firstExp = k, exp
			}
		}
		delete(ss.byID, first)
	}
	ss.byID[sha256.Sum256([]byte(id))] = expires
	return id, expires, nil
}

// lookup is the expiry of a live session.
func (ss *sessions) lookup(id string) (time.Time, bool) {
	key := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.byID[key]
	if !ok {
		return time.Time{}, false
	}
	if !ss.now().Before(exp) {
		delete(ss.byID, key)
		return time.Time{}, false
	}
	return exp, true
}

const sessionExpiryKey = "adminapi.sessionExpiry"

var errSessionEnded = &apiError{status: http.StatusUnauthorized,
	body: errorBody{Error: "your console session has ended (signed out or expired): sign in again with the admin token"}}

// orBearer admits a request with a live session cookie and no Authorization
// header; any other request goes to bearer. Cookie-authenticated writes must
// come from the console's own origin.
func (ss *sessions) orBearer(bearer echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		viaBearer := bearer(next)
		return func(c echo.Context) error {
			r := c.Request()
			ck, err := r.Cookie(SessionCookie)
			if r.Header.Get(echo.HeaderAuthorization) != "" || errors.Is(err, http.ErrNoCookie) {
				return viaBearer(c)
			}
			exp, ok := ss.lookup(ck.Value)
			if !ok {
				return errSessionEnded
			}
			if err := ss.crossOrigin(c); err != nil {
				return err
			}
			c.Set(sessionExpiryKey, exp)
			return next(c)
		}
	}
}
