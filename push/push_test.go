package push_test

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
)

// TestDeltaPushEndToEnd: the initial sync creates everything; each following
// change in LDAP sends only the requests it needs, and the target ends equal
// to the directory.
func TestDeltaPushEndToEnd(t *testing.T) {
	h := newHarness(t)
	rep := h.sync()
	users, groups := baseUsers(), baseGroups()
	assertState(t, h.state(), users, groups)
	if rep.Created != len(users)+len(groups) || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("initial push report %+v, want %d created", rep, len(users)+len(groups))
	}
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"POST /Users": 9, "POST /Groups": 8}) {
		t.Errorf("initial writes %v", got)
	}

	steps := []struct {
		name   string
		ldif   string
		writes map[string]int
		gets   int // lookups before creating
		apply  func()
	}{
		{"add a user to a group", slapdtest.LDIF(t, "add-member.ldif"),
			map[string]int{"PATCH /Groups": 1}, 0,
			func() { groups["design"] = append(groups["design"], "ivan") }},
		{"add a user", `dn: uid=nina,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
uid: nina
cn: Nina Novak
sn: Novak
mail: nina@example.com

dn: cn=sre,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=nina,ou=people,dc=example,dc=com
-
`, map[string]int{"POST /Users": 1, "PATCH /Groups": 4}, 1, func() {
			users["nina"] = targetUser{Email: "nina@example.com", Active: true}
			for _, g := range []string{"sre", "platform", "backend", "engineers"} {
				groups[g] = append(groups[g], "nina")
			}
		}},
		{"change a mail", slapdtest.LDIF(t, "change-mail.ldif"),
			map[string]int{"PATCH /Users": 1}, 0,
			func() { users["alice"] = targetUser{Email: "alice.anderson@example.com", Active: true} }},
		{"move a user between nested groups", `dn: cn=sre,ou=groups,dc=example,dc=com
changetype: modify
delete: member
member: uid=dave,ou=people,dc=example,dc=com
-

dn: cn=backend,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=dave,ou=people,dc=example,dc=com
-
`, map[string]int{"PATCH /Groups": 2}, 0, func() {
			groups["sre"] = []string{"nina"}
			groups["platform"] = []string{"carol", "nina", "zoe"}
		}},
		{"rename a user and a group", slapdtest.LDIF(t, "rename.ldif"),
			map[string]int{"PATCH /Users": 1, "PATCH /Groups": 1}, 0, func() {
				users["robert"] = users["bob"]
				delete(users, "bob")
				groups["site-reliability"] = groups["sre"]
				delete(groups, "sre")
				for g, ms := range groups {
					for i, m := range ms {
						if m == "bob" {
							ms[i] = "robert"
						}
					}
					groups[g] = ms
				}
			}},
		{"delete a user", slapdtest.LDIF(t, "delete.ldif"),
			map[string]int{"PATCH /Groups": 1, "DELETE /Users": 1}, 0, func() {
				delete(users, "frank")
				groups["design"] = []string{"gina", "ivan", "zoe"}
			}},
	}
	for _, s := range steps {
		h.target.Reset(t)
		h.ldap.Load(t, oneModLDIF(s.ldif))
		rep := h.sync()
		s.apply()
		reqs := h.target.Requests(t)
		if got := writes(reqs); !mapsEqual(got, s.writes) {
			t.Errorf("%s: writes %v, want %v", s.name, got, s.writes)
		}
		if got := scimmytest.Counts(reqs)["GET /Users"] + scimmytest.Counts(reqs)["GET /Groups"]; got != s.gets {
			t.Errorf("%s: %d lookups, want %d", s.name, got, s.gets)
		}
		if rep.Failed != 0 || rep.Pending != 0 || rep.Error != "" {
			t.Errorf("%s: report %+v", s.name, rep)
		}
		t.Logf("%s: %+v %v", s.name, rep, scimmytest.Counts(reqs))
		assertState(t, h.state(), users, groups)
	}
}
