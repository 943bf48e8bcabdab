package ldapsource_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/capturetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// bulkExtras adds to the base fixture what the bulk path must carry like
// go-ldap does: a binary value with zero bytes (jpegPhoto), multi-valued
// attributes, and a group whose one entry is larger than several of the bulk path's chunks.
func bulkExtras(t *testing.T, members int) string {
	var b strings.Builder
	b.WriteString(testLDIF(t, "binary-user.ldif"))
	b.WriteString(`
dn: cn=huge,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: huge
cn: huge-alias
`)
	for i := range members {
		fmt.Fprintf(&b, "member: uid=member%06d,ou=people,dc=example,dc=com\n", i)
	}
	return b.String()
}

// testLDIF reads testdata/name.
func testLDIF(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// entries reads every entry of read, copied, by DN.
func entries(t *testing.T, read func(context.Context, func(*schema.Entry) error) error) map[string]*schema.Entry {
	t.Helper()
	out := map[string]*schema.Entry{}
	if err := read(context.Background(), func(e *schema.Entry) error {
		if _, dup := out[e.DN]; dup {
			return fmt.Errorf("%s read twice", e.DN)
		}
		out[e.DN] = keep(e)
		return nil
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

// sameEntries says how two reads differ, or "" when they are identical:
// same DNs, same attribute names, same values in the same order.
func sameEntries(got, want map[string]*schema.Entry) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d entries, want %d", len(got), len(want))
	}
	for dn, w := range want {
		g, ok := got[dn]
		if !ok {
			return "missing " + dn
		}
		if len(g.Attrs) != len(w.Attrs) {
			return fmt.Sprintf("%s: attributes %v, want %v", dn, keys(g), keys(w))
		}
		for name, wv := range w.Attrs {
			gv, ok := g.Attrs[name]
			if !ok || !slices.EqualFunc(gv, wv, bytes.Equal) {
				return fmt.Sprintf("%s: %s = %q, want %q", dn, name, gv, wv)
			}
		}
	}
	return ""
}

func keys(e *schema.Entry) []string {
	var ks []string
	for k := range e.Attrs {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestBulkReadsWhatGoLDAPReads reads users and groups through the bulk path
// and through go-ldap, over plain LDAP, ldaps:// and StartTLS, in pages small
// enough to need many, and requires identical entries: every attribute form
// the mapping reads, binary values, multi-valued attributes, a
// group of 30,000 members (larger than the bulk path's chunks), and a search
// reference, skipped and counted alike.
func TestBulkReadsWhatGoLDAPReads(t *testing.T) {
	const members = 30000
	srv := slapdtest.Start(t, slapdtest.WithLDIF(bulkExtras(t, members)))
	srv.Load(t, testLDIF(t, "referral.ldif"))
	cases := []struct {
		name     string
		edit     func(*schema.Settings)
		pageSize int
	}{
		{"plain", func(*schema.Settings) {}, 3},
		{"ldaps", func(s *schema.Settings) { s.Connection.URL, s.Connection.CACertPEM = srv.LDAPSURL, srv.CAPEM }, 4},
		{"StartTLS", func(s *schema.Settings) { s.Connection.StartTLS, s.Connection.CACertPEM = true, srv.CAPEM }, 5},
		{"one page", func(*schema.Settings) {}, 1000},
		{"memberUid groups", func(s *schema.Settings) { *s = *srv.PosixSettings() }, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := srv.Settings()
			tc.edit(s)
			s.Connection.PageSize = tc.pageSize
			s.Users.Attributes.ExternalID = "jpegPhoto"
			bulk, plain := open(t, s), open(t, s)
			ldapsource.UseGoLDAP(plain)

			bu, pu := entries(t, bulk.Users), entries(t, plain.Users)
			bg, pg := entries(t, bulk.Groups), entries(t, plain.Groups)
			if on, err := bulk.BulkPath(); !on {
				t.Fatalf("the bulk path was not taken: %v", err)
			}
			if diff := sameEntries(bu, pu); diff != "" {
				t.Errorf("users differ: %s", diff)
			}
			if diff := sameEntries(bg, pg); diff != "" {
				t.Errorf("groups differ: %s", diff)
			}
			if bulk.Referrals() != 1 || plain.Referrals() != 1 {
				t.Errorf("referrals: bulk %d, go-ldap %d, want 1 and 1", bulk.Referrals(), plain.Referrals())
			}
			if tc.name == "memberUid groups" {
				return
			}
			if len(bu) != len(allPeople)+1 || len(bg) != 9 {
				t.Fatalf("read %d users and %d groups, want %d and 9", len(bu), len(bg), len(allPeople)+1)
			}
			bin := bu["uid=binary"+people]
			if got := bin.Attrs["jpegphoto"]; len(got) != 1 || !bytes.Equal(got[0], []byte("\x00\x01\x02\x03\x00\x00\x80\xff\x10\xef\x00\x00\x01\x02\x03\x04\x05")) {
				t.Errorf("jpegPhoto = %q", got)
			}
			if got := bin.Attrs["mail"]; len(got) != 3 || string(got[2]) != "third@example.com" {
				t.Errorf("mail = %q", got)
			}
			huge := bg["cn=huge"+groups]
			if n := len(huge.Values("member")); n != members {
				t.Errorf("huge has %d members, want %d", n, members)
			}
			if got := huge.Values("member")[members-1]; string(got) != fmt.Sprintf("uid=member%06d,ou=people,dc=example,dc=com", members-1) {
				t.Errorf("huge's last member = %q", got)
			}
		})
	}
}

// TestBulkFallsBackToGoLDAP: when the dedicated connection of the bulk path
// cannot be opened, the read goes through go-ldap, completely, and says why.
func TestBulkFallsBackToGoLDAP(t *testing.T) {
	srv := slapdtest.Start(t)
	proxy := capturetest.Start(t, strings.TrimPrefix(srv.URL, "ldap://"))
	s := srv.Settings()
	s.Connection.URL = "ldap://" + proxy.Addr
	s.Connection.PageSize = 4
	c := open(t, s)
	proxy.RefuseNew()
	if got := read(t, c.Users); !slices.Equal(got, sorted(allPeople)) {
		t.Errorf("users = %q", got)
	}
	on, err := c.BulkPath()
	if on || err == nil || !strings.Contains(err.Error(), "bind: connection lost") {
		t.Errorf("bulk path on %v, err %v; want off after a lost connection at bind", on, err)
	}
	if got := read(t, c.Groups); len(got) != 8 {
		t.Errorf("read %d groups through go-ldap, want 8", len(got))
	}
}
