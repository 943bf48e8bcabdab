package push

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// Benchmarks against SCIMMY (not part of `make test`):
//
//	go test ./push -run '^$' -bench . -benchtime 1x

func benchUser(i int, mail string) bridge.UserRow {
	id := fmt.Sprintf("u%06d", i)
	name := fmt.Sprintf("user%06d", i)
	dn := "uid=" + name + ",ou=people,dc=example,dc=com"
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return bridge.UserRow{ID: id, User: schema.User{DN: dn, ExternalID: "x-" + id, UserName: name, GivenName: "Given",
		FamilyName: name, DisplayName: "User " + name, Email: mail, Active: true},
		DNNorm: dn, UserNameNorm: name, Hash: "h" + mail, GroupsHash: "g", Version: "v" + mail, Created: now, LastModified: now}
}

// benchStore holds nUsers users in nGroups groups: user i directly in group
// i%nGroups; groups 10 and up are nested in group (j%10).
func benchStore(b *testing.B, nUsers, nGroups int) (*store.DB, *bridge.Plan) {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &bridge.Plan{GroupMembers: map[string][]bridge.Member{}, Ancestors: map[string][]string{}}
	for j := 0; j < nGroups; j++ {
		id, name := fmt.Sprintf("g%04d", j), fmt.Sprintf("group%04d", j)
		dn := "cn=" + name + ",ou=groups,dc=example,dc=com"
		p.CreateGroups = append(p.CreateGroups, bridge.GroupRow{ID: id, ExternalID: "x-" + id, DN: dn, DNNorm: dn, Name: name,
			NameNorm: name, Hash: "h", MembersHash: "m", Version: "v", Created: now, LastModified: now})
		if j >= 10 {
			parent := fmt.Sprintf("g%04d", j%10)
			p.GroupMembers[parent] = append(p.GroupMembers[parent], bridge.Member{ID: id, Type: bridge.MemberGroup})
			p.Ancestors[id] = []string{parent}
		}
	}
	for i := 0; i < nUsers; i++ {
		u := benchUser(i, fmt.Sprintf("user%06d@example.com", i))
		p.CreateUsers = append(p.CreateUsers, u)
		j := i % nGroups
		gid := fmt.Sprintf("g%04d", j)
		p.GroupMembers[gid] = append(p.GroupMembers[gid], bridge.Member{ID: u.ID, Type: bridge.MemberUser})
		p.Changes = append(p.Changes, bridge.Change{ResourceType: bridge.MemberUser, ResourceID: u.ID, Op: bridge.OpCreate, Name: u.UserName})
	}
	if err := db.Apply(ctx, p, nil); err != nil {
		b.Fatal(err)
	}
	return db, p
}

func benchSettings(srv *scimmytest.Server, concurrency int) *schema.Settings {
	return &schema.Settings{Push: schema.Push{Enabled: true, URL: srv.URL, Token: srv.Token, Concurrency: concurrency}}
}

// BenchmarkInitialPush10k: the first push of 10,000 users and 200 groups.
func BenchmarkInitialPush10k(b *testing.B) {
	ctx := context.Background()
	db, _ := benchStore(b, 10000, 200)
	srv := scimmytest.Start(b)
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				srv.Clear(b)
				if err := db.ResetPush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := db.SetPushMeta(ctx, "target", ""); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rep, err := New(db, nil).Run(ctx, benchSettings(srv, conc))
				if err != nil || rep.Created != 10200 || rep.Failed != 0 {
					b.Fatalf("push: %+v %v", rep, err)
				}
				b.ReportMetric(float64(rep.Sent)/(float64(rep.DurationMs)/1000), "requests/s")
			}
		})
	}
}

// BenchmarkOneChangeIn100k: one user's mail changes in a store of 100,000
// users whose target already holds them all: exactly one PATCH is sent.
func BenchmarkOneChangeIn100k(b *testing.B) {
	ctx := context.Background()
	db, p := benchStore(b, 100000, 200)
	srv := scimmytest.Start(b)
	var groups []map[string]any
	gs, err := db.PushGroups(ctx, func() []string {
		var ids []string
		for _, g := range p.CreateGroups {
			ids = append(ids, g.ID)
		}
		return ids
	}())
	if err != nil {
		b.Fatal(err)
	}
	// The target already holds everything, and the bookkeeping says so.
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO push_state (resource_type, resource_id, remote_id, name, pushed_hash,
		pushed_body, status, attempts, last_error, updated) VALUES (?, ?, ?, ?, ?, ?, 'delivered', 0, '', '2026-01-01T00:00:00.000Z')`)
	if err != nil {
		b.Fatal(err)
	}
	var users []map[string]any
	for i := range p.CreateUsers {
		u := &store.PushUser{UserRow: p.CreateUsers[i]}
		body := newUserBody(u)
		h, js := hashOf(body.attrs())
		if _, err := ins.ExecContext(ctx, bridge.MemberUser, u.ID, "r-"+u.ID, u.UserName, h, js); err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		raw, _ := json.Marshal(body.wire())
		_ = json.Unmarshal(raw, &m)
		m["id"] = "r-" + u.ID
		users = append(users, m)
	}
	memb, err := tx.PrepareContext(ctx, "INSERT INTO push_members (group_id, member_id) VALUES (?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	for _, g := range gs {
		body := newGroupBody(g.Name, g.ExternalID)
		h, js := hashOf(body.attrs())
		if _, err := ins.ExecContext(ctx, bridge.MemberGroup, g.ID, "r-"+g.ID, g.Name, h, js); err != nil {
			b.Fatal(err)
		}
		ms := []map[string]any{}
		for _, uid := range g.Users {
			ms = append(ms, map[string]any{"value": "r-" + uid, "type": "User"})
			if _, err := memb.ExecContext(ctx, g.ID, "r-"+uid); err != nil {
				b.Fatal(err)
			}
		}
		groups = append(groups, map[string]any{"schemas": []string{groupSchema}, "id": "r-" + g.ID,
			"displayName": g.Name, "externalId": g.ExternalID, "members": ms})
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(users); i += 20000 {
		srv.Load(b, users[i:min(i+20000, len(users))], nil)
	}
	srv.Load(b, nil, groups)
	s := benchSettings(srv, 4)
	cfg, _ := newConfig(s.Push)
	for k, v := range map[string]string{"target": cfg.target(), "shape": cfg.shape()} {
		if err := db.SetPushMeta(ctx, k, v); err != nil {
			b.Fatal(err)
		}
	}
	ch, err := db.PushChanges(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.SetPushCursor(ctx, ch[len(ch)-1].Seq); err != nil {
		b.Fatal(err)
	}
	c := New(db, nil)
	if _, err := c.Run(ctx, s); err != nil { // reads /ServiceProviderConfig once
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		u := benchUser(4242, fmt.Sprintf("changed%d@example.com", n))
		if err := db.Apply(ctx, &bridge.Plan{UpdateUsers: []bridge.UserRow{u},
			Changes: []bridge.Change{{ResourceType: bridge.MemberUser, ResourceID: u.ID, Op: bridge.OpUpdate, Name: u.UserName}}}, nil); err != nil {
			b.Fatal(err)
		}
		srv.Reset(b)
		b.StartTimer()
		rep, err := c.Run(ctx, s)
		b.StopTimer()
		if err != nil || rep.Updated != 1 || rep.Failed != 0 {
			b.Fatalf("push: %+v %v", rep, err)
		}
		if got := scimmytest.Counts(srv.Requests(b)); len(got) != 1 || got["PATCH /Users"] != 1 {
			b.Fatalf("requests %v, want exactly one PATCH /Users", got)
		}
		b.StartTimer()
	}
}
