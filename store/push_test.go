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
		{"by folded name", db.GroupIDsByName, []string{"top", "leaf"}, []string{"g1", "g3"}},
		{"users in mid", db.UsersInGroups, []string{"g2"}, []string{"u1", "u2"}},
	} {
		got, err := c.fn(ctx, c.in)
		slices.Sort(got)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
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
