package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// bigPlan creates nUsers users with random UUID ids, nGroups groups, every
// user in three groups (one direct), and each user a direct member of one group.
func bigPlan(nUsers, nGroups int) *bridge.Plan {
	at := ts("2026-01-01T00:00:00Z")
	p := &bridge.Plan{
		UserGroups:   make(map[string][]bridge.Membership, nUsers),
		GroupMembers: make(map[string][]bridge.Member, nGroups),
	}
	for i := range nGroups {
		name := fmt.Sprintf("Group %04d", i)
		dn := "cn=" + name + ",ou=groups,dc=example,dc=com"
		g := bridge.GroupRow{ID: uuid(), ExternalID: uuid(), DN: dn, DNNorm: strings.ToLower(dn), Name: name,
			NameNorm: strings.ToLower(name), Hash: uuid(), MembersHash: uuid(), Version: uuid(), Created: at, LastModified: at}
		p.CreateGroups = append(p.CreateGroups, g)
		p.Changes = append(p.Changes, bridge.Change{ResourceType: bridge.MemberGroup, ResourceID: g.ID, Op: bridge.OpCreate, Name: name})
	}
	for i := range nUsers {
		name := fmt.Sprintf("user%06d", i)
		dn := "uid=" + name + ",ou=people,dc=example,dc=com"
		u := bridge.UserRow{ID: uuid(), User: schema.User{DN: dn, ExternalID: uuid(), UserName: name,
			GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", i), DisplayName: fmt.Sprintf("Given Family%d", i),
			Email: name + "@example.com", Active: true, EmployeeNumber: fmt.Sprint(i), Department: "Engineering"},
			DNNorm: dn, UserNameNorm: name, Hash: uuid(), GroupsHash: uuid(), Version: uuid(), Created: at, LastModified: at}
		p.CreateUsers = append(p.CreateUsers, u)
		g := i % nGroups
		p.UserGroups[u.ID] = []bridge.Membership{
			{GroupID: p.CreateGroups[g].ID, Direct: true},
			{GroupID: p.CreateGroups[(g+1)%nGroups].ID},
			{GroupID: p.CreateGroups[(g+2)%nGroups].ID},
		}
		gid := p.CreateGroups[g].ID
		p.GroupMembers[gid] = append(p.GroupMembers[gid], bridge.Member{ID: u.ID, Type: bridge.MemberUser})
		p.Changes = append(p.Changes, bridge.Change{ResourceType: bridge.MemberUser, ResourceID: u.ID, Op: bridge.OpCreate, Name: name})
	}
	return p
}

// BenchmarkApply100k applies 100,000 new users, 2,000 groups, 300,000
// memberships, 100,000 group members and 102,000 change log entries in one plan.
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
			if err != nil || total != 1 || len(users[0].Groups) != 3 {
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
			if err != nil || total != 150 {
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
