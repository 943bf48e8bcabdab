package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/store"
)

// bulkUsers writes an LDIF file of n inetOrgPerson users uid=bulkNNNNNN
// under ou=people, for slapdtest.WithLDIFFile.
func bulkUsers(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bulk.ldif")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, "dn: uid=bulk%06d,%s\nobjectClass: inetOrgPerson\nobjectClass: organizationalPerson\n"+
			"uid: bulk%06d\ncn: Bulk User %d\nsn: User%d\ngivenName: Bulk\nmail: bulk%06d@example.com\n\n",
			i, slapdtest.PeopleDN, i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// gate is a TCP relay to a real server that stops relaying the server's
// answers once it has passed pauseAfter bytes: a directory read is then
// reliably in progress, wherever the machine's speed puts it.
type gate struct {
	ln         net.Listener
	target     string
	pauseAfter int64
	relayed    atomic.Int64
	paused     chan struct{}
	pauseOnce  sync.Once
	closing    chan struct{}
	mu         sync.Mutex
	conns      []net.Conn
}

func startGate(t *testing.T, target string, pauseAfter int64) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target, pauseAfter: pauseAfter, paused: make(chan struct{}), closing: make(chan struct{})}
	go g.accept()
	t.Cleanup(g.close)
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

func (g *gate) accept() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c, s)
		g.mu.Unlock()
		go func() { _, _ = io.Copy(s, c) }()
		go g.relay(c, s)
	}
}

func (g *gate) relay(c, s net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if g.relayed.Load() >= g.pauseAfter {
			g.pauseOnce.Do(func() { close(g.paused) })
			<-g.closing
			return
		}
		n, err := s.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			g.relayed.Add(int64(n))
		}
		if err != nil {
			c.Close()
			return
		}
	}
}

func (g *gate) close() {
	select {
	case <-g.closing:
		return
	default:
	}
	close(g.closing)
	g.ln.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
}

// serveProc is a running `scimbridge serve`.
type serveProc struct {
	cmd  *exec.Cmd
	addr string
	logs logFile
	done chan error
}

func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{addr: freePort(t), logs: newLogFile(t), done: make(chan error, 1)}
	p.cmd = exec.Command(binary, append([]string{"serve", "--listen", p.addr}, args...)...)
	p.cmd.Env = append(os.Environ(), append([]string{"SCIMBRIDGE_SCIM_TOKEN=scim-token", "SCIMBRIDGE_ADMIN_TOKEN=admin-token",
		"SCIMBRIDGE_SECRET_KEY=" + strings.Repeat("0f", 32)}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs.f, p.logs.f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	return p
}

// url is the server's base URL.
func (p *serveProc) url() string { return "http://" + p.addr }

// waitFor polls cond every 50 ms until it holds, failing after limit.
func (p *serveProc) waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		select {
		case err := <-p.done:
			t.Fatalf("serve ended (%v) while waiting for %s:\n%s", err, what, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s:\n%s", what, limit, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns how long the exit took and its error.
func (p *serveProc) stop(t *testing.T, limit time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return time.Since(start), err
	case <-time.After(limit):
		t.Fatalf("serve still running %s after SIGTERM:\n%s", limit, p.logs.String())
	}
	return 0, nil
}

// TestSIGTERMDuringALargeSyncAndABackupMeanwhile: serve's startup sync of
// 100,000 new users is reading (the relay to slapd holds the rest back) with
// the run's transaction open; a backup taken then holds the state before the
// sync and serves it; SIGTERM ends serve with exit 0 within
// SCIMBRIDGE_SHUTDOWN_TIMEOUT, the run rolled back and recorded interrupted.
func TestSIGTERMDuringALargeSyncAndABackupMeanwhile(t *testing.T) {
	const n = 100_000
	srv := slapdtest.Start(t, slapdtest.WithLDIFFile(bulkUsers(t, n)))
	db := filepath.Join(t.TempDir(), "state.db")

	// The state before: the base fixture's 9 users and 8 groups.
	before := srv.Settings()
	before.Users.Filter = "(!(uid=bulk*))"
	if res := runCmd(t, nil, "sync", "--settings", writeSettings(t, before), "--db", db); res.code != 0 {
		t.Fatalf("sync before: exit %d %s", res.code, res.stderr)
	}

	// About 8 MB of answers is a quarter of the users: well past the 10,000
	// new users from which a run writes while it reads.
	relay := startGate(t, strings.TrimPrefix(srv.URL, "ldap://"), 8<<20)
	s := srv.Settings()
	s.Connection.URL = "ldap://" + relay.addr()
	const timeout = 3 * time.Second
	p := startServe(t, []string{"SCIMBRIDGE_SHUTDOWN_TIMEOUT=3s"}, "--db", db, "--settings", writeSettings(t, s))
	select {
	case <-relay.paused:
	case err := <-p.done:
		t.Fatalf("serve ended (%v) before the sync read 8 MB:\n%s", err, p.logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the startup sync did not read 8 MB in 2 minutes:\n%s", p.logs.String())
	}
	var running float64
	p.waitFor(t, "running startup run", 10*time.Second, func() bool {
		code, body := getJSON(t, p.url()+"/api/v1/sync/runs", "admin-token")
		if code != 200 {
			return false
		}
		runs, _ := body["runs"].([]any)
		if len(runs) != 2 {
			return false
		}
		last, _ := runs[0].(map[string]any)
		running, _ = last["id"].(float64)
		return last["status"] == bridge.StatusRunning && last["trigger"] == bridge.TriggerStartup
	})
	// The run's transaction holds the store's writer: new users are being
	// written while the directory is read.
	p.waitFor(t, "write transaction of the run", 20*time.Second, func() bool { return writerBusy(t, db) })

	backup := filepath.Join(t.TempDir(), "backup.db")
	if res := runCmd(t, nil, "backup", "--db", db, "--out", backup); res.code != 0 || res.stdout != fmt.Sprintf("backed up %s to %s\n", db, backup) {
		t.Fatalf("backup during the sync: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	took, err := p.stop(t, timeout+10*time.Second)
	if err != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, p.logs.String())
	}
	t.Logf("serve stopped %s after SIGTERM (timeout %s)", took, timeout)
	// A bound, not a speed measurement: the shutdown promises the timeout;
	// a second of slack covers the process's own exit.
	if took > timeout+time.Second {
		t.Errorf("serve took %s to stop, SCIMBRIDGE_SHUTDOWN_TIMEOUT is %s", took, timeout)
	}

	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	users, groups, err := st.Counts(ctx)
	if err != nil || users != 9 || groups != 8 {
		t.Errorf("store after the interrupted run: %d users, %d groups (%v); want the 9 and 8 from before", users, groups, err)
	}
	var check string
	if err := st.SQL().QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q %v", check, err)
	}
	runs, total, err := st.Runs(ctx, 10, 0)
	if err != nil || total != 2 {
		t.Fatalf("runs: %d %v", total, err)
	}
	r := runs[0]
	if r.ID != int64(running) || r.Status != bridge.StatusInterrupted || !strings.Contains(r.Error, "context canceled") ||
		r.UsersCreated != 0 || runs[1].Status != bridge.StatusSucceeded {
		t.Errorf("the startup run: id %d status %q error %q created %d; want run %v interrupted by the stop",
			r.ID, r.Status, r.Error, r.UsersCreated, running)
	}

	// The backup holds the state before the sync, and serve serves it.
	b := startServe(t, nil, "--db", backup)
	var body map[string]any
	b.waitFor(t, "SCIM answer from the backup", 20*time.Second, func() bool {
		var code int
		code, body = getJSON(t, b.url()+"/scim/v2/Users?count=1", "scim-token")
		return code == 200
	})
	if body["totalResults"] != 9.0 {
		t.Errorf("the backup serves %v users, want the 9 from before the sync", body["totalResults"])
	}
	code, g := getJSON(t, b.url()+"/scim/v2/Groups?count=0", "scim-token")
	if code != 200 || g["totalResults"] != 8.0 {
		t.Errorf("the backup's groups: %d %v", code, g)
	}
	if _, err := b.stop(t, 20*time.Second); err != nil {
		t.Errorf("serve on the backup: %v", err)
	}
}

// writerBusy says whether another connection holds the store's writer.
func writerBusy(t *testing.T, path string) bool {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	if err == nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return false
	}
	if !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "busy") {
		t.Fatalf("BEGIN IMMEDIATE: %v", err)
	}
	return true
}

// TestSIGTERMDuringAPushStopsBetweenRequests: the target answers each
// request after 300 ms; SIGTERM while the startup sync's push runs lets the
// request in flight be answered, sends no other, keeps what is left in the
// outbox, and the next push delivers it without duplicates.
func TestSIGTERMDuringAPushStopsBetweenRequests(t *testing.T) {
	srv := slapdtest.Start(t)
	target := scimmytest.Start(t)
	target.Fault(t, scimmytest.Fault{DelayResponseMs: 300})
	s := srv.Settings()
	s.Push.Enabled, s.Push.URL, s.Push.Token = true, target.URL, target.Token
	s.Push.Concurrency = 1 // one request in flight at a time: the stop falls between two
	settings := writeSettings(t, s)
	db := filepath.Join(t.TempDir(), "state.db")
	p := startServe(t, []string{"SCIMBRIDGE_SHUTDOWN_TIMEOUT=2s"}, "--db", db, "--settings", settings)
	p.waitFor(t, "three push requests", 30*time.Second, func() bool { return len(target.Requests(t)) >= 3 })
	took, err := p.stop(t, 15*time.Second)
	if err != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, p.logs.String())
	}
	if took > 3*time.Second {
		t.Errorf("serve took %s to stop, SCIMBRIDGE_SHUTDOWN_TIMEOUT is 2s", took)
	}
	reqs := target.Requests(t)
	t.Logf("serve stopped %s after SIGTERM; the push had sent %d requests", took, len(reqs))
	for _, r := range reqs {
		if r.Status == 0 {
			t.Errorf("%s %s was cut off without an answer", r.Method, r.Path)
		}
	}
	// 9 users and 8 groups need 17 creations; the stop came well before.
	if len(reqs) >= 17 {
		t.Fatalf("%d requests: the push was not stopped", len(reqs))
	}
	res := runCmd(t, nil, "push", "--status", "--db", db)
	var st struct {
		PendingChanges int `json:"pendingChanges"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil || st.PendingChanges == 0 {
		t.Fatalf("push --status after the stop: %s %s; want the undelivered changes pending", res.stdout, res.stderr)
	}

	target.Reset(t) // no delay
	if res := runCmd(t, nil, "push", "--db", db, "--settings", settings); res.code != 0 {
		t.Fatalf("push after the restart: exit %d %s %s", res.code, res.stdout, res.stderr)
	}
	for path, want := range map[string]float64{"/scim/v2/Users?count=0": 9, "/scim/v2/Groups?count=0": 8} {
		code, body := getJSON(t, strings.TrimSuffix(target.URL, "/scim/v2")+path, target.Token)
		if code != 200 || body["totalResults"] != want {
			t.Errorf("target %s: %d %v, want %v resources, each once", path, code, body, want)
		}
	}
}
