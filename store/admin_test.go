package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
)

func TestSettingsAndHistory(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if doc, _, found, err := db.GetSettings(ctx); err != nil || found || doc != nil {
		t.Fatalf("GetSettings on a new store = %q, %v, %v", doc, found, err)
	}
	start := now()
	if err := db.PutSettings(ctx, []byte(`{"vendor":"openldap"}`), []string{"vendor", "connection.url"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSettings(ctx, []byte(`{"vendor":"ad"}`), []string{"vendor"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSettings(ctx, []byte(`{"vendor":"ad"}`), nil); err != nil {
		t.Fatal(err)
	}
	doc, updated, found, err := db.GetSettings(ctx)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	equal(t, "document", string(doc), `{"vendor":"ad"}`)
	if updated.Before(start) || updated.After(now()) {
		t.Errorf("updated = %v, want between %v and now", updated, start)
	}

	hist, err := db.SettingsHistory(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	fields := [][]string{}
	for _, h := range hist {
		fields = append(fields, h.Fields)
		if h.At.Before(start) {
			t.Errorf("history entry at %v, before %v", h.At, start)
		}
	}
	equal(t, "history, newest first", fields, [][]string{{}, {"vendor"}, {"vendor", "connection.url"}})
	page, err := db.SettingsHistory(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "history page", len(page), 1)
	equal(t, "history page fields", page[0].Fields, []string{"vendor"})
}

func TestRuns(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if _, found, err := db.LastRun(ctx); found || err != nil {
		t.Fatalf("LastRun on a new store: %v, %v", found, err)
	}
	started := ts("2026-05-01T10:00:00.123Z")
	var runs []*bridge.Report
	for i, trigger := range []string{bridge.TriggerStartup, bridge.TriggerScheduled, bridge.TriggerManual} {
		r := &bridge.Report{Trigger: trigger, DryRun: i == 2, StartedAt: started.Add(time.Duration(i) * time.Hour)}
		if err := db.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		equal(t, "status after StartRun", r.Status, bridge.StatusRunning)
		equal(t, "id", r.ID, int64(i+1))
		runs = append(runs, r)
	}
	done := runs[0]
	done.Status, done.FinishedAt, done.DurationMs = bridge.StatusSucceeded, started.Add(2*time.Second), 2000
	done.Users, done.UsersCreated, done.Skipped = 10, 10, 1
	done.SkippedEntries = []bridge.SkippedEntry{{DN: "uid=x,dc=example,dc=com", Reason: "no uid"}}
	done.Push = json.RawMessage(`{"delivered":3}`)
	if err := db.FinishRun(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ctx, &bridge.Report{ID: 99, Status: bridge.StatusFailed}); err == nil {
		t.Error("FinishRun of an unknown run succeeded")
	}

	got, found, err := db.Run(ctx, 1)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	equal(t, "run 1", got, *done)
	if _, found, err := db.Run(ctx, 99); found || err != nil {
		t.Errorf("Run(99) = %v, %v", found, err)
	}

	list, total, err := db.Runs(ctx, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "total", total, 3)
	equal(t, "newest first", []int64{list[0].ID, list[1].ID}, []int64{3, 2})
	equal(t, "run 3", list[0], *runs[2])
	list, _, err = db.Runs(ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "second page", len(list), 1)
	equal(t, "second page run", list[0].ID, int64(1))

	last, found, err := db.LastRun(ctx)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	equal(t, "last run", last.ID, int64(3))

	before := now()
	n, err := db.MarkInterruptedRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "interrupted runs", n, 2)
	for _, id := range []int64{2, 3} {
		r, _, err := db.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "status", r.Status, bridge.StatusFailed)
		equal(t, "error", r.Error, InterruptedError)
		equal(t, "trigger kept", r.Trigger, runs[id-1].Trigger)
		if r.FinishedAt.Before(before) {
			t.Errorf("run %d finished at %v", id, r.FinishedAt)
		}
	}
	r1, _, err := db.Run(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "finished run untouched", r1, *done)
	if n, err := db.MarkInterruptedRuns(ctx); n != 0 || err != nil {
		t.Errorf("second MarkInterruptedRuns = %d, %v", n, err)
	}
}

func TestClearKeepsSettingsAndRuns(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, seedPlan())
	if err := db.PutSettings(ctx, []byte(`{}`), []string{"vendor"}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	if err := db.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	after := dump(t, db)
	for _, table := range []string{"users", "groups", "group_closure", "group_members"} {
		equal(t, table, after[table], []string(nil))
	}
	for _, table := range []string{"sync_runs", "changes", "settings", "settings_history"} {
		equal(t, table, after[table], before[table])
	}
	users, groups, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "counts", [2]int{users, groups}, [2]int{0, 0})
}

// TestClearResetsPushBookkeeping: the push client's record of what the target
// holds goes with the users and groups it was about, in the same transaction;
// the cursor and the target it names stay.
func TestClearResetsPushBookkeeping(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, seedPlan())
	for _, st := range []*PushState{
		{ResourceType: bridge.MemberUser, ResourceID: "u1", RemoteID: "r1", Name: "Alice", Status: PushDelivered},
		{ResourceType: bridge.MemberGroup, ResourceID: "g1", RemoteID: "rg1", Name: "Admins", Status: PushDelivered},
	} {
		if err := db.SavePushState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.UpdatePushMembers(ctx, "g1", true, []string{"r1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPushMeta(ctx, "target", "https://scim.example.com|rfc"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPushCursor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	states, err := db.ListPushStates(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "push states", len(states), 0)
	members, err := db.PushMembers(ctx, []string{"g1"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "pushed members", members, map[string][]string{})
	cursor, err := db.PushCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "push cursor", cursor, 1)
	target, err := db.PushMeta(ctx, "target")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "push target", target, "https://scim.example.com|rfc")
}
