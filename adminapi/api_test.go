package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/internal/secret"
)

// enableWithSettings saves the test directory's settings and enables LDAP.
func (e *env) enableWithSettings() {
	e.t.Helper()
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")
	e.must(e.call("POST", "/api/v1/ldap/enable", nil), http.StatusOK, "enable")
}

func TestTwoConcurrentSyncsOneIsRefusedWithTheRunningRun(t *testing.T) {
	gate := make(chan struct{})
	e := newEnv(t, withGate(gate))
	e.enableWithSettings()

	var wg sync.WaitGroup
	answers := make([]resp, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = e.call("POST", "/api/v1/sync", nil)
		}()
	}
	wg.Wait()
	close(gate)

	sort.Slice(answers, func(i, j int) bool { return answers[i].status < answers[j].status })
	ok, busy := answers[0], answers[1]
	if ok.status != http.StatusAccepted || busy.status != http.StatusConflict {
		t.Fatalf("statuses %d and %d, want 202 and 409: %s / %s", ok.status, busy.status, ok.raw, busy.raw)
	}
	id := num(t, ok.body["runId"])
	if num(t, busy.body["runId"]) != id || busy.body["error"] != "a sync is already running" {
		t.Fatalf("409 answer %s, want the running run %d", busy.raw, id)
	}
	if run := e.waitRun(id); run["status"] != "succeeded" || run["users"] != 3.0 {
		t.Fatalf("the run: %v", run)
	}
	r := e.must(e.call("GET", "/api/v1/sync/runs", nil), http.StatusOK, "runs")
	if num(t, r.body["total"]) != 1 {
		t.Fatalf("runs: %s, want exactly one", r.raw)
	}
}

func TestSyncOptionsAndRunPaging(t *testing.T) {
	e := newEnv(t)
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")

	// A dry run is allowed while disabled and applies nothing.
	r := e.must(e.call("POST", "/api/v1/sync?dryRun=true", nil), http.StatusAccepted, "dry run")
	dry := e.waitRun(num(t, r.body["runId"]))
	if dry["dryRun"] != true || dry["status"] != "succeeded" || dry["usersCreated"] != 3.0 {
		t.Fatalf("dry run: %v", dry)
	}
	s := e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status")
	if num(t, s.body["users"]) != 0 {
		t.Fatalf("a dry run stored users: %s", s.raw)
	}
	// sync.live is off by default: the live object says so.
	if live := s.body["live"]; !reflect.DeepEqual(live, map[string]any{"state": "off", "mechanism": "", "lastChangeAt": nil, "lagMs": 0.0, "lastError": ""}) {
		t.Fatalf("status live = %v", live)
	}

	e.must(e.call("POST", "/api/v1/ldap/enable", nil), http.StatusOK, "enable")
	var ids []int64
	for i := 0; i < 2; i++ {
		r := e.must(e.call("POST", "/api/v1/sync?allowDeletes=true", nil), http.StatusAccepted, "sync")
		id := num(t, r.body["runId"])
		e.waitRun(id)
		ids = append(ids, id)
	}
	second := e.waitRun(ids[1])
	if second["usersCreated"] != 0.0 || second["users"] != 3.0 || second["status"] != "succeeded" {
		t.Fatalf("second sync: %v", second)
	}

	// Newest first, paged.
	r = e.must(e.call("GET", "/api/v1/sync/runs?limit=2", nil), http.StatusOK, "runs page 1")
	page1 := r.body["runs"].([]any)
	if num(t, r.body["total"]) != 3 || len(page1) != 2 ||
		num(t, page1[0].(map[string]any)["id"]) != ids[1] || num(t, page1[1].(map[string]any)["id"]) != ids[0] {
		t.Fatalf("page 1: %s", r.raw)
	}
	r = e.must(e.call("GET", "/api/v1/sync/runs?limit=2&offset=2", nil), http.StatusOK, "runs page 2")
	page2 := r.body["runs"].([]any)
	if len(page2) != 1 || page2[0].(map[string]any)["dryRun"] != true {
		t.Fatalf("page 2: %s", r.raw)
	}

	for _, c := range []struct{ path, want string }{
		{"/api/v1/sync?dryRun=maybe", "dryRun must be true or false"},
		{"/api/v1/sync?allowDeletes=2x", "allowDeletes must be true or false"},
	} {
		r := e.must(e.call("POST", c.path, nil), http.StatusBadRequest, c.path)
		if r.body["error"] != c.want {
			t.Errorf("%s: %s", c.path, r.raw)
		}
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/v1/sync/runs?limit=0", 400},
		{"/api/v1/sync/runs?limit=x", 400},
		{"/api/v1/sync/runs?offset=-1", 400},
		{"/api/v1/sync/runs/abc", 400},
		{"/api/v1/sync/runs/0", 400},
		{"/api/v1/sync/runs/999", 404},
	} {
		r := e.call("GET", c.path, nil)
		if r.status != c.status || r.body["error"] == nil {
			t.Errorf("GET %s: %d %s, want %d with an error", c.path, r.status, r.raw, c.status)
		}
	}
}

func TestBadInputIsRefusedAndNothingStored(t *testing.T) {
	e := newEnv(t)
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")
	before := e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET settings").raw

	withField := func(path string, v any) []byte {
		d := e.document()
		set(d, path, v)
		b, _ := json.Marshal(d)
		return b
	}
	valid, _ := json.Marshal(e.document())
	huge := append(bytes.TrimSuffix(valid, []byte("}")), []byte(`,"x":"`+strings.Repeat("a", adminapi.MaxBodyBytes)+`"}`)...)
	cases := []struct {
		name   string
		body   []byte
		status int
		field  string // the field the answer must name, if any
		msg    string // text the error must contain
	}{
		{"malformed JSON", []byte(`{"connection": {"url": "ldap://x"`), 400, "", "not valid JSON"},
		{"not an object", []byte(`[1,2,3]`), 400, "", ""},
		{"empty body", nil, 400, "", "empty body"},
		{"trailing data", append(append([]byte{}, valid...), []byte(`{}`)...), 400, "", ""},
		{"unknown top-level field", []byte(`{"conection": {}}`), 400, "conection", ""},
		{"unknown nested field", withField("users.usersDN2", "x"), 400, "users.usersDN2", ""},
		{"wrong type", withField("sync.fullSyncIntervalSeconds", "86400"), 400, "sync.fullSyncIntervalSeconds", ""},
		{"wrong type bool", withField("connection.startTls", "yes"), 400, "connection.startTls", ""},
		{"URL of another scheme", withField("connection.url", "https://127.0.0.1:636"), 400, "connection.url", "ldap://"},
		{"DN that does not parse", withField("groups.groupsDn", "ou=groups,,dc=example"), 400, "groups.groupsDn", ""},
		{"filter that does not parse", withField("users.filter", "(uid=alice"), 400, "users.filter", ""},
		{"interval of 0", withField("sync.fullSyncIntervalSeconds", 0), 400, "sync.fullSyncIntervalSeconds", ""},
		{"negative interval", withField("sync.fullSyncIntervalSeconds", -5), 400, "sync.fullSyncIntervalSeconds", ""},
		{"1 MiB body", huge, 413, "", "too large"},
		{"push without token", withField("push.enabled", true), 400, "push.url", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != nil {
				body = c.body
			}
			r := e.call("PUT", "/api/v1/settings", body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, c.status, r.raw)
			}
			msg, _ := r.body["error"].(string)
			if msg == "" || !strings.Contains(msg+string(r.raw), c.msg) {
				t.Fatalf("error %q does not mention %q: %.300s", msg, c.msg, r.raw)
			}
			if c.field != "" {
				found := false
				for _, f := range fieldsOf(r) {
					found = found || f == c.field
				}
				if !found {
					t.Fatalf("fields %v do not name %s", fieldsOf(r), c.field)
				}
			}
		})
	}

	// A body over the limit without Content-Length (chunked) is refused too.
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v1/settings", struct{ *bytes.Reader }{bytes.NewReader(huge)})
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 1 MiB body: status %d", res.StatusCode)
	}

	after := e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET settings after").raw
	if !bytes.Equal(before, after) {
		t.Fatalf("refused input changed the settings:\n%s\n%s", before, after)
	}
	h := e.must(e.call("GET", "/api/v1/settings/history", nil), http.StatusOK, "history")
	if n := len(h.body["changes"].([]any)); n != 1 {
		t.Fatalf("history has %d entries, want only the first save", n)
	}
	// The test buttons refuse bad forms the same way.
	r := e.must(e.call("POST", "/api/v1/settings/test-connection", withField("connection.url", "ftp://x")), 400, "test-connection bad url")
	if fieldsOf(r)[0] != "connection.url" {
		t.Fatalf("test-connection: %s", r.raw)
	}
	e.must(e.call("POST", "/api/v1/settings/test-authentication", `{"connection":`), 400, "test-authentication malformed")
	e.must(e.callAs("", "GET", "/healthz", nil), http.StatusOK, "still alive")
}

func TestEnableRefusedWithTheReasons(t *testing.T) {
	e := newEnv(t)
	r := e.must(e.call("POST", "/api/v1/ldap/enable", nil), http.StatusConflict, "enable with nothing saved")
	if !strings.Contains(r.body["error"].(string), "no settings saved") || len(fieldsOf(r)) == 0 {
		t.Fatalf("enable: %s", r.raw)
	}
	found := false
	for _, f := range fieldsOf(r) {
		found = found || f == "connection.url"
	}
	if !found {
		t.Fatalf("enable reasons %v lack connection.url", fieldsOf(r))
	}
	r = e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status")
	if r.body["enabled"] != false || r.body["nextRun"] != nil || r.body["lastRun"] != nil {
		t.Fatalf("status: %s", r.raw)
	}
	// Periodic sync off: enabled, but nothing scheduled.
	d := e.document()
	set(d, "sync.periodicFullSync", false)
	e.must(e.call("PUT", "/api/v1/settings", d), http.StatusOK, "PUT")
	r = e.must(e.call("POST", "/api/v1/ldap/enable", nil), http.StatusOK, "enable")
	if r.body["enabled"] != true || r.body["nextRun"] != nil {
		t.Fatalf("enable without periodic sync: %s", r.raw)
	}
}

func TestSecretsAreKeptWhenOmittedAndNeverReturned(t *testing.T) {
	e := newEnv(t)
	d := e.document()
	set(d, "push.enabled", true)
	set(d, "push.url", "https://scim.example.com/scim/v2")
	set(d, "push.token", "push-token-5e1")
	e.must(e.call("PUT", "/api/v1/settings", d), http.StatusOK, "PUT with secrets")

	// The form sends the GET answer back, secrets "" and *Set flags: both kept.
	got := e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET")
	if get(got.body, "push.token") != "" || get(got.body, "push.tokenSet") != true ||
		get(got.body, "connection.bindCredentialSet") != true || bytes.Contains(got.raw, []byte("push-token-5e1")) {
		t.Fatalf("GET: %s", got.raw)
	}
	set(got.body, "connection.pageSize", 100)
	r := e.must(e.call("PUT", "/api/v1/settings", got.body), http.StatusOK, "PUT the GET answer")
	if get(r.body, "push.tokenSet") != true || get(r.body, "connection.bindCredentialSet") != true {
		t.Fatalf("secrets lost: %s", r.raw)
	}
	h := e.must(e.call("GET", "/api/v1/settings/history?limit=1", nil), http.StatusOK, "history")
	if f := get(h.body["changes"].([]any)[0].(map[string]any), "fields").([]any); len(f) != 1 || f[0] != "connection.pageSize" {
		t.Fatalf("history: %s", h.raw)
	}
	// Omitted secrets (no key at all) are kept too, and the stored ones still bind.
	d = e.document()
	delete(d["connection"].(map[string]any), "bindCredential")
	set(d, "push.enabled", true)
	set(d, "push.url", "https://scim.example.com/scim/v2")
	delete(d["push"].(map[string]any), "token")
	e.must(e.call("PUT", "/api/v1/settings", d), http.StatusOK, "PUT without secrets")
	r = e.must(e.call("POST", "/api/v1/settings/test-authentication", nil), http.StatusOK, "test-authentication")
	if r.body["ok"] != true {
		t.Fatalf("the kept credential does not bind: %s", r.raw)
	}
	// A claimed tokenSet without a stored token does not satisfy validation.
	e2 := newEnv(t)
	d = e2.document()
	set(d, "push.enabled", true)
	set(d, "push.url", "https://scim.example.com/scim/v2")
	set(d, "push.tokenSet", true)
	r = e2.must(e2.call("PUT", "/api/v1/settings", d), http.StatusBadRequest, "PUT claiming a token")
	if f := fieldsOf(r); len(f) != 1 || f[0] != "push.token" {
		t.Fatalf("fields %v, want push.token", f)
	}
	checkNoPlaintext(t, e, "push-token-5e1")
	checkNoPlaintext(t, e, e.srv.AdminPassword)
}

func TestPushRoutesWithoutPushClientAre501(t *testing.T) {
	e := newEnv(t)
	d := e.document()
	set(d, "push.enabled", true)
	set(d, "push.url", "https://scim.example.com/scim/v2")
	set(d, "push.token", "t")
	e.must(e.call("PUT", "/api/v1/settings", d), http.StatusOK, "PUT")
	r := e.must(e.call("POST", "/api/v1/settings/test-push", nil), http.StatusNotImplemented, "test-push")
	if r.body["error"] != "push not available in this build" {
		t.Fatalf("test-push: %s", r.raw)
	}
	e.must(e.call("DELETE", "/api/v1/ldap/imported?deprovision=true", nil), http.StatusNotImplemented, "deprovision")
	e.must(e.call("DELETE", "/api/v1/ldap/imported?deprovision=perhaps", nil), http.StatusBadRequest, "deprovision=perhaps")
}

func TestReadyzFailsAfterAFailedSync(t *testing.T) {
	e := newEnv(t)
	e.enableWithSettings()
	e.must(e.callAs("", "GET", "/readyz", nil), http.StatusOK, "readyz before")
	e.srv.Stop()
	r := e.must(e.call("POST", "/api/v1/sync", nil), http.StatusAccepted, "sync")
	id := num(t, r.body["runId"])
	if run := e.waitRun(id); run["status"] != "failed" || run["error"] == "" {
		t.Fatalf("run against a stopped server: %v", run)
	}
	r = e.must(e.callAs("", "GET", "/readyz", nil), http.StatusServiceUnavailable, "readyz after")
	// The open endpoint names the run only: its error holds host names and DNs.
	if want := map[string]any{"ready": false, "reason": "last sync failed", "runId": float64(id)}; !reflect.DeepEqual(r.body, want) {
		t.Fatalf("readyz: %s, want %v", r.raw, want)
	}
	host := strings.TrimPrefix(e.srv.URL, "ldap://")
	if strings.Contains(string(r.raw), host) || strings.Contains(string(r.raw), "dc=example") {
		t.Fatalf("readyz shows the run's error: %s", r.raw)
	}
	e.must(e.callAs("", "GET", "/healthz", nil), http.StatusOK, "healthz")
}

func TestEchoErrorsUseTheJSONErrorShape(t *testing.T) {
	e := newEnv(t)
	e.echo.GET("/elsewhere", func(c echo.Context) error { return echo.ErrTeapot })
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/v1/nope", 404},
		{"DELETE", "/api/v1/status", 405},
		{"PATCH", "/api/v1/settings", 405},
	} {
		r := e.call(c.method, c.path, nil)
		if r.status != c.status || r.body["error"] == nil || len(r.body) != 1 {
			t.Errorf("%s %s: %d %s, want %d {\"error\":…}", c.method, c.path, r.status, r.raw, c.status)
		}
	}
	// Known routes need the token before anything else, whatever the body.
	if r := e.callAs("", "PUT", "/api/v1/settings", "{"); r.status != 401 {
		t.Errorf("PUT settings without token: %d", r.status)
	}
	// Paths outside the admin API keep Echo's own error handler.
	if r := e.callAs("", "GET", "/elsewhere", nil); r.status != http.StatusTeapot || r.body["message"] == nil {
		t.Errorf("/elsewhere: %d %s", r.status, r.raw)
	}
}

func TestRegisterRefusesUnsafeSetups(t *testing.T) {
	e := newEnv(t)
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")
	good, err := secret.ParseKey(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := secret.ParseKey("5b0e7c2a9f14d3681ae7402cb95f6d1e83a0c47f2619be5d0a8e3f7c14b26d90")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		deps adminapi.Deps
		want string
	}{
		{adminapi.Deps{Store: e.db, Scheduler: e.sched, Key: good}, "SCIMBRIDGE_ADMIN_TOKEN"},
		{adminapi.Deps{Store: e.db, Scheduler: e.sched, Key: good, Token: "same", SCIMTokens: []string{"other", "same"}}, "must differ"},
		// Finding 5 of issue 14: white space got past the check, then the SCIM token opened the admin API.
		{adminapi.Deps{Store: e.db, Scheduler: e.sched, Key: good, Token: " sharedtok", SCIMTokens: []string{"sharedtok"}}, "must differ"},
		{adminapi.Deps{Store: e.db, Scheduler: e.sched, Key: good, Token: "sharedtok", SCIMTokens: []string{"other", "sharedtok\t"}}, "must differ"},
		{adminapi.Deps{Store: e.db, Scheduler: e.sched, Token: "t"}, "SCIMBRIDGE_SECRET_KEY"},
		{adminapi.Deps{Store: e.db, Scheduler: e.sched, Token: "t", Key: other}, "SCIMBRIDGE_SECRET_KEY"},
	} {
		err := adminapi.Register(echo.New(), c.deps)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Register = %v, want an error mentioning %q", err, c.want)
		}
	}
}

// TestEveryRouteIsInTheOpenAPIDocument checks the served OpenAPI document
// against the routes Register adds, both ways.
func TestEveryRouteIsInTheOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	r := e.must(e.call("GET", "/api/v1/openapi.json", nil), http.StatusOK, "openapi.json")
	if !bytes.Equal(r.raw, adminapi.OpenAPI()) {
		t.Fatal("served document differs from the embedded one")
	}
	if r.body["openapi"] != "3.0.3" {
		t.Fatalf("openapi = %v", r.body["openapi"])
	}
	paths := r.body["paths"].(map[string]any)
	documented := map[string]bool{}
	for p, ops := range paths {
		for m := range ops.(map[string]any) {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	registered := map[string]bool{}
	for _, rt := range e.echo.Routes() {
		if rt.Method == echo.RouteNotFound {
			continue
		}
		registered[rt.Method+" "+param.ReplaceAllString(rt.Path, "{$1}")] = true
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("openapi.json documents %s, which is not a route", k)
		}
	}
	if len(registered) < 17 {
		t.Errorf("only %d routes registered", len(registered))
	}
}

func TestSyncRefusedWhileTheSavedSettingsAreInvalid(t *testing.T) {
	e := newEnv(t)
	e.enableWithSettings()
	// Stored settings can only become invalid from outside the API, e.g. a
	// newer validation rule; simulate with the store directly.
	doc, _, _, err := e.db.GetSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(doc, []byte(`"pageSize":500`), []byte(`"pageSize":0`), 1)
	if bytes.Equal(bad, doc) {
		t.Fatalf("stored document has no pageSize 500: %s", doc)
	}
	if err := e.db.PutSettings(context.Background(), bad, []string{"connection.pageSize"}); err != nil {
		t.Fatal(err)
	}
	r := e.must(e.call("POST", "/api/v1/sync", nil), http.StatusConflict, "sync with invalid settings")
	if f := fieldsOf(r); len(f) != 1 || f[0] != "connection.pageSize" {
		t.Fatalf("sync: %s", r.raw)
	}
}

func TestPreviewShowsTheFirstTenUsersTheSettingsSelect(t *testing.T) {
	var extra strings.Builder
	for i := 0; i < 15; i++ {
		fmt.Fprintf(&extra, "\ndn: uid=user%02d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: user%02d\ncn: User %d\nsn: %d\nmail: user%02d@example.com\ngivenName: U\ndisplayName: User %d\n",
			i, i, i, i, i, i)
	}
	e := newEnv(t, withLDIF(extra.String()))
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")

	r := e.must(e.call("POST", "/api/v1/settings/preview-users", nil), http.StatusOK, "preview")
	if r.body["ok"] != true || len(r.body["users"].([]any)) != 10 {
		t.Fatalf("preview of 19 entries: %d users, want 10: %s", len(r.body["users"].([]any)), r.raw)
	}
	// An unsaved filter from the form selects exactly the matching users.
	d := e.document()
	set(d, "users.filter", "(|(uid=user07)(mail=alice@example.com))")
	r = e.must(e.call("POST", "/api/v1/settings/preview-users", d), http.StatusOK, "preview with filter")
	var got []string
	for _, u := range r.body["users"].([]any) {
		m := u.(map[string]any)
		got = append(got, get(m, "user.userName").(string))
		if n := len(m["problems"].([]any)); n != 0 {
			t.Errorf("%v has problems: %v", m["dn"], m["problems"])
		}
	}
	sort.Strings(got)
	if want := []string{"alice", "user07"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("filtered preview = %v, want %v", got, want)
	}
	// A base that does not exist: not ok, said in words.
	set(d, "users.usersDn", "ou=nobody,dc=example,dc=com")
	r = e.must(e.call("POST", "/api/v1/settings/preview-users", d), http.StatusOK, "preview of a missing base")
	if r.body["ok"] != false || !strings.Contains(strings.ToLower(r.body["message"].(string)), "no such object") {
		t.Fatalf("preview of a missing base: %s", r.raw)
	}
	// A filter that does not parse is a field error.
	set(d, "users.filter", "(uid=")
	r = e.must(e.call("POST", "/api/v1/settings/preview-users", d), http.StatusBadRequest, "preview with a bad filter")
	if f := fieldsOf(r); len(f) != 1 || f[0] != "users.filter" {
		t.Fatalf("fields %v", f)
	}
}
