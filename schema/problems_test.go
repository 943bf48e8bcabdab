package schema

import (
	"reflect"
	"testing"
)

func TestProblemsMergesSyntaxOncePerFieldInFormOrder(t *testing.T) {
	s := validOpenLDAP()
	s.Sync.MaxDeletes = -1
	s.Users.UsersDN = "people"
	syntax := func(*Settings) []FieldError {
		return []FieldError{
			{Field: "groups.filter", Message: "not a valid LDAP filter: unexpected end"},
			{Field: "users.usersDn", Message: "not a valid DN: no attribute type"},
			{Field: "connection.bindDn", Message: "not a valid DN: no value"},
		}
	}
	want := []FieldError{
		{Field: "connection.bindDn", Message: "not a valid DN: no value"},
		{Field: "users.usersDn", Message: "must be a DN such as ou=people,dc=example,dc=com"},
		{Field: "groups.filter", Message: "not a valid LDAP filter: unexpected end"},
		{Field: "sync.maxDeletes", Message: "must be 0 or more"},
	}
	if got := s.Problems(syntax); !reflect.DeepEqual(got, want) {
		t.Fatalf("Problems = %+v\nwant %+v", got, want)
	}
	if got := s.Problems(nil); !reflect.DeepEqual(got, []FieldError{want[1], want[3]}) {
		t.Fatalf("Problems(nil) = %+v, want Validate's two", got)
	}
	good := validOpenLDAP()
	if got := good.Problems(func(*Settings) []FieldError { return nil }); len(got) != 0 {
		t.Fatalf("Problems of a valid document = %+v", got)
	}
}
