package adminapi_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// TestADeeplyNestedFilterIsRefusedWithoutCompilingIt pins down finding 1 of
// issue 14: a users filter of 30,000 nested "(!" (91 KB) sent to any of
// these routes made go-ldap's compiler take gigabytes, and the kernel killed
// the process. Now the filter is measured before anything compiles it:
// PUT and "Validate user filters" name the limit, the other buttons do not
// read the filter and answer as usual, and no request grows the heap by
// more than a few megabytes.
func TestADeeplyNestedFilterIsRefusedWithoutCompilingIt(t *testing.T) {
	e := newEnv(t, withPusher(&recordingPusher{}))
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")
	for _, f := range []struct{ filter, msg string }{
		{strings.Repeat("(!", 30000) + "(cn=x)" + strings.Repeat(")", 30000), "is 90006 bytes long: the limit is 4096 bytes"},
		// The deepest filter within 4096 bytes.
		{strings.Repeat("(!", 1363) + "(cn=x)" + strings.Repeat(")", 1363), "nests 1364 levels of parentheses: the limit is 32"},
	} {
		refuseFilter(t, e, f.filter, f.msg)
	}
	got := e.must(e.call("GET", "/api/v1/settings", nil), http.StatusOK, "GET settings")
	if get(got.body, "users.filter") != "" {
		t.Fatalf("the refused filter was saved: %v", get(got.body, "users.filter"))
	}
}

func refuseFilter(t *testing.T, e *env, deep, msg string) {
	t.Helper()
	for _, c := range []struct {
		method, path  string
		users, groups int // the status with a deep users.filter, groups.filter
	}{
		{"PUT", "/api/v1/settings", http.StatusBadRequest, http.StatusBadRequest},
		{"POST", "/api/v1/settings/preview-users", http.StatusBadRequest, http.StatusOK},
		{"POST", "/api/v1/settings/test-connection", http.StatusOK, http.StatusOK},
		{"POST", "/api/v1/settings/test-authentication", http.StatusOK, http.StatusOK},
		{"POST", "/api/v1/settings/test-push", http.StatusOK, http.StatusOK},
	} {
		for _, field := range []string{"users.filter", "groups.filter"} {
			status := c.users
			if field == "groups.filter" {
				status = c.groups
			}
			form := e.document()
			set(form, field, deep)
			if c.path == "/api/v1/settings/test-push" {
				set(form, "push.url", "https://scim.example.com/scim/v2")
				set(form, "push.token", "push-token-0a1b2c3d")
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := e.call(c.method, c.path, form)
			runtime.ReadMemStats(&after)
			if r.status != status {
				t.Fatalf("%s %s with a deep %s: status %d, want %d: %.300s", c.method, c.path, field, r.status, status, r.raw)
			}
			if status == http.StatusBadRequest {
				fs, _ := r.body["fields"].([]any)
				if len(fs) != 1 || get(fs[0].(map[string]any), "field") != field || get(fs[0].(map[string]any), "message") != msg {
					t.Fatalf("%s %s: fields %v, want only %s: %s", c.method, c.path, r.body["fields"], field, msg)
				}
			}
			// The body (91 KB) is read and decoded a few times; compiling the
			// filter took 3.6 GB.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 10<<20 {
				t.Fatalf("%s %s with a deep %s allocated %d bytes", c.method, c.path, field, grew)
			}
		}
	}
}

// TestOptionsNeedsTheAdminToken pins down finding 6 of issue 14: OPTIONS on
// every admin route answered 204 with Allow without a token.
func TestOptionsNeedsTheAdminToken(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1/settings", "/api/v1/sync/runs/1", "/api/v1/ldap/imported", "/api/v1/nothing"} {
		for _, token := range []string{"", "wrong-token-0123456789", scimToken} {
			r := e.callAs(token, "OPTIONS", path, nil)
			if r.status != http.StatusUnauthorized || r.header.Get("Allow") != "" {
				t.Fatalf("OPTIONS %s with token %q: status %d, Allow %q", path, token, r.status, r.header.Get("Allow"))
			}
		}
	}
	r := e.call("OPTIONS", "/api/v1/settings", nil)
	if r.status != http.StatusNoContent || r.header.Get("Allow") == "" {
		t.Fatalf("OPTIONS with the admin token: status %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	// Open paths stay open.
	if r := e.callAs("", "OPTIONS", "/healthz", nil); r.status != http.StatusNoContent {
		t.Fatalf("OPTIONS /healthz: %d", r.status)
	}
}
