package schema

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// entry builds an Entry from attribute/value pairs; names are lower-cased as
// the directory adapter delivers them.
func entry(dn string, kv ...string) *Entry {
	e := &Entry{DN: dn, Attrs: map[string][][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		e.Attrs[k] = append(e.Attrs[k], []byte(kv[i+1]))
	}
	return e
}

func unhex(t testing.TB, s string) string {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFormatGUIDUsesADByteOrder(t *testing.T) {
	got, err := FormatGUID([]byte(unhex(t, "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff")))
	if err != nil || got != "33221100-5544-7766-8899-aabbccddeeff" {
		t.Fatalf("FormatGUID = %q, %v", got, err)
	}
	if _, err := FormatGUID(make([]byte, 15)); err == nil || err.Error() != "a GUID is 16 bytes, not 15" {
		t.Fatalf("15 bytes: err = %v", err)
	}
}

func TestFormatSID(t *testing.T) {
	cases := []struct{ hex, want, err string }{
		// S-1-5-21-3623811015-3361044348-30300820-1013, the example SID of MS-DTYP.
		{"01 05 000000000005 15000000 c7f7fed7 7c7755c8 945ace01 f5030000", "S-1-5-21-3623811015-3361044348-30300820-1013", ""},
		{"01 01 000000000001 00000000", "S-1-1-0", ""},               // Everyone
		{"01 02 000000000005 20000000 20020000", "S-1-5-32-544", ""}, // BUILTIN\Administrators
		{"01 00 000000000005", "S-1-5", ""},
		{"01 00 010000000000", "S-1-0x010000000000", ""},
		{"01 05 000000000005 15000000", "", "a SID with 5 sub-authorities is 28 bytes, not 12"},
		{"01 10 000000000005", "", "a SID has at most 15 sub-authorities, not 16"},
		{"01 01 0000", "", "a SID is at least 8 bytes, not 4"},
	}
	for _, c := range cases {
		got, err := FormatSID([]byte(unhex(t, c.hex)))
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("FormatSID(%s) err = %v, want %q", c.hex, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("FormatSID(%s) = %q, %v; want %q", c.hex, got, err, c.want)
		}
	}
}

func TestMapUserOpenLDAP(t *testing.T) {
	s := validOpenLDAP()
	s.Users.Attributes.EmployeeNumber = "employeeNumber"
	s.Users.Attributes.Department = "departmentNumber"
	e := entry("uid=jdoe,ou=people,dc=example,dc=com",
		"uid", " jdoe ", "uid", "john.doe", "mail", "jdoe@example.com\n", "givenName", "John", "sn", "Doe",
		"displayName", "John Doe", "entryUUID", "5e0f1c2a-7d9b-4d3e-9a41-0c3f2b1e8d77",
		"employeeNumber", "E-17", "departmentNumber", "R&D", "cn", "ignored")
	got, err := MapUser(e, &s)
	if err != nil {
		t.Fatal(err)
	}
	want := User{
		DN: "uid=jdoe,ou=people,dc=example,dc=com", ExternalID: "5e0f1c2a-7d9b-4d3e-9a41-0c3f2b1e8d77",
		UserName: "jdoe", GivenName: "John", FamilyName: "Doe", DisplayName: "John Doe",
		Email: "jdoe@example.com", Active: true, EmployeeNumber: "E-17", Department: "R&D",
	}
	if got != want {
		t.Fatalf("MapUser\n got %+v\nwant %+v", got, want)
	}
}

func TestMapUserMissingOptionalAttributesAreEmpty(t *testing.T) {
	s := validOpenLDAP()
	got, err := MapUser(entry("uid=min,dc=example,dc=com", "uid", "min"), &s)
	if err != nil {
		t.Fatal(err)
	}
	if want := (User{DN: "uid=min,dc=example,dc=com", UserName: "min", Active: true}); got != want {
		t.Fatalf("MapUser = %+v", got)
	}
}

func TestMapUserActiveDirectory(t *testing.T) {
	s := validAD()
	guid := unhex(t, "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff")
	cases := []struct {
		name   string
		uac    []string
		active bool
	}{
		{"normal account 512", []string{"512"}, true},
		{"disabled 514", []string{"514"}, false},
		{"disabled with password never expires 66050", []string{"66050"}, false},
		{"negative signed value with bit 2", []string{"-2"}, false},
		{"negative signed value without bit 2", []string{"-3"}, true},
		{"padded value", []string{" 514 "}, false},
		{"attribute absent", nil, true},
		{"attribute empty", []string{""}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := entry("CN=John Doe,CN=Users,DC=corp,DC=example,DC=com",
				"sAMAccountName", "jdoe", "objectGUID", guid, "mail", "jdoe@corp.example.com")
			for _, v := range c.uac {
				e.Attrs["useraccountcontrol"] = append(e.Attrs["useraccountcontrol"], []byte(v))
			}
			got, err := MapUser(e, &s)
			if err != nil {
				t.Fatal(err)
			}
			want := User{DN: "CN=John Doe,CN=Users,DC=corp,DC=example,DC=com", UserName: "jdoe",
				ExternalID: "33221100-5544-7766-8899-aabbccddeeff", Email: "jdoe@corp.example.com", Active: c.active}
			if got != want {
				t.Fatalf("MapUser\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestMapUserExternalID(t *testing.T) {
	guid := unhex(t, "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff")
	sid := unhex(t, "01 05 000000000005 15000000 c7f7fed7 7c7755c8 945ace01 f5030000")
	cases := []struct {
		name, attr, value, want string
	}{
		{"objectGUID in any case", "OBJECTGUID", guid, "33221100-5544-7766-8899-aabbccddeeff"},
		{"16 binary bytes under another name", "msDS-ConsistencyGuid", guid, "33221100-5544-7766-8899-aabbccddeeff"},
		{"16 printable bytes stay text", "employeeID", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"},
		{"objectSid", "objectSid", sid, "S-1-5-21-3623811015-3361044348-30300820-1013"},
		{"other binary in hex", "nsUniqueId", "\x00\x01\xfe", "0001fe"},
		{"text trimmed", "entryUUID", " 5e0f1c2a-7d9b-4d3e-9a41-0c3f2b1e8d77 ", "5e0f1c2a-7d9b-4d3e-9a41-0c3f2b1e8d77"},
		{"blank", "entryUUID", "  ", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validOpenLDAP()
			s.Users.Attributes.ExternalID = c.attr
			got, err := MapUser(entry("uid=a,dc=x", "uid", "a", c.attr, c.value), &s)
			if err != nil {
				t.Fatal(err)
			}
			if got.ExternalID != c.want {
				t.Fatalf("ExternalID = %q, want %q", got.ExternalID, c.want)
			}
		})
	}
}

func TestMapUserMemberKey(t *testing.T) {
	s := validOpenLDAP()
	e := entry("uid=JDoe,dc=x", "uid", "JDoe", "uidNumber", "1001")
	u, err := MapUser(e, &s)
	if err != nil || u.MemberKey != "" {
		t.Fatalf("DN membership: MemberKey = %q, %v; want none", u.MemberKey, err)
	}
	s.Groups.Attributes.MembershipAttributeType = MembershipUID
	u, err = MapUser(e, &s)
	if err != nil || u.MemberKey != "JDoe" {
		t.Fatalf("UID membership: MemberKey = %q, %v; want JDoe (case kept)", u.MemberKey, err)
	}
	s.Groups.Attributes.MembershipUserAttribute = "uidNumber"
	if u, _ = MapUser(e, &s); u.MemberKey != "1001" {
		t.Fatalf("MemberKey = %q, want 1001", u.MemberKey)
	}
	s.Groups.Enabled = false
	if u, _ = MapUser(e, &s); u.MemberKey != "" {
		t.Fatalf("groups off: MemberKey = %q", u.MemberKey)
	}
}

func TestMapUserSkipsBadEntries(t *testing.T) {
	long := strings.Repeat("a", MaxValueBytes+1)
	cases := []struct {
		name   string
		e      *Entry
		mutate func(*Settings)
		dn     string
		reason string
	}{
		{"missing username", entry("cn=x,dc=x", "mail", "x@x"), nil, "cn=x,dc=x", `missing username attribute "uid"`},
		{"blank username", entry("cn=x,dc=x", "uid", " \t"), nil, "cn=x,dc=x", `missing username attribute "uid"`},
		{"AD username missing", entry("cn=x,dc=x", "uid", "x"), func(s *Settings) { *s = validAD() }, "cn=x,dc=x", `missing username attribute "sAMAccountName"`},
		{"invalid UTF-8 username", entry("cn=x,dc=x", "uid", "j\xffdoe"), nil, "cn=x,dc=x", "invalid UTF-8 in attribute uid"},
		{"invalid UTF-8 mail", entry("cn=x,dc=x", "uid", "x", "mail", "\xc3\x28@x"), nil, "cn=x,dc=x", "invalid UTF-8 in attribute mail"},
		{"invalid UTF-8 given name", entry("cn=x,dc=x", "uid", "x", "givenName", "\xed\xa0\x80"), nil, "cn=x,dc=x", "invalid UTF-8 in attribute givenName"},
		{"long username", entry("cn=x,dc=x", "uid", long), nil, "cn=x,dc=x", "attribute uid is longer than 2048 bytes"},
		{"long mail", entry("cn=x,dc=x", "uid", "x", "mail", long), nil, "cn=x,dc=x", "attribute mail is longer than 2048 bytes"},
		{"long display name", entry("cn=x,dc=x", "uid", "x", "displayName", long), nil, "cn=x,dc=x", "attribute displayName is longer than 2048 bytes"},
		{"long external id", entry("cn=x,dc=x", "uid", "x", "entryUUID", long), nil, "cn=x,dc=x", "attribute entryUUID is longer than 2048 bytes"},
		{"short objectGUID", entry("cn=x,dc=x", "sAMAccountName", "x", "objectGUID", "\x01\x02"), func(s *Settings) { *s = validAD() },
			"cn=x,dc=x", "attribute objectGUID: a GUID is 16 bytes, not 2"},
		{"bad objectSid", entry("cn=x,dc=x", "uid", "x", "objectSid", "\x01\x05"), func(s *Settings) { s.Users.Attributes.ExternalID = "objectSid" },
			"cn=x,dc=x", "attribute objectSid: a SID is at least 8 bytes, not 2"},
		{"non-integer userAccountControl", entry("cn=x,dc=x", "sAMAccountName", "x", "userAccountControl", "0x202"), func(s *Settings) { *s = validAD() },
			"cn=x,dc=x", `attribute userAccountControl is not an integer: "0x202"`},
		{"DN too long", entry(strings.Repeat("d", MaxDNBytes+1), "uid", "x"), nil, strings.Repeat("d", 256) + "…", "DN is longer than 8192 bytes"},
		{"DN invalid UTF-8", entry("cn=\xff,dc=x", "uid", "x"), nil, "cn=\uFFFD,dc=x", "invalid UTF-8 in DN"},
		{"empty DN", entry(" ", "uid", "x"), nil, "", "entry has no DN"},
		{"nil entry", nil, nil, "", "no entry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validOpenLDAP()
			if c.mutate != nil {
				c.mutate(&s)
			}
			u, err := MapUser(c.e, &s)
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("MapUser = %+v, %v; want *EntryError", u, err)
			}
			if ee.DN != c.dn || ee.Reason != c.reason {
				t.Fatalf("EntryError{%q, %q}, want {%q, %q}", clip(ee.DN, 40), ee.Reason, clip(c.dn, 40), c.reason)
			}
			if !reflect.DeepEqual(u, User{}) {
				t.Fatalf("MapUser returned %+v with its error", u)
			}
		})
	}
}

func TestMapUserAcceptsValuesAtTheLimit(t *testing.T) {
	s := validOpenLDAP()
	max := strings.Repeat("é", MaxValueBytes/2) // 2048 bytes
	u, err := MapUser(entry(strings.Repeat("d", MaxDNBytes), "uid", max, "mail", "  "+max+"  "), &s)
	if err != nil || u.UserName != max || u.Email != max {
		t.Fatalf("MapUser at the limits: %v", err)
	}
}

func TestMapGroup(t *testing.T) {
	s := validOpenLDAP()
	e := entry("cn=eng,ou=groups,dc=example,dc=com", "cn", "Engineers", "cn", "eng",
		"entryUUID", "0f3d5a6e-1111-4c1b-9e8f-2a3b4c5d6e7f",
		"member", "uid=a,ou=people,dc=example,dc=com", "member", " uid=b,ou=people,dc=example,dc=com ",
		"member", "", "member", "  ", "member", "uid=\xff,dc=x", "member", strings.Repeat("m", MaxDNBytes+1),
		"member", "cn=ops,ou=groups,dc=example,dc=com")
	got, err := MapGroup(e, &s)
	if err != nil {
		t.Fatal(err)
	}
	want := Group{
		DN: "cn=eng,ou=groups,dc=example,dc=com", ExternalID: "0f3d5a6e-1111-4c1b-9e8f-2a3b4c5d6e7f", Name: "Engineers",
		Members: []string{"uid=a,ou=people,dc=example,dc=com", "uid=b,ou=people,dc=example,dc=com", "cn=ops,ou=groups,dc=example,dc=com"},
		Dropped: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MapGroup\n got %+v\nwant %+v", got, want)
	}
}

func TestMapGroupActiveDirectoryAndMemberUID(t *testing.T) {
	s := validAD()
	guid := unhex(t, "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff")
	g, err := MapGroup(entry("CN=Eng,OU=Groups,DC=corp", "cn", "Eng", "objectGUID", guid), &s)
	want := Group{DN: "CN=Eng,OU=Groups,DC=corp", ExternalID: "33221100-5544-7766-8899-aabbccddeeff", Name: "Eng", Members: []string{}}
	if err != nil || !reflect.DeepEqual(g, want) {
		t.Fatalf("MapGroup = %+v, %v; want %+v", g, err, want)
	}

	s = validOpenLDAP()
	s.Groups.Attributes = GroupAttributes{Name: "cn", Membership: "memberUid", MembershipAttributeType: MembershipUID, MembershipUserAttribute: "uid"}
	g, err = MapGroup(entry("cn=devs,dc=x", "cn", "devs", "memberUid", "JDoe", "memberUid", "asmith"), &s)
	want = Group{DN: "cn=devs,dc=x", Name: "devs", Members: []string{"JDoe", "asmith"}}
	if err != nil || !reflect.DeepEqual(g, want) {
		t.Fatalf("MapGroup = %+v, %v; want %+v", g, err, want)
	}
}

func TestMapGroupSkipsBadEntries(t *testing.T) {
	cases := []struct {
		name   string
		e      *Entry
		reason string
	}{
		{"missing name", entry("cn=g,dc=x", "member", "uid=a,dc=x"), `missing group name attribute "cn"`},
		{"invalid UTF-8 name", entry("cn=g,dc=x", "cn", "\xfe"), "invalid UTF-8 in attribute cn"},
		{"long name", entry("cn=g,dc=x", "cn", strings.Repeat("n", MaxValueBytes+1)), "attribute cn is longer than 2048 bytes"},
		{"long external id", entry("cn=g,dc=x", "cn", "g", "entryUUID", strings.Repeat("n", MaxValueBytes+1)), "attribute entryUUID is longer than 2048 bytes"},
		{"DN too long", entry(strings.Repeat("d", MaxDNBytes+1), "cn", "g"), "DN is longer than 8192 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validOpenLDAP()
			g, err := MapGroup(c.e, &s)
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Reason != c.reason {
				t.Fatalf("MapGroup = %+v, %v; want reason %q", g, err, c.reason)
			}
		})
	}
}

func TestEntryLookupIgnoresCase(t *testing.T) {
	e := entry("cn=x", "mail", "a@x")
	if !bytes.Equal(e.First("MAIL"), []byte("a@x")) || len(e.Values("Mail")) != 1 || e.First("sn") != nil {
		t.Fatal("Entry lookups")
	}
}
