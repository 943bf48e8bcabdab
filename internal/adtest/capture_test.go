package adtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/capturetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// update rewrites ldapsource's Samba captures (its decoder tests and fuzz
// seeds): go test ./internal/adtest -run TestBulkReadCapture -update
var update = flag.Bool("update", false, "rewrite ldapsource/testdata/captures/samba-*.ber")

// TestBulkReadCapture: ldapsource's bulk read of Samba AD, recorded on the
// wire, carries what the decoder must handle — binary objectGUID values,
// ranged member slices (rangeSize 500, the big group completed), search
// references from the domain root — and reads every user and group.
func TestBulkReadCapture(t *testing.T) {
	dc := populatedDC(t)
	data := sambatest.Data()
	proxy := capturetest.Start(t, net.JoinHostPort(dc.Addr, "389"))
	s := dc.Settings()
	s.Connection.URL, s.Connection.CACertPEM = "ldap://"+proxy.Addr, ""
	s.Connection.RangeSize = 500
	s.Connection.PageSize = 50
	s.Users.UsersDN = dc.BaseDN
	// Few of the 2,000 big users, to keep the capture small.
	s.Users.Filter = "(|(!(sAMAccountName=big*))(sAMAccountName=big00*))"
	ctx := context.Background()
	c, err := ldapsource.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	users := 0
	if err := c.Users(ctx, func(e *schema.Entry) error {
		if len(e.First("objectGUID")) != 16 {
			return fmt.Errorf("%s: objectGUID %x", e.DN, e.First("objectGUID"))
		}
		users++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	members := map[string]int{}
	if err := c.Groups(ctx, func(e *schema.Entry) error {
		members[string(e.First("cn"))] = len(e.Values("member"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if users <= len(data.Users)-sambatest.BigMembers || len(members) != len(data.Groups) || members[sambatest.BigGroup] != sambatest.BigMembers {
		t.Errorf("read %d users, %d groups (big: %d members); want more than %d users, %d groups, %d members",
			users, len(members), members[sambatest.BigGroup], len(data.Users)-sambatest.BigMembers, len(data.Groups), sambatest.BigMembers)
	}
	if c.Referrals() == 0 {
		t.Error("no search reference skipped")
	}
	var wire []byte
	for _, st := range proxy.Streams() {
		wire = append(wire, st...)
	}
	for _, want := range []string{"objectGUID", "member;range=0-499", "member;range=500-*", "ldap://"} {
		if !bytes.Contains(wire, []byte(want)) {
			t.Errorf("the capture lacks %q", want)
		}
	}
	if !*update {
		return
	}
	dir := filepath.Join("..", "..", "ldapsource", "testdata", "captures")
	for i, st := range proxy.Streams() {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("samba-%d.ber", i)), st, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBulkReadMatchesGoLDAP: over ldaps:// and over StartTLS, in pages of
// 100, ldapsource reads users and groups from Samba AD through its bulk path
// exactly as plain go-ldap reads the same searches (ldapsource.Searches):
// the same entries, attribute names (lower-cased) and values in order,
// binary objectGUID included.
func TestBulkReadMatchesGoLDAP(t *testing.T) {
	dc := populatedDC(t)
	for _, tc := range []struct {
		name string
		edit func(*schema.Settings)
	}{
		{"ldaps", func(*schema.Settings) {}},
		{"StartTLS", func(s *schema.Settings) {
			s.Connection.URL, s.Connection.StartTLS = dc.URL, true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dc.Settings()
			tc.edit(s)
			s.Connection.PageSize = 100
			s.Users.UsersDN = dc.BaseDN
			ctx := context.Background()
			c, err := ldapsource.Open(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := map[string]string{}
			keep := func(e *schema.Entry) error {
				got[e.DN] = entryText(e.Attrs)
				return nil
			}
			if err := c.Users(ctx, keep); err != nil {
				t.Fatal(err)
			}
			if err := c.Groups(ctx, keep); err != nil {
				t.Fatal(err)
			}
			if on, why := c.BulkPath(); !on {
				t.Fatalf("the bulk path was not taken: %v", why)
			}

			searches, err := ldapsource.Searches(s)
			if err != nil {
				t.Fatal(err)
			}
			raw := adminConn(t, dc)
			want := map[string]string{}
			for _, q := range searches {
				res, err := raw.SearchWithPaging(ldap.NewSearchRequest(q.Base, q.Scope, ldap.NeverDerefAliases, 0, 0, false,
					q.Filter, q.Attributes, nil), 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Entries {
					attrs := map[string][][]byte{}
					for _, a := range e.Attributes {
						k := strings.ToLower(a.Name)
						attrs[k] = append(attrs[k], a.ByteValues...)
					}
					want[e.DN] = entryText(attrs)
				}
			}
			if len(got) != len(want) || len(want) < sambatest.BigMembers {
				t.Errorf("read %d entries, go-ldap %d", len(got), len(want))
			}
			for dn, w := range want {
				if got[dn] != w {
					t.Errorf("%s:\n got  %s\n want %s", dn, got[dn], w)
				}
			}
		})
	}
}

// entryText spells out an entry's attributes, names sorted, values in order.
func entryText(attrs map[string][][]byte) string {
	var b strings.Builder
	for _, k := range sortedKeys(attrs) {
		fmt.Fprintf(&b, "%s=%q;", k, attrs[k])
	}
	return b.String()
}
