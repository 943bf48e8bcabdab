package bridge

import (
	"log/slog"
	"reflect"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/schema"
)

// testResolve reads groups (DN → member values) and then users (DN, member
// key) into an empty store's user stream, as a run does, and returns the
// stream, the group index and the dangling member values.
func testResolve(t *testing.T, byUID bool, users [][2]string, groups [][2]any) (*userStream, *groupIndex, int) {
	t.Helper()
	var gs []mappedGroup
	for _, g := range groups {
		dn := g[0].(string)
		gs = append(gs, mappedGroup{Group: schema.Group{DN: dn, Members: g[1].([]string)},
			dnNorm: NormalizeDN(dn), id: "g:" + dn})
	}
	set := schema.Defaults("openldap")
	if byUID {
		set.Groups.Attributes.MembershipAttributeType = schema.MembershipUID
		set.Groups.Attributes.MembershipUserAttribute = "memberKey"
	}
	snap := &Snapshot{}
	gi := newGroupIndex(gs, snap)
	st := newUserStream(&set, &Report{}, snap, gi, fixedNow, newIDGen(fixedNow))
	gi.link(nil, byUID)
	st.progress = (&Syncer{}).newProgress(slog.New(slog.DiscardHandler), "test")
	st.streamMin = DefaultStreamMin
	for _, u := range users {
		e := &schema.Entry{DN: u[0], Attrs: map[string][][]byte{"uid": {[]byte(u[0])}}}
		if u[1] != "" {
			e.Attrs["memberkey"] = [][]byte{[]byte(u[1])}
		}
		if err := st.add(e); err != nil {
			t.Fatal(err)
		}
	}
	_, dangling, err := st.finish(&skipList{})
	if err != nil {
		t.Fatal(err)
	}
	return st, gi, dangling
}

// testUserID names kept user c "u:" + its DN, so that expectations can be written.
func testUserID(st *userStream) func(candID) string {
	return func(c candID) string { return "u:" + st.dnOf(c) }
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
	direct := make([][]int32, len(st.cands))
	for g := range d.groups {
		for _, u := range d.groups[g].users {
			direct[u] = append(direct[u], int32(g))
		}
	}
	got := map[string][]Membership{}
	for c := range st.cands {
		got[st.dnOf(candID(c))] = userMemberships(direct[c], d)
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
	_, d, _ := testResolve(t, false, nil, [][2]any{
		{"cn=a", []string{"cn=b"}},
		{"cn=b", []string{"cn=c"}},
		{"cn=c", []string{"cn=a"}},
	})
	anc := d.anc
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
		id, seq := ids.next()
		if seq != uint32(i) {
			t.Fatalf("id %d has counter %d", i, seq)
		}
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

func TestNameIDIsUUIDv5(t *testing.T) {
	// RFC 9562 Appendix A.4: the DNS namespace and "www.example.com".
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := uuidV5(&dns, "www.example.com"); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("uuidV5 = %s, want the RFC's 2ed6657d-e927-568b-95e1-2665a8aea6a2", got)
	}
	u, g := NameID(MemberUser, "a1b2"), NameID(MemberGroup, "a1b2")
	if u == g || u != NameID(MemberUser, "a1b2") || u[14] != '5' {
		t.Errorf("NameID: user %s, group %s; want distinct, stable version 5 ids", u, g)
	}
}
