package adtest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/store"
)

// TestFullSync: a full sync of the DC (bridge.Syncer reading through
// ldapsource into a real SQLite store) stores every user and group with its
// objectGUID; "big" keeps its 2,000 members; and every user's transitive
// groups, as the bridge resolved them, equal AD's own in-chain answer for
// that user. A second sync changes nothing.
func TestFullSync(t *testing.T) {
	dc := populatedDC(t)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sy := bridge.NewSyncer(db, ldapsource.Dial, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := dc.Settings()
	data := sambatest.Data()
	c := adminConn(t, dc)

	r, err := sy.Run(ctx, s, bridge.Options{Trigger: bridge.TriggerManual})
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if r.Status != bridge.StatusSucceeded || r.Error != "" {
		t.Fatalf("sync %s: %s", r.Status, r.Error)
	}
	nu, ng := len(data.Users), len(data.Groups)
	if r.Users != nu || r.Groups != ng || r.UsersCreated != nu || r.GroupsCreated != ng ||
		r.UsersUpdated+r.UsersDeleted+r.GroupsUpdated+r.GroupsDeleted != 0 || r.Skipped != 0 || r.DanglingMembers != 0 {
		t.Errorf("first sync report %+v, want %d users and %d groups created, nothing else", r.Summary(), nu, ng)
	}

	// Users: attributes, objectGUID, and groups against AD's in-chain answer.
	total, users, err := db.ListUsers(ctx, store.Query{Count: nu + 1, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	if total != nu || len(users) != nu {
		t.Fatalf("store holds %d users (%d listed), want %d", total, len(users), nu)
	}
	userGUIDs := guidsByDN(t, c, sambatest.PeopleDN, "(objectClass=user)")
	groupGUIDs := guidsByDN(t, c, sambatest.GroupsDN, "(objectClass=group)")
	adGroups := adTransitiveGroups(t, c)
	directOf := map[string][]string{} // sAMAccountName → groups holding the user directly
	for _, g := range data.Groups {
		for _, sam := range g.Users {
			directOf[sam] = append(directOf[sam], g.Name)
		}
	}
	for _, u := range users {
		du, ok := data.User(u.UserName)
		if !ok {
			t.Errorf("stored user %q (%s) is not in the directory", u.UserName, u.DN)
			continue
		}
		if u.DN != du.DN() || u.ExternalID != userGUIDs[du.DN()] || u.Active == du.Disabled || u.DisplayName != du.DisplayName {
			t.Errorf("stored user %s: DN %q externalId %q active %v displayName %q; want %q %q %v %q",
				u.UserName, u.DN, u.ExternalID, u.Active, u.DisplayName, du.DN(), userGUIDs[du.DN()], !du.Disabled, du.DisplayName)
		}
		var names, direct []string
		for _, g := range u.Groups {
			names = append(names, g.Name)
			if g.Direct {
				direct = append(direct, g.Name)
			}
		}
		slices.Sort(names)
		slices.Sort(direct)
		wantDirect := slices.Sorted(slices.Values(directOf[u.UserName]))
		if !slices.Equal(names, adGroups[u.DN]) || !slices.Equal(direct, wantDirect) {
			t.Errorf("user %s: bridge groups %v (direct %v), AD in-chain %v (direct %v)",
				u.UserName, names, direct, adGroups[u.DN], wantDirect)
		}
	}
	// AD's answer itself matches the closure of the populated data, so the
	// comparison above cannot pass by both sides being empty.
	for sam, want := range data.TransitiveGroups() {
		u, _ := data.User(sam)
		if !slices.Equal(adGroups[u.DN()], want) {
			t.Errorf("AD in-chain groups of %s = %v, populated %v", sam, adGroups[u.DN()], want)
		}
	}

	// Groups: objectGUID and direct members (users and groups).
	total, groups, err := db.ListGroups(ctx, store.Query{Count: ng + 1, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	if total != ng {
		t.Fatalf("store holds %d groups, want %d", total, ng)
	}
	userName := map[string]string{}
	for _, u := range users {
		userName[u.ID] = u.UserName
	}
	groupName := map[string]string{}
	for _, g := range groups {
		groupName[g.ID] = g.Name
	}
	for _, g := range groups {
		dg, ok := data.Group(g.Name)
		if !ok {
			t.Errorf("stored group %q is not in the directory", g.Name)
			continue
		}
		if g.ExternalID != groupGUIDs[dg.DN()] || g.DN != dg.DN() {
			t.Errorf("stored group %s: DN %q externalId %q, want %q %q", g.Name, g.DN, g.ExternalID, dg.DN(), groupGUIDs[dg.DN()])
		}
		var gotUsers, gotGroups []string
		for _, m := range g.Members {
			switch m.Type {
			case bridge.MemberUser:
				gotUsers = append(gotUsers, userName[m.ID])
			case bridge.MemberGroup:
				gotGroups = append(gotGroups, groupName[m.ID])
			}
		}
		slices.Sort(gotUsers)
		slices.Sort(gotGroups)
		wantUsers := slices.Sorted(slices.Values(dg.Users))
		wantGroups := slices.Sorted(slices.Values(dg.Groups))
		if !slices.Equal(gotUsers, wantUsers) || !slices.Equal(gotGroups, wantGroups) {
			t.Errorf("stored group %s: %d member users, groups %v; want %d users, groups %v; user differences: %v",
				g.Name, len(gotUsers), gotGroups, len(wantUsers), wantGroups, firstDiff(gotUsers, wantUsers, 5))
		}
		if g.Name == sambatest.BigGroup && len(g.Members) != sambatest.BigMembers {
			t.Errorf("big has %d members after sync, want %d", len(g.Members), sambatest.BigMembers)
		}
	}

	r, err = sy.Run(ctx, s, bridge.Options{Trigger: bridge.TriggerManual})
	if err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if r.Status != bridge.StatusSucceeded || r.Users != nu || r.Groups != ng ||
		r.UsersCreated+r.UsersUpdated+r.UsersDeleted+r.GroupsCreated+r.GroupsUpdated+r.GroupsDeleted+r.MembershipsChanged != 0 {
		t.Errorf("second sync report %+v, want succeeded with no change", r.Summary())
	}
}

// adTransitiveGroups asks AD, for every group under GroupsDN, which users
// under PeopleDN are in it directly or through nesting (the in-chain rule on
// memberOf), and returns the inverse: user DN → sorted group names. Per user
// "(member:1.2.840.113556.1.4.1941:=<user DN>)" is the same relation, but
// Samba needs ~30 ms for each (it expands big's 2,000 members every time);
// per group it is ~0.3 s for all users at once. A sample of users is checked
// both ways.
func adTransitiveGroups(t *testing.T, c *ldap.Conn) map[string][]string {
	t.Helper()
	groups, err := c.Search(ldap.NewSearchRequest(sambatest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=group)", []string{"cn"}, nil))
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	out := map[string][]string{}
	for _, g := range groups.Entries {
		name := g.GetAttributeValue("cn")
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(sambatest.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(memberOf:"+inChain+":="+ldap.EscapeFilter(g.DN)+")", []string{"1.1"}, nil), 1000)
		if err != nil {
			t.Fatalf("in-chain members of %s: %v", g.DN, err)
		}
		for _, e := range res.Entries {
			out[e.DN] = append(out[e.DN], name)
		}
	}
	for dn := range out {
		slices.Sort(out[dn])
	}
	data := sambatest.Data()
	for _, sam := range []string{"alice", "bob", "carol", "dave", "erin", "zoe", "frank", "grace", "big0001", "big2000"} {
		u, _ := data.User(sam)
		perUser, err := adGroupsOf(c, u.DN())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(perUser, out[u.DN()]) {
			t.Fatalf("AD in-chain groups of %s: per user %v, per group %v", sam, perUser, out[u.DN()])
		}
	}
	return out
}
