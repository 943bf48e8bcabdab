package bridge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/ldapsource"
)

// An admin action (Exclusive) holds the run lock while it runs: a run asked
// for meanwhile waits for it a while, then gives up with a BusyError that
// names no run; once the action is over, runs run.
func TestRunWaitsForAnExclusiveActionThenGivesUp(t *testing.T) {
	e := newEnv(t)
	var during error
	err := e.syncer.Exclusive(context.Background(), func(ctx context.Context) error {
		_, during = e.syncer.Run(ctx, e.set, bridge.Options{})
		return nil
	})
	var busy *bridge.BusyError
	if err != nil || !errors.As(during, &busy) || busy.RunID != 0 || busy.OtherProcess {
		t.Fatalf("Exclusive: %v; run during it: %v, want a BusyError naming no run", err, during)
	}
	e.mustSucceed(t)
}

// A run in progress refuses an admin action at once, naming the run.
func TestExclusiveIsRefusedWhileARunRuns(t *testing.T) {
	e := newEnv(t)
	b := bridgetest.NewGate()
	sy := bridge.NewSyncer(e.db, b.Dialer(ldapsource.Dial), quietLog())
	done := make(chan *bridge.Report)
	go func() {
		r, _ := sy.Run(context.Background(), e.set, bridge.Options{})
		done <- r
	}()
	<-b.Started
	running, _ := sy.Running()
	called := false
	err := sy.Exclusive(context.Background(), func(context.Context) error { called = true; return nil })
	var busy *bridge.BusyError
	if !errors.As(err, &busy) || busy.RunID != running || running == 0 || called {
		t.Fatalf("Exclusive during run %d: %v (fn called: %v), want a BusyError naming the run", running, err, called)
	}
	b.Release()
	if r := <-done; r.Status != bridge.StatusSucceeded {
		t.Fatalf("run: %s %s", r.Status, r.Error)
	}
	if err := sy.Exclusive(context.Background(), func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("Exclusive after the run: %v (fn called: %v)", err, called)
	}
}
