package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// scimmy is a running SCIMMY target (testdata/scimmy/server.js on Node).
type scimmy struct {
	url, root, token string
	cmd              *exec.Cmd
	stderr           bytes.Buffer
}

// startSCIMMY starts the SCIMMY target on a free loopback port.
func startSCIMMY() (*scimmy, error) {
	if err := scimmytest.Install(); err != nil {
		return nil, err
	}
	s := &scimmy{token: "bench-push-token"}
	s.cmd = exec.Command("node", "server.js", "0")
	s.cmd.Dir = scimmytest.Dir()
	s.cmd.Env = append(os.Environ(), "SCIM_TOKEN="+s.token)
	s.cmd.Stderr = &s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start SCIMMY (node server.js): %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
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
			_ = s.cmd.Wait()
			return nil, fmt.Errorf("SCIMMY exited before listening: %s", s.stderr.String())
		}
		s.root = "http://127.0.0.1:" + port
		s.url = s.root + "/scim/v2"
		return s, nil
	case <-time.After(30 * time.Second):
		s.close()
		return nil, fmt.Errorf("SCIMMY not ready after 30s: %s", s.stderr.String())
	}
}

func (s *scimmy) close() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func (s *scimmy) post(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(s.root+path, "application/json", bytes.NewReader(b))
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

// clear empties the target and its request log.
func (s *scimmy) clear() error { return s.post("/_reset", map[string]any{"data": true}) }

// resetLog empties the request log only.
func (s *scimmy) resetLog() error { return s.post("/_reset", map[string]any{}) }

// requestCounts returns the logged requests grouped as "METHOD /Kind".
func (s *scimmy) requestCounts() (map[string]int, error) {
	resp, err := http.Get(s.root + "/_log")
	if err != nil {
		return nil, fmt.Errorf("SCIMMY /_log: %w", err)
	}
	defer resp.Body.Close()
	var reqs []scimmytest.Request
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		return nil, fmt.Errorf("SCIMMY /_log: %w", err)
	}
	return scimmytest.Counts(reqs), nil
}

// pushRun is one measured push.
type pushRun struct {
	concurrency int
	rep         *push.Report
}

func (p pushRun) perSec() float64 {
	if p.rep.DurationMs == 0 {
		return 0
	}
	return float64(p.rep.Sent) / (float64(p.rep.DurationMs) / 1000)
}

// pushResult holds the push measurements.
type pushResult struct {
	err     string // why push was not measured, if it was not
	sample  int    // users in the push store
	initial []pushRun
	// The one-change run in the N-user store.
	scopeGroup    string
	scopeInitial  *push.Report
	oneChangeSync syncResult
	oneChange     *push.Report
	oneChangeReqs map[string]int
}

func pushSettings(base *schema.Settings, t *scimmy, concurrency int) *schema.Settings {
	s := *base
	s.Push = schema.Push{Enabled: true, URL: t.url, Token: t.token, AuthHeader: "Authorization", Profile: schema.ProfileRFC,
		Deprovision: schema.DeprovisionDelete, GroupMembers: schema.MembersFlatten, Concurrency: concurrency,
		TimeoutSeconds: 60, ScopeGroups: []string{}}
	return &s
}

// benchInitialPush pushes the push store (users only) to an empty target at
// each concurrency, starting over each time.
func benchInitialPush(ctx context.Context, db *store.DB, settings *schema.Settings, t *scimmy, want int) ([]pushRun, error) {
	var runs []pushRun
	for _, conc := range []int{1, 4} {
		if err := t.clear(); err != nil {
			return nil, err
		}
		if err := db.ResetPush(ctx); err != nil {
			return nil, err
		}
		// A target never pushed to: the next run is a full one.
		if err := db.SetPushMeta(ctx, "target", ""); err != nil {
			return nil, err
		}
		rep, err := push.New(db, nil).Run(ctx, pushSettings(settings, t, conc))
		if err != nil {
			return nil, fmt.Errorf("initial push at concurrency %d: %w", conc, err)
		}
		if rep.Created != want || rep.Failed != 0 {
			return nil, fmt.Errorf("initial push at concurrency %d: created %d, failed %d, want %d created", conc, rep.Created, rep.Failed, want)
		}
		runs = append(runs, pushRun{concurrency: conc, rep: rep})
	}
	return runs, nil
}
