package bridge

import (
	"reflect"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/schema"
)

// testDirectory builds a mapped directory from users (by DN) and groups
// (DN → member values).
func testDirectory(users []string, groups [][2]any) *directory {
	d := &directory{}
	for _, dn := range users {
		d.users = append(d.users, UserRow{User: schema.User{DN: dn}, DNNorm: NormalizeDN(dn), ID: "u:" + dn})
	}
	for _, g := range groups {
		dn := g[0].(string)
		d.groups = append(d.groups, mappedGroup{Group: schema.Group{DN: dn, Members: g[1].([]string)},
			dnNorm: NormalizeDN(dn), id: "g:" + dn})
	}
	return d
}

func TestNestingResolvesTransitiveGroupsAndTerminatesOnCycles(t *testing.T) {
	d := testDirectory(
		[]string{"uid=ann,ou=p", "uid=bob,ou=p", "uid=cy,ou=p"},
		[][2]any{
			{"cn=eng,ou=g", []string{"CN=Backend,OU=G", "uid=ann,ou=p"}},
			{"cn=backend,ou=g", []string{"cn=platform,ou=g", "uid=nobody,ou=p"}},
			{"cn=platform,ou=g", []string{"uid=bob, ou=p", "uid=ann,ou=p"}},
			{"cn=a,ou=g", []string{"cn=b,ou=g", "uid=cy,ou=p"}},
			{"cn=b,ou=g", []string{"cn=a,ou=g", "cn=b,ou=g"}},
		})
	if dangling := resolveMembers(d, false, kept{}); dangling != 1 {
		t.Errorf("dangling = %d, want 1 (uid=nobody)", dangling)
	}
	anc := ancestors(d.groups)
	got := map[string][]Membership{}
	for i := range d.users {
		got[d.users[i].DN] = userMemberships(d.direct[i], d.groups, anc)
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
		members[d.groups[i].DN] = groupMembers(&d.groups[i], d.users, d.groups)
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
	d := testDirectory(nil, [][2]any{
		{"cn=a", []string{"cn=b"}},
		{"cn=b", []string{"cn=c"}},
		{"cn=c", []string{"cn=a"}},
	})
	resolveMembers(d, false, kept{})
	anc := ancestors(d.groups)
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
	d := testDirectory([]string{"uid=ann,ou=p", "uid=bob,ou=p"}, [][2]any{{"cn=posix", []string{"ANN", "bob", "ghost", "bob"}}})
	d.users[0].MemberKey, d.users[1].MemberKey = "Ann", "bob"
	if dangling := resolveMembers(d, true, kept{}); dangling != 1 {
		t.Errorf("dangling = %d, want 1 (ghost)", dangling)
	}
	got := groupMembers(&d.groups[0], d.users, d.groups)
	want := []Member{{"u:uid=ann,ou=p", MemberUser}, {"u:uid=bob,ou=p", MemberUser}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
}

func TestNewIDIsUUIDv7(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newID(fixedNow)
		if len(id) != 36 || id[14] != '7' || !reflect.DeepEqual([]byte{id[8], id[13], id[18], id[23]}, []byte("----")) {
			t.Fatalf("newID() = %q, not a UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("newID() repeated %q", id)
		}
		seen[id] = true
	}
}
