package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMapUser feeds random DNs and attribute bytes through MapUser under the
// OpenLDAP and AD settings. It must never panic, must fail only with an
// *EntryError, and any user it returns has a non-empty, valid UTF-8 username
// and valid UTF-8 fields within the limits.
func FuzzMapUser(f *testing.F) {
	guid := "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
	f.Add(false, "uid=jdoe,ou=people,dc=example,dc=com", []byte("jdoe"), []byte("jdoe@example.com"), []byte("5e0f1c2a-7d9b-4d3e-9a41-0c3f2b1e8d77"), []byte(""))
	f.Add(true, "CN=John,CN=Users,DC=corp", []byte("jdoe"), []byte("j@corp"), []byte(guid), []byte("514"))
	f.Add(true, "CN=x", []byte(" "), []byte(""), []byte("\x01\x05"), []byte("-2"))
	f.Add(true, "CN=x", []byte("x"), []byte(""), []byte(guid[:15]), []byte("9223372036854775808"))
	f.Add(false, "cn=\xff", []byte("j\xffdoe"), []byte("\xc3\x28"), []byte("\x00\x01\xfe"), []byte("0x2"))
	f.Add(false, "", []byte(strings.Repeat("a", 2049)), []byte(strings.Repeat("é", 1025)), []byte(""), []byte(""))
	f.Add(false, " uid=a ", []byte("\t a \n"), []byte("\u00a0mail\u00a0"), []byte("ABCDEFGHIJKLMNOP"), []byte(""))
	f.Fuzz(func(t *testing.T, ad bool, dn string, username, mail, externalID, uac []byte) {
		s := validOpenLDAP()
		if ad {
			s = validAD()
		}
		s.Groups.Attributes.MembershipAttributeType = MembershipUID
		a := s.Users.Attributes
		e := &Entry{DN: dn, Attrs: map[string][][]byte{
			strings.ToLower(a.Username):   {username},
			strings.ToLower(a.Email):      {mail},
			strings.ToLower(a.ExternalID): {externalID},
			"useraccountcontrol":          {uac},
			"givenname":                   {mail, username},
		}}
		u, err := MapUser(e, &s)
		if err != nil {
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Reason == "" {
				t.Fatalf("error %v is not an *EntryError with a reason", err)
			}
			if !utf8.ValidString(ee.DN) || !utf8.ValidString(ee.Reason) {
				t.Fatalf("EntryError is not valid UTF-8: %q %q", ee.DN, ee.Reason)
			}
			return
		}
		if u.UserName == "" || !utf8.ValidString(u.UserName) {
			t.Fatalf("UserName %q", u.UserName)
		}
		for _, v := range []string{u.DN, u.UserName, u.Email, u.GivenName, u.ExternalID, u.MemberKey} {
			if !utf8.ValidString(v) {
				t.Fatalf("invalid UTF-8 in %+v", u)
			}
			if v != strings.TrimSpace(v) {
				t.Fatalf("untrimmed value %q", v)
			}
		}
		if len(u.UserName) > MaxValueBytes || len(u.Email) > MaxValueBytes || len(u.DN) > MaxDNBytes {
			t.Fatalf("value over the limit in %+v", u)
		}
	})
}

// FuzzParse feeds random documents to Parse. It must never panic, must fail
// with an error, and a document it accepts must survive a marshal/parse round
// trip unchanged; Validate must not panic on it either.
func FuzzParse(f *testing.F) {
	full, _ := json.Marshal(validAD())
	f.Add(full)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"vendor": "ad", "connection": {"url": "ldaps://dc1"}, "users": {"objectClasses": ["a", 1]}}`))
	f.Add([]byte(`{"sync": {"fullSyncIntervalSeconds": 1e400}, "push": {"scopeGroups": null}}`))
	f.Add([]byte(`{"vendor": null, "Vendor": "x", "connection": [] } {}`))
	f.Add([]byte(`{"push": {"enabled": true, "url": "http://[::1]:80", "authHeader": "X:"}, "groups": {"enabled": false}}`))
	f.Add([]byte("{\"users\": {\"usersDn\": \"\xff\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Fields) == 0 {
				t.Fatal("ValidationError without fields")
			}
			return
		}
		_ = s.Validate()
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip changed the document:\n%+v\n%+v", s, again)
		}
	})
}

// FuzzMapGroup feeds random DNs and attribute bytes through MapGroup under
// the OpenLDAP and AD settings. It must never panic, must fail only with an
// *EntryError, and a group it returns has a name and members that are
// trimmed, valid UTF-8 and within the limits, with every value accounted
// for as a member, a drop or a blank.
func FuzzMapGroup(f *testing.F) {
	guid := "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
	f.Add(false, "cn=admins,ou=groups,dc=example,dc=com", []byte("admins"), []byte("5e0f1c2a-7d9b-4d3e-9a41-0c3f2b1e8d77"), []byte("uid=a,dc=x"), []byte("cn=b,dc=x"))
	f.Add(true, "CN=Admins,CN=Users,DC=corp", []byte("Admins"), []byte(guid), []byte(" "), []byte("\xff"))
	f.Add(false, "cn=\xff", []byte(""), []byte(""), []byte(strings.Repeat("m", MaxDNBytes+1)), []byte("\t uid=c \n"))
	f.Add(true, " ", []byte(strings.Repeat("n", MaxValueBytes+1)), []byte(guid[:3]), []byte(""), []byte(""))
	f.Fuzz(func(t *testing.T, ad bool, dn string, name, externalID, m1, m2 []byte) {
		s := validOpenLDAP()
		if ad {
			s = validAD()
		}
		a := s.Groups.Attributes
		e := &Entry{DN: dn, Attrs: map[string][][]byte{
			strings.ToLower(a.Name):       {name},
			strings.ToLower(a.ExternalID): {externalID},
			strings.ToLower(a.Membership): {m1, m2},
		}}
		g, err := MapGroup(e, &s)
		if err != nil {
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Reason == "" || !utf8.ValidString(ee.DN) || !utf8.ValidString(ee.Reason) {
				t.Fatalf("error %v is not an *EntryError with a valid reason", err)
			}
			return
		}
		if g.Name == "" || len(g.Name) > MaxValueBytes || len(g.DN) > MaxDNBytes {
			t.Fatalf("group %+v", g)
		}
		blank := 0
		for _, v := range [][]byte{m1, m2} {
			if len(strings.TrimSpace(string(v))) == 0 {
				blank++
			}
		}
		if len(g.Members)+g.Dropped+blank != 2 {
			t.Fatalf("members %q, dropped %d, blank %d: want every value accounted for", g.Members, g.Dropped, blank)
		}
		for _, v := range append([]string{g.DN, g.Name, g.ExternalID}, g.Members...) {
			if !utf8.ValidString(v) || v != strings.TrimSpace(v) {
				t.Fatalf("value %q of %+v", v, g)
			}
		}
	})
}
