package ldapsource

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		desc   string
		name   string
		lo, hi int
		ok     bool
	}{
		{"member;range=0-1499", "member", 0, 1499, true},
		{"member;range=1500-*", "member", 1500, -1, true},
		{"Member;Range=3000-4499", "member", 3000, 4499, true},
		{"member;binary;range=0-9", "member;binary", 0, 9, true},
		{"member", "", 0, 0, false},
		{"member;range=", "", 0, 0, false},
		{"member;range=a-9", "", 0, 0, false},
		{"member;range=10-5", "", 0, 0, false},
		{"member;range=-1-5", "", 0, 0, false},
		{"member;range=0-1;range=2-3", "", 0, 0, false},
		{"member;x-range=0-1", "", 0, 0, false},
	}
	for _, tc := range cases {
		name, lo, hi, ok := parseRange(tc.desc)
		if name != tc.name || lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("parseRange(%q) = %q, %d, %d, %v; want %q, %d, %d, %v", tc.desc, name, lo, hi, ok, tc.name, tc.lo, tc.hi, tc.ok)
		}
	}
}

func vals(prefix string, from, to int) []string {
	var v []string
	for i := from; i <= to; i++ {
		v = append(v, fmt.Sprintf("%s%d", prefix, i))
	}
	return v
}

func TestMergeAttributes(t *testing.T) {
	type slice struct {
		desc   string
		values []string
	}
	cases := []struct {
		name    string
		entry   []slice
		server  map[string][]slice // "member;range=3-*" → the attributes the server answers
		want    map[string][]string
		wantReq []string
		wantErr string
	}{
		{
			name:  "plain attributes, names lower-cased",
			entry: []slice{{"CN", []string{"g"}}, {"member", []string{"a", "b"}}},
			want:  map[string][]string{"cn": {"g"}, "member": {"a", "b"}},
		},
		{
			name:  "whole range at once",
			entry: []slice{{"member;range=0-*", []string{"a", "b"}}},
			want:  map[string][]string{"member": {"a", "b"}},
		},
		{
			name:  "three slices",
			entry: []slice{{"cn", []string{"g"}}, {"member;range=0-2", vals("m", 0, 2)}},
			server: map[string][]slice{
				"member;range=3-*": {{"member;range=3-5", vals("m", 3, 5)}},
				"member;range=6-*": {{"member;range=6-*", vals("m", 6, 7)}},
			},
			want:    map[string][]string{"cn": {"g"}, "member": vals("m", 0, 7)},
			wantReq: []string{"member;range=3-*", "member;range=6-*"},
		},
		{
			name:    "empty last slice",
			entry:   []slice{{"member;range=0-1", vals("m", 0, 1)}},
			server:  map[string][]slice{"member;range=2-*": {{"member;range=2-*", nil}}},
			want:    map[string][]string{"member": vals("m", 0, 1)},
			wantReq: []string{"member;range=2-*"},
		},
		{
			name:  "two ranged attributes",
			entry: []slice{{"member;range=0-0", []string{"a"}}, {"memberOf;range=0-0", []string{"x"}}},
			server: map[string][]slice{
				"member;range=1-*":   {{"member;range=1-*", []string{"b"}}},
				"memberof;range=1-*": {{"memberOf;range=1-*", []string{"y"}}},
			},
			want:    map[string][]string{"member": {"a", "b"}, "memberof": {"x", "y"}},
			wantReq: []string{"member;range=1-*", "memberof;range=1-*"},
		},
		{
			name:    "slice missing from the answer",
			entry:   []slice{{"member;range=0-1", vals("m", 0, 1)}},
			server:  map[string][]slice{"member;range=2-*": {{"cn", []string{"g"}}}},
			wantReq: []string{"member;range=2-*"},
			wantErr: "the values are incomplete",
		},
		{
			name:    "answer starts elsewhere",
			entry:   []slice{{"member;range=0-1", vals("m", 0, 1)}},
			server:  map[string][]slice{"member;range=2-*": {{"member;range=0-*", vals("m", 0, 3)}}},
			wantReq: []string{"member;range=2-*"},
			wantErr: "answered with range 0-",
		},
		{
			name:    "no progress",
			entry:   []slice{{"member;range=0-1", vals("m", 0, 1)}},
			server:  map[string][]slice{"member;range=2-*": {{"member;range=2-1", nil}}},
			wantReq: []string{"member;range=2-*"},
			wantErr: "makes no progress",
		},
		{
			name:    "read fails",
			entry:   []slice{{"member;range=0-1", vals("m", 0, 1)}},
			wantReq: []string{"member;range=2-*"},
			wantErr: "no such object",
		},
	}
	toAttrs := func(ss []slice) []*ldap.EntryAttribute {
		var out []*ldap.EntryAttribute
		for _, s := range ss {
			out = append(out, ldap.NewEntryAttribute(s.desc, s.values))
		}
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var reqs []string
			got, err := mergeAttributes(toAttrs(tc.entry), func(name string, lo int) ([]*ldap.EntryAttribute, error) {
				desc := fmt.Sprintf("%s;range=%d-*", name, lo)
				reqs = append(reqs, desc)
				ans, ok := tc.server[desc]
				if !ok {
					return nil, errors.New("no such object")
				}
				return toAttrs(ans), nil
			})
			if !slices.Equal(reqs, tc.wantReq) {
				t.Errorf("requests = %q, want %q", reqs, tc.wantReq)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotS := map[string][]string{}
			for k, vs := range got {
				for _, v := range vs {
					gotS[k] = append(gotS[k], string(v))
				}
			}
			if fmt.Sprint(gotS) != fmt.Sprint(tc.want) {
				t.Errorf("got %q, want %q", gotS, tc.want)
			}
		})
	}
}

func TestQueries(t *testing.T) {
	s := &schema.Settings{
		Connection: schema.Connection{RangeSize: 1500},
		Users: schema.Users{UsersDN: "ou=people,dc=x", ObjectClasses: []string{"person", "user"}, Scope: "one",
			Attributes: schema.UserAttributes{Username: "sAMAccountName", Email: "mail", DisplayName: "displayName",
				ExternalID: "objectGUID", DisabledAttribute: "userAccountControl", Department: "department"}},
		Groups: schema.Groups{Enabled: true, GroupsDN: "ou=groups,dc=x", ObjectClasses: []string{"posixGroup"}, Filter: "cn=eng*",
			Attributes: schema.GroupAttributes{Name: "cn", Membership: "memberUid", MembershipAttributeType: "UID",
				MembershipUserAttribute: "uid", ExternalID: "entryUUID"}},
	}
	u, err := userQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	if u.filter != "(&(objectClass=person)(objectClass=user))" || u.scope != ldap.ScopeSingleLevel ||
		!slices.Equal(u.attrs, []string{"sAMAccountName", "mail", "displayName", "objectGUID", "department", "userAccountControl", "uid"}) {
		t.Errorf("user query = %+v", u)
	}
	g, err := groupQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	if g.filter != "(&(objectClass=posixGroup)(cn=eng*))" || g.scope != ldap.ScopeWholeSubtree ||
		!slices.Equal(g.attrs, []string{"cn", "memberUid;range=0-1499", "entryUUID"}) {
		t.Errorf("group query = %+v", g)
	}
	s.Users.Scope = "base"
	if _, err := userQuery(s); err == nil || !strings.Contains(err.Error(), "users.scope") {
		t.Errorf("scope base: err = %v", err)
	}
}
