package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

const (
	adminToken = "admin-token-3d8f1e"
	scimToken  = "scim-token-9a0b7c"
	secretKey  = "8c1f0e3b5a7d9c2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e"
)

// directoryLDIF is the small directory every admin API test syncs:
// 3 users (carol lacks mail and givenName), one entry without uid (skipped),
// groups admins {alice, bob} and staff {admins, carol, a missing user}.
const directoryLDIF = `
dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: organizationalPerson
uid: alice
cn: Alice Archer
givenName: Alice
sn: Archer
displayName: Alice Archer
mail: alice@example.com

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: organizationalPerson
uid: bob
cn: Bob Baker
givenName: Bob
sn: Baker
displayName: Bob Baker
mail: bob@example.com

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: organizationalPerson
uid: carol
cn: Carol Cook
sn: Cook
displayName: Carol Cook

dn: cn=No Uid,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: organizationalPerson
cn: No Uid
sn: Uid

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=staff,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: staff
member: cn=admins,ou=groups,dc=example,dc=com
member: uid=carol,ou=people,dc=example,dc=com
member: uid=ghost,ou=people,dc=example,dc=com
`

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is a running admin API on loopback with a real store, slapd, syncer
// and scheduler.
type env struct {
	t      *testing.T
	srv    *slapdtest.Server
	db     *store.DB
	dbPath string
	echo   *echo.Echo
	http   *httptest.Server
	logs   *syncBuffer
	sched  *scheduler.Scheduler
	// gate, when set, holds every directory read until it is closed.
	gate chan struct{}
	// extraLDIF is preloaded after directoryLDIF.
	extraLDIF string
	// pusher, when set, is the admin API's push client.
	pusher adminapi.Pusher
}

type envOption func(*env)

// withLDIF preloads more entries.
func withLDIF(text string) envOption { return func(e *env) { e.extraLDIF = text } }

// withPusher gives the admin API a push client.
func withPusher(p adminapi.Pusher) envOption { return func(e *env) { e.pusher = p } }

// withGate makes runs wait in the dialer until the returned channel is closed.
func withGate(gate chan struct{}) envOption { return func(e *env) { e.gate = gate } }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}}
	for _, o := range opts {
		o(e)
	}
	e.srv = slapdtest.Start(t, slapdtest.Empty(), slapdtest.WithLDIF(directoryLDIF+e.extraLDIF))
	e.dbPath = filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(context.Background(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	key, err := secret.ParseKey(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	dial := bridge.Dialer(ldapsource.Dial)
	if e.gate != nil {
		gate := e.gate
		dial = func(ctx context.Context, s *schema.Settings) (bridge.Directory, error) {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return ldapsource.Dial(ctx, s)
		}
	}
	syncer := bridge.NewSyncer(db, dial, log)
	sched, err := scheduler.New(syncer, settingsdoc.Loader(db, key), log)
	if err != nil {
		t.Fatal(err)
	}
	sched.Start()
	e.sched = sched

	e.echo = echo.New()
	e.echo.HideBanner = true
	if err := adminapi.Register(e.echo, adminapi.Deps{
		Store: db, Scheduler: sched, Key: key, Token: adminToken, SCIMTokens: []string{scimToken}, Logger: log,
		Pusher: e.pusher,
	}); err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.echo)
	t.Cleanup(func() {
		e.http.Close()
		if err := sched.Stop(); err != nil {
			t.Errorf("stop scheduler: %v", err)
		}
		db.Close()
	})
	return e
}

// resp is one answer of the admin API.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends method path with body (nil: none; string or []byte: as is;
// anything else: as JSON) and the admin token.
func (e *env) call(method, path string, body any) resp {
	e.t.Helper()
	return e.callAs(adminToken, method, path, body)
}

func (e *env) callAs(token, method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return r
}

// must checks the status of r.
func (e *env) must(r resp, status int, what string) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.raw)
	}
	return r
}

// document is the settings document an admin would fill in for the test
// directory, as JSON: "enabled" is left out, as the form does.
func (e *env) document() map[string]any {
	e.t.Helper()
	s := e.srv.Settings()
	raw, err := json.Marshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		e.t.Fatal(err)
	}
	delete(doc, "enabled")
	delete(doc["connection"].(map[string]any), "bindCredentialSet")
	delete(doc["push"].(map[string]any), "tokenSet")
	return doc
}

// set changes one field of doc, named by its dotted path.
func set(doc map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	m[parts[len(parts)-1]] = v
}

// get reads one field of a decoded JSON object, named by its dotted path.
func get(doc map[string]any, path string) any {
	var v any = doc
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// fieldsOf returns the field names of an error answer, in order.
func fieldsOf(r resp) []string {
	var out []string
	fs, _ := r.body["fields"].([]any)
	for _, f := range fs {
		out = append(out, f.(map[string]any)["field"].(string))
	}
	return out
}

// waitRun polls the run until it has ended and its job has let go of it.
func (e *env) waitRun(id int64) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.must(e.call("GET", "/api/v1/sync/runs/"+itoa(id), nil), http.StatusOK, "GET run")
		// A run's report says how it ended a moment before its job lets
		// go (and while it pushes); until then the run shows its progress.
		if r.body["status"] != bridge.StatusRunning && r.body["progress"] == nil {
			return r.body
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %d still running after 30 s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// num reads a JSON number as int64.
func num(t *testing.T, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return int64(f)
}
