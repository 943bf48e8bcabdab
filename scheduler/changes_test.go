package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// TestChangedJobAndLiveFollowTheSettings: sync.changedSyncIntervalSeconds
// schedules changed-entries passes beside the full sync (the first one takes
// the position with a full sync, trigger changed); sync.live starts the live
// stream instead, and turning it off stops it.
func TestChangedJobAndLiveFollowTheSettings(t *testing.T) {
	e := newEnv(t)
	box := &settingsBox{s: *e.set}
	sy := bridge.NewSyncer(e.db, ldapsource.Dial, quietLog())
	sy.SetChangeDialer(ldapsource.DialChanges)
	sched, err := newSchedulerWith(t, sy, box)
	if err != nil {
		t.Fatal(err)
	}
	runs := make(chan *bridge.Report, 10)
	sched.OnRunEnded(func(r *bridge.Report) { runs <- r })
	box.set(func(s *schema.Settings) { s.Sync.ChangedSyncIntervalSeconds = 1 })
	if err := sched.Reschedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-runs:
		if r.Trigger != bridge.TriggerChanged || r.FullSyncReason != "no saved change position: a full sync takes the first one" || r.Status != bridge.StatusSucceeded {
			t.Fatalf("first changed run %+v", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no changed-entries run within 15 s")
	}
	if st := sched.Live(); st.State != bridge.LiveOff {
		t.Fatalf("live %+v with sync.live off", st)
	}

	box.set(func(s *schema.Settings) { s.Sync.Live, s.Sync.LivePollSeconds = true, 1 })
	if err := sched.Reschedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for sched.Live().State != bridge.LivePolling {
		if time.Now().After(deadline) {
			t.Fatalf("live %+v, want polling (slapd without syncprov)", sched.Live())
		}
		time.Sleep(20 * time.Millisecond)
	}
	box.set(func(s *schema.Settings) { s.Sync.Live = false })
	if err := sched.Reschedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := sched.Live(); st.State != bridge.LiveOff {
		t.Fatalf("live %+v after sync.live was turned off", st)
	}
}
