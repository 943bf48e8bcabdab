package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/console"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/schema"
)

// TestAdminSetsUpLDAPInTheConsole walks IOMETE's "one single page" in a real
// chromium against a real slapd holding the base fixture
// (testdata/ldif/README.md): sign in, fill the form top to bottom, test the
// connection and the bind, save, reload, enable LDAP, sync all users and read
// the run's report, sign out. Every control is found by its role and
// accessible name, as assistive technology finds it, and driven from the
// keyboard.
func TestAdminSetsUpLDAPInTheConsole(t *testing.T) {
	srv := startServer(t)
	b := startBrowser(t)
	secrets := map[string]string{
		"bind credential": srv.slapd.AdminPassword, "wrong password typed": wrongPassword,
		"admin token": adminToken, "SCIM token": scimToken, "push token": pushToken,
	}

	// Signed out, the page asks for the admin token; the SCIM token does not sign in.
	b.do(chromedp.Navigate(srv.http.URL + "/"))
	b.find("heading", "Sign in")
	// The keyboard starts in "Admin token"; Tab reaches "Sign in".
	if got := b.activeLabel(); got != "Admin token" {
		t.Errorf("focus on load: %q, want the Admin token field", got)
	}
	b.do(chromedp.KeyEvent("\t"))
	if got := b.activeLabel(); got != "Sign in" {
		t.Errorf("focus after Tab: %q, want the Sign in button", got)
	}
	b.shotBoth("01-sign-in")
	b.fill("Admin token", scimToken)
	if got, want := b.result("Sign in", "Sign-in result"), "sign-in refused: that is not the admin token (SCIMBRIDGE_ADMIN_TOKEN)"; got != want {
		t.Fatalf("sign-in with the SCIM token: %q, want %q", got, want)
	}
	if v := b.value("textbox", "Admin token"); v != "" {
		t.Fatalf("the token field still holds %q after a refused sign-in", v)
	}
	b.signIn()
	b.noSecrets(secrets)

	// Nothing saved yet: the vendor's defaults, no credential.
	if got := b.description("textbox", "Bind Credential"); got != "None is stored yet." {
		t.Errorf("Bind Credential says %q before anything is saved", got)
	}
	for name, want := range map[string]string{"username": "uid", "email": "mail", "firstName": "givenName", "lastName": "sn",
		"name": "cn", "membership": "member", "Full sync interval": "86400", "User object classes": "inetOrgPerson, organizationalPerson",
		"Updated/New LDAP user sync interval": "0", "Live poll interval": "5"} {
		if got := b.value("textbox", name); got != want {
			t.Errorf("%s = %q, want the default %q", name, got, want)
		}
	}
	for name, want := range map[string]string{"membershipAttributeType": "DN", "User search scope": "subtree", "Profile": "rfc"} {
		if got := b.value("combobox", name); got != want {
			t.Errorf("%s = %q, want the default %q", name, got, want)
		}
	}
	for _, name := range []string{"Enable group searching and updating", "Periodic full sync"} {
		if !b.checked(name) {
			t.Errorf("%q is not checked by default", name)
		}
	}

	// Fill the form top to bottom.
	b.fill("Connection URL", srv.slapd.URL)
	b.fill("Bind DN", slapdtest.AdminDN)
	b.fill("Bind Credential", srv.slapd.AdminPassword)
	b.fill("Users DN", slapdtest.PeopleDN)
	b.fill("Groups DN", slapdtest.GroupsDN)
	b.fill("Custom group LDAP filter", "(cn=*)")
	b.fill("Full sync interval", "3600")
	b.fill("Updated/New LDAP user sync interval", "300")
	b.fill("Push URL", "https://iomete.example.com/api/v1/identity/scim/v2")
	b.fill("Push token", pushToken)

	// Test connection and Test authentication say "succeeded".
	if got, want := b.result("Test connection", "Test connection result"),
		"Test connection succeeded. TLS: not used (plain ldap:// without StartTLS): traffic, including the bind password, is not encrypted"; got != want {
		t.Errorf("Test connection: %q, want %q", got, want)
	}
	if got, want := b.result("Test authentication", "Test authentication result"),
		"Test authentication succeeded. search: read ou=people,dc=example,dc=com"; got != want {
		t.Errorf("Test authentication: %q, want %q", got, want)
	}
	if got, want := b.result("Validate user filters", "Validate user filters result"),
		"Validate user filters succeeded: the first 10 users as a sync would map them."; got != want {
		t.Errorf("Validate user filters: %q, want %q", got, want)
	}
	preview := b.tableRows("Preview of the first users")
	if got, want := preview[0], []string{"uid=alice,ou=people,dc=example,dc=com", "alice", "alice@example.com", "Alice", "Anderson", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("first preview row %q, want %q", got, want)
	}
	b.shotBoth("02-tests-succeeded")
	b.shotAt("02-tests-succeeded-view-1280", 1280, 1120, "heading", "LDAP settings")
	b.shotAt("02-tests-succeeded-view-390", 390, 844, "button", "Test connection")

	// A wrong password fails, naming the bind step.
	b.fill("Bind Credential", wrongPassword)
	if got, want := b.result("Test authentication", "Test authentication result"),
		"Test authentication failed at the bind step: bind: invalid credentials (49)"; got != want {
		t.Errorf("Test authentication with a wrong password: %q, want %q", got, want)
	}
	b.fill("Bind Credential", srv.slapd.AdminPassword)

	// An invalid field: its error shows next to it and nothing is stored.
	b.fill("Connection URL", "http"+strings.TrimPrefix(srv.slapd.URL, "ldap"))
	if got, want := b.result("Save", "Save result"), "invalid settings: nothing was saved: 1 field is marked below"; got != want {
		t.Errorf("Save with an http:// URL: %q, want %q", got, want)
	}
	if got, want := b.description("textbox", "Connection URL"), "ldap://host:389 or ldaps://host:636 | must start with ldap:// or ldaps://"; got != want {
		t.Errorf("Connection URL is described as %q, want %q", got, want)
	}
	if !b.invalid("textbox", "Connection URL") {
		t.Error("Connection URL is not marked aria-invalid")
	}
	b.shotBoth("03-field-error")
	if code, body := bearer(t, srv, "GET", "/api/v1/settings/history"); code != http.StatusOK || len(body["changes"].([]any)) != 0 {
		t.Fatalf("a refused save was stored: %d %v", code, body)
	}

	// Fixed and saved; after a reload the values are kept, the secrets hidden.
	b.fill("Connection URL", srv.slapd.URL)
	if got := b.result("Save", "Save result"); got != "Saved." {
		t.Fatalf("Save: %q", got)
	}
	if b.invalid("textbox", "Connection URL") {
		t.Error("Connection URL is still marked invalid after a good save")
	}
	b.noSecrets(secrets)
	b.do(chromedp.Reload())
	b.find("heading", "LDAP settings")
	for name, want := range map[string]string{"Connection URL": srv.slapd.URL, "Bind DN": slapdtest.AdminDN, "Bind Credential": "",
		"Users DN": slapdtest.PeopleDN, "Groups DN": slapdtest.GroupsDN, "Custom group LDAP filter": "(cn=*)",
		"Full sync interval": "3600", "Push token": "", "Updated/New LDAP user sync interval": "300",
		"Push URL": "https://iomete.example.com/api/v1/identity/scim/v2"} {
		if got := b.value("textbox", name); got != want {
			t.Errorf("after reload %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"Bind Credential", "Push token"} {
		if got, want := b.description("textbox", name), "One is stored. It is never shown; type a new one to replace it."; got != want {
			t.Errorf("after reload %s says %q, want %q", name, got, want)
		}
	}
	b.noSecrets(secrets)
	if got, want := b.terms("status-panel"), map[string]string{
		"LDAP": "disabled", "Last run": "none yet", "Next run": "none scheduled", "Users": "0", "Groups": "0", "Push": "off", "Live changes": "off",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("status panel before enabling: %v, want %v", got, want)
	}

	// Enable LDAP, then Sync all users: the run shows its exact counts and
	// its skipped entries (the base fixture's 9 users, 2 skipped, 8 groups).
	if got, want := b.result("Enable LDAP", "LDAP result"), "LDAP enabled: syncs run on schedule (see Next run)."; got != want {
		t.Errorf("Enable LDAP: %q, want %q", got, want)
	}
	b.find("button", "Disable LDAP")
	if got, want := b.result("Sync all users", "Sync result"),
		"Sync run 1 succeeded: 9 users (9 created, 0 updated, 0 deleted), 8 groups (8 created, 0 updated, 0 deleted), 2 skipped."; got != want {
		t.Errorf("Sync all users: %q, want %q", got, want)
	}
	rows := b.tableRows("Run history")
	if len(rows) != 1 {
		t.Fatalf("run history rows %q, want one", rows)
	}
	// Run, Status, Trigger, Users, Groups, Created, Updated, Deleted, Skipped; then Started and Duration, which vary.
	if got, want := rows[0][:9], []string{"1", "succeeded", "manual", "9", "8", "17", "0", "0", "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("run history row %q, want %q", got, want)
	}
	b.find("heading", "Report of run 1")
	if got, want := b.tableRows("Skipped entries"), [][]string{
		{"cn=Gina Grey,ou=people,dc=example,dc=com", `duplicate username "GINA": already used by cn=gina green,ou=people,dc=example,dc=com`},
		{"cn=No Username,ou=people,dc=example,dc=com", `missing username attribute "uid"`},
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("skipped entries %q, want %q", got, want)
	}
	counts := b.terms("run-report-counts")
	for k, want := range map[string]string{"Users": "9", "Users created": "9", "Groups": "8", "Groups created": "8", "Skipped": "2",
		"Users deleted": "0", "Groups deleted": "0", "Trigger": "manual", "Status": "succeeded"} {
		if counts[k] != want {
			t.Errorf("report %s = %q, want %q", k, counts[k], want)
		}
	}
	if got := b.textOf("run-report-push"); got != "No push in this run." {
		t.Errorf("push outcome %q", got)
	}
	b.shotBoth("05-run-report")
	b.shotAt("05-run-report-view-390", 390, 844, "heading", "Run history")
	b.shotAt("05-run-report-view-1280", 1280, 900, "heading", "LDAP and syncs")
	status := b.terms("status-panel")
	if status["Users"] != "9" || status["Groups"] != "8" || !strings.HasPrefix(status["Last run"], "run 1 succeeded (manual), ") || status["Next run"] == "none scheduled" {
		t.Errorf("status panel after the sync: %v", status)
	}

	// Sign out: the page asks for the token again and the API refuses the old cookie.
	cookie := b.sessionCookie(srv.http.URL)
	b.press("Sign out")
	if got := b.status("Sign-in result"); got != "Signed out." {
		t.Errorf("Sign out: %q", got)
	}
	code, body := call(t, srv, "GET", "/api/v1/settings", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value}) })
	if code != http.StatusUnauthorized || body["error"] != "your console session has ended (signed out or expired): sign in again with the admin token" {
		t.Errorf("the cookie after sign-out: %d %v", code, body)
	}
	if b.present("heading", "LDAP settings") {
		t.Error("the settings are still shown after sign-out")
	}
	b.noSecrets(secrets)

	b.noPageErrors()

	// No answer the page received holds a secret; every one carries the headers.
	got := b.received()
	if len(got) < 20 {
		t.Fatalf("only %d responses recorded", len(got))
	}
	// The bodies were read: the saved settings' answer says a credential is set.
	read := false
	for _, r := range got {
		read = read || (strings.HasSuffix(r.url, "/api/v1/settings") && strings.Contains(r.body, `"bindCredentialSet":true`))
	}
	if !read {
		t.Error("no recorded GET /api/v1/settings answer says bindCredentialSet: the bodies were not read")
	}
	for _, r := range got {
		for what, s := range secrets {
			if strings.Contains(r.body, s) {
				t.Errorf("the answer of %s holds the %s", r.url, what)
			}
		}
		if r.header["Content-Security-Policy"] != console.CSP || r.header["X-Frame-Options"] != "DENY" || r.header["X-Content-Type-Options"] != "nosniff" {
			t.Errorf("%s lacks the security headers: %v", r.url, r.header)
		}
	}
}

// TestSessionCookieRefusesOtherOrigins signs in in chromium, checks the
// cookie's attributes, then has a page of another origin (same site: the
// cookie goes along) post to the admin API: it is refused and nothing
// changes. The same cookie from the console's own origin works.
func TestSessionCookieRefusesOtherOrigins(t *testing.T) {
	srv := startServer(t)
	srv.saveLDAPSettings(t) // valid and disabled: an accepted "Enable LDAP" would show
	b := startBrowser(t)
	b.do(chromedp.Navigate(srv.http.URL + "/"))
	b.fill("Admin token", adminToken)
	signedIn := time.Now()
	b.press("Sign in")
	b.find("heading", "LDAP settings")

	c := b.sessionCookie(srv.http.URL)
	if c.Path != "/api/v1" || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Secure || c.Session {
		t.Errorf("cookie %+v: want path /api/v1, HttpOnly, SameSite=Strict, not Secure over http, with an expiry", c)
	}
	exp := time.Unix(int64(c.Expires), 0)
	if lo, hi := signedIn.Add(adminapi.DefaultSessionTTL-time.Minute), time.Now().Add(adminapi.DefaultSessionTTL+time.Minute); exp.Before(lo) || exp.After(hi) {
		t.Errorf("cookie expires %v, want %v after sign-in", exp, adminapi.DefaultSessionTTL)
	}

	// A page of another origin posts "Disable LDAP" with the cookie.
	var hits int
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>other origin</title><form method="post" action="%s/api/v1/ldap/enable"></form>
<script>document.forms[0].submit()</script>`, srv.http.URL)
	}))
	defer evil.Close()
	b.do(chromedp.Navigate(evil.URL + "/"))
	r := b.waitResponse(srv.http.URL + "/api/v1/ldap/enable")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "cross-origin request refused") {
		t.Errorf("cross-origin POST: %d %s", r.status, r.body)
	}
	if !r.withCookie {
		t.Error("the cross-origin POST went without the session cookie, so it proves nothing")
	}
	if code, body := bearer(t, srv, "GET", "/api/v1/status"); code != http.StatusOK || body["enabled"] != false {
		t.Errorf("status after the cross-origin POST: %d %v", code, body)
	}

	// The same from a script: another Origin, or a browser's cross-site mark.
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example.com"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": evil.URL, "Sec-Fetch-Site": "same-site"},
	} {
		code, body := call(t, srv, "POST", "/api/v1/sync?dryRun=true", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			for k, v := range h {
				r.Header.Set(k, v)
			}
		})
		if code != http.StatusForbidden || body["error"] != "cross-origin request refused: a signed-in console session only accepts writes from the console's own page" {
			t.Errorf("POST with the cookie and %v: %d %v", h, code, body)
		}
	}
	// From the console's own origin the cookie works, for reads and writes.
	code, body := call(t, srv, "POST", "/api/v1/ldap/disable", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		r.Header.Set("Origin", srv.http.URL)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	})
	if code != http.StatusOK || body["enabled"] != false {
		t.Errorf("same-origin POST with the cookie: %d %v", code, body)
	}
	// Signing in needs the admin token: the SCIM token, a prefix, nothing are refused.
	for _, tok := range []string{scimToken, adminToken[:len(adminToken)-1], ""} {
		code, body = call(t, srv, "POST", "/api/v1/session", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"token":"` + tok + `"}`))
			r.Header.Set("Content-Type", "application/json")
		})
		if code != http.StatusUnauthorized || body["error"] != "sign-in refused: that is not the admin token (SCIMBRIDGE_ADMIN_TOKEN)" {
			t.Errorf("sign-in with %q: %d %v", tok, code, body)
		}
	}
}

// TestConsoleFollowsARunningSync holds a sync before it reads users: the page
// shows its phase and the entries read so far until it ends. Then a dry run
// previews the next sync without writing, and a run held by the deletion
// threshold is approved from the page.
func TestConsoleFollowsARunningSync(t *testing.T) {
	gate := bridgetest.NewGate()
	srv := startServer(t, withGate(gate))
	srv.saveLDAPSettings(t)
	b := startBrowser(t)
	b.openSignedIn(srv)
	if got := b.result("Enable LDAP", "LDAP result"); got != "LDAP enabled: syncs run on schedule (see Next run)." {
		t.Fatalf("Enable LDAP: %q", got)
	}

	b.press("Sync all users")
	<-gate.Started
	// The base fixture's 8 groups are read; the users wait at the gate.
	b.waitText("Sync result", "Sync run 1 running: reading users, 8 entries read so far…")
	b.shotBoth("04-sync-running")
	// A reload finds the run and follows it.
	b.do(chromedp.Reload())
	b.waitText("Sync result", "Sync run 1 running: reading users, 8 entries read so far…")
	gate.Release()
	b.waitText("Sync result", "Sync run 1 succeeded: 9 users (9 created, 0 updated, 0 deleted), 8 groups (8 created, 0 updated, 0 deleted), 2 skipped.")

	if got, want := b.result("Preview a sync (dry run)", "Sync result"),
		"Dry run 2 succeeded: 9 users (0 created, 0 updated, 0 deleted), 8 groups (0 created, 0 updated, 0 deleted), 2 skipped."; got != want {
		t.Errorf("dry run: %q, want %q", got, want)
	}
	b.find("heading", "Report of run 2 (dry run: nothing was written)")
	rows := b.tableRows("Run history")
	if len(rows) != 2 || rows[0][0] != "2 (dry run)" || rows[1][0] != "1" {
		t.Errorf("run history %q", rows)
	}
	// The history opens an earlier run's report and moves the keyboard there.
	b.press("Open the report of run 1")
	b.find("heading", "Report of run 1")
	if got := b.activeLabel(); got != "Report of run 1" {
		t.Errorf("focus after opening a report: %q", got)
	}

	// A run that would delete more than allowed is held; the admin approves it.
	b.fill("Custom user LDAP filter", "(uid=alice)")
	b.fill("Maximum deletions per run", "0")
	if got := b.result("Save", "Save result"); got != "Saved." {
		t.Fatalf("Save: %q", got)
	}
	if got, want := b.result("Sync all users", "Sync result"),
		"Sync run 3 held: 1 user (0 created, 0 updated, 8 deleted), 8 groups (0 created, 5 updated, 0 deleted), 0 skipped. "+
			"held: the run would delete 8 users, more than sync.maxDeletes (0); approve with --allow-deletes. "+
			"Nothing was applied: to apply it, press Approve the deletions and sync."; got != want {
		t.Errorf("held sync: %q, want %q", got, want)
	}
	if got, want := b.result("Approve the deletions and sync", "Sync result"),
		"Sync run 4 succeeded: 1 user (0 created, 0 updated, 8 deleted), 8 groups (0 created, 5 updated, 0 deleted), 0 skipped."; got != want {
		t.Errorf("approved sync: %q, want %q", got, want)
	}
	if b.present("button", "Approve the deletions and sync") {
		t.Error("the approval is still offered after the approved run")
	}
	if code, body := bearer(t, srv, "GET", "/api/v1/status"); code != http.StatusOK || body["users"] != 1.0 {
		t.Errorf("status after the approved run: %d %v", code, body)
	}

	// Disable LDAP: no more scheduled syncs.
	if got, want := b.result("Disable LDAP", "LDAP result"), "LDAP disabled: no scheduled syncs."; got != want {
		t.Errorf("Disable LDAP: %q, want %q", got, want)
	}
	if got := b.terms("status-panel"); got["LDAP"] != "disabled" || got["Next run"] != "none scheduled" {
		t.Errorf("status panel after Disable LDAP: %v", got)
	}
	b.noPageErrors()
}

// TestEndedSessionKeepsTheForm: when the session ends under an admin's
// unsaved edits (here: signed out elsewhere), the next request brings back
// sign-in and, once signed in again, the edits are still there to save.
func TestEndedSessionKeepsTheForm(t *testing.T) {
	srv := startServer(t)
	b := startBrowser(t)
	b.openSignedIn(srv)
	b.fill("Connection URL", srv.slapd.URL)
	b.fill("Bind DN", slapdtest.AdminDN)
	b.fill("Bind Credential", srv.slapd.AdminPassword)
	b.fill("Users DN", slapdtest.PeopleDN)
	b.fill("Groups DN", slapdtest.GroupsDN)

	c := b.sessionCookie(srv.http.URL)
	if code, _ := call(t, srv, "DELETE", "/api/v1/session", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}); code != http.StatusNoContent {
		t.Fatalf("sign out elsewhere: %d", code)
	}
	b.press("Save")
	if got, want := b.status("Sign-in result"),
		"Your session has ended: sign in again with the admin token. Unsaved changes in the form are kept."; got != want {
		t.Fatalf("Save after the session ended: %q, want %q", got, want)
	}
	b.signIn()
	if got := b.value("textbox", "Users DN"); got != slapdtest.PeopleDN {
		t.Fatalf("Users DN after signing in again: %q", got)
	}
	if got := b.result("Save", "Save result"); got != "Saved." {
		t.Fatalf("Save after signing in again: %q", got)
	}
	if code, body := bearer(t, srv, "GET", "/api/v1/settings"); code != http.StatusOK || body["connection"].(map[string]any)["url"] != srv.slapd.URL {
		t.Errorf("stored settings: %d %v", code, body)
	}
	b.noPageErrors()
}

// TestVendorRefillsItsDefaults: choosing "ad" as the vendor moves the fields
// still at the OpenLDAP defaults to AD's; a field the admin changed (here
// username, uid for OpenLDAP, sAMAccountName for AD) stays.
func TestVendorRefillsItsDefaults(t *testing.T) {
	srv := startServer(t)
	b := startBrowser(t)
	b.openSignedIn(srv)
	b.fill("username", "cn")

	b.focus(b.find("combobox", "Vendor"))
	b.do(chromedp.KeyEvent("a"))
	before := "Choosing another refills the fields still at the defaults of the one before."
	for deadline := time.Now().Add(10 * time.Second); b.description("combobox", "Vendor") == before && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if got, want := b.description("combobox", "Vendor"), "6 fields that held the openldap defaults now hold the ad defaults."; got != want {
		t.Errorf("Vendor says %q, want %q", got, want)
	}
	for name, want := range map[string]string{
		"username": "cn", "externalId": "objectGUID", "User object classes": "person, user",
		"disabledAttribute": "userAccountControl", "disabledBit": "2", "Group object classes": "group",
		"group externalId": "objectGUID", "email": "mail", "firstName": "givenName",
	} {
		if got := b.value("textbox", name); got != want {
			t.Errorf("after choosing ad, %s = %q, want %q", name, got, want)
		}
	}
	b.noPageErrors()
}

// TestConsolePushesToASCIMTarget sets up the push target on the page against
// a real SCIMMY: Test push with a wrong and the right token, Save, sync; the
// run's report shows the push outcome and the status panel what is left.
func TestConsolePushesToASCIMTarget(t *testing.T) {
	target := scimmytest.Start(t)
	srv := startServer(t, withPush())
	srv.saveLDAPSettings(t)
	b := startBrowser(t)
	b.openSignedIn(srv)

	b.toggle("Push each sync's changes to a SCIM target")
	b.fill("Push URL", target.URL)
	b.fill("Push token", "not-"+target.Token)
	if got, want := b.result("Test push", "Test push result"),
		"Test push failed at the auth step: auth: the target refused the token (HTTP 401): check push.token and push.authHeader"; got != want {
		t.Errorf("Test push with a wrong token: %q, want %q", got, want)
	}
	b.fill("Push token", target.Token)
	if got, want := b.result("Test push", "Test push result"),
		"Test push succeeded. reached "+target.URL+", token accepted (rfc profile, PATCH supported)"; got != want {
		t.Errorf("Test push: %q, want %q", got, want)
	}
	if got := b.result("Save", "Save result"); got != "Saved." {
		t.Fatalf("Save: %q", got)
	}
	b.press("Enable LDAP")
	b.find("button", "Disable LDAP")
	if got, want := b.result("Sync all users", "Sync result"),
		"Sync run 1 succeeded: 9 users (9 created, 0 updated, 0 deleted), 8 groups (8 created, 0 updated, 0 deleted), 2 skipped."; got != want {
		t.Errorf("Sync all users: %q, want %q", got, want)
	}
	// The request count includes lookups and the target's config: not pinned here.
	if got := b.textOf("run-report-push"); !regexp.MustCompile(`^Pushed: 17 created, 0 updated, 0 deleted, 0 failed, 0 still pending \(\d+ requests\)\.$`).MatchString(got) {
		t.Errorf("push outcome %q", got)
	}
	if got := b.terms("status-panel")["Push"]; got != "0 changes to send, 0 pending, 0 failed" {
		t.Errorf("status panel Push %q", got)
	}
	if n := scimmytest.Counts(target.Requests(t))["POST /Users"]; n != 9 {
		t.Errorf("%d users created at the target, want 9", n)
	}
	b.shotAt("06-push-report-view-1280", 1280, 900, "heading", "Report of run 1")
	b.noPageErrors()
}

// TestStatusSaysWhenLiveChangesArePolled: with live changes on and a
// directory that has no change stream (slapd without syncprov), the status
// panel says the directory is polled instead, and why.
func TestStatusSaysWhenLiveChangesArePolled(t *testing.T) {
	srv := startServer(t)
	srv.saveLDAPSettings(t, func(s *schema.Settings) { s.Sync.Live, s.Sync.LivePollSeconds = true, 2 })
	b := startBrowser(t)
	b.openSignedIn(srv)
	if got := b.result("Enable LDAP", "LDAP result"); got != "LDAP enabled: syncs run on schedule (see Next run)." {
		t.Fatalf("Enable LDAP: %q", got)
	}
	want := "polling (timestamps). the directory offers no change stream (OpenLDAP needs the syncprov overlay; Active Directory DirSync): " +
		"modifyTimestamp is polled every 2 s, deletions are found by full syncs"
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.do(chromedp.Reload())
		b.find("heading", "LDAP settings")
		got, ok := "", false
		for i := 0; i < 50 && !ok; i++ { // the panel fills once the status arrives
			got, ok = b.terms("status-panel")["Live changes"]
			time.Sleep(20 * time.Millisecond)
		}
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Live changes says %q, want %q", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.shotBoth("09-live-polled")
}
