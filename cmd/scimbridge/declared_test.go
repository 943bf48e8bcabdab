package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
)

// secretFile writes a secret as a mounted Kubernetes Secret holds it (with a
// final line break) and returns its path.
func secretFile(t *testing.T, name, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// put sends a JSON body with the admin token.
func put(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestSecretsFromFilesAndSettingsAsCode starts serve with every secret in a
// file (tokens, key, bind credential) and a partial settings file: the sync
// binds with the credential from its file, the admin API lists the managed
// fields and refuses to change them, other fields stay editable and keep
// their edits across a restart, and no secret reaches the log.
func TestSecretsFromFilesAndSettingsAsCode(t *testing.T) {
	srv := slapdtest.Start(t)
	db := filepath.Join(t.TempDir(), "state.db")
	doc := map[string]any{
		"vendor":     "openldap",
		"enabled":    true,
		"connection": map[string]any{"url": srv.URL, "bindDn": slapdtest.AdminDN},
		"users":      map[string]any{"usersDn": slapdtest.PeopleDN},
		"groups":     map[string]any{"groupsDn": slapdtest.GroupsDN},
	}
	b, _ := json.Marshal(doc)
	settings := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(settings, b, 0o600); err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("1e", 32)
	env := []string{
		"SCIMBRIDGE_SCIM_TOKEN=", "SCIMBRIDGE_SCIM_TOKEN_FILE=" + secretFile(t, "scim", "scim-token"),
		"SCIMBRIDGE_ADMIN_TOKEN=", "SCIMBRIDGE_ADMIN_TOKEN_FILE=" + secretFile(t, "admin", "admin-token"),
		"SCIMBRIDGE_SECRET_KEY=", "SCIMBRIDGE_SECRET_KEY_FILE=" + secretFile(t, "key", key),
		"SCIMBRIDGE_BIND_CREDENTIAL_FILE=" + secretFile(t, "bind", srv.AdminPassword),
	}
	p := startServe(t, env, "--db", db, "--settings", settings)
	p.waitFor(t, "synced users", 30*time.Second, func() bool {
		code, body := getJSON(t, p.url()+"/api/v1/status", "admin-token")
		return code == 200 && body["users"] == 9.0
	})
	if code, body := getJSON(t, p.url()+"/scim/v2/Users?count=0", "scim-token"); code != 200 || body["totalResults"] != 9.0 {
		t.Fatalf("SCIM with the token from its file: %d %v", code, body)
	}

	code, managed := getJSON(t, p.url()+"/api/v1/settings/managed", "admin-token")
	wantFields := []any{"connection.bindCredential", "connection.bindDn", "connection.url", "enabled",
		"groups.groupsDn", "users.usersDn", "vendor"}
	if code != 200 || !reflect.DeepEqual(managed["fields"], wantFields) {
		t.Errorf("managed fields: %d %v\nwant %v", code, managed["fields"], wantFields)
	}
	if src, _ := managed["source"].(string); !strings.Contains(src, settings) || !strings.Contains(src, "SCIMBRIDGE_BIND_CREDENTIAL") {
		t.Errorf("managed source %q names neither the file nor the variable", src)
	}

	_, cur := getJSON(t, p.url()+"/api/v1/settings", "admin-token")
	conn := cur["connection"].(map[string]any)
	if conn["bindCredential"] != "" || conn["bindCredentialSet"] != true {
		t.Errorf("stored credential: %v", conn)
	}
	// A managed field cannot be saved…
	conn["url"] = "ldap://127.0.0.1:1"
	code, body := put(t, p.url()+"/api/v1/settings", cur)
	var named []string
	fields, _ := body["fields"].([]any)
	for _, f := range fields {
		named = append(named, f.(map[string]any)["field"].(string))
	}
	// A new URL also drops the stored credential, managed too.
	if want := []string{"connection.url", "connection.bindCredential"}; code != http.StatusConflict || !reflect.DeepEqual(named, want) {
		t.Fatalf("PUT changing connection.url: %d %v; want 409 naming %v", code, body, want)
	}
	if code, body := do(t, http.MethodPost, p.url()+"/api/v1/ldap/disable", "admin-token"); code != http.StatusConflict {
		t.Errorf("disable, with enabled managed: %d %s; want 409", code, body)
	}
	// …the others can.
	conn["url"] = srv.URL
	cur["sync"].(map[string]any)["maxDeletes"] = 7
	if code, body := put(t, p.url()+"/api/v1/settings", cur); code != 200 {
		t.Fatalf("PUT changing sync.maxDeletes: %d %v", code, body)
	}
	if _, err := p.stop(t, 30*time.Second); err != nil {
		t.Fatalf("serve: %v", err)
	}
	logs := p.logs.String()

	// At the next start the file applies again; the edit of a field it
	// leaves out stays.
	p = startServe(t, env, "--db", db, "--settings", settings)
	var again map[string]any
	p.waitFor(t, "settings", 20*time.Second, func() bool {
		var code int
		code, again = getJSON(t, p.url()+"/api/v1/settings", "admin-token")
		return code == 200
	})
	if again["sync"].(map[string]any)["maxDeletes"] != 7.0 || again["connection"].(map[string]any)["url"] != srv.URL {
		t.Errorf("after a restart: sync %v, connection %v", again["sync"], again["connection"])
	}
	if _, err := p.stop(t, 30*time.Second); err != nil {
		t.Fatalf("serve: %v", err)
	}
	logs += p.logs.String()
	for _, secret := range []string{srv.AdminPassword, key, "scim-token", "admin-token"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the secret %q", secret)
		}
	}
}

// TestSecretFilesRefusedClearly: a variable given both ways, a missing file
// or an empty one stops serve with exit 2 naming the variable.
func TestSecretFilesRefusedClearly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"SCIMBRIDGE_ADMIN_TOKEN_FILE=" + secretFile(t, "a", "x")}, "both SCIMBRIDGE_ADMIN_TOKEN and SCIMBRIDGE_ADMIN_TOKEN_FILE are set"},
		{[]string{"SCIMBRIDGE_SCIM_TOKEN=", "SCIMBRIDGE_SCIM_TOKEN_FILE=/nonexistent/scim"}, "SCIMBRIDGE_SCIM_TOKEN_FILE: open /nonexistent/scim"},
		{[]string{"SCIMBRIDGE_SECRET_KEY=", "SCIMBRIDGE_SECRET_KEY_FILE=" + empty}, "SCIMBRIDGE_SECRET_KEY_FILE: " + empty + " is empty"},
		{[]string{"SCIMBRIDGE_BIND_CREDENTIAL=x"}, "SCIMBRIDGE_BIND_CREDENTIAL (or SCIMBRIDGE_BIND_CREDENTIAL_FILE): no settings to apply it to"},
		{[]string{"SCIMBRIDGE_SHUTDOWN_TIMEOUT=soon"}, `SCIMBRIDGE_SHUTDOWN_TIMEOUT="soon"`},
	}
	base := []string{"SCIMBRIDGE_SCIM_TOKEN=s", "SCIMBRIDGE_ADMIN_TOKEN=a", "SCIMBRIDGE_SECRET_KEY=" + strings.Repeat("ab", 32)}
	for _, tt := range tests {
		res := runCmd(t, append(append([]string{}, base...), tt.env...), "serve", "--db", db, "--listen", "127.0.0.1:0")
		if res.code != 2 || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("env %v: exit %d, stderr %s; want 2 and %q", tt.env, res.code, res.stderr, tt.want)
		}
	}
}
