// Package adminapi is scimbridge's admin API at /api/v1, the HTTP form of
// IOMETE's LDAP settings page: read and save the settings document, test the
// connection and the bind, preview the users a sync would read, enable and
// disable LDAP, trigger syncs and read their reports, remove what was
// imported. It also serves /healthz and /readyz.
//
// The package is an adapter: it speaks HTTP (Echo) and JSON, and delegates to
// the store, the scheduler, the directory and the push client through the
// small interfaces in Deps. Every /api/v1 request needs
// "Authorization: Bearer <admin token>", or the admin console's session
// cookie (session.go: the page trades the token for it once and never keeps
// it); errors are JSON:
//
//	{"error": "invalid settings", "fields": [{"field": "connection.url", "message": "…"}]}
//
// The routes are described by the OpenAPI 3 document served at
// /api/v1/openapi.json (openapi.json in this folder).
package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// Prefix is the path under which the admin API is served.
const Prefix = "/api/v1"

// MaxBodyBytes is the largest request body the admin API reads (1 MiB);
// larger bodies are answered with 413.
const MaxBodyBytes = 1 << 20

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the admin API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Store is what the admin API needs from the state store; *store.DB implements it.
type Store interface {
	GetSettings(ctx context.Context) (doc []byte, updated time.Time, found bool, err error)
	PutSettings(ctx context.Context, doc []byte, changedFields []string) error
	SettingsHistory(ctx context.Context, limit, offset int) ([]store.SettingsChange, error)
	Runs(ctx context.Context, limit, offset int) ([]bridge.Report, int, error)
	Run(ctx context.Context, id int64) (bridge.Report, bool, error)
	LastRun(ctx context.Context) (bridge.Report, bool, error)
	Counts(ctx context.Context) (users, groups int, err error)
	Clear(ctx context.Context) error
}

// Scheduler is what the admin API needs from the sync scheduler;
// *scheduler.Scheduler implements it.
type Scheduler interface {
	// Reschedule reads the settings again and applies their schedule at once.
	Reschedule(ctx context.Context) error
	// Trigger starts a run in the background and returns its id; a run in
	// progress is an error wrapping *bridge.BusyError.
	Trigger(ctx context.Context, opt bridge.Options) (int64, error)
	// NextRun is the next scheduled run, if any.
	NextRun() (time.Time, bool)
	// Exclusive runs fn while no sync can run, in this process or another
	// on the same store; while one runs it returns a *bridge.BusyError
	// without calling fn.
	Exclusive(ctx context.Context, fn func(ctx context.Context) error) error
	// Live is the state of the live change stream (state off when none).
	Live() bridge.LiveStatus
}

// Pusher is what the admin API needs from the SCIM push client. Deps.Pusher
// may be nil: the push routes then answer 501.
type Pusher interface {
	// TestPush reaches the push target the settings name, reads its
	// ServiceProviderConfig and checks that the token is accepted.
	TestPush(ctx context.Context, s *schema.Settings) TestResult
	// Deprovision removes every user and group scimbridge pushed from the
	// target and returns the push client's report of it.
	Deprovision(ctx context.Context, s *schema.Settings) (json.RawMessage, error)
}

// TestResult is the answer of a test button: whether it worked and, if not,
// the step that failed in words an admin understands.
type TestResult struct {
	OK         bool   `json:"ok"`
	Step       string `json:"step"`
	Message    string `json:"message"`
	DurationMs int64  `json:"durationMs"`
}

// Deps are the collaborators of the admin API. Store, Scheduler, Key and
// Token are required; the others have working defaults.
type Deps struct {
	Store     Store
	Scheduler Scheduler
	// Key seals the secrets of the settings document at rest.
	Key secret.Key
	// Token is the admin bearer token (SCIMBRIDGE_ADMIN_TOKEN). Required.
	Token string
	// SCIMTokens are the SCIM server's tokens; Register refuses an admin token
	// that is also a SCIM token, so neither opens the other API.
	SCIMTokens []string
	// Logger receives one line per admin action (never a secret). Default: slog.Default().
	Logger *slog.Logger
	// Validate checks a whole settings document. Default: schema's Problems
	// with ldapsource.CheckSyntax.
	Validate func(*schema.Settings) []schema.FieldError
	// TestLDAP runs the "Test connection" / "Test authentication" steps.
	// Default: ldapsource.Test.
	TestLDAP func(ctx context.Context, s *schema.Settings, authenticate bool) ldapsource.TestResult
	// Dial connects to the directory for "Validate user filters" (preview).
	// Default: ldapsource.Dial.
	Dial bridge.Dialer
	// Pusher tests and deprovisions the push target; nil answers 501.
	Pusher Pusher
	// Managed lists the fields (dotted paths such as "connection.url") that
	// serve sets at every start; a save that changes one is refused (409).
	Managed []string
	// ManagedSource says where the managed fields come from, e.g. "the
	// settings file /etc/scimbridge/settings.json".
	ManagedSource string
	// Sessions configure the admin console's sign-in (see session.go).
	Sessions SessionOptions
}

// server holds the dependencies of the handlers.
type server struct {
	st       Store
	sched    Scheduler
	key      secret.Key
	log      *slog.Logger
	validate func(*schema.Settings) []schema.FieldError
	testLDAP func(ctx context.Context, s *schema.Settings, authenticate bool) ldapsource.TestResult
	dial     bridge.Dialer
	pusher   Pusher
	// managed are Deps.Managed, from managedSource.
	managed       []string
	managedSource string
	// settingsMu serialises read-modify-write cycles of the settings document.
	settingsMu sync.Mutex
}

// Register adds the admin API routes under /api/v1 (behind the admin token)
// and /healthz, /readyz (open) to e, and makes Echo's own errors on those
// paths (404, 405, …) JSON in the admin API's error shape. Errors on other
// paths still go to the error handler e had before.
//
// Register fails without an admin token, with an admin token that is also a
// SCIM token, without a usable secret key, or when the stored settings cannot
// be opened with it (a wrong SCIMBRIDGE_SECRET_KEY).
func Register(e *echo.Echo, d Deps) error {
	if strings.TrimSpace(d.Token) == "" {
		return errors.New("admin API: no admin token: set SCIMBRIDGE_ADMIN_TOKEN")
	}
	for _, t := range d.SCIMTokens {
		// Compared as bearerAuth and the SCIM server compare: trimmed.
		if schema.SameToken(t, d.Token) {
			return errors.New("admin API: SCIMBRIDGE_ADMIN_TOKEN must differ from every SCIM token (SCIMBRIDGE_SCIM_TOKEN)")
		}
	}
	if d.Store == nil {
		return errors.New("admin API: no store")
	}
	if d.Scheduler == nil {
		return errors.New("admin API: no scheduler")
	}
	if _, err := d.Key.Seal("probe", "probe"); err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	s := &server{
		st: d.Store, sched: d.Scheduler, key: d.Key, log: d.Logger,
		validate: d.Validate, testLDAP: d.TestLDAP, dial: d.Dial, pusher: d.Pusher,
		managed: d.Managed, managedSource: d.ManagedSource,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.validate == nil {
		s.validate = func(st *schema.Settings) []schema.FieldError { return st.Problems(ldapsource.CheckSyntax) }
	}
	if s.testLDAP == nil {
		s.testLDAP = ldapsource.Test
	}
	if s.dial == nil {
		s.dial = ldapsource.Dial
	}

	// A wrong key is a start-up error, not a failure on the first request.
	if _, _, err := s.load(context.Background()); err != nil {
		return fmt.Errorf("admin API: %w", err)
	}

	prev := e.HTTPErrorHandler
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if !isAdminPath(c.Request().URL.Path) {
			prev(err, c)
			return
		}
		s.writeError(err, c)
	}

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	// The middleware goes on each route rather than on the group: group
	// middleware adds a catch-all route that turns 405s into 404s.
	ss, err := newSessions(d.Token, d.Sessions, s.log)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	auth := ss.orBearer(bearerAuth(d.Token))
	// Echo answers OPTIONS on any route itself, before route middleware:
	// under /api/v1 it needs the same credentials as every other method.
	e.Pre(authOptions(auth))
	g := &routes{g: e.Group(Prefix), mw: []echo.MiddlewareFunc{bodyLimit(MaxBodyBytes), auth}}
	ss.register(g)
	g.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI)
	})
	g.GET("/settings", s.getSettings)
	g.PUT("/settings", s.putSettings)
	g.GET("/settings/history", s.settingsHistory)
	g.GET("/settings/managed", s.managedFields)
	g.GET("/settings/defaults", s.defaults)
	g.POST("/settings/test-connection", s.testConnection)
	g.POST("/settings/test-authentication", s.testAuthentication)
	g.POST("/settings/test-push", s.testPush)
	g.POST("/settings/preview-users", s.previewUsers)
	g.POST("/ldap/enable", s.enable)
	g.POST("/ldap/disable", s.disable)
	g.DELETE("/ldap/imported", s.removeImported)
	g.POST("/sync", s.sync)
	g.GET("/sync/runs", s.runs)
	g.GET("/sync/runs/:id", s.run)
	g.GET("/status", s.status)
	return nil
}

// routes adds routes to an Echo group with the same middleware each.
type routes struct {
	g  *echo.Group
	mw []echo.MiddlewareFunc
}

func (r *routes) GET(path string, h echo.HandlerFunc)    { r.g.GET(path, h, r.mw...) }
func (r *routes) PUT(path string, h echo.HandlerFunc)    { r.g.PUT(path, h, r.mw...) }
func (r *routes) POST(path string, h echo.HandlerFunc)   { r.g.POST(path, h, r.mw...) }
func (r *routes) DELETE(path string, h echo.HandlerFunc) { r.g.DELETE(path, h, r.mw...) }

func isAdminPath(p string) bool {
	return p == Prefix || strings.HasPrefix(p, Prefix+"/") || p == "/healthz" || p == "/readyz"
}

// bearerAuth admits requests carrying "Authorization: Bearer <token>". The
// comparison is constant-time over SHA-256 digests, so neither the token's
// content nor its length leaks through timing.
func bearerAuth(token string) echo.MiddlewareFunc {
	want := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, got, ok := strings.Cut(h, " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
				if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
					return next(c)
				}
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="scimbridge admin"`)
			return &apiError{status: http.StatusUnauthorized,
				body: errorBody{Error: "missing or invalid admin token: send Authorization: Bearer $SCIMBRIDGE_ADMIN_TOKEN"}}
		}
	}
}

// authOptions puts auth in front of OPTIONS requests under Prefix.
func authOptions(auth echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		checked := auth(next)
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if c.Request().Method == http.MethodOptions && (p == Prefix || strings.HasPrefix(p, Prefix+"/")) {
				return checked(c)
			}
			return next(c)
		}
	}
}

// bodyLimit refuses bodies over max bytes with 413, by their Content-Length
// when it is given and while reading otherwise.
func bodyLimit(max int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > max {
				return errTooLarge
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, max)
			return next(c)
		}
	}
}

var errTooLarge = &apiError{status: http.StatusRequestEntityTooLarge,
	body: errorBody{Error: fmt.Sprintf("request body too large: the limit is %d bytes", MaxBodyBytes)}}

// errorBody is the JSON shape of every admin API error.
type errorBody struct {
	Error  string              `json:"error"`
	Fields []schema.FieldError `json:"fields,omitempty"`
	// RunID names the run in progress when a sync is refused as busy.
	RunID int64 `json:"runId,omitempty"`
}

// apiError is an error answer; err, when set, is the cause that is logged
// but not shown.
type apiError struct {
	status int
	body   errorBody
	err    error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.body.Error + ": " + e.err.Error()
	}
	return e.body.Error
}

func (e *apiError) Unwrap() error { return e.err }

func badRequest(msg string, fields ...schema.FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, body: errorBody{Error: msg, Fields: fields}}
}

func conflict(msg string, fields ...schema.FieldError) *apiError {
	return &apiError{status: http.StatusConflict, body: errorBody{Error: msg, Fields: fields}}
}

// internal hides err from the client (it is logged) behind what was being done.
func internal(doing string, err error) *apiError {
	return &apiError{status: http.StatusInternalServerError,
		body: errorBody{Error: doing + " failed: see the server log"}, err: err}
}

// writeError renders any error as the admin API's JSON error shape.
func (s *server) writeError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apiError
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = errTooLarge
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		if he.Code == http.StatusNotFound {
			msg = "no such route: " + c.Request().Method + " " + c.Request().URL.Path
		}
		ae = &apiError{status: he.Code, body: errorBody{Error: msg}}
	default:
		ae = internal("request", err)
	}
	if ae.status >= 500 {
		s.log.Error("admin API request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", ae.Error())
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.status)
		return
	}
	_ = c.JSON(ae.status, ae.body)
}

// readBody reads the whole request body within the limit.
func readBody(c echo.Context) ([]byte, error) {
	if c.Request().Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, badRequest("cannot read the request body: " + err.Error())
	}
	return b, nil
}

// load reads the stored settings with their secrets opened.
func (s *server) load(ctx context.Context) (*schema.Settings, bool, error) {
	return settingsdoc.Load(ctx, s.st, s.key)
}
