package ldapsource

import (
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// CheckSyntax checks what only an LDAP library can: that users.usersDn,
// groups.groupsDn (when groups are enabled) and connection.bindDn (when it
// looks like a DN, i.e. holds "="; AD also accepts "DOMAIN\user" and "user@realm") parse as
// DNs, and that users.filter and groups.filter compile. Empty values are left
// to schema's Validate. It returns one FieldError per problem, or nil.
func CheckSyntax(s *schema.Settings) []schema.FieldError {
	var errs []schema.FieldError
	dn := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			return
		}
		if _, err := ldap.ParseDN(v); err != nil {
			errs = append(errs, schema.FieldError{Field: field, Message: "not a valid DN: " + err.Error()})
		}
	}
	filter := func(field, v string) {
		if _, err := normalizeFilter(v); err != nil {
			errs = append(errs, schema.FieldError{Field: field, Message: "not a valid LDAP filter: " + err.Error()})
		}
	}
	if b := s.Connection.BindDN; strings.Contains(b, "=") {
		dn("connection.bindDn", b)
	}
	dn("users.usersDn", s.Users.UsersDN)
	filter("users.filter", s.Users.Filter)
	if s.Groups.Enabled {
		dn("groups.groupsDn", s.Groups.GroupsDN)
		filter("groups.filter", s.Groups.Filter)
	}
	return errs
}
