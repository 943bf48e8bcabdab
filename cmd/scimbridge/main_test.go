package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/console"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/schema"
)

// binary is the scimbridge command built once for these tests: they run it
// as a user would, as a separate process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scimbridge-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "scimbridge")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build scimbridge: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func runCmd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func writeSettings(t *testing.T, s *schema.Settings) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncPrintsOneJSONLine(t *testing.T) {
	srv := slapdtest.Start(t)
	settings := writeSettings(t, srv.Settings())
	db := filepath.Join(t.TempDir(), "state.db")

	dry := runCmd(t, nil, "sync", "--settings", settings, "--db", db, "--dry-run")
	if dry.code != 0 {
		t.Fatalf("dry run exit %d: %s", dry.code, dry.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(dry.stdout), &got); err != nil || strings.Count(dry.stdout, "\n") != 1 {
		t.Fatalf("dry run stdout %q is not one JSON line: %v", dry.stdout, err)
	}
	if got["dryRun"] != true || got["usersCreated"] != 9.0 {
		t.Errorf("dry run line = %v", got)
	}

	res := runCmd(t, nil, "sync", "--settings", settings, "--db", db)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	got = nil
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatal(err)
	}
	delete(got, "durationMs")
	want := map[string]any{"status": "succeeded", "users": 9.0, "groups": 8.0, "usersCreated": 9.0, "usersUpdated": 0.0,
		"usersDeleted": 0.0, "groupsCreated": 8.0, "groupsUpdated": 0.0, "groupsDeleted": 0.0, "skipped": 2.0,
		"membershipsChanged": 18.0, "danglingMembers": 5.0, "keptUnchanged": 0.0, "referrals": 0.0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sync line = %v\nwant %v", got, want)
	}
	if strings.Contains(res.stderr, srv.AdminPassword) {
		t.Error("the log contains the bind credential")
	}

	// Deletion safety through the command: held is exit 3, --allow-deletes approves.
	s := srv.Settings()
	s.Sync.MaxDeletes = 0
	s.Users.Filter = "(!(uid=frank))"
	held := runCmd(t, nil, "sync", "--settings", writeSettings(t, s), "--db", db)
	if held.code != 3 || !strings.Contains(held.stdout, `"status":"held"`) {
		t.Fatalf("held run: exit %d, stdout %s", held.code, held.stdout)
	}
	ok := runCmd(t, nil, "sync", "--settings", writeSettings(t, s), "--db", db, "--allow-deletes")
	if ok.code != 0 || !strings.Contains(ok.stdout, `"usersDeleted":1`) {
		t.Fatalf("approved run: exit %d, stdout %s", ok.code, ok.stdout)
	}
}

func TestSyncRefusesBadSettingsNamingTheField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(p, []byte(`{"connection":{"url":"http://x"},"users":{"usersDn":"ou=people,dc=x"},"sync":{"fullSyncIntervalSeconds":0}}`), 0o600)
	res := runCmd(t, nil, "sync", "--settings", p, "--db", filepath.Join(t.TempDir(), "db"))
	if res.code != 2 || !strings.Contains(res.stderr, "connection.url") || !strings.Contains(res.stderr, "sync.fullSyncIntervalSeconds") {
		t.Fatalf("exit %d, stderr %s", res.code, res.stderr)
	}
}

func TestSyncFailsWhenTheDirectoryIsDown(t *testing.T) {
	srv := slapdtest.Start(t)
	s := srv.Settings()
	srv.Stop()
	res := runCmd(t, nil, "sync", "--settings", writeSettings(t, s), "--db", filepath.Join(t.TempDir(), "db"))
	if res.code != 1 || !strings.Contains(res.stdout, `"status":"failed"`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", res.code, res.stdout, res.stderr)
	}
}

func TestTestConnectionReportsEachStep(t *testing.T) {
	srv := slapdtest.Start(t)
	s := srv.Settings()
	res := runCmd(t, nil, "test-connection", "--settings", writeSettings(t, s))
	if res.code != 0 {
		t.Fatalf("exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	for _, step := range []string{"dns", "tcp", "bind", "search"} {
		if !regexpLine(res.stdout, step+" ", " ok ") {
			t.Errorf("no ok line for %s in:\n%s", step, res.stdout)
		}
	}
	s.Connection.BindCredential = "wrong"
	res = runCmd(t, nil, "test-connection", "--settings", writeSettings(t, s), "--json")
	var tr struct {
		OK      bool   `json:"ok"`
		Step    string `json:"step"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &tr); err != nil {
		t.Fatalf("%v: %s", err, res.stdout)
	}
	if res.code != 1 || tr.OK || tr.Step != "bind" || !strings.Contains(tr.Message, "(49)") {
		t.Fatalf("exit %d, answer %+v", res.code, tr)
	}
	if strings.Contains(res.stdout+res.stderr, "wrong") {
		t.Error("the credential was echoed")
	}
}

func regexpLine(out, prefix, contains string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, contains) {
			return true
		}
	}
	return false
}

func TestServeRefusesToStartWithoutTokens(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	key := "SCIMBRIDGE_SECRET_KEY=" + testKey
	const scim, admin = "SCIMBRIDGE_SCIM_TOKEN=" + testSCIMToken, "SCIMBRIDGE_ADMIN_TOKEN=" + testAdminToken
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"SCIMBRIDGE_SCIM_TOKEN=", admin, key}, "SCIMBRIDGE_SCIM_TOKEN"},
		{[]string{scim, "SCIMBRIDGE_ADMIN_TOKEN=", key}, "SCIMBRIDGE_ADMIN_TOKEN"},
		{[]string{scim, admin, "SCIMBRIDGE_SECRET_KEY="}, "SCIMBRIDGE_SECRET_KEY"},
		{[]string{scim, admin, "SCIMBRIDGE_SECRET_KEY=short"}, "SCIMBRIDGE_SECRET_KEY"},
		{[]string{"SCIMBRIDGE_SCIM_TOKEN=same-token-3f8a9c1d", "SCIMBRIDGE_ADMIN_TOKEN=same-token-3f8a9c1d", key}, "differ"},
		// Findings 5 and 12 of issue 14: white space, short tokens and an all-zero key.
		{[]string{"SCIMBRIDGE_SCIM_TOKEN=same-token-3f8a9c1d", "SCIMBRIDGE_ADMIN_TOKEN= same-token-3f8a9c1d", key}, "differ"},
		{[]string{"SCIMBRIDGE_SCIM_TOKEN=a", admin, key}, "SCIMBRIDGE_SCIM_TOKEN: token 1 of 1: a token is 1 characters long: use at least 16"},
		{[]string{"SCIMBRIDGE_SCIM_TOKEN=" + testSCIMToken + ",b", admin, key}, "SCIMBRIDGE_SCIM_TOKEN: token 2 of 2: a token is 1 characters long"},
		{[]string{scim, "SCIMBRIDGE_ADMIN_TOKEN=b", key}, "SCIMBRIDGE_ADMIN_TOKEN: a token is 1 characters long"},
		{[]string{scim, admin, "SCIMBRIDGE_SECRET_KEY=" + strings.Repeat("00", 32)}, "SCIMBRIDGE_SECRET_KEY has almost no entropy"},
		// The metrics token is held by scrapers: as strong as the others, and not the admin token.
		{[]string{scim, admin, key, "SCIMBRIDGE_METRICS_TOKEN=m"}, "SCIMBRIDGE_METRICS_TOKEN: a token is 1 characters long"},
		{[]string{scim, admin, key, "SCIMBRIDGE_METRICS_TOKEN=" + testAdminToken + " "}, "must differ from SCIMBRIDGE_METRICS_TOKEN"},
	}
	for _, tt := range tests {
		res := runCmd(t, tt.env, "serve", "--db", db, "--listen", "127.0.0.1:0")
		if res.code != 2 || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("env %v: exit %d, stderr %s; want a refusal naming %s", tt.env, res.code, res.stderr, tt.want)
		}
		for _, e := range tt.env {
			if _, v, _ := strings.Cut(e, "="); len(v) > 1 && strings.Contains(res.stderr, strings.TrimSpace(v)) {
				t.Errorf("env %v: stderr %s prints a secret", tt.env, res.stderr)
			}
		}
	}
}

// Secrets of the serve tests: long enough and random enough to be accepted.
const (
	testSCIMToken  = "scim-token-1-7c3e9a0f"
	testSCIMToken2 = "scim-token-2-b41d6e28"
	testAdminToken = "admin-token-5f2a8c91"
	testKey        = "3e7a1c9f0b5d2e8a4c6f1b3d5e7a9c0b2d4f6e8a1c3b5d7f9e0a2c4b6d8f1e3a"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeSyncsAndServesThenStopsGracefully runs the server as a process:
// settings from a file, a startup sync, SCIM and admin answers, SIGTERM.
func TestServeSyncsAndServesThenStopsGracefully(t *testing.T) {
	srv := slapdtest.Start(t)
	addr := freePort(t)
	cmd := exec.Command(binary, "serve", "--listen", addr, "--db", filepath.Join(t.TempDir(), "db"),
		"--settings", writeSettings(t, srv.Settings()))
	cmd.Env = append(os.Environ(), "SCIMBRIDGE_SCIM_TOKEN="+testSCIMToken+","+testSCIMToken2, "SCIMBRIDGE_ADMIN_TOKEN="+testAdminToken,
		"SCIMBRIDGE_SECRET_KEY="+testKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()

	base := "http://" + addr
	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &body)
		return resp.StatusCode, body
	}
	// The startup sync fills the store; wait for it through the admin API.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get("/api/v1/status", testAdminToken)
		if code == 200 {
			if users, _ := body["users"].(float64); users == 9 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no synced users after 20 s; last status %d %v", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := get(`/scim/v2/Users?filter=userName%20eq%20%22DAVE%22`, testSCIMToken2)
	if code != 200 || body["totalResults"] != 1.0 {
		t.Fatalf("SCIM lookup: %d %v", code, body)
	}
	if code, _ := get("/scim/v2/Users", testAdminToken); code != 401 {
		t.Errorf("admin token on SCIM: %d, want 401", code)
	}
	if code, _ := get("/api/v1/status", testSCIMToken); code != 401 {
		t.Errorf("SCIM token on admin API: %d, want 401", code)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	// The admin console is served at / with its headers.
	if resp, err := http.Get(base + "/"); err != nil {
		t.Error(err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != console.CSP ||
			!strings.Contains(string(page), "<title>scimbridge · LDAP settings</title>") {
			t.Errorf("console page: %d %v", resp.StatusCode, resp.Header)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15 s of SIGTERM")
	}
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	text := strings.Join(all, "\n")
	if !strings.Contains(text, "shutting down") || strings.Contains(text, srv.AdminPassword) {
		t.Errorf("logs: shutdown missing or credential present:\n%s", text)
	}
}

func TestVersion(t *testing.T) {
	res := runCmd(t, nil, "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "scimbridge ") {
		t.Fatalf("version: %d %q", res.code, res.stdout)
	}
	if res := runCmd(t, nil, "frobnicate"); res.code != 2 || !strings.Contains(res.stderr, "unknown command") {
		t.Fatalf("unknown command: %d %q", res.code, res.stderr)
	}
}

func TestSyncExitsFourWhenThePushDidNotFinish(t *testing.T) {
	srv := slapdtest.Start(t)
	s := srv.Settings()
	s.Push.Enabled = true
	s.Push.URL = "http://" + freePort(t) + "/scim/v2" // nothing listens there
	s.Push.Token = "push-token"
	res := runCmd(t, nil, "sync", "--settings", writeSettings(t, s), "--db", filepath.Join(t.TempDir(), "db"))
	if res.code != 4 || !strings.Contains(res.stdout, `"status":"succeeded"`) || !strings.Contains(res.stderr, "push did not finish") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "push-token") {
		t.Error("the push token was printed")
	}
}

func TestPushCommand(t *testing.T) {
	srv := slapdtest.Start(t)
	target := scimmytest.Start(t)
	db := filepath.Join(t.TempDir(), "db")
	s := srv.Settings()
	s.Push.Enabled, s.Push.URL, s.Push.Token = true, target.URL, target.Token
	withPush := writeSettings(t, s)

	res := runCmd(t, nil, "sync", "--settings", withPush, "--db", db)
	if res.code != 0 || !strings.Contains(res.stdout, `"push":{`) || !strings.Contains(res.stdout, `"created":17`) {
		t.Fatalf("sync with push: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	res = runCmd(t, nil, "push", "--status", "--db", db)
	if res.code != 0 || !strings.Contains(res.stdout, `"pendingChanges":0`) || !strings.Contains(res.stdout, `"items":[]`) {
		t.Fatalf("push --status: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	// A change the target refused is pending; --dry-run shows the one
	// request it needs and sends nothing.
	srv.Load(t, slapdtest.LDIF(t, "change-mail.ldif"))
	target.Fault(t, scimmytest.Fault{Method: "PATCH", Path: "/Users/*", Status: 400, Detail: "not now"})
	if res := runCmd(t, nil, "sync", "--settings", withPush, "--db", db); !strings.Contains(res.stdout, `"failed":1`) {
		t.Fatalf("sync with a refused push: %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	target.Reset(t)
	res = runCmd(t, nil, "push", "--dry-run", "--settings", withPush, "--db", db)
	if res.code != 0 || !strings.Contains(res.stdout, "PATCH /Users/") || !strings.Contains(res.stdout, "alice.anderson@example.com") {
		t.Fatalf("push --dry-run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, target.Token) {
		t.Error("the push token was printed")
	}
	if n := len(target.Requests(t)); n != 0 {
		t.Fatalf("--dry-run sent %d requests", n)
	}
	res = runCmd(t, nil, "push", "--settings", withPush, "--db", db)
	if res.code != 0 || !strings.Contains(res.stdout, `"updated":1`) {
		t.Fatalf("push: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}
