package adtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// TestChangedPassesOnSamba runs changed-entries passes (DirSync) against a
// Samba AD DC of its own (the shared one must stay as sambatest.Data says):
// after each change the store serves exactly what a full sync of the DC
// gives on a new store, deletions included (DirSync reports isDeleted).
func TestChangedPassesOnSamba(t *testing.T) {
	dc := sambatest.Start(t)
	ctx := context.Background()
	if err := dc.Populate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sy := bridge.NewSyncer(db, ldapsource.Dial, log)
	sy.SetChangeDialer(ldapsource.DialChanges)
	s := dc.Settings()
	s.Sync.ChangedSyncIntervalSeconds = 60
	if r, err := sy.Run(ctx, s, bridge.Options{}); err != nil || r.Status != bridge.StatusSucceeded {
		t.Fatalf("first sync: %v %+v", err, r)
	}
	c := adminConn(t, dc)
	data := sambatest.Data()
	dn := func(sam string) string { u, _ := data.User(sam); return u.DN() }
	gdn := func(name string) string { g, _ := data.Group(name); return g.DN() }
	newbie := "CN=New Bie," + sambatest.PeopleDN
	steps := []struct {
		name   string
		change func() error
	}{
		{"modify a user", func() error {
			req := ldap.NewModifyRequest(dn("alice"), nil)
			req.Replace("displayName", []string{"Alice Changed"})
			return c.Modify(req)
		}},
		{"add a user and put it in a group", func() error {
			req := ldap.NewAddRequest(newbie, nil)
			req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
			req.Attribute("sAMAccountName", []string{"newbie"})
			req.Attribute("mail", []string{"newbie@test.example.com"})
			if err := c.Add(req); err != nil {
				return err
			}
			m := ldap.NewModifyRequest(gdn("sales"), nil)
			m.Add("member", []string{newbie})
			return c.Modify(m)
		}},
		{"remove a group member", func() error {
			m := ldap.NewModifyRequest(gdn("sre"), nil)
			m.Delete("member", []string{dn("alice")})
			return c.Modify(m)
		}},
		{"change the nesting", func() error {
			m := ldap.NewModifyRequest(gdn("backend"), nil)
			m.Delete("member", []string{gdn("platform")})
			return c.Modify(m)
		}},
		{"rename a user", func() error {
			return c.ModifyDN(ldap.NewModifyDNRequest(dn("grace"), "CN=Grace Renamed", true, ""))
		}},
		{"move a user out of scope", func() error {
			return c.ModifyDN(ldap.NewModifyDNRequest(dn("bob"), "CN="+ldap.EscapeDN(mustUser(t, "bob").CN), true, "CN=Users,"+dc.BaseDN))
		}},
		{"delete a user", func() error { return c.Del(ldap.NewDelRequest(dn("frank"), nil)) }},
	}
	for _, step := range steps {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		res, err := sy.RunChanged(ctx, s, bridge.Options{})
		if err != nil {
			t.Fatalf("%s: RunChanged: %v", step.name, err)
		}
		if res.Mechanism != ldapsource.MechanismDirSync || len(res.Runs) == 0 {
			t.Fatalf("%s: mechanism %q, %d runs, %d changes: %+v", step.name, res.Mechanism, len(res.Runs), res.Changes, res)
		}
		for _, r := range res.Runs {
			if r.Status != bridge.StatusSucceeded || r.FullSyncReason != "" {
				t.Fatalf("%s: run %s %q, full sync %q", step.name, r.Status, r.Error, r.FullSyncReason)
			}
		}
		if got, want := servedAD(t, db), fullOfAD(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the store serves\n%s\nwant (a full sync)\n%s", step.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if res, err := sy.RunChanged(ctx, s, bridge.Options{}); err != nil || len(res.Runs) != 0 {
		t.Fatalf("a pass with no change: %v %+v", err, res)
	}
}

// fullOfAD is what a full sync of the DC gives on a new store.
func fullOfAD(t *testing.T, s *schema.Settings) []string {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := *s
	c.Sync.ChangedSyncIntervalSeconds = 0
	r, err := bridge.NewSyncer(db, ldapsource.Dial, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(context.Background(), &c, bridge.Options{AllowDeletes: true})
	if err != nil || r.Status != bridge.StatusSucceeded {
		t.Fatalf("full sync: %v %+v", err, r)
	}
	return servedAD(t, db)
}

// servedAD is what /scim/v2 serves of a store, ids and versions included
// (bulk users left out: they never change here).
func servedAD(t *testing.T, db *store.DB) []string {
	t.Helper()
	ctx := context.Background()
	_, users, err := db.ListUsers(ctx, store.Query{Count: 100000, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	_, groups, err := db.ListGroups(ctx, store.Query{Count: 1000, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		if strings.HasPrefix(u.UserName, "big") {
			continue
		}
		var gs []string
		for _, g := range u.Groups {
			gs = append(gs, fmt.Sprintf("%s/%v", g.Name, g.Direct))
		}
		sort.Strings(gs)
		out = append(out, fmt.Sprintf("user %s id=%s dn=%s display=%s version=%s groups=%v", u.UserName, u.ID, u.DNNorm, u.DisplayName, u.Version, gs))
	}
	for _, g := range groups {
		out = append(out, fmt.Sprintf("group %s id=%s version=%s members=%d", g.Name, g.ID, g.Version, len(g.Members)))
	}
	sort.Strings(out)
	return out
}

func mustUser(t *testing.T, sam string) sambatest.User {
	t.Helper()
	u, ok := sambatest.Data().User(sam)
	if !ok {
		t.Fatalf("no user %q in sambatest.Data", sam)
	}
	return u
}
