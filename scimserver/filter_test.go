package scimserver

import (
	"reflect"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/store"
)

func cmp(op, attr string, v any) *store.Expr { return &store.Expr{Op: op, Attr: attr, Value: v} }
func and(l, r *store.Expr) *store.Expr       { return &store.Expr{Op: "and", Left: l, Right: r} }
func or(l, r *store.Expr) *store.Expr        { return &store.Expr{Op: "or", Left: l, Right: r} }
func anyOf(attr string, f *store.Expr) *store.Expr {
	return &store.Expr{Op: "any", Attr: attr, Left: f}
}

func TestParseFilterTranslatesToStoreExpressions(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		def    resourceDef
		want   *store.Expr
	}{
		{"empty", "  ", userDef, nil},
		{"userName eq", `userName eq "bjensen"`, userDef, cmp("eq", "userName", "bjensen")},
		{"attribute and operator names in any case", `USERNAME EQ "Bjensen"`, userDef, cmp("eq", "userName", "Bjensen")},
		{"core URN prefix", `urn:ietf:params:scim:schemas:core:2.0:User:userName ne "x"`, userDef, cmp("ne", "userName", "x")},
		{"enterprise URN", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D"`, userDef, cmp("eq", "department", "R&D")},
		{"sub-attribute", `name.familyName co "en"`, userDef, cmp("co", "name.familyName", "en")},
		{"every string operator", `displayName sw "A" or displayName ew "b" or displayName gt "c" or displayName ge "d" or displayName lt "e" or displayName le "f"`, userDef,
			or(or(or(or(or(cmp("sw", "displayName", "A"), cmp("ew", "displayName", "b")), cmp("gt", "displayName", "c")), cmp("ge", "displayName", "d")), cmp("lt", "displayName", "e")), cmp("le", "displayName", "f"))},
		{"pr", `externalId pr`, userDef, &store.Expr{Op: "pr", Attr: "externalId"}},
		{"boolean", `active eq false`, userDef, cmp("eq", "active", false)},
		{"date", `meta.lastModified gt "2026-01-02T03:04:05Z"`, userDef, cmp("gt", "meta.lastModified", "2026-01-02T03:04:05Z")},
		{"not", `not (userName eq "a")`, userDef, &store.Expr{Op: "not", Left: cmp("eq", "userName", "a")}},
		{"precedence: and binds tighter than or", `userName eq "a" or userName eq "b" and active eq true`, userDef,
			or(cmp("eq", "userName", "a"), and(cmp("eq", "userName", "b"), cmp("eq", "active", true)))},
		{"escaped quote in a value", `userName eq "a\"b\\c"`, userDef, cmp("eq", "userName", `a"b\c`)},
		{"multi-valued attribute compares its values", `emails co "@example.com"`, userDef, cmp("co", "emails.value", "@example.com")},
		{"value path", `emails[type eq "work" and value co "@x"]`, userDef,
			anyOf("emails", and(cmp("eq", "type", "work"), cmp("co", "value", "@x")))},
		{"Entra's value path with sub-attribute", `emails[type eq "work"].value eq "b@x.com"`, userDef,
			anyOf("emails", and(cmp("eq", "type", "work"), cmp("eq", "value", "b@x.com")))},
		{"sub-attribute form with or inside distributes", `emails[type eq "work" or type eq "home"].value eq "b@x.com"`, userDef,
			or(anyOf("emails", and(cmp("eq", "type", "work"), cmp("eq", "value", "b@x.com"))),
				anyOf("emails", and(cmp("eq", "type", "home"), cmp("eq", "value", "b@x.com"))))},
		{"sub-attribute form followed by more", `emails[type eq "work"].value eq "a]b.c" and userName sw "b"`, userDef,
			and(anyOf("emails", and(cmp("eq", "type", "work"), cmp("eq", "value", "a]b.c"))), cmp("sw", "userName", "b"))},
		{"user's groups", `groups[value eq "g1" and type eq "indirect"]`, userDef,
			anyOf("groups", and(cmp("eq", "value", "g1"), cmp("eq", "type", "indirect")))},
		{"Entra membership check", `id eq "G" and members[value eq "U"]`, groupDef,
			and(cmp("eq", "id", "G"), anyOf("members", cmp("eq", "value", "U")))},
		{"members.value", `members.value eq "U"`, groupDef, cmp("eq", "members.value", "U")},
		{"group displayName", `displayName eq "Engineers"`, groupDef, cmp("eq", "displayName", "Engineers")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFilter(tc.filter, tc.def)
			if err != nil {
				t.Fatalf("parseFilter(%q): %v", tc.filter, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseFilter(%q) =\n%s\nwant\n%s", tc.filter, exprString(got), exprString(tc.want))
			}
		})
	}
}

func TestParseFilterRejectsInvalidFilters(t *testing.T) {
	tests := []struct {
		name, filter string
		def          resourceDef
		detail       string // a part of the message
	}{
		{"syntax", `userName eq`, userDef, "cannot be parsed"},
		{"single quotes", `userName eq 'x'`, userDef, "cannot be parsed"},
		{"unknown attribute", `password eq "x"`, userDef, `unknown or unfilterable attribute "password"`},
		{"user attribute on groups", `userName eq "x"`, groupDef, `"userName"`},
		{"members on users", `members[value eq "x"]`, userDef, `"members"`},
		{"unknown schema", `urn:example:x:userName eq "x"`, userDef, "unknown schema"},
		{"core attribute under the extension URN", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x"`, userDef, "unknown attribute"},
		{"enterprise attribute under the core URN", `urn:ietf:params:scim:schemas:core:2.0:User:department eq "x"`, userDef, "unknown attribute"},
		{"number for a string", `userName eq 1`, userDef, "is a string"},
		{"null", `userName eq null`, userDef, "is a string"},
		{"string for a boolean", `active eq "true"`, userDef, "is a boolean"},
		{"ordering a boolean", `active gt false`, userDef, "only eq and ne"},
		{"bad date", `meta.lastModified gt "yesterday"`, userDef, "not an RFC 3339 date-time"},
		{"contains on a date", `meta.created co "2026"`, userDef, "only eq, ne, gt"},
		{"value path on a single-valued attribute", `userName[value eq "x"]`, userDef, "not a multi-valued attribute"},
		{"unknown sub-attribute in a value path", `emails[display eq "x"]`, userDef, `no sub-attribute "display"`},
		{"bad escape", `userName eq "a\qb"`, userDef, "cannot be parsed"},
		{"too long", `userName eq "` + strings.Repeat("x", maxFilterLen) + `"`, userDef, "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFilter(tc.filter, tc.def)
			if err == nil {
				t.Fatalf("parseFilter(%q) = %s, want an error", tc.filter, exprString(got))
			}
			if _, ok := err.(*filterError); !ok {
				t.Fatalf("parseFilter(%q) error %T, want *filterError", tc.filter, err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("parseFilter(%q) error %q, want it to contain %q", tc.filter, err, tc.detail)
			}
		})
	}
}

func TestRewriteSubAttrPathsLeavesOtherTextAlone(t *testing.T) {
	for _, s := range []string{
		`emails[type eq "work"]`,
		`userName eq "a].b c"`,
		`emails[type eq "work"].`,
		`emails[type eq "work"].value`,
		`emails[type eq "work"].value eq`,
		`[x].y eq "z"`,
	} {
		if got := rewriteSubAttrPaths(s); got != s {
			t.Errorf("rewriteSubAttrPaths(%q) = %q, want it unchanged", s, got)
		}
	}
}

func exprString(e *store.Expr) string {
	if e == nil {
		return "<nil>"
	}
	switch e.Op {
	case "and", "or":
		return "(" + exprString(e.Left) + " " + e.Op + " " + exprString(e.Right) + ")"
	case "not":
		return "not " + exprString(e.Left)
	case "any":
		return e.Attr + "[" + exprString(e.Left) + "]"
	case "pr":
		return e.Attr + " pr"
	}
	return e.Attr + " " + e.Op + " " + strings.TrimSpace(strings.ReplaceAll(reflectString(e.Value), "\n", ""))
}

func reflectString(v any) string {
	switch v := v.(type) {
	case string:
		return `"` + v + `"`
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return "?"
}
