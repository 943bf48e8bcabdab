// Package childtest runs a test binary again as a child process that works
// on a state store with a settings document, so that a test can kill it
// (SIGKILL) mid-work, as an operator or the OOM killer would kill
// scimbridge, and check what the store kept.
//
// A test package names its child with Main in its TestMain, and starts
// children with Start:
//
//	func TestMain(m *testing.M) { childtest.Main(m, "push", pushChild) }
//	...
//	c := childtest.Start(t, "push", dbPath, settings)
//	...
//	c.Kill()
package childtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// The environment of a child: which work (its name), on which store, with
// which settings.
const (
	nameEnv     = "SCIMBRIDGE_CHILD"
	dbEnv       = "SCIMBRIDGE_CHILD_DB"
	settingsEnv = "SCIMBRIDGE_CHILD_SETTINGS"
)

// Work is what a child does on the opened store; its result is the
// process's exit code.
type Work func(ctx context.Context, db *store.DB, s *schema.Settings) int

// Main runs work when this process is a child named name, else the tests.
func Main(m *testing.M, name string, work Work) {
	if os.Getenv(nameEnv) == name {
		os.Exit(run(work))
	}
	os.Exit(m.Run())
}

func run(work Work) int {
	ctx := context.Background()
	var s schema.Settings
	if err := json.Unmarshal([]byte(os.Getenv(settingsEnv)), &s); err != nil {
		fmt.Fprintln(os.Stderr, "child settings:", err)
		return 2
	}
	db, err := store.Open(ctx, os.Getenv(dbEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	return work(ctx, db, &s)
}

// Child is a running child process.
type Child struct {
	cmd    *exec.Cmd
	killed bool
}

// Start starts the child named name on the store at dbPath with settings s.
// It is killed when the test ends, if it was not before.
func Start(t testing.TB, name, dbPath string, s *schema.Settings) *Child {
	t.Helper()
	doc, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nameEnv+"="+name, dbEnv+"="+dbPath, settingsEnv+"="+string(doc))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the %s child: %v", name, err)
	}
	c := &Child{cmd: cmd}
	t.Cleanup(c.Kill)
	return c
}

// Kill kills the child (SIGKILL) and waits for it; once killed, it does nothing.
func (c *Child) Kill() {
	if c.killed {
		return
	}
	c.killed = true
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}
