package sambatest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/sambatest"
)

// TestPopulate starts a DC, populates it, restarts it and reads the
// population back with raw go-ldap searches: Restart keeps what the DC stored.
func TestPopulate(t *testing.T) {
	dc := sambatest.Start(t)
	if err := dc.Populate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := dc.Restart(); err != nil {
		t.Fatal(err)
	}
	c, err := dc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := sambatest.Data()
	if err := dc.Settings().Validate(); err != nil {
		t.Errorf("Settings() does not validate: %v", err)
	}

	res, err := c.SearchWithPaging(ldap.NewSearchRequest(sambatest.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=user)", []string{"sAMAccountName", "displayName", "userAccountControl", "objectGUID"}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.Entries), len(data.Users); got != want {
		t.Fatalf("users under %s: got %d, want %d", sambatest.PeopleDN, got, want)
	}
	for _, e := range res.Entries {
		sam := e.GetAttributeValue("sAMAccountName")
		u, ok := data.User(sam)
		if !ok {
			t.Errorf("unexpected user %s (%s)", sam, e.DN)
			continue
		}
		if got := e.GetAttributeValue("displayName"); got != u.DisplayName {
			t.Errorf("%s displayName = %q, want %q", sam, got, u.DisplayName)
		}
		uac, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
		if err != nil {
			t.Fatalf("%s userAccountControl: %v", sam, err)
		}
		if disabled := uac&2 != 0; disabled != u.Disabled {
			t.Errorf("%s userAccountControl = %d, disabled=%v, want disabled=%v", sam, uac, disabled, u.Disabled)
		}
		if n := len(e.GetRawAttributeValue("objectGUID")); n != 16 {
			t.Errorf("%s objectGUID has %d bytes, want 16", sam, n)
		}
	}

	big, ok := data.Group(sambatest.BigGroup)
	if !ok {
		t.Fatal("no big group in Data")
	}
	res, err = c.Search(ldap.NewSearchRequest(big.DN(), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=group)", []string{"member"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Entries[0].GetAttributeValues("member")); got != sambatest.BigMembers {
		t.Errorf("big has %d members, want %d", got, sambatest.BigMembers)
	}

	// AD's in-chain answer for every user in a group equals the transitive
	// closure computed from Data.
	for sam, want := range data.TransitiveGroups() {
		if sam != "big0001" && len(sam) > 3 && sam[:3] == "big" {
			continue
		}
		u, _ := data.User(sam)
		res, err := c.Search(ldap.NewSearchRequest(sambatest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(member:1.2.840.113556.1.4.1941:="+ldap.EscapeFilter(u.DN())+")", []string{"cn"}, nil))
		if err != nil {
			t.Fatalf("in-chain groups of %s: %v", sam, err)
		}
		var got []string
		for _, e := range res.Entries {
			got = append(got, e.GetAttributeValue("cn"))
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("groups of %s: AD says %v, Data says %v", sam, got, want)
		}
	}
}

// TestStrongAuth pins the WithStrongAuth option: plain simple binds are
// refused with strongAuthRequired, ldaps binds work.
func TestStrongAuth(t *testing.T) {
	dc := sambatest.Start(t, sambatest.WithStrongAuth())
	c, err := ldap.DialURL(dc.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Bind(dc.AdminUPN, dc.AdminPassword)
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultStrongAuthRequired {
		t.Fatalf("plain bind: got %v, want strongAuthRequired (8)", err)
	}
	tc, err := dc.Dial()
	if err != nil {
		t.Fatalf("ldaps bind: %v", err)
	}
	tc.Close()
}

func TestTransitiveGroups(t *testing.T) {
	got := sambatest.Data().TransitiveGroups()
	want := map[string][]string{
		"alice": {"backend", "engineers", "platform", "sre", "staff"}, // direct in engineers and sre
		"bob":   {"backend", "engineers", "staff"},
		"carol": {"backend", "engineers", "platform", "staff"},
		"dave":  {"backend", "engineers", "platform", "sre", "staff"},
		"erin":  {"backend", "engineers", "platform", "sre", "staff"},
		"zoe":   {"backend", "engineers", "marketing", "platform", "staff"},
		"frank": {"marketing", "sales", "staff"},
	}
	for i := 1; i <= sambatest.BigMembers; i++ {
		want[fmt.Sprintf("big%04d", i)] = []string{"big"}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d users with groups, want %d", len(got), len(want))
	}
	for sam, w := range want {
		if !slices.Equal(got[sam], w) {
			t.Errorf("%s: got %v, want %v", sam, got[sam], w)
		}
	}
}

// recTB records what Require does instead of stopping the test.
type recTB struct {
	testing.TB
	skipped, failed string
}

func (r *recTB) Helper()                        {}
func (r *recTB) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recTB) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

// TestRequire: "Samba cannot run here" skips with the reason, unless
// SCIMBRIDGE_REQUIRE_AD=1 makes it a failure; other errors always fail.
func TestRequire(t *testing.T) {
	unavailable := fmt.Errorf("%w: no samba binary in PATH or /usr/sbin", sambatest.ErrUnavailable)
	broken := errors.New("samba on 127.0.0.2 exited during start-up")
	for _, tc := range []struct {
		name, env           string
		err                 error
		wantSkip, wantFatal bool
	}{
		{"ok", "", nil, false, false},
		{"unavailable", "", unavailable, true, false},
		{"unavailable, env 0", "0", unavailable, true, false},
		{"unavailable, required", "1", unavailable, false, true},
		{"broken", "", broken, false, true},
		{"broken, required", "1", broken, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(sambatest.RequireEnv, tc.env)
			r := &recTB{TB: t}
			sambatest.Require(r, tc.err)
			if (r.skipped != "") != tc.wantSkip || (r.failed != "") != tc.wantFatal {
				t.Fatalf("skipped %q, failed %q; want skip=%v fatal=%v", r.skipped, r.failed, tc.wantSkip, tc.wantFatal)
			}
			for _, msg := range []string{r.skipped, r.failed} {
				if msg != "" && !strings.Contains(msg, tc.err.Error()) {
					t.Errorf("message %q does not give the reason %q", msg, tc.err)
				}
			}
			if tc.wantSkip && !strings.Contains(r.skipped, sambatest.RequireEnv+"=1") {
				t.Errorf("skip message %q does not mention %s=1", r.skipped, sambatest.RequireEnv)
			}
		})
	}
}
