package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

// TestTransitiveGroupsAgreeEverywhere checks every reader of a user's groups
// (Memberships, the SCIM read side, its groups filters and the push side)
// against the groups computed from the plan, for a directory nested four
// levels deep.
func TestTransitiveGroupsAgreeEverywhere(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	p := bigPlan(3000, 60)
	mustApply(t, db, p)
	want := planMemberships(p)
	ids := make([]string, len(p.CreateUsers))
	for i := range p.CreateUsers {
		ids[i] = p.CreateUsers[i].ID
	}

	names := map[string]string{}
	for _, g := range p.CreateGroups {
		names[g.ID] = g.Name
	}
	// The groups searched one by one, and every group read in one pass.
	defer func(n int) { scanGroupsFrom = n }(scanGroupsFrom)
	for _, from := range []int{1 << 30, 0} {
		scanGroupsFrom = from
		ms, err := db.Memberships(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "memberships", ms, want)
		for _, page := range []Query{{Count: len(ids), WithGroups: true}, {StartIndex: 7, Count: 5, WithGroups: true}} {
			_, users, err := db.ListUsers(ctx, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				var refs []GroupRef
				for _, m := range want[u.ID] {
					refs = append(refs, GroupRef{ID: m.GroupID, Name: names[m.GroupID], Direct: m.Direct})
				}
				slices.SortFunc(refs, func(a, b GroupRef) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
				equal(t, fmt.Sprintf("groups of %s (from %d)", u.UserName, from), u.Groups, refs)
			}
		}
	}

	// Per group: its users (any way), its indirect users, and by display name.
	pushed, err := db.PushGroups(ctx, sortedKeys(names))
	if err != nil {
		t.Fatal(err)
	}
	for gi, g := range p.CreateGroups {
		var all, indirect []string
		for _, uid := range sortedKeys(want) {
			for _, m := range want[uid] {
				if m.GroupID == g.ID {
					all = append(all, uid)
					if !m.Direct {
						indirect = append(indirect, uid)
					}
				}
			}
		}
		for _, c := range []struct {
			what string
			f    *Expr
			want []string
		}{
			{"groups.value eq", cmp("eq", "groups.value", g.ID), all},
			{"groups.display eq", cmp("eq", "groups.display", g.Name), all},
			{"groups[value eq and type eq indirect]", anyOf("groups", and(cmp("eq", "value", g.ID), cmp("eq", "type", "indirect"))), indirect},
		} {
			check := func(plan string) {
				_, us, err := db.ListUsers(ctx, Query{Filter: c.f, Count: len(ids)})
				if err != nil {
					t.Fatal(err)
				}
				got := userIDs(us)
				slices.Sort(got)
				equal(t, c.what+" "+g.Name+" ("+plan+")", got, append([]string{}, c.want...))
			}
			// Both plans for one group in twenty (each user's groups reads every user).
			if gi%20 == 0 {
				eachGroupsPlan(t, check)
			} else {
				check("chosen")
			}
		}
		inGroup, err := db.UsersInGroups(ctx, []string{g.ID})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "UsersInGroups "+g.Name, inGroup, all)
		equal(t, "PushGroups users of "+g.Name, pushed[g.ID].Users, all)
	}
}

// eachGroupsPlan runs fn under both plans of a condition on users' groups:
// the matching groups' member lists, and each user's own groups.
func eachGroupsPlan(t *testing.T, fn func(plan string)) {
	t.Helper()
	defer func(n int) { broadMemberships = n }(broadMemberships)
	broadMemberships = 1 << 30
	fn("member lists")
	broadMemberships = -1
	fn("each user's groups")
}

// nestedCycle: g1 and g2 nested in each other, both in g3 through g2;
// u1 a direct member of g1 and g2, u2 of g1 only, u3 of g3 only.
func nestedCycle(t *testing.T) *DB {
	t.Helper()
	db := openTest(t)
	mustApply(t, db, &bridge.Plan{
		CreateUsers:  []bridge.UserRow{mkUser("u1", "ann"), mkUser("u2", "bo"), mkUser("u3", "cy")},
		CreateGroups: []bridge.GroupRow{mkGroup("g1", "One"), mkGroup("g2", "Two"), mkGroup("g3", "Three")},
		GroupMembers: map[string][]bridge.Member{
			"g1": {{ID: "g2", Type: bridge.MemberGroup}, {ID: "u1", Type: bridge.MemberUser}, {ID: "u2", Type: bridge.MemberUser}},
			"g2": {{ID: "g1", Type: bridge.MemberGroup}, {ID: "u1", Type: bridge.MemberUser}},
			"g3": {{ID: "g2", Type: bridge.MemberGroup}, {ID: "u3", Type: bridge.MemberUser}},
		},
		Ancestors: map[string][]string{"g1": {"g2", "g3"}, "g2": {"g1", "g3"}},
	})
	return db
}

func TestGroupsThroughACycleAreListedOnce(t *testing.T) {
	ctx := context.Background()
	db := nestedCycle(t)
	ms, err := db.Memberships(ctx, []string{"u1", "u2", "u3"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "memberships", ms, map[string][]bridge.Membership{
		"u1": {{GroupID: "g1", Direct: true}, {GroupID: "g2", Direct: true}, {GroupID: "g3"}},
		"u2": {{GroupID: "g1", Direct: true}, {GroupID: "g2"}, {GroupID: "g3"}},
		"u3": {{GroupID: "g3", Direct: true}},
	})
	u, _, err := db.GetUser(ctx, "u2")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "u2's groups", u.Groups, []GroupRef{{ID: "g1", Name: "One", Direct: true}, {ID: "g3", Name: "Three"}, {ID: "g2", Name: "Two"}})
	for _, c := range []struct {
		what string
		f    *Expr
		want []string
	}{
		{"groups.value eq g3", cmp("eq", "groups.value", "g3"), []string{"u1", "u2", "u3"}},
		{"indirect in g1", anyOf("groups", and(cmp("eq", "value", "g1"), cmp("eq", "type", "indirect"))), []string{}},
		{"indirect in g2", anyOf("groups", and(cmp("eq", "value", "g2"), cmp("eq", "type", "INDIRECT"))), []string{"u2"}},
		{"direct in Three", anyOf("groups", and(cmp("eq", "display", "three"), cmp("eq", "type", "direct"))), []string{"u3"}},
		{"groups.type eq indirect", cmp("eq", "groups.type", "indirect"), []string{"u1", "u2"}},
		{"groups.display co", cmp("co", "groups.display", "o"), []string{"u1", "u2"}},
		{"groups[display eq and type eq indirect]", anyOf("groups", and(cmp("eq", "display", "one"), cmp("eq", "type", "indirect"))), []string{}},
		{"groups[display eq Three and type eq indirect]", anyOf("groups", and(cmp("eq", "display", "three"), cmp("eq", "type", "indirect"))), []string{"u1", "u2"}},
	} {
		eachGroupsPlan(t, func(plan string) {
			_, us, err := db.ListUsers(ctx, Query{Filter: c.f, Count: 10})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, c.what+" ("+plan+")", userIDs(us), c.want)
		})
	}
	users, err := db.UsersInGroups(ctx, []string{"g1"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "users in g1", users, []string{"u1", "u2"})
}

func TestClosureIsReplacedOnlyWhenThePlanCarriesOne(t *testing.T) {
	ctx := context.Background()
	db := nestedCycle(t)
	closure := func() []string { return dump(t, db)["group_closure"] }
	all := []string{"[g1 g2]", "[g1 g3]", "[g2 g1]", "[g2 g3]"}
	equal(t, "closure", closure(), all)

	// No Ancestors: the closure stays.
	mustApply(t, db, &bridge.Plan{UpdateUsers: []bridge.UserRow{mkUser("u3", "cyd")}})
	equal(t, "closure after a plan without one", closure(), all)

	// A deleted group leaves the closure and every member list.
	mustApply(t, db, &bridge.Plan{DeleteGroups: []string{"g3"}})
	equal(t, "closure after deleting g3", closure(), []string{"[g1 g2]", "[g2 g1]"})

	// A deleted user leaves the groups it was in.
	mustApply(t, db, &bridge.Plan{DeleteUsers: []string{"u1"}})
	equal(t, "members after deleting u1", dump(t, db)["group_members"], []string{"[g1 g2 Group]", "[g1 u2 User]", "[g2 g1 Group]"})
	ms, err := db.Memberships(ctx, []string{"u1", "u2"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "memberships", ms, map[string][]bridge.Membership{"u2": {{GroupID: "g1", Direct: true}, {GroupID: "g2"}}})

	// An empty closure clears it: g2 leaves g1.
	mustApply(t, db, &bridge.Plan{
		GroupMembers: map[string][]bridge.Member{"g1": {{ID: "u2", Type: bridge.MemberUser}}, "g2": {}},
		Ancestors:    map[string][]string{},
	})
	equal(t, "closure", closure(), []string(nil))
	ms, err = db.Memberships(ctx, []string{"u2"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "memberships", ms, map[string][]bridge.Membership{"u2": {{GroupID: "g1", Direct: true}}})
}

// TestGroupsValueFilterUsesIndexes pins down that "groups.value eq X" reads
// the group by its id index, group_users by its key, group_closure by its
// ancestor index and users by their rowid, not a scan.
func TestGroupsValueFilterUsesIndexes(t *testing.T) {
	steps := planOf(t, openTest(t), cmp("eq", "groups.value", "g1"), true)
	for _, s := range steps {
		if strings.HasPrefix(s, "SCAN") {
			t.Errorf("groups.value eq scans a table: %q", steps)
		}
	}
	for _, want := range []string{"SEARCH g USING COVERING INDEX groups_id (id=?)", "SEARCH u USING INTEGER PRIMARY KEY (rowid=?)",
		"SEARCH gm USING PRIMARY KEY (group_rid=?)", "SEARCH c USING COVERING INDEX group_closure_ancestor (ancestor_rid=?)"} {
		if !slices.Contains(steps, want) {
			t.Errorf("query plan %q lacks %q", steps, want)
		}
	}
}

// groups.type eq "indirect" answers by the closure as stored, transitive
// (as the bridge writes it) or not: a cycle of three groups each nested in
// the next only, or in both others, and a tree root ← mid ← leaf beside an
// unnested group. The plan that reads only the direct members of top
// groups group by group holds for a transitive closure alone.
func TestIndirectGroupsUnderEitherClosure(t *testing.T) {
	ctx := context.Background()
	user := func(id string, groups ...string) (bridge.UserRow, []string) { return mkUser(id, "name-"+id), groups }
	for _, c := range []struct {
		name     string
		ancestor map[string][]string
	}{
		{"each in the next", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}, "mid": {"root"}, "leaf": {"mid", "root"}}},
		{"each in both others", map[string][]string{"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}, "mid": {"root"}, "leaf": {"mid", "root"}}},
	} {
		db := openTest(t)
		p := &bridge.Plan{GroupMembers: map[string][]bridge.Member{}, Ancestors: c.ancestor}
		for _, id := range []string{"a", "b", "c", "alone", "root", "mid", "leaf"} {
			p.CreateGroups = append(p.CreateGroups, mkGroup(id, id))
		}
		edges := map[string][]string{"b": {"a"}, "c": {"b"}, "a": {"c"}, "root": {"mid"}, "mid": {"leaf"}}
		for parent, children := range edges {
			for _, child := range children {
				p.GroupMembers[parent] = append(p.GroupMembers[parent], bridge.Member{ID: child, Type: bridge.MemberGroup})
			}
		}
		for _, u := range [][]string{{"u1", "a", "b", "c"}, {"u2", "a"}, {"u3", "alone"}, {"u4", "leaf", "mid", "root"},
			{"u5", "leaf", "mid"}, {"u6", "root"}, {"u7", "leaf", "root"}, {"u8"}} {
			row, groups := user(u[0], u[1:]...)
			p.CreateUsers = append(p.CreateUsers, row)
			for _, g := range groups {
				p.GroupMembers[g] = append(p.GroupMembers[g], bridge.Member{ID: row.ID, Type: bridge.MemberUser})
			}
		}
		mustApply(t, db, p)
		for _, f := range []struct {
			e    *Expr
			want []string
		}{
			{cmp("eq", "groups.type", "indirect"), []string{"u2", "u5", "u7"}},
			{anyOf("groups", and(cmp("eq", "type", "indirect"), or(cmp("eq", "display", "b"), cmp("eq", "display", "root")))), []string{"u2", "u5"}},
		} {
			eachGroupsPlan(t, func(plan string) {
				total, us, err := db.ListUsers(ctx, Query{Filter: f.e, Count: 10})
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("%s: %s (%s)", c.name, exprText(f.e), plan)
				equal(t, what, userIDs(us), f.want)
				equal(t, what+": total", total, len(f.want))
			})
		}
	}
}

// The groups that pages of users read once per read connection (groupCache)
// follow every write: a group renamed and nested in another shows so in
// every list after the write, however many lists ran before on however
// many connections.
func TestCachedGroupsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	defer func(n int) { scanGroupsFrom = n }(scanGroupsFrom)
	scanGroupsFrom = 0 // every page reads every group
	mustApply(t, db, &bridge.Plan{
		CreateUsers:  []bridge.UserRow{mkUser("u1", "ann"), mkUser("u2", "bo")},
		CreateGroups: []bridge.GroupRow{mkGroup("g1", "One"), mkGroup("g2", "Two")},
		GroupMembers: map[string][]bridge.Member{"g1": {{ID: "u1", Type: bridge.MemberUser}}, "g2": {{ID: "u2", Type: bridge.MemberUser}}},
	})
	lists := func(what string, want []string) {
		t.Helper()
		got := make([][]string, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				_, us, err := db.ListUsers(ctx, Query{Count: 10, WithGroups: true})
				if err != nil {
					t.Error(err)
					return
				}
				for _, u := range us {
					for _, g := range u.Groups {
						got[i] = append(got[i], fmt.Sprintf("%s:%s/%v", u.ID, g.Name, g.Direct))
					}
				}
			})
		}
		wg.Wait()
		for i := range got {
			equal(t, fmt.Sprintf("%s, list %d", what, i), got[i], want)
		}
	}
	lists("before", []string{"u1:One/true", "u2:Two/true"})
	lists("before, again", []string{"u1:One/true", "u2:Two/true"})
	renamed := mkGroup("g1", "Uno")
	renamed.Version = "v2-g1"
	mustApply(t, db, &bridge.Plan{
		UpdateGroups: []bridge.GroupRow{renamed},
		GroupMembers: map[string][]bridge.Member{"g1": {{ID: "u1", Type: bridge.MemberUser}, {ID: "g2", Type: bridge.MemberGroup}}},
		Ancestors:    map[string][]string{"g2": {"g1"}},
	})
	lists("after", []string{"u1:Uno/true", "u2:Two/true", "u2:Uno/false"})
}
