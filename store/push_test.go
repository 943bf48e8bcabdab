package store

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

// pushFixture: groups top > mid > leaf (nested), users u1 in leaf, u2 in mid,
// u3 in nothing; one change per resource.
func pushFixture(t *testing.T) *DB {
	t.Helper()
	db := openTest(t)
	p := &bridge.Plan{
		CreateUsers:  []bridge.UserRow{mkUser("u1", "Ann"), mkUser("u2", "ben"), mkUser("u3", "cid")},
		CreateGroups: []bridge.GroupRow{mkGroup("g1", "Top"), mkGroup("g2", "mid"), mkGroup("g3", "leaf")},
		GroupMembers: map[string][]bridge.Member{
			"g1": {{ID: "g2", Type: bridge.MemberGroup}},
			"g2": {{ID: "g3", Type: bridge.MemberGroup}, {ID: "u2", Type: bridge.MemberUser}},
			"g3": {{ID: "u1", Type: bridge.MemberUser}},
		},
		Ancestors: map[string][]string{"g2": {"g1"}, "g3": {"g1", "g2"}},
		Changes: []bridge.Change{
			{ResourceType: bridge.MemberUser, ResourceID: "u1", Op: bridge.OpCreate, Name: "Ann"},
			{ResourceType: bridge.MemberGroup, ResourceID: "g3", Op: bridge.OpMembers, Name: "leaf"},
		},
	}
	if err := db.Apply(context.Background(), p, nil); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPushChangesAndCursor(t *testing.T) {
	ctx := context.Background()
	db := pushFixture(t)
	if c, err := db.PushCursor(ctx); err != nil || c != 0 {
		t.Fatalf("cursor %d %v, want 0", c, err)
	}
	ch, err := db.PushChanges(ctx, 0)
	if err != nil || len(ch) != 2 || ch[0].ResourceID != "u1" || ch[1].Op != bridge.OpMembers || ch[0].Seq >= ch[1].Seq {
		t.Fatalf("changes %+v %v", ch, err)
	}
	if err := db.SetPushCursor(ctx, ch[0].Seq); err != nil {
		t.Fatal(err)
	}
	rest, err := db.PushChanges(ctx, ch[0].Seq)
	if err != nil || len(rest) != 1 || rest[0].ResourceID != "g3" {
		t.Fatalf("changes after the cursor %+v %v", rest, err)
	}
	if c, _ := db.PushCursor(ctx); c != ch[0].Seq {
		t.Fatalf("cursor %d, want %d", c, ch[0].Seq)
	}
}

func TestPushReadsUsersGroupsAndNesting(t *testing.T) {
	ctx := context.Background()
	db := pushFixture(t)
	us, err := db.PushUsers(ctx, []string{"u1", "u3", "gone"})
	if err != nil || len(us) != 2 || us["u1"].UserName != "Ann" || len(us["u1"].Groups) != 3 || len(us["u3"].Groups) != 0 {
		t.Fatalf("users %+v %v", us, err)
	}
	gs, err := db.PushGroups(ctx, []string{"g1", "g2"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gs["g1"].Users, []string{"u1", "u2"}) || !reflect.DeepEqual(gs["g2"].Members,
		[]bridge.Member{{ID: "g3", Type: bridge.MemberGroup}, {ID: "u2", Type: bridge.MemberUser}}) {
		t.Fatalf("groups %+v %+v", gs["g1"], gs["g2"])
	}
	for _, c := range []struct {
		name string
		fn   func(context.Context, []string) ([]string, error)
		in   []string
		want []string
	}{
		{"ancestors of leaf", db.GroupAncestors, []string{"g3"}, []string{"g1", "g2"}},
		{"ancestors of top", db.GroupAncestors, []string{"g1"}, nil},
		{"descendants of top", db.GroupDescendants, []string{"g1"}, []string{"g1", "g2", "g3"}},
		{"users in mid", db.UsersInGroups, []string{"g2"}, []string{"u1", "u2"}},
	} {
		got, err := c.fn(ctx, c.in)
		slices.Sort(got)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}

func TestGroupIDsByName(t *testing.T) {
	db := pushFixture(t)
	got, err := db.GroupIDsByName(context.Background(), []string{"top", "leaf", "nope", "Mid"})
	if want := map[string][]string{"top": {"g1"}, "leaf": {"g3"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("by folded name: %v %v, want %v", got, err, want)
	}
}

func TestPushStateAndMembers(t *testing.T) {
	ctx := context.Background()
	db := pushFixture(t)
	st := &PushState{ResourceType: bridge.MemberUser, ResourceID: "u1", RemoteID: "r1", Name: "Ann",
		PushedHash: "h", PushedBody: `{"userName":"Ann"}`, Status: PushFailed, Attempts: 2, LastError: "HTTP 400"}
	if err := db.SavePushState(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := db.PushStates(ctx, bridge.MemberUser, []string{"u1", "u2"})
	if err != nil || len(got) != 1 || got["u1"].RemoteID != "r1" || got["u1"].Attempts != 2 || got["u1"].Updated.IsZero() {
		t.Fatalf("states %+v %v", got, err)
	}
	failed, err := db.ListPushStates(ctx, "", PushFailed)
	if err != nil || len(failed) != 1 {
		t.Fatalf("failed %+v %v", failed, err)
	}
	if all, _ := db.ListPushStates(ctx, bridge.MemberGroup); len(all) != 0 {
		t.Fatalf("group states %+v", all)
	}
	if err := db.SavePushState(ctx, &PushState{ResourceType: bridge.MemberGroup, ResourceID: "g3", RemoteID: "rg3", Status: PushDelivered}); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdatePushMembers(ctx, "g3", true, []string{"r1", "r2"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdatePushMembers(ctx, "g3", false, []string{"r3"}, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	pm, err := db.PushMembers(ctx, []string{"g3"})
	if err != nil || !reflect.DeepEqual(pm["g3"], []string{"r2", "r3"}) {
		t.Fatalf("members %v %v", pm, err)
	}
	if gs, err := db.GroupsWithPushedMember(ctx, []string{"r3", "nope"}); err != nil || !reflect.DeepEqual(gs, []string{"g3"}) {
		t.Fatalf("groups with member r3: %v %v", gs, err)
	}
	if err := db.DeletePushState(ctx, bridge.MemberGroup, "g3"); err != nil {
		t.Fatal(err)
	}
	if pm, _ := db.PushMembers(ctx, []string{"g3"}); len(pm["g3"]) != 0 {
		t.Fatalf("members after forgetting the group: %v", pm)
	}
	if err := db.SetPushMeta(ctx, "target", "a"); err != nil {
		t.Fatal(err)
	}
	if v, err := db.PushMeta(ctx, "target"); err != nil || v != "a" {
		t.Fatalf("meta %q %v", v, err)
	}
	if err := db.ResetPush(ctx); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.ListPushStates(ctx, ""); len(all) != 0 {
		t.Fatalf("states after reset %+v", all)
	}
}

// TestSetPushCursorPrunesChanges: the entries drained are deleted with the
// cursor's move; the later ones stay.
func TestSetPushCursorPrunesChanges(t *testing.T) {
	ctx := context.Background()
	db := pushFixture(t)
	ch, err := db.PushChanges(ctx, 0)
	if err != nil || len(ch) != 2 {
		t.Fatalf("changes %+v %v", ch, err)
	}
	if err := db.SetPushCursor(ctx, ch[0].Seq); err != nil {
		t.Fatal(err)
	}
	seqs := func() []int64 {
		t.Helper()
		var out []int64
		rows, err := db.w.Query("SELECT seq FROM changes ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if got := seqs(); !reflect.DeepEqual(got, []int64{ch[1].Seq}) {
		t.Fatalf("change log after the cursor moved to %d: %v, want [%d]", ch[0].Seq, got, ch[1].Seq)
	}
	if err := db.SetPushCursor(ctx, ch[1].Seq); err != nil {
		t.Fatal(err)
	}
	if got := seqs(); len(got) != 0 {
		t.Fatalf("change log after the cursor moved to the end: %v", got)
	}
	if c, err := db.PushCursor(ctx); err != nil || c != ch[1].Seq {
		t.Fatalf("cursor %d %v, want %d", c, err, ch[1].Seq)
	}
	// Sequence numbers are not reused once pruned.
	mustApply(t, db, &bridge.Plan{Changes: []bridge.Change{{ResourceType: bridge.MemberUser, ResourceID: "u3", Op: bridge.OpUpdate, Name: "cid"}}})
	if got, err := db.PushChanges(ctx, ch[1].Seq); err != nil || len(got) != 1 || got[0].Seq <= ch[1].Seq {
		t.Fatalf("changes after pruning %+v %v", got, err)
	}
}

// TestPushHolders: which resources' bookkeeping holds a remote id, and
// whether each is still stored.
func TestPushHolders(t *testing.T) {
	ctx := context.Background()
	db := pushFixture(t)
	for _, st := range []*PushState{
		{ResourceType: bridge.MemberUser, ResourceID: "u1", RemoteID: "r1", Status: PushDelivered},
		{ResourceType: bridge.MemberUser, ResourceID: "deleted", RemoteID: "r1", Status: PushDelivered},
		{ResourceType: bridge.MemberUser, ResourceID: "u2", RemoteID: "r2", Status: PushDelivered},
		{ResourceType: bridge.MemberGroup, ResourceID: "g1", RemoteID: "r1", Status: PushDelivered},
		{ResourceType: bridge.MemberGroup, ResourceID: "gone", RemoteID: "r1", Status: PushFailed},
	} {
		if err := db.SavePushState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		typ, remote string
		want        []PushHolder
	}{
		{bridge.MemberUser, "r1", []PushHolder{{ResourceID: "deleted"}, {ResourceID: "u1", Stored: true}}},
		{bridge.MemberUser, "r2", []PushHolder{{ResourceID: "u2", Stored: true}}},
		{bridge.MemberGroup, "r1", []PushHolder{{ResourceID: "g1", Stored: true}, {ResourceID: "gone"}}},
		{bridge.MemberGroup, "r2", nil},
		{bridge.MemberUser, "", nil},
	} {
		got, err := db.PushHolders(ctx, c.typ, c.remote)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("holders of %s %q: %+v %v, want %+v", c.typ, c.remote, got, err, c.want)
		}
	}
}
