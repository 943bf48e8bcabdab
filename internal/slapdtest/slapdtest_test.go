package slapdtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestParseLDIF(t *testing.T) {
	text := `version: 1
# a comment
#  folded comment
dn: uid=a,dc=example,dc=com
objectClass: inetOrgPerson
cn:: Wm/DqyDDhWdyZW4=
description: folded
  value

dn: uid=a,dc=example,dc=com
changetype: modify
replace: mail
mail: a@example.com
mail: b@example.com
-
delete: description
-
add: cn
cn: x

dn: uid=a,dc=example,dc=com
changetype: moddn
newrdn: uid=b
deleteoldrdn: 0
newsuperior: ou=x,dc=example,dc=com

dn: uid=b,ou=x,dc=example,dc=com
changetype: delete
`
	recs, err := parseLDIF(text)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", recs)
	want := "[{line:4 dn:uid=a,dc=example,dc=com changeType:add attrs:[{name:objectClass value:inetOrgPerson} {name:cn value:Zoë Ågren} {name:description value:folded value}] mods:[] newRDN: deleteOld:false newSup:} " +
		"{line:10 dn:uid=a,dc=example,dc=com changeType:modify attrs:[] mods:[{op:replace name:mail values:[a@example.com b@example.com]} {op:delete name:description values:[]} {op:add name:cn values:[x]}] newRDN: deleteOld:false newSup:} " +
		"{line:21 dn:uid=a,dc=example,dc=com changeType:modrdn attrs:[] mods:[] newRDN:uid=b deleteOld:false newSup:ou=x,dc=example,dc=com} " +
		"{line:27 dn:uid=b,ou=x,dc=example,dc=com changeType:delete attrs:[] mods:[] newRDN: deleteOld:false newSup:}]"
	if got != want {
		t.Errorf("parseLDIF:\n got %s\nwant %s", got, want)
	}

	for _, bad := range []string{
		"cn: x\n",                                              // no dn
		"dn: a=b\nchangetype: rename\n",                        // unknown changetype
		"dn: a=b\nchangetype: modrdn\n",                        // no newrdn
		"dn: a=b\nchangetype: modify\nmail: x\n",               // value outside a block
		"dn: a=b\ncn:< file:///etc/passwd\n",                   // URL value
		"dn: a=b\ncn:: !!!\n",                                  // bad base64
		" continuation\n",                                      // continuation first
		"dn: a=b\nchangetype: delete\ncn: x\n",                 // delete with lines
		"dn: a=b\nchangetype: modify\nadd: cn\ncn: x\nsn: y\n", // wrong attribute in block
	} {
		if _, err := parseLDIF(bad); err == nil {
			t.Errorf("parseLDIF(%q) succeeded", bad)
		}
	}
}

// memberships reads every entry's memberOf and every group's member values, normalised.
func memberships(t *testing.T, s *Server) map[string][]string {
	t.Helper()
	res, err := s.Conn(t).Search(ldap.NewSearchRequest(BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(|(memberOf=*)(member=*))", []string{"memberOf", "member"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range res.Entries {
		var v []string
		for _, a := range []string{"memberOf", "member"} {
			for _, x := range e.GetAttributeValues(a) {
				v = append(v, a+":"+normDN(x))
			}
		}
		slices.Sort(v)
		out[normDN(e.DN)] = v
	}
	return out
}

func TestPreloadedMemberOfMatchesTheOverlay(t *testing.T) {
	preloaded := Start(t)
	online := Start(t, Empty())
	online.Load(t, LDIF(t, "base.ldif"))
	a, b := memberships(t, preloaded), memberships(t, online)
	// Online, the overlay gives a nested group memberOf only when the group
	// existed before its parent was added, so that depends on the order of
	// the LDIF; preloading gives every group its complete memberOf.
	if got := a["cn=backend,ou=groups,dc=example,dc=com"]; !slices.Contains(got, "memberOf:cn=engineers,ou=groups,dc=example,dc=com") {
		t.Errorf("preloaded backend = %q, want memberOf engineers", got)
	}
	for _, m := range []map[string][]string{a, b} {
		for dn, v := range m {
			if strings.HasSuffix(dn, ",ou=groups,dc=example,dc=com") {
				m[dn] = slices.DeleteFunc(v, func(s string) bool { return strings.HasPrefix(s, "memberOf:") })
			}
		}
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("memberships differ:\npreloaded %v\nonline    %v", a, b)
	}
	if got := a["uid=zoe,ou=people,dc=example,dc=com"]; !slices.Equal(got, []string{
		"memberOf:cn=design,ou=groups,dc=example,dc=com", "memberOf:cn=platform,ou=groups,dc=example,dc=com"}) {
		t.Errorf("zoe's memberOf = %q", got)
	}
}

func TestChangeFilesAndRestart(t *testing.T) {
	s := Start(t, WithLDIF("dn: uid=extra,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: extra\ncn: Extra\nsn: Extra\n"))
	uuid := func(dn string) string {
		t.Helper()
		res, err := s.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"entryUUID"}, nil))
		if err != nil {
			t.Fatalf("read %s: %v", dn, err)
		}
		return res.Entries[0].GetAttributeValue("entryUUID")
	}
	bob, sre := uuid("uid=bob,ou=people,dc=example,dc=com"), uuid("cn=sre,ou=groups,dc=example,dc=com")
	uuid("uid=extra,ou=people,dc=example,dc=com")

	for _, f := range []string{"rename.ldif", "delete.ldif", "move-out-of-scope.ldif", "change-mail.ldif", "add-member.ldif"} {
		s.Load(t, LDIF(t, f))
	}
	if got := uuid("uid=robert,ou=people,dc=example,dc=com"); got != bob {
		t.Errorf("renamed bob's entryUUID = %s, want %s", got, bob)
	}

	// Kill it like a crash: the data survives a restart on the same ports.
	s.Kill()
	s.Restart(t)
	if got := uuid("cn=site-reliability,ou=groups,dc=example,dc=com"); got != sre {
		t.Errorf("renamed sre's entryUUID = %s, want %s", got, sre)
	}
	m := memberships(t, s)
	want := map[string][]string{
		"cn=backend,ou=groups,dc=example,dc=com": {"member:cn=platform,ou=groups,dc=example,dc=com",
			"member:uid=robert,ou=people,dc=example,dc=com", "memberOf:cn=engineers,ou=groups,dc=example,dc=com"},
		"cn=platform,ou=groups,dc=example,dc=com": {"member:cn=site-reliability,ou=groups,dc=example,dc=com",
			"member:uid=carol,ou=contractors,dc=example,dc=com", "member:uid=zoe,ou=people,dc=example,dc=com",
			"memberOf:cn=backend,ou=groups,dc=example,dc=com"},
		"cn=design,ou=groups,dc=example,dc=com": {"member:cn=gina green,ou=people,dc=example,dc=com",
			"member:cn=gina grey,ou=people,dc=example,dc=com", "member:cn=no username,ou=people,dc=example,dc=com",
			"member:uid=ivan,ou=interns,ou=people,dc=example,dc=com", "member:uid=zoe,ou=people,dc=example,dc=com"},
	}
	for dn, w := range want {
		if !slices.Equal(m[dn], w) {
			t.Errorf("%s:\n got %q\nwant %q", dn, m[dn], w)
		}
	}
	res, err := s.Conn(t).Search(ldap.NewSearchRequest("uid=alice,ou=people,dc=example,dc=com", ldap.ScopeBaseObject,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"mail"}, nil))
	if err != nil || res.Entries[0].GetAttributeValue("mail") != "alice.anderson@example.com" {
		t.Errorf("alice's mail after change-mail.ldif: %v %v", res, err)
	}
}

func TestSettingsAndTLS(t *testing.T) {
	s := Start(t, Empty())
	st := s.Settings()
	if st.Connection.URL != s.URL || st.Connection.BindCredential != s.AdminPassword || st.Users.UsersDN != PeopleDN ||
		!strings.HasPrefix(s.LDAPSURL, "ldaps://127.0.0.1:") || !strings.Contains(s.CAPEM, "BEGIN CERTIFICATE") {
		t.Errorf("server %+v settings %+v", s, st)
	}
	if p := s.PosixSettings(); p.Groups.GroupsDN != PosixDN || p.Groups.Attributes.MembershipAttributeType != "UID" {
		t.Errorf("posix settings %+v", p.Groups)
	}
}
