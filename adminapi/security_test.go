package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/schema"
)

// recordingPusher is a push client that records what the admin API hands it.
type recordingPusher struct {
	mu     sync.Mutex
	tested []schema.Push // the push settings of each TestPush
	// onDeprovision, when set, runs inside Deprovision.
	onDeprovision func(ctx context.Context)
}

func (p *recordingPusher) TestPush(_ context.Context, s *schema.Settings) adminapi.TestResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tested = append(p.tested, s.Push)
	return adminapi.TestResult{OK: true, Step: "auth", Message: "token accepted"}
}

func (p *recordingPusher) Deprovision(ctx context.Context, _ *schema.Settings) (json.RawMessage, error) {
	if p.onDeprovision != nil {
		p.onDeprovision(ctx)
	}
	return json.RawMessage(`{"usersDeleted":3,"groupsDeleted":2}`), nil
}

func (p *recordingPusher) calls() []schema.Push {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]schema.Push(nil), p.tested...)
}

// listenLDAP is a TCP listener standing in for an LDAP host an unsaved form
// points at; done closes it and returns how many connections it got and
// every byte they sent.
func listenLDAP(t *testing.T) (url string, done func() (int, string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns int
		got   strings.Builder
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			mu.Lock()
			got.Write(b)
			mu.Unlock()
		}
	}()
	return "ldap://" + ln.Addr().String(), func() (int, string) {
		ln.Close()
		wg.Wait()
		return conns, got.String()
	}
}

// wantSecretRequired checks a 400 that names exactly field, with message.
func wantSecretRequired(t *testing.T, r resp, what, field, message string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("%s: status %d, want 400: %s", what, r.status, r.raw)
	}
	fs, _ := r.body["fields"].([]any)
	want := []any{map[string]any{"field": field, "message": message}}
	if !reflect.DeepEqual(fs, want) {
		t.Fatalf("%s: fields %s, want only %s: %q", what, r.raw, field, message)
	}
}

const credentialAgain = "required: the connection changed, enter the credential again"

// TestAFormPointingElsewhereGetsNoStoredCredential pins down that the test
// buttons and PUT never send the stored bind credential to a host, port or
// bind DN other than the one it was saved for: the form must carry it again.
func TestAFormPointingElsewhereGetsNoStoredCredential(t *testing.T) {
	e := newEnv(t)
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")
	password := e.srv.AdminPassword
	other := slapdtest.Start(t, slapdtest.Empty(), slapdtest.WithLDIF(directoryLDIF))

	// Another slapd, credential left empty: 400 from every button, no bind.
	for _, path := range []string{"test-connection", "test-authentication", "preview-users"} {
		form := e.document()
		set(form, "connection.url", other.URL)
		set(form, "connection.bindCredential", "")
		wantSecretRequired(t, e.call("POST", "/api/v1/settings/"+path, form), path+" to another slapd",
			"connection.bindCredential", credentialAgain)
	}
	// Another bind DN on the same host: the same.
	form := e.document()
	set(form, "connection.bindDn", "uid=alice,ou=people,dc=example,dc=com")
	set(form, "connection.bindCredential", "")
	wantSecretRequired(t, e.call("POST", "/api/v1/settings/test-authentication", form), "another bind DN",
		"connection.bindCredential", credentialAgain)

	// A host that records what it receives gets no connection at all.
	url, done := listenLDAP(t)
	form = e.document()
	set(form, "connection.url", url)
	set(form, "connection.bindCredential", "")
	set(form, "connection.connectTimeoutSeconds", 1)
	wantSecretRequired(t, e.call("POST", "/api/v1/settings/test-authentication", form), "recording host",
		"connection.bindCredential", credentialAgain)
	if conns, got := done(); conns != 0 || strings.Contains(got, password) {
		t.Fatalf("the recording host got %d connections (password sent: %v)", conns, strings.Contains(got, password))
	}

	// The other slapd's own credential, typed in, binds there.
	form = e.document()
	set(form, "connection.url", other.URL)
	set(form, "connection.bindCredential", other.AdminPassword)
	r := e.must(e.call("POST", "/api/v1/settings/test-authentication", form), http.StatusOK, "typed credential")
	if r.body["ok"] != true || r.body["step"] != "search" {
		t.Fatalf("typed credential: %s", r.raw)
	}
	// The same host written in other case keeps the stored credential.
	form = e.document()
	set(form, "connection.url", strings.ToUpper(e.srv.URL))
	set(form, "connection.bindCredential", "")
	r = e.must(e.call("POST", "/api/v1/settings/test-authentication", form), http.StatusOK, "same host, other case")
	if r.body["ok"] != true {
		t.Fatalf("same host, other case: %s", r.raw)
	}

	// PUT pointing elsewhere without the credential: refused, nothing saved.
	form = e.document()
	set(form, "connection.url", other.URL)
	set(form, "connection.bindCredential", "")
	wantSecretRequired(t, e.call("PUT", "/api/v1/settings", form), "PUT to another slapd",
		"connection.bindCredential", credentialAgain)
	got := e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET settings")
	if get(got.body, "connection.url") != e.srv.URL {
		t.Fatalf("the refused PUT was saved: %s", got.raw)
	}
	if strings.Contains(e.logs.String(), password) {
		t.Fatal("the logs hold the bind credential")
	}
}

// TestTestPushDoesNotSendTheStoredTokenElsewhere pins down the same for the
// push token: another scheme, host, port or header gets no stored token.
func TestTestPushDoesNotSendTheStoredTokenElsewhere(t *testing.T) {
	p := &recordingPusher{}
	e := newEnv(t, withPusher(p))
	d := e.document()
	set(d, "push.enabled", true)
	set(d, "push.url", "https://scim.example.com/scim/v2")
	set(d, "push.token", "push-token-5e1")
	e.must(e.call("PUT", "/api/v1/settings", d), http.StatusOK, "PUT with push")

	for _, c := range []struct{ name, path, value string }{
		{"another host", "push.url", "https://collector.example.net/scim/v2"},
		{"another port", "push.url", "https://scim.example.com:8443/scim/v2"},
		{"another header", "push.authHeader", "X-API-Token"},
	} {
		form := e.document()
		set(form, "push.url", "https://scim.example.com/scim/v2")
		set(form, c.path, c.value)
		wantSecretRequired(t, e.call("POST", "/api/v1/settings/test-push", form), c.name,
			"push.token", "required: the push target changed, enter the token again")
	}
	if n := len(p.calls()); n != 0 {
		t.Fatalf("the push client was called %d times", n)
	}

	// Same target, another path: the stored token; a typed token elsewhere: that one.
	form := e.document()
	set(form, "push.url", "https://SCIM.example.com:443/other/scim/v2")
	e.must(e.call("POST", "/api/v1/settings/test-push", form), http.StatusOK, "same target")
	set(form, "push.url", "https://collector.example.net/scim/v2")
	set(form, "push.token", "typed-token")
	e.must(e.call("POST", "/api/v1/settings/test-push", form), http.StatusOK, "typed token")
	calls := p.calls()
	if len(calls) != 2 || calls[0].Token != "push-token-5e1" || calls[1].Token != "typed-token" ||
		calls[1].URL != "https://collector.example.net/scim/v2" {
		t.Fatalf("push client calls: %+v", calls)
	}
}

// TestRemoveImportedIsRefusedWhileASyncRuns covers a run of this process and
// one of another process on the same store (the cross-process lock).
func TestRemoveImportedIsRefusedWhileASyncRuns(t *testing.T) {
	gate := make(chan struct{})
	e := newEnv(t, withGate(gate))
	e.enableWithSettings()
	r := e.must(e.call("POST", "/api/v1/sync", nil), http.StatusAccepted, "sync")
	id := num(t, r.body["runId"])

	r = e.must(e.call("DELETE", "/api/v1/ldap/imported", nil), http.StatusConflict, "remove while a sync runs")
	if want := map[string]any{"error": "a sync is running: wait for it to finish", "runId": float64(id)}; !reflect.DeepEqual(r.body, want) {
		t.Fatalf("409 answer %s, want %v", r.raw, want)
	}
	close(gate)
	if run := e.waitRun(id); run["status"] != "succeeded" || run["users"] != 3.0 {
		t.Fatalf("the run: %v", run)
	}

	// A `scimbridge sync` in another process holds the store's sync lock.
	// (The run is recorded a moment before its syncer lets go of it.)
	unlock, err := e.db.LockSync()
	for deadline := time.Now().Add(5 * time.Second); errors.Is(err, bridge.ErrBusy) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		unlock, err = e.db.LockSync()
	}
	if err != nil {
		t.Fatal(err)
	}
	r = e.must(e.call("DELETE", "/api/v1/ldap/imported", nil), http.StatusConflict, "remove while another process syncs")
	if want := map[string]any{"error": "a sync is running in another scimbridge process: wait for it to finish"}; !reflect.DeepEqual(r.body, want) {
		t.Fatalf("409 answer %s, want %v", r.raw, want)
	}
	if s := e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status"); num(t, s.body["users"]) != 3 {
		t.Fatalf("a refused removal removed users: %s", s.raw)
	}
	unlock()
	r = e.must(e.call("DELETE", "/api/v1/ldap/imported", nil), http.StatusOK, "remove")
	if num(t, r.body["usersRemoved"]) != 3 || num(t, r.body["groupsRemoved"]) != 2 {
		t.Fatalf("remove: %s", r.raw)
	}
}

// TestNoSyncStartsWhileImportedUsersAreRemoved pins down that the removal
// holds the sync lock from deprovisioning to emptying the store: a sync
// asked for in between is refused, not run against a half-removed state.
func TestNoSyncStartsWhileImportedUsersAreRemoved(t *testing.T) {
	p := &recordingPusher{}
	e := newEnv(t, withPusher(p))
	triggered := make(chan error, 1)
	p.onDeprovision = func(ctx context.Context) {
		_, err := e.sched.Trigger(ctx, bridge.Options{Trigger: bridge.TriggerManual})
		triggered <- err
	}
	d := e.document()
	set(d, "push.enabled", true)
	set(d, "push.url", "https://scim.example.com/scim/v2")
	set(d, "push.token", "push-token-5e1")
	e.must(e.call("PUT", "/api/v1/settings", d), http.StatusOK, "PUT with push")

	r := e.must(e.call("DELETE", "/api/v1/ldap/imported?deprovision=true", nil), http.StatusOK, "remove with deprovision")
	if get(r.body, "deprovision.usersDeleted") != 3.0 || num(t, r.body["usersRemoved"]) != 0 {
		t.Fatalf("remove: %s", r.raw)
	}
	var busy *bridge.BusyError
	select {
	case err := <-triggered:
		if !errors.As(err, &busy) {
			t.Fatalf("a sync asked for during the removal: %v, want a *bridge.BusyError", err)
		}
	default:
		t.Fatal("the push client was not asked to deprovision")
	}
	runs := e.must(e.call("GET", "/api/v1/sync/runs", nil), http.StatusOK, "runs")
	if num(t, runs.body["total"]) != 0 {
		t.Fatalf("a sync ran during the removal: %s", runs.raw)
	}
}
