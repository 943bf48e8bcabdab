package bridge_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// TestLiveStreamOnSlapd follows slapd with syncprov: the stream takes its
// first position with a full sync, applies each change as one run with
// trigger live, writes nothing while nothing changes, and resumes after
// slapd restarts without losing or repeating a change.
func TestLiveStreamOnSlapd(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.WithSyncprov())
	db, path, sy := bridgetest.ChangeSyncer(t)
	set := srv.Settings()
	set.Sync.Live = true
	live := bridge.NewLive(sy, func(context.Context) (*schema.Settings, error) { s := *set; return &s, nil })
	var runs []*bridge.Report
	runsCh := make(chan *bridge.Report, 100)
	live.OnRun = func(r *bridge.Report) { runsCh <- r }
	live.Start()
	t.Cleanup(live.Stop)

	next := func(what string) *bridge.Report {
		t.Helper()
		select {
		case r := <-runsCh:
			runs = append(runs, r)
			return r
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: no run within 15 s (live %+v)", what, live.Status())
		}
		return nil
	}
	if r := next("first position"); r.FullSyncReason != "no saved change position for syncrepl: a full sync takes the first one" || r.Status != bridge.StatusSucceeded {
		t.Fatalf("first run: %+v", r)
	}
	waitState(t, live, bridge.LiveConnected)

	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@live.example.com\n")
	r := next("modify")
	if r.Trigger != bridge.TriggerLive || r.Mechanism != "syncrepl" || r.UsersUpdated != 1 || r.Status != bridge.StatusSucceeded {
		t.Fatalf("modify: %+v", r)
	}
	if !strings.Contains(strings.Join(bridgetest.Served(t, db, nil), "\n"), "user alice id=") || mailOf(t, db, "alice") != "alice@live.example.com" {
		t.Fatalf("alice's mail not served")
	}
	st := live.Status()
	if st.State != bridge.LiveConnected || st.Mechanism != "syncrepl" || st.LastChangeAt == nil || st.LastError != "" {
		t.Fatalf("status %+v", st)
	}

	// A quiet period writes nothing: no run, no change, no position.
	before := storeMarks(t, path)
	time.Sleep(1500 * time.Millisecond)
	if got := storeMarks(t, path); got != before {
		t.Fatalf("a quiet live period wrote to the store: %v -> %v", before, got)
	}
	select {
	case r := <-runsCh:
		t.Fatalf("a quiet period recorded run %+v", r)
	default:
	}

	// slapd restarts: the stream reconnects. slapd keeps its session log in
	// memory, so it answers the stored cookie with a present phase, which
	// the source reports as an expired position: a full sync, then live again.
	// Bob's modify is applied once, by that full sync or by a live run after
	// it (the stream may reconnect before the modify): nothing else changes.
	srv.Restart(t)
	srv.Load(t, "dn: uid=bob"+people+"\nchangetype: modify\nreplace: mail\nmail: bob@live.example.com\n")
	var fulls, updated, other int
	for fulls == 0 || mailOf(t, db, "bob") != "bob@live.example.com" {
		r := next("bob's modify after a restart")
		if r.Status != bridge.StatusSucceeded || r.FullSyncReason != "" && !strings.HasPrefix(r.FullSyncReason, "the directory no longer accepts the saved change position") {
			t.Fatalf("after the restart: %+v", r)
		}
		if r.FullSyncReason != "" {
			fulls++
		}
		updated += r.UsersUpdated
		other += r.UsersCreated + r.UsersDeleted + r.GroupsCreated + r.GroupsUpdated + r.GroupsDeleted + r.MembershipsChanged
	}
	if fulls != 1 || updated != 1 || other != 0 {
		t.Fatalf("after the restart: %d full syncs, %d users updated, %d other changes; want 1, 1 (bob), 0", fulls, updated, other)
	}
	waitState(t, live, bridge.LiveConnected)
	srv.Load(t, "dn: uid=carol"+people+"\nchangetype: modify\nreplace: mail\nmail: carol@live.example.com\n")
	if r := next("a modify once connected again"); r.Trigger != bridge.TriggerLive || r.FullSyncReason != "" || r.UsersUpdated != 1 {
		t.Fatalf("after the reconnection: %+v", r)
	}
	if got, want := bridgetest.Served(t, db, nil), bridgetest.FullSync(t, ldapsource.Dial, set, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("the store serves\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	live.Stop()
	if st := live.Status(); st.State != bridge.LiveOff {
		t.Fatalf("stopped: %+v", st)
	}
}

func waitState(t *testing.T, l *bridge.Live, state string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for l.Status().State != state {
		if time.Now().After(deadline) {
			t.Fatalf("live state %+v, want %s", l.Status(), state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mailOf(t *testing.T, db *store.DB, userName string) string {
	t.Helper()
	_, users, err := db.ListUsers(context.Background(), store.Query{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.UserName == userName {
			return u.Email
		}
	}
	return ""
}

// storeMarks is what any write would move: runs, the change log, the position.
func storeMarks(t *testing.T, path string) [3]string {
	t.Helper()
	var m [3]string
	err := openRaw(t, path).QueryRow(`SELECT (SELECT count(*) FROM sync_runs), (SELECT coalesce(max(seq), 0) FROM changes),
		(SELECT coalesce(max(updated), '') FROM change_position)`).Scan(&m[0], &m[1], &m[2])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLiveWithoutAStreamPolls: live on a slapd without syncprov falls back to
// polling modifyTimestamp, says so in its status, and still applies changes.
func TestLiveWithoutAStreamPolls(t *testing.T) {
	srv := slapdtest.Start(t)
	db, _, sy := bridgetest.ChangeSyncer(t)
	set := srv.Settings()
	set.Sync.Live, set.Sync.LivePollSeconds = true, 1
	live := bridge.NewLive(sy, func(context.Context) (*schema.Settings, error) { s := *set; return &s, nil })
	runs := make(chan *bridge.Report, 10)
	live.OnRun = func(r *bridge.Report) { runs <- r }
	live.Start()
	t.Cleanup(live.Stop)
	waitState(t, live, bridge.LivePolling)
	st := live.Status()
	if st.Mechanism != "timestamps" || st.Note != "the directory offers no change stream (OpenLDAP needs the syncprov overlay; Active Directory DirSync): modifyTimestamp is polled every 1 s, deletions are found by full syncs" {
		t.Fatalf("status %+v", st)
	}
	if r := <-runs; r.FullSyncReason == "" {
		t.Fatalf("first run %+v, want the full sync taking the position", r)
	}
	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@polled.example.com\n")
	deadline := time.Now().Add(15 * time.Second)
	for mailOf(t, db, "alice") != "alice@polled.example.com" {
		if time.Now().After(deadline) {
			t.Fatalf("the polled change was not applied (live %+v)", live.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
