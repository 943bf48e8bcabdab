package ldapsource

import (
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/schema"
)

// FuzzCheckSyntax feeds random users and groups filters and DNs to
// CheckSyntax, the LDAP half of validating settings. It must never panic,
// must refuse every filter over schema's limits without compiling it, and
// a filter it accepts must compile into a search filter.
func FuzzCheckSyntax(f *testing.F) {
	f.Add("(department=sales)", "", "ou=people,dc=example,dc=com")
	f.Add("(&(objectClass=person)(!(uid=x*)))", "(|(cn=a)(cn=b))", "ou=people,dc=example,dc=com")
	f.Add("uid=a", "(cn=\\28x\\29)", "cn=x")
	f.Add(strings.Repeat("(!", 40)+"(cn=x)"+strings.Repeat(")", 40), "(", "=")
	f.Add("(memberOf:1.2.840.113556.1.4.1941:=cn=g,dc=x)", "(cn>=)", "dc=\xff")
	f.Add("((((", "))))", "")
	f.Fuzz(func(t *testing.T, users, groups, dn string) {
		s := schema.Defaults(schema.VendorOpenLDAP)
		s.Users.Filter, s.Groups.Filter, s.Users.UsersDN, s.Groups.GroupsDN = users, groups, dn, dn
		s.Groups.Enabled = true
		bad := map[string]bool{}
		for _, fe := range CheckSyntax(&s) {
			bad[fe.Field] = true
			if fe.Message == "" {
				t.Fatalf("field error without a message: %+v", fe)
			}
		}
		for field, f := range map[string]string{"users.filter": users, "groups.filter": groups} {
			over := schema.CheckLDAPFilter(strings.TrimSpace(f)) != nil
			if over && !bad[field] {
				t.Fatalf("%s over the limits was accepted: %.80q", field, f)
			}
			if !bad[field] {
				if _, err := buildFilter(field, []string{"person"}, f); err != nil {
					t.Fatalf("%s %q accepted but does not build: %v", field, f, err)
				}
			}
		}
	})
}
