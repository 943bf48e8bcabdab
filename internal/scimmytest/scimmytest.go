// Package scimmytest runs SCIMMY, a third-party SCIM 2.0 service provider
// (testdata/scimmy/server.js on Node), as a real push target for tests. The
// server keeps an in-memory store, logs every request under /scim/v2 and
// accepts injected faults.
//
//	srv := scimmytest.Start(t)
//	settings.Push.URL, settings.Push.Token = srv.URL, srv.Token
//	... push ...
//	reqs := srv.Requests(t)
package scimmytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running SCIMMY target.
type Server struct {
	// URL is the SCIM base URL, e.g. "http://127.0.0.1:40123/scim/v2".
	URL string
	// Token is the bearer token the server accepts.
	Token string
	// Root is the server's root URL, where the test-only endpoints live.
	Root string
	cmd  *exec.Cmd
}

// Request is one request the server received, as its log records it.
type Request struct {
	Method string         `json:"method"`
	Path   string         `json:"path"` // relative to /scim/v2, e.g. "/Users/<id>"
	Query  map[string]any `json:"query"`
	Body   map[string]any `json:"body"`
	Status int            `json:"status"` // 0 while the answer is pending or the connection was dropped
}

// Fault is one fault rule; the first matching rule with hits left applies.
type Fault struct {
	Method string `json:"method,omitempty"`
	// Path matches exactly, or as a prefix when it ends in "*" ("/Users/*").
	Path        string `json:"path,omitempty"`
	UserName    string `json:"userName,omitempty"`    // match POST/PUT bodies with this userName
	DisplayName string `json:"displayName,omitempty"` // match bodies with this displayName
	Skip        int    `json:"skip,omitempty"`        // let this many matching requests through first
	Times       int    `json:"times,omitempty"`       // apply this many times; 0 = forever
	Status      int    `json:"status,omitempty"`
	Detail      string `json:"detail,omitempty"`
	ScimType    string `json:"scimType,omitempty"`
	// RetryAfter sets the Retry-After header (seconds) when >= 0 and Status is set.
	RetryAfter *int `json:"retryAfter,omitempty"`
	// Reset drops the connection without an answer.
	Reset bool `json:"reset,omitempty"`
	// DelayResponseMs processes the request, then holds the answer back this long.
	DelayResponseMs int `json:"delayResponseMs,omitempty"`
}

var installOnce sync.Once
var installErr error

// Dir returns the absolute path of testdata/scimmy.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "scimmy")
}

// Install runs `npm ci` in testdata/scimmy when node_modules is missing.
func Install() error {
	installOnce.Do(func() {
		dir := Dir()
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "scimmy-routers")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			installErr = fmt.Errorf("npm ci in %s (node and npm are needed for the SCIMMY test target): %w\n%s", dir, err, out)
		}
	})
	return installErr
}

// Start runs a fresh SCIMMY server on a free loopback port and stops it when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch("scimmy-test-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Launch runs a fresh SCIMMY server that accepts token on a free loopback
// port, outside a test (benchmarks); Close stops it. It installs the npm
// packages first when they are missing.
func Launch(token string) (*Server, error) {
	if err := Install(); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "server.js", "0")
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), "SCIM_TOKEN="+token)
	cmd.SysProcAttr = procAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start SCIMMY (node server.js): %w", err)
	}
	s := &Server{Token: token, cmd: cmd}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				ready <- p
			}
		}
		close(ready)
	}()
	select {
	case port, ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			return nil, fmt.Errorf("SCIMMY exited before listening: %s", stderr.String())
		}
		s.Root = "http://127.0.0.1:" + port
		s.URL = s.Root + "/scim/v2"
		return s, nil
	case <-time.After(20 * time.Second):
		s.Close()
		return nil, fmt.Errorf("SCIMMY not ready after 20s: %s", stderr.String())
	}
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Control posts body to one of the server's test-only endpoints
// ("/_reset", "/_faults", "/_load", "/_config").
func (s *Server) Control(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(s.Root+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("SCIMMY %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("SCIMMY %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

// Log returns the requests received since the start or the last reset.
func (s *Server) Log() ([]Request, error) {
	resp, err := http.Get(s.Root + "/_log")
	if err != nil {
		return nil, fmt.Errorf("SCIMMY /_log: %w", err)
	}
	defer resp.Body.Close()
	var reqs []Request
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		return nil, fmt.Errorf("SCIMMY /_log: %w", err)
	}
	return reqs, nil
}

func (s *Server) post(t testing.TB, path string, body any) {
	t.Helper()
	if err := s.Control(path, body); err != nil {
		t.Fatal(err)
	}
}

// Requests returns the requests received since the start or the last Reset.
func (s *Server) Requests(t testing.TB) []Request {
	t.Helper()
	reqs, err := s.Log()
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// Reset clears the request log and the faults; the data stays.
func (s *Server) Reset(t testing.TB) { s.post(t, "/_reset", map[string]any{}) }

// Clear empties the server's users and groups too.
func (s *Server) Clear(t testing.TB) { s.post(t, "/_reset", map[string]any{"data": true}) }

// Fault adds a fault rule.
func (s *Server) Fault(t testing.TB, f Fault) { s.post(t, "/_faults", f) }

// Load stores resources as given (ids included), bypassing SCIM: for
// benchmarks that need a large target quickly.
func (s *Server) Load(t testing.TB, users, groups []map[string]any) {
	s.post(t, "/_load", map[string]any{"Users": users, "Groups": groups})
}

// Config merges cfg into the ServiceProviderConfig, e.g. {"patch":{"supported":false}}.
func (s *Server) Config(t testing.TB, cfg map[string]any) { s.post(t, "/_config", cfg) }

// Counts groups requests by "METHOD /Kind" ("POST /Users", "PATCH /Groups"),
// dropping resource ids, and leaves out the test harness's own requests.
func Counts(reqs []Request) map[string]int {
	m := map[string]int{}
	for _, r := range reqs {
		p := r.Path
		if i := strings.Index(strings.TrimPrefix(p, "/"), "/"); i >= 0 {
			p = p[:i+1]
		}
		m[r.Method+" "+p]++
	}
	return m
}
