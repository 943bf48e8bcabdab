package adtest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
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
		if got, want := bridgetest.Served(t, db, bulkUser), bridgetest.FullSync(t, ldapsource.Dial, s, bulkUser); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the store serves\n%s\nwant (a full sync)\n%s", step.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if res, err := sy.RunChanged(ctx, s, bridge.Options{}); err != nil || len(res.Runs) != 0 {
		t.Fatalf("a pass with no change: %v %+v", err, res)
	}
}

func mustUser(t *testing.T, sam string) sambatest.User {
	t.Helper()
	u, ok := sambatest.Data().User(sam)
	if !ok {
		t.Fatalf("no user %q in sambatest.Data", sam)
	}
	return u
}

// bulkUser says a user is one of the shared DC's bulk users: they never
// change in these tests, and leaving them out of what a store serves keeps
// its listing short.
func bulkUser(userName string) bool { return strings.HasPrefix(userName, "big") }
