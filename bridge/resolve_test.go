package bridge

import (
	"reflect"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/schema"
)

// testResolve reads groups (DN → member values) and then users (DN, member
// key) into an empty store's user stream, as a run does, and returns the
// stream, the groups and the dangling member values.
func testResolve(t *testing.T, byUID bool, users [][2]string, groups [][2]any) (*userStream, *directory, int) {
	t.Helper()
	d := &directory{protect: map[string]bool{}}
	for _, g := range groups {
		dn := g[0].(string)
		d.groups = append(d.groups, mappedGroup{Group: schema.Group{DN: dn, Members: g[1].([]string)},
			dnNorm: NormalizeDN(dn), id: "g:" + dn})
	}
	set := schema.Defaults("openldap")
	if byUID {
		set.Groups.Attributes.MembershipAttributeType = schema.MembershipUID
	}
	st := newUserStream(&set, &Report{}, &Snapshot{}, d, nil, fixedNow, newIDGen(fixedNow))
	st.linkGroups(nil)
	st.anc = ancestors(d.groups)
	for _, u := range users {
		row := &UserRow{User: schema.User{DN: u[0], UserName: u[0], MemberKey: u[1]}, DNNorm: NormalizeDN(u[0]), UserNameNorm: u[0]}
		if err := st.accept(row); err != nil {
			t.Fatal(err)
		}
	}
	dangling, err := st.finish()
	if err != nil {
		t.Fatal(err)
	}
	return st, d, dangling
}

// testUserID names accepted user i "u:" + its DN, so that expectations can be written.
func testUserID(st *userStream) func(int32) string {
	return func(i int32) string { return "u:" + st.dnOf(i) }
}

func TestNestingResolvesTransitiveGroupsAndTerminatesOnCycles(t *testing.T) {
	st, d, dangling := testResolve(t, false,
		[][2]string{{"uid=ann,ou=p"}, {"uid=bob,ou=p"}, {"uid=cy,ou=p"}},
		[][2]any{
			{"cn=eng,ou=g", []string{"CN=Backend,OU=G", "uid=ann,ou=p"}},
			{"cn=backend,ou=g", []string{"cn=platform,ou=g", "uid=nobody,ou=p"}},
			{"cn=platform,ou=g", []string{"uid=bob, ou=p", "uid=ann,ou=p"}},
			{"cn=a,ou=g", []string{"cn=b,ou=g", "uid=cy,ou=p"}},
			{"cn=b,ou=g", []string{"cn=a,ou=g", "cn=b,ou=g"}},
		})
	if dangling != 1 {
		t.Errorf("dangling = %d, want 1 (uid=nobody)", dangling)
	}
	direct := make([][]int32, len(st.acc))
	for gi := range d.groups {
		for _, u := range d.groups[gi].users {
			direct[u] = append(direct[u], int32(gi))
		}
	}
	got := map[string][]Membership{}
	for i := range st.acc {
		got[st.dnOf(int32(i))] = userMemberships(direct[i], d.groups, st.anc)
	}
	want := map[string][]Membership{
		"uid=ann,ou=p": {{"g:cn=backend,ou=g", false}, {"g:cn=eng,ou=g", true}, {"g:cn=platform,ou=g", true}},
		"uid=bob,ou=p": {{"g:cn=backend,ou=g", false}, {"g:cn=eng,ou=g", false}, {"g:cn=platform,ou=g", true}},
		"uid=cy,ou=p":  {{"g:cn=a,ou=g", true}, {"g:cn=b,ou=g", false}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("memberships:\n got %v\nwant %v", got, want)
	}
	members := map[string][]Member{}
	for i := range d.groups {
		members[d.groups[i].DN] = groupMembers(&d.groups[i], testUserID(st), d.groups)
	}
	wantMembers := map[string][]Member{
		"cn=eng,ou=g":      {{"g:cn=backend,ou=g", MemberGroup}, {"u:uid=ann,ou=p", MemberUser}},
		"cn=backend,ou=g":  {{"g:cn=platform,ou=g", MemberGroup}},
		"cn=platform,ou=g": {{"u:uid=ann,ou=p", MemberUser}, {"u:uid=bob,ou=p", MemberUser}},
		"cn=a,ou=g":        {{"g:cn=b,ou=g", MemberGroup}, {"u:uid=cy,ou=p", MemberUser}},
		"cn=b,ou=g":        {{"g:cn=a,ou=g", MemberGroup}},
	}
	if !reflect.DeepEqual(members, wantMembers) {
		t.Errorf("direct members:\n got %v\nwant %v", members, wantMembers)
	}
}

func TestAncestorsOfCycleExcludeSelf(t *testing.T) {
	st, d, _ := testResolve(t, false, nil, [][2]any{
		{"cn=a", []string{"cn=b"}},
		{"cn=b", []string{"cn=c"}},
		{"cn=c", []string{"cn=a"}},
	})
	anc := st.anc
	for i, a := range anc {
		names := []string{}
		for _, gi := range a {
			names = append(names, d.groups[gi].DN)
		}
		sort.Strings(names)
		if len(names) != 2 {
			t.Errorf("ancestors of %s = %v, want the two other groups", d.groups[i].DN, names)
		}
		for _, n := range names {
			if n == d.groups[i].DN {
				t.Errorf("%s is its own ancestor", n)
			}
		}
	}
}

func TestResolveMembersByUID(t *testing.T) {
	st, d, dangling := testResolve(t, true, [][2]string{{"uid=ann,ou=p", "Ann"}, {"uid=bob,ou=p", "bob"}},
		[][2]any{{"cn=posix", []string{"ANN", "bob", "ghost", "bob"}}})
	if dangling != 1 {
		t.Errorf("dangling = %d, want 1 (ghost)", dangling)
	}
	got := groupMembers(&d.groups[0], testUserID(st), d.groups)
	want := []Member{{"u:uid=ann,ou=p", MemberUser}, {"u:uid=bob,ou=p", MemberUser}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
}

func TestNewIDIsUUIDv7(t *testing.T) {
	seen := map[string]bool{}
	ids := newIDGen(fixedNow)
	last := ""
	for i := 0; i < 1000; i++ {
		id := ids.next()
		if other := newIDGen(fixedNow).at(uint32(i)); other == id {
			t.Fatalf("two runs in one millisecond made the same id %q", id)
		}
		if len(id) != 36 || id[14] != '7' || !reflect.DeepEqual([]byte{id[8], id[13], id[18], id[23]}, []byte("----")) {
			t.Fatalf("newID() = %q, not a UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("newID() repeated %q", id)
		}
		seen[id] = true
		if id <= last {
			t.Fatalf("newID() = %q after %q: ids of a run must ascend", id, last)
		}
		if again := ids.at(uint32(i)); again != id {
			t.Fatalf("id %d is %q, at(%d) says %q", i, id, i, again)
		}
		last = id
	}
}
