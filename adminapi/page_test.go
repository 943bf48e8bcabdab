package adminapi_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestAdminWalksTheSettingsPage goes through IOMETE's LDAP settings page top
// to bottom as an admin would, against a real slapd, store, syncer and
// scheduler.
func TestAdminWalksTheSettingsPage(t *testing.T) {
	e := newEnv(t)
	password := e.srv.AdminPassword

	// The admin token opens the API; no token or the SCIM token does not.
	for _, tok := range []string{"", scimToken, adminToken + "x", strings.TrimSuffix(adminToken, "e")} {
		r := e.callAs(tok, "GET", "/api/v1/settings", nil)
		if r.status != http.StatusUnauthorized || r.body["error"] == "" {
			t.Fatalf("token %q: status %d, want 401 with an error: %s", tok, r.status, r.raw)
		}
	}

	// Before anything is saved: the defaults, disabled, no secret set.
	r := e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET settings (empty)")
	if r.body["enabled"] != false || get(r.body, "connection.bindCredentialSet") != false ||
		get(r.body, "push.tokenSet") != false || get(r.body, "users.attributes.username") != "uid" {
		t.Fatalf("initial settings: %s", r.raw)
	}

	// Save with three mistakes: all three are listed, nothing is stored.
	bad := e.document()
	set(bad, "connection.url", "http://127.0.0.1:389")
	set(bad, "users.usersDn", "ou=people,,dc=example,dc=com")
	set(bad, "sync.fullSyncIntervalSeconds", 0)
	r = e.must(e.call("PUT", "/api/v1/settings", bad), http.StatusBadRequest, "PUT with three mistakes")
	if got, want := fieldsOf(r), []string{"connection.url", "users.usersDn", "sync.fullSyncIntervalSeconds"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("fields = %v, want %v: %s", got, want, r.raw)
	}
	if !strings.Contains(string(r.raw), "ldap:// or ldaps://") {
		t.Fatalf("the URL error does not say which schemes work: %s", r.raw)
	}
	if h := e.must(e.call("GET", "/api/v1/settings/history", nil), http.StatusOK, "history"); len(h.body["changes"].([]any)) != 0 {
		t.Fatalf("a refused PUT was recorded: %s", h.raw)
	}

	// Fixed: saved; the answer shows no secret, enablement untouched.
	good := e.document()
	r = e.must(e.call("PUT", "/api/v1/settings", good), http.StatusOK, "PUT fixed settings")
	if get(r.body, "connection.bindCredential") != "" || get(r.body, "connection.bindCredentialSet") != true ||
		r.body["enabled"] != false || get(r.body, "connection.url") != e.srv.URL {
		t.Fatalf("PUT answer: %s", r.raw)
	}

	// Test connection with the stored settings.
	r = e.must(e.call("POST", "/api/v1/settings/test-connection", nil), http.StatusOK, "test-connection")
	if r.body["ok"] != true {
		t.Fatalf("test-connection: %s", r.raw)
	}
	if _, ok := r.body["durationMs"].(float64); !ok {
		t.Fatalf("test-connection has no durationMs: %s", r.raw)
	}

	// Test authentication with a wrong password typed into the form: step bind.
	wrong := e.document()
	set(wrong, "connection.bindCredential", "not-the-password")
	r = e.must(e.call("POST", "/api/v1/settings/test-authentication", wrong), http.StatusOK, "test-authentication (wrong)")
	if r.body["ok"] != false || r.body["step"] != "bind" || !strings.Contains(r.body["message"].(string), "(49)") {
		t.Fatalf("wrong password: %s", r.raw)
	}
	if strings.Contains(string(r.raw), "not-the-password") {
		t.Fatalf("the answer shows the typed password: %s", r.raw)
	}
	// The form with the password left empty uses the stored one: right.
	form := e.document()
	set(form, "connection.bindCredential", "")
	r = e.must(e.call("POST", "/api/v1/settings/test-authentication", form), http.StatusOK, "test-authentication (stored)")
	if r.body["ok"] != true || r.body["step"] != "search" {
		t.Fatalf("stored password: %s", r.raw)
	}
	r = e.must(e.call("POST", "/api/v1/settings/test-authentication", nil), http.StatusOK, "test-authentication (no body)")
	if r.body["ok"] != true {
		t.Fatalf("stored settings: %s", r.raw)
	}

	// Validate user filters: every user of the directory, mapped, with problems.
	r = e.must(e.call("POST", "/api/v1/settings/preview-users", nil), http.StatusOK, "preview-users")
	checkPreview(t, r)

	// Syncing a disabled LDAP is refused; a dry run is not.
	r = e.must(e.call("POST", "/api/v1/sync", nil), http.StatusConflict, "sync while disabled")
	if !strings.Contains(r.body["error"].(string), "disabled") {
		t.Fatalf("sync while disabled: %s", r.raw)
	}

	// Enable: the daily schedule starts at once.
	before := time.Now()
	r = e.must(e.call("POST", "/api/v1/ldap/enable", nil), http.StatusOK, "enable")
	if r.body["enabled"] != true {
		t.Fatalf("enable: %s", r.raw)
	}
	checkNextRun(t, r.body, before, 86400*time.Second)

	// Sync all users: 202, then the run succeeds with exact counts.
	r = e.must(e.call("POST", "/api/v1/sync", nil), http.StatusAccepted, "sync")
	id := num(t, r.body["runId"])
	if loc := r.header.Get("Location"); loc != "/api/v1/sync/runs/"+itoa(id) {
		t.Fatalf("Location = %q", loc)
	}
	run := e.waitRun(id)
	want := map[string]any{
		"id": float64(id), "trigger": "manual", "dryRun": false, "status": "succeeded", "error": "",
		"users": 3.0, "groups": 2.0, "usersCreated": 3.0, "usersUpdated": 0.0, "usersDeleted": 0.0,
		"groupsCreated": 2.0, "groupsUpdated": 0.0, "groupsDeleted": 0.0,
		// alice and bob are in admins and staff, carol in staff.
		"membershipsChanged": 5.0, "danglingMembers": 1.0, "skipped": 1.0,
	}
	for k, v := range want {
		if run[k] != v {
			t.Errorf("run.%s = %v, want %v", k, run[k], v)
		}
	}
	skipped := run["skippedEntries"].([]any)
	if len(skipped) != 1 || skipped[0].(map[string]any)["dn"] != "cn=No Uid,ou=people,dc=example,dc=com" ||
		!strings.Contains(skipped[0].(map[string]any)["reason"].(string), "uid") {
		t.Errorf("skippedEntries = %v", skipped)
	}
	for _, k := range []string{"startedAt", "finishedAt", "durationMs"} {
		if run[k] == nil {
			t.Errorf("run has no %s: %v", k, run)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The runs list, newest first, holds that run.
	r = e.must(e.call("GET", "/api/v1/sync/runs", nil), http.StatusOK, "runs")
	runs := r.body["runs"].([]any)
	if num(t, r.body["total"]) != 1 || len(runs) != 1 || !reflect.DeepEqual(runs[0], run) {
		t.Fatalf("runs = %s, want the one run %v", r.raw, run)
	}

	// Status: enabled, next run, last run, counts.
	r = e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status")
	if r.body["enabled"] != true || num(t, r.body["users"]) != 3 || num(t, r.body["groups"]) != 2 ||
		num(t, get(r.body, "lastRun.id")) != id || get(r.body, "lastRun.status") != "succeeded" {
		t.Fatalf("status: %s", r.raw)
	}
	checkNextRun(t, r.body, before, 86400*time.Second)

	// Changing the interval reschedules at once, without restart.
	good = e.document()
	set(good, "sync.fullSyncIntervalSeconds", 3600)
	before = time.Now()
	e.must(e.call("PUT", "/api/v1/settings", good), http.StatusOK, "PUT interval 3600")
	r = e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status after interval change")
	if r.body["enabled"] != true || num(t, r.body["fullSyncIntervalSeconds"]) != 3600 {
		t.Fatalf("status: %s", r.raw)
	}
	checkNextRun(t, r.body, before, time.Hour)

	// The settings never show a secret; the store never holds it in plaintext.
	r = e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET settings")
	if get(r.body, "connection.bindCredential") != "" || get(r.body, "connection.bindCredentialSet") != true ||
		r.body["enabled"] != true || num(t, get(r.body, "sync.fullSyncIntervalSeconds")) != 3600 {
		t.Fatalf("settings: %s", r.raw)
	}
	if bytes.Contains(r.raw, []byte(password)) {
		t.Fatalf("GET settings shows the bind credential")
	}
	checkNoPlaintext(t, e, password)

	// The audit list: when and which fields, newest first, no values.
	r = e.must(e.call("GET", "/api/v1/settings/history", nil), http.StatusOK, "history")
	changes := r.body["changes"].([]any)
	if len(changes) != 3 {
		t.Fatalf("history has %d entries, want 3 (save, enable, interval): %s", len(changes), r.raw)
	}
	fields := func(i int) []string {
		var out []string
		for _, f := range changes[i].(map[string]any)["fields"].([]any) {
			out = append(out, f.(string))
		}
		return out
	}
	if got := fields(0); !reflect.DeepEqual(got, []string{"sync.fullSyncIntervalSeconds"}) {
		t.Errorf("newest change = %v", got)
	}
	if got := fields(1); !reflect.DeepEqual(got, []string{"enabled"}) {
		t.Errorf("second change = %v", got)
	}
	if got := fields(2); !slices.Contains(got, "connection.bindCredential") || !slices.Contains(got, "connection.url") {
		t.Errorf("first save = %v, want connection.url and connection.bindCredential among them", got)
	}
	if bytes.Contains(r.raw, []byte(password)) {
		t.Errorf("history shows the bind credential")
	}

	// Disable: no schedule, state kept.
	r = e.must(e.call("POST", "/api/v1/ldap/disable", nil), http.StatusOK, "disable")
	if r.body["enabled"] != false || r.body["nextRun"] != nil || num(t, r.body["users"]) != 3 {
		t.Fatalf("disable: %s", r.raw)
	}

	// Remove imported users and groups: deprovisioning needs push, then the store is empty.
	r = e.must(e.call("DELETE", "/api/v1/ldap/imported?deprovision=true", nil), http.StatusConflict, "remove with deprovision, push off")
	if !strings.Contains(r.body["error"].(string), "push.enabled") {
		t.Fatalf("remove with deprovision: %s", r.raw)
	}
	r = e.must(e.call("DELETE", "/api/v1/ldap/imported", nil), http.StatusOK, "remove imported")
	if num(t, r.body["usersRemoved"]) != 3 || num(t, r.body["groupsRemoved"]) != 2 {
		t.Fatalf("remove imported: %s", r.raw)
	}
	r = e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status after remove")
	if num(t, r.body["users"]) != 0 || num(t, r.body["groups"]) != 0 || num(t, get(r.body, "lastRun.id")) != id {
		t.Fatalf("status after remove: %s", r.raw)
	}

	// Health needs no token.
	for _, p := range []string{"/healthz", "/readyz"} {
		e.must(e.callAs("", "GET", p, nil), http.StatusOK, p)
	}

	// Nothing logged a secret.
	if strings.Contains(e.logs.String(), password) || strings.Contains(e.logs.String(), "not-the-password") {
		t.Fatalf("the logs hold a password:\n%s", e.logs.String())
	}
}

func checkPreview(t *testing.T, r resp) {
	t.Helper()
	if r.body["ok"] != true {
		t.Fatalf("preview: %s", r.raw)
	}
	type row struct {
		dn, userName string
		problems     []string
	}
	var got []row
	for _, u := range r.body["users"].([]any) {
		m := u.(map[string]any)
		rw := row{dn: m["dn"].(string)}
		if usr, ok := m["user"].(map[string]any); ok {
			rw.userName = usr["userName"].(string)
		}
		for _, p := range m["problems"].([]any) {
			rw.problems = append(rw.problems, p.(string))
		}
		got = append(got, rw)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].dn < got[j].dn })
	if len(got) != 4 {
		t.Fatalf("preview has %d users, want 4: %s", len(got), r.raw)
	}
	want := []row{
		{dn: "cn=No Uid,ou=people,dc=example,dc=com"},
		{dn: "uid=alice,ou=people,dc=example,dc=com", userName: "alice"},
		{dn: "uid=bob,ou=people,dc=example,dc=com", userName: "bob"},
		{dn: "uid=carol,ou=people,dc=example,dc=com", userName: "carol", problems: []string{
			`email: attribute "mail" is missing or empty`,
			`firstName: attribute "givenName" is missing or empty`,
		}},
	}
	// The skipped entry's reason comes from the mapping; check its shape only.
	if len(got[0].problems) != 1 || !strings.HasPrefix(got[0].problems[0], "skipped: ") || !strings.Contains(got[0].problems[0], "uid") {
		t.Fatalf("preview of the entry without uid: %+v", got[0])
	}
	got[0].problems = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("preview = %+v\nwant %+v", got, want)
	}
}

// checkNextRun checks that status.nextRun is one interval after from (within
// the time the request took).
func checkNextRun(t *testing.T, status map[string]any, from time.Time, interval time.Duration) {
	t.Helper()
	s, ok := status["nextRun"].(string)
	if !ok {
		t.Fatalf("no nextRun in %v", status)
	}
	next, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := from.Add(interval-time.Second), time.Now().Add(interval+time.Second)
	if next.Before(lo) || next.After(hi) {
		t.Fatalf("nextRun = %s, want between %s and %s", next, lo, hi)
	}
}

// checkNoPlaintext greps the database file and its WAL for the secret.
func checkNoPlaintext(t *testing.T, e *env, secretText string) {
	t.Helper()
	found, sealed := 0, false
	for _, f := range []string{e.dbPath, e.dbPath + "-wal"} {
		raw, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found++
		sealed = sealed || bytes.Contains(raw, []byte("enc:v1:"))
		if bytes.Contains(raw, []byte(secretText)) {
			t.Fatalf("%s holds the bind credential in plaintext", f)
		}
	}
	if found == 0 || !sealed {
		t.Fatal("no database file holds the sealed settings document: the grep proves nothing")
	}
}
