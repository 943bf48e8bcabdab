package store

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// hexDigest returns a random row hash (32 hex digits).
func hexDigest() string {
	var d bridge.Digest
	rand.Read(d[:])
	return d.String()
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// levelShare is the share of groups on each nesting level, top first, as in
// cmd/scimbridge-bench's generated directory.
var levelShare = []int{5, 15, 30, 50}

// bigPlan creates nUsers users and nGroups groups with random UUID ids, laid
// out like cmd/scimbridge-bench's directory: the groups on four nesting levels,
// each group below the top a member of one group of the level above, and
// every user a direct member of one to three groups. The layout (not the ids)
// is the same on every call.
func bigPlan(nUsers, nGroups int) *bridge.Plan {
	rng := mrand.New(mrand.NewPCG(1, 2))
	at := ts("2026-01-01T00:00:00Z")
	p := &bridge.Plan{
		GroupMembers: make(map[string][]bridge.Member, nGroups),
		Ancestors:    make(map[string][]string, nGroups),
	}
	parent := make([]int, nGroups)
	start, above := 0, [2]int{}
	for li, share := range levelShare {
		size := nGroups * share / 100
		if li == len(levelShare)-1 {
			size = nGroups - start
		}
		for i := start; i < start+size; i++ {
			parent[i] = -1
			if li > 0 && above[1] > above[0] {
				parent[i] = above[0] + rng.IntN(above[1]-above[0])
			}
		}
		above = [2]int{start, start + size}
		start += size
	}
	for i := range nGroups {
		name := fmt.Sprintf("Group %04d", i)
		dn := "cn=" + name + ",ou=groups,dc=example,dc=com"
		g := bridge.GroupRow{ID: uuid(), ExternalID: uuid(), DN: dn, DNNorm: strings.ToLower(dn), Name: name,
			NameNorm: strings.ToLower(name), Hash: uuid(), MembersHash: uuid(), Version: uuid(), Created: at, LastModified: at}
		p.CreateGroups = append(p.CreateGroups, g)
		p.Changes = append(p.Changes, bridge.Change{ResourceType: bridge.MemberGroup, ResourceID: g.ID, Op: bridge.OpCreate, Name: name})
	}
	for i := range nGroups {
		id := p.CreateGroups[i].ID
		if par := parent[i]; par >= 0 {
			pid := p.CreateGroups[par].ID
			p.GroupMembers[pid] = append(p.GroupMembers[pid], bridge.Member{ID: id, Type: bridge.MemberGroup})
		}
		for a := parent[i]; a >= 0; a = parent[a] {
			p.Ancestors[id] = append(p.Ancestors[id], p.CreateGroups[a].ID)
		}
	}
	for i := range nUsers {
		name := fmt.Sprintf("user%06d", i)
		dn := "uid=" + name + ",ou=people,dc=example,dc=com"
		u := bridge.UserRow{ID: uuid(), User: schema.User{DN: dn, ExternalID: uuid(), UserName: name,
			GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", i), DisplayName: fmt.Sprintf("Given Family%d", i),
			Email: name + "@example.com", Active: true, EmployeeNumber: fmt.Sprint(i), Department: "Engineering"},
			DNNorm: dn, UserNameNorm: name, Hash: hexDigest(), GroupsHash: hexDigest(), Version: uuid(), Created: at, LastModified: at}
		p.CreateUsers = append(p.CreateUsers, u)
		var picked []int
		for k := 1 + rng.IntN(3); len(picked) < k; {
			if gi := rng.IntN(nGroups); !slices.Contains(picked, gi) {
				picked = append(picked, gi)
				gid := p.CreateGroups[gi].ID
				p.GroupMembers[gid] = append(p.GroupMembers[gid], bridge.Member{ID: u.ID, Type: bridge.MemberUser})
			}
		}
		p.Changes = append(p.Changes, bridge.Change{ResourceType: bridge.MemberUser, ResourceID: u.ID, Op: bridge.OpCreate, Name: name})
	}
	return p
}

// planMemberships computes from a plan of new users and groups what
// Memberships must return: each user's direct groups and their ancestors.
func planMemberships(p *bridge.Plan) map[string][]bridge.Membership {
	sets := map[string]map[string]bool{}
	for gid, ms := range p.GroupMembers {
		for _, m := range ms {
			if m.Type != bridge.MemberUser {
				continue
			}
			if sets[m.ID] == nil {
				sets[m.ID] = map[string]bool{}
			}
			sets[m.ID][gid] = true
			for _, a := range p.Ancestors[gid] {
				if !sets[m.ID][a] {
					sets[m.ID][a] = false
				}
			}
		}
	}
	out := make(map[string][]bridge.Membership, len(sets))
	for uid, set := range sets {
		for _, gid := range sortedKeys(set) {
			out[uid] = append(out[uid], bridge.Membership{GroupID: gid, Direct: set[gid]})
		}
	}
	return out
}

// BenchmarkApply100k applies 100,000 new users, 2,000 groups nested four
// levels deep (about 200,000 user and 1,900 group members, 4,000 closure rows)
// and 102,000 change log entries in one plan.
func BenchmarkApply100k(b *testing.B) {
	p := bigPlan(100_000, 2_000)
	for b.Loop() {
		b.StopTimer()
		db := openTest(b)
		r := &bridge.Report{Trigger: bridge.TriggerManual}
		if err := db.StartRun(context.Background(), r); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.Apply(context.Background(), p, r); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
}

// bigStore is a store holding bigPlan(100k, 2k).
func bigStore(b *testing.B) (*DB, *bridge.Plan) {
	b.Helper()
	db := openTest(b)
	p := bigPlan(100_000, 2_000)
	start := time.Now()
	mustApply(b, db, p)
	b.Logf("Apply of 100k users: %v", time.Since(start))
	return db, p
}

func BenchmarkRead100k(b *testing.B) {
	db, p := bigStore(b)
	ctx := context.Background()
	want := planMemberships(p)
	inGroup7 := 0
	for _, ms := range want {
		if slices.ContainsFunc(ms, func(m bridge.Membership) bool { return m.GroupID == p.CreateGroups[7].ID }) {
			inGroup7++
		}
	}
	b.Run("Snapshot", func(b *testing.B) {
		for b.Loop() {
			s, err := db.Snapshot(ctx)
			if err != nil || len(s.Users) != 100_000 {
				b.Fatal(len(s.Users), err)
			}
		}
	})
	b.Run("UserNameEq", func(b *testing.B) {
		q := Query{Filter: cmp("eq", "userName", "USER054321"), Count: 100, WithGroups: true}
		for b.Loop() {
			total, users, err := db.ListUsers(ctx, q)
			if err != nil || total != 1 || len(users[0].Groups) != len(want[p.CreateUsers[54321].ID]) {
				b.Fatal(total, err)
			}
		}
	})
	b.Run("Page1000WithGroups", func(b *testing.B) {
		q := Query{StartIndex: 50_001, Count: 1000, SortBy: "userName", WithGroups: true}
		for b.Loop() {
			total, users, err := db.ListUsers(ctx, q)
			if err != nil || total != 100_000 || len(users) != 1000 {
				b.Fatal(total, err)
			}
		}
	})
	b.Run("GroupsValueEq", func(b *testing.B) {
		q := Query{Filter: cmp("eq", "groups.value", p.CreateGroups[7].ID), Count: 0}
		for b.Loop() {
			total, _, err := db.ListUsers(ctx, q)
			if err != nil || total != inGroup7 {
				b.Fatal(total, err)
			}
		}
	})
	b.Run("MembershipCheck", func(b *testing.B) {
		g := p.CreateGroups[7].ID
		q := Query{Filter: and(cmp("eq", "id", g), anyOf("members", cmp("eq", "value", p.GroupMembers[g][3].ID))), Count: 1}
		for b.Loop() {
			total, _, err := db.ListGroups(ctx, q)
			if err != nil || total != 1 {
				b.Fatal(total, err)
			}
		}
	})
}

// BenchmarkMembershipFilters100k times the filters on users' groups and
// groups' members that read the most memberships (those of the benchmark's
// rows 6c), each answering its total and a page of 100, on bigPlan(100k, 2k).
func BenchmarkMembershipFilters100k(b *testing.B) {
	db, _ := bigStore(b)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		users bool
		e     *Expr
	}{
		{"GroupsDisplayCo1", true, cmp("co", "groups.display", "1")},
		{"GroupsDisplayCoOr", true, or(or(cmp("co", "groups.display", "09"), cmp("co", "groups.display", "19")), cmp("co", "groups.display", "29"))},
		{"GroupsTypeIndirect", true, cmp("eq", "groups.type", "indirect")},
		{"GroupsIndirectEw7", true, anyOf("groups", and(cmp("eq", "type", "indirect"), cmp("ew", "display", "7")))},
		{"MembersDisplayEw9", false, cmp("ew", "members.display", "9")},
		{"MembersUserDisplayCo", false, anyOf("members", and(cmp("eq", "type", "User"), cmp("co", "display", "zz")))},
		{"MembersValueEq", false, cmp("eq", "members.value", "no-such-member")},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := Query{Filter: c.e, Count: 100}
			for b.Loop() {
				var err error
				if c.users {
					_, _, err = db.ListUsers(ctx, q)
				} else {
					_, _, err = db.ListGroups(ctx, q)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
