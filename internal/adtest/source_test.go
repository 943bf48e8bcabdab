package adtest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// readUsers reads and maps every user the settings select, through ldapsource.
func readUsers(t *testing.T, s *schema.Settings) map[string]schema.User {
	t.Helper()
	ctx := context.Background()
	dir, err := ldapsource.Dial(ctx, s)
	if err != nil {
		t.Fatalf("ldapsource.Dial: %v", err)
	}
	defer dir.Close()
	users := map[string]schema.User{}
	err = dir.Users(ctx, func(e *schema.Entry) error {
		u, err := schema.MapUser(e, s)
		if err != nil {
			return err
		}
		if _, dup := users[u.DN]; dup {
			return fmt.Errorf("user %s read twice", u.DN)
		}
		users[u.DN] = u
		return nil
	})
	if err != nil {
		t.Fatalf("read users: %v", err)
	}
	return users
}

// readGroups reads and maps every group the settings select, through ldapsource.
func readGroups(t *testing.T, s *schema.Settings) map[string]schema.Group {
	t.Helper()
	ctx := context.Background()
	dir, err := ldapsource.Dial(ctx, s)
	if err != nil {
		t.Fatalf("ldapsource.Dial: %v", err)
	}
	defer dir.Close()
	groups := map[string]schema.Group{}
	err = dir.Groups(ctx, func(e *schema.Entry) error {
		g, err := schema.MapGroup(e, s)
		if err != nil {
			return err
		}
		if _, dup := groups[g.Name]; dup {
			return fmt.Errorf("group %s read twice", g.Name)
		}
		groups[g.Name] = g
		return nil
	})
	if err != nil {
		t.Fatalf("read groups: %v", err)
	}
	return groups
}

// TestUsers: ldapsource with vendor "ad" settings reads every user under
// OU=People; mapped, each has its sAMAccountName as username, objectGUID as
// the GUID string AD itself prints, active=false exactly when disabled, and
// non-ASCII names and escaped DNs intact.
func TestUsers(t *testing.T) {
	dc := populatedDC(t)
	guids := guidsByDN(t, adminConn(t, dc), sambatest.PeopleDN, "(objectClass=user)")
	got := readUsers(t, dc.Settings())

	data := sambatest.Data()
	if len(got) != len(data.Users) {
		t.Errorf("read %d users, want %d", len(got), len(data.Users))
	}
	for _, du := range data.Users {
		want := schema.User{
			DN:          du.DN(),
			ExternalID:  guids[du.DN()],
			UserName:    du.SAMAccountName,
			GivenName:   du.GivenName,
			FamilyName:  du.Surname,
			DisplayName: du.DisplayName,
			Email:       du.Mail,
			Active:      !du.Disabled,
		}
		if want.ExternalID == "" {
			t.Fatalf("no objectGUID read for %s", want.DN)
		}
		if u, ok := got[want.DN]; !ok {
			t.Errorf("user %s not read", want.DN)
		} else if u != want {
			t.Errorf("user %s:\n got  %+v\n want %+v", want.DN, u, want)
		}
	}
	// The cases this test is about, spelled out.
	for dn, want := range map[string]struct {
		name, display string
		active        bool
	}{
		"CN=Zoë Ågren," + sambatest.PeopleDN:    {"zoe", "Zoë Ågren", true},
		`CN=Doe\, Dave,` + sambatest.PeopleDN:   {"dave", "Dave Doe", true},
		"CN=Erin Evans," + sambatest.PeopleDN:   {"erin", "Erin Evans", false},
		"CN=big0042," + sambatest.PeopleDN:      {"big0042", "Big User 0042", false},
		"CN=Alice Archer," + sambatest.PeopleDN: {"alice", "Alice Archer", true},
	} {
		u := got[dn]
		if u.UserName != want.name || u.DisplayName != want.display || u.Active != want.active {
			t.Errorf("%s: got userName %q displayName %q active %v, want %q %q %v",
				dn, u.UserName, u.DisplayName, u.Active, want.name, want.display, want.active)
		}
	}
}

// TestGroupsInChainFilter: IOMETE's custom group filter with the AD in-chain
// rule selects exactly engineers and the groups nested under it, not the
// groups above it (staff) or beside it.
func TestGroupsInChainFilter(t *testing.T) {
	dc := populatedDC(t)
	engineers, _ := sambatest.Data().Group("engineers")
	s := dc.Settings()
	s.Groups.Filter = "(|(cn=engineers)(memberOf:" + inChain + ":=" + engineers.DN() + "))"
	got := sortedKeys(readGroups(t, s))
	if want := []string{"backend", "engineers", "platform", "sre"}; !slices.Equal(got, want) {
		t.Errorf("groups selected by %s: got %v, want %v", s.Groups.Filter, got, want)
	}
}

// TestGroupsRanged: every group's members are exactly the populated ones,
// the 2,000 of "big" included, whether read plainly or, with
// connection.rangeSize 500, in member;range=… slices that ldapsource must
// stitch together. A proxy logging the search requests proves which way
// ldapsource asked.
func TestGroupsRanged(t *testing.T) {
	dc := populatedDC(t)
	data := sambatest.Data()
	big, _ := data.Group(sambatest.BigGroup)
	guids := guidsByDN(t, adminConn(t, dc), sambatest.GroupsDN, "(objectClass=group)")
	for _, tc := range []struct {
		rangeSize int
		// wantAsked are the member attribute descriptions asked for, by base DN.
		wantAsked map[string][]string
	}{
		{0, map[string][]string{sambatest.GroupsDN: {"member"}}},
		{500, map[string][]string{sambatest.GroupsDN: {"member;range=0-499"}, big.DN(): {"member;range=500-*"}}},
	} {
		t.Run(fmt.Sprintf("rangeSize=%d", tc.rangeSize), func(t *testing.T) {
			proxy := startSearchLog(t, net.JoinHostPort(dc.Addr, "389"))
			s := dc.Settings()
			s.Connection.URL = proxy.URL
			s.Connection.RangeSize = tc.rangeSize
			got := readGroups(t, s)
			if len(got) != len(data.Groups) {
				t.Errorf("read %d groups %v, want %d", len(got), sortedKeys(got), len(data.Groups))
			}
			for _, dg := range data.Groups {
				g, ok := got[dg.Name]
				if !ok {
					t.Errorf("group %s not read", dg.Name)
					continue
				}
				if g.DN != dg.DN() || g.ExternalID != guids[dg.DN()] || g.ExternalID == "" {
					t.Errorf("group %s: DN %q externalId %q, want %q %q", dg.Name, g.DN, g.ExternalID, dg.DN(), guids[dg.DN()])
				}
				var want []string
				for _, sam := range dg.Users {
					u, _ := data.User(sam)
					want = append(want, u.DN())
				}
				for _, name := range dg.Groups {
					sub, _ := data.Group(name)
					want = append(want, sub.DN())
				}
				slices.Sort(want)
				members := slices.Sorted(slices.Values(g.Members))
				if !slices.Equal(members, want) {
					t.Errorf("group %s: %d members, want %d; first differences: %v", dg.Name, len(members), len(want), firstDiff(members, want, 5))
				}
			}
			if n := len(got[sambatest.BigGroup].Members); n != sambatest.BigMembers {
				t.Errorf("big has %d members, want %d", n, sambatest.BigMembers)
			}

			asked := map[string][]string{}
			for _, q := range proxy.Searches() {
				for _, a := range q.Attrs {
					if a == "member" || strings.HasPrefix(strings.ToLower(a), "member;") {
						asked[q.Base] = append(asked[q.Base], a)
					}
				}
			}
			if !maps.EqualFunc(asked, tc.wantAsked, slices.Equal) {
				t.Errorf("member attributes asked for, by base: %v, want %v", asked, tc.wantAsked)
			}
		})
	}
}

// TestReadFromDomainRoot: users searched from the domain root with page size
// 1,000 (AD's MaxPageSize) come back complete, over several pages, and the
// search reference AD returns for CN=Configuration is skipped, not fatal.
func TestReadFromDomainRoot(t *testing.T) {
	dc := populatedDC(t)
	s := dc.Settings()
	s.Users.UsersDN = dc.BaseDN
	s.Connection.PageSize = 1000

	// What AD holds, read independently.
	res, err := adminConn(t, dc).SearchWithPaging(ldap.NewSearchRequest(dc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(&(objectClass=person)(objectClass=user))", []string{"sAMAccountName"}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrals) == 0 {
		t.Fatal("the raw search returned no search reference; this test would prove nothing")
	}
	var want []string
	for _, e := range res.Entries {
		want = append(want, e.DN)
	}
	slices.Sort(want)
	if len(want) <= 2*s.Connection.PageSize {
		t.Fatalf("only %d users under the domain root; need more than two pages", len(want))
	}

	ctx := context.Background()
	c, err := ldapsource.Open(ctx, s)
	if err != nil {
		t.Fatalf("ldapsource.Open: %v", err)
	}
	defer c.Close()
	var got []string
	if err := c.Users(ctx, func(e *schema.Entry) error {
		got = append(got, e.DN)
		return nil
	}); err != nil {
		t.Fatalf("read users from %s: %v", dc.BaseDN, err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("read %d users from the domain root, want %d; first differences: %v", len(got), len(want), firstDiff(got, want, 5))
	}
	if c.Referrals() == 0 {
		t.Errorf("ldapsource counted no skipped search references")
	}
	for _, sam := range []string{"Administrator", "zoe", "big2000"} {
		found := false
		for _, e := range res.Entries {
			found = found || e.GetAttributeValue("sAMAccountName") == sam
		}
		if !found {
			t.Errorf("%s missing from the domain-root search", sam)
		}
	}
}

// firstDiff lists up to n values that are in only one of the sorted slices.
func firstDiff(got, want []string, n int) []string {
	var out []string
	i, j := 0, 0
	for (i < len(got) || j < len(want)) && len(out) < n {
		switch {
		case j >= len(want) || (i < len(got) && got[i] < want[j]):
			out = append(out, "+"+got[i])
			i++
		case i >= len(got) || want[j] < got[i]:
			out = append(out, "-"+want[j])
			j++
		default:
			i++
			j++
		}
	}
	return out
}
