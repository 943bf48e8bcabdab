package scheduler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// env is a real slapd with the base fixture and a real SQLite store.
type env struct {
	db  *store.DB
	set *schema.Settings
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := slapdtest.Start(t)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{db: db, set: srv.Settings()}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// settingsBox is a settings source the test can change between Reschedules.
type settingsBox struct {
	mu sync.Mutex
	s  schema.Settings
}

func (b *settingsBox) load(context.Context) (*schema.Settings, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.s
	return &c, nil
}

func (b *settingsBox) set(f func(*schema.Settings)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.s)
}

func newScheduler(t *testing.T, e *env, dial bridge.Dialer) (*scheduler.Scheduler, *settingsBox) {
	t.Helper()
	box := &settingsBox{s: *e.set}
	sched, err := newSchedulerWith(t, bridge.NewSyncer(e.db, dial, quietLog()), box)
	if err != nil {
		t.Fatal(err)
	}
	return sched, box
}

// newSchedulerWith starts a scheduler of sy reading box, stopped when the test ends.
func newSchedulerWith(t *testing.T, sy *bridge.Syncer, box *settingsBox) (*scheduler.Scheduler, error) {
	t.Helper()
	sched, err := scheduler.New(sy, box.load, quietLog())
	if err != nil {
		return nil, err
	}
	sched.Start()
	t.Cleanup(func() { sched.Stop() })
	return sched, nil
}

func TestRescheduleTakesEffectAtOnce(t *testing.T) {
	e := newEnv(t)
	sched, box := newScheduler(t, e, ldapsource.Dial)
	ctx := context.Background()
	check := func(want time.Duration) {
		t.Helper()
		if err := sched.Reschedule(ctx); err != nil {
			t.Fatal(err)
		}
		next, ok := sched.NextRun()
		if want == 0 {
			if ok {
				t.Fatalf("next run %v, want none", next)
			}
			return
		}
		if d := time.Until(next); !ok || d < want-5*time.Second || d > want {
			t.Fatalf("next run in %v (%v), want about %v", d, ok, want)
		}
	}
	check(24 * time.Hour)
	box.set(func(s *schema.Settings) { s.Sync.FullSyncIntervalSeconds = 600 })
	check(10 * time.Minute)
	box.set(func(s *schema.Settings) { s.Sync.PeriodicFullSync = false })
	check(0)
	box.set(func(s *schema.Settings) { s.Sync.PeriodicFullSync, s.Enabled = true, false })
	check(0)
	box.set(func(s *schema.Settings) { s.Enabled = true })
	check(10 * time.Minute)
}

func TestScheduledRunHappens(t *testing.T) {
	e := newEnv(t)
	sched, box := newScheduler(t, e, ldapsource.Dial)
	box.set(func(s *schema.Settings) { s.Sync.FullSyncIntervalSeconds = 1 })
	if err := sched.Reschedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, found, err := e.db.LastRun(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if found && r.Status == bridge.StatusSucceeded {
			if r.Trigger != bridge.TriggerScheduled || r.UsersCreated != 9 {
				t.Fatalf("last run: trigger %s, usersCreated %d", r.Trigger, r.UsersCreated)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no scheduled run within 10 s of a 1 s interval")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTriggerWhileRunningReportsTheRunningRun(t *testing.T) {
	e := newEnv(t)
	b := bridgetest.NewGate()
	sched, _ := newScheduler(t, e, b.Dialer(ldapsource.Dial))
	ctx := context.Background()
	id, err := sched.Trigger(ctx, bridge.Options{Trigger: bridge.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	<-b.Started
	_, err = sched.Trigger(ctx, bridge.Options{Trigger: bridge.TriggerManual})
	var busy *bridge.BusyError
	if !errors.As(err, &busy) || busy.RunID != id {
		t.Fatalf("second trigger: %v, want BusyError naming run %d", err, id)
	}
	running, _, err := e.db.Run(ctx, id)
	if err != nil || running.Status != bridge.StatusRunning {
		t.Fatalf("run %d while held: %+v %v", id, running.Status, err)
	}
	b.Release()
	sched.Wait()
	done, _, err := e.db.Run(ctx, id)
	if err != nil || done.Status != bridge.StatusSucceeded || done.UsersCreated != 9 {
		t.Fatalf("run %d: %s %d %v", id, done.Status, done.UsersCreated, err)
	}
}
