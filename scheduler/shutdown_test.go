package scheduler_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/scheduler"
)

// ended collects the reports OnRunEnded hands over.
type ended struct {
	mu   sync.Mutex
	runs []bridge.Report
}

func (e *ended) add(r *bridge.Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runs = append(e.runs, *r)
}

func (e *ended) statuses() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []string
	for _, r := range e.runs {
		s = append(s, r.Status)
	}
	return s
}

// heldRun starts a run that waits at g in the middle of its read.
func heldRun(t *testing.T) (*env, *scheduler.Scheduler, *bridgetest.Gate, *ended, int64) {
	t.Helper()
	e := newEnv(t)
	g := bridgetest.NewGate()
	sched, _ := newScheduler(t, e, g.Dialer(ldapsource.Dial))
	got := &ended{}
	sched.OnRunEnded(got.add)
	id, err := sched.Trigger(context.Background(), bridge.Options{Trigger: bridge.TriggerScheduled})
	if err != nil {
		t.Fatal(err)
	}
	<-g.Started
	return e, sched, g, got, id
}

func TestShutdownInterruptsARunPastTheGrace(t *testing.T) {
	e, sched, _, got, id := heldRun(t) // never released
	ctx := context.Background()
	if err := sched.Shutdown(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r, _, err := e.db.Run(ctx, id)
	if err != nil || r.Status != bridge.StatusInterrupted || r.UsersCreated != 0 {
		t.Fatalf("run %d after the shutdown: %q created %d %v; want interrupted, nothing applied", id, r.Status, r.UsersCreated, err)
	}
	if s := got.statuses(); len(s) != 1 || s[0] != bridge.StatusInterrupted {
		t.Errorf("OnRunEnded saw %v", s)
	}
	users, _, err := e.db.Counts(ctx)
	if err != nil || users != 0 {
		t.Errorf("store after the interrupted run: %d users %v", users, err)
	}
	if _, err := sched.Trigger(ctx, bridge.Options{}); !errors.Is(err, scheduler.ErrClosing) {
		t.Errorf("Trigger after Shutdown: %v, want ErrClosing", err)
	}
}

func TestShutdownLetsARunFinishWithinTheGrace(t *testing.T) {
	e, sched, g, got, id := heldRun(t)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- sched.Shutdown(time.Minute) }()
	g.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r, _, err := e.db.Run(ctx, id)
	if err != nil || r.Status != bridge.StatusSucceeded || r.UsersCreated != 9 {
		t.Fatalf("run %d: %q created %d %v; want it finished", id, r.Status, r.UsersCreated, err)
	}
	if s := got.statuses(); len(s) != 1 || s[0] != bridge.StatusSucceeded {
		t.Errorf("OnRunEnded saw %v", s)
	}
}
