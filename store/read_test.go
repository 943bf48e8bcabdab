package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

// readStore is a small hand-made directory:
//
//	u1 alice        "Alice Anderson"    alice@example.com  active   ext-1  g1 (direct)
//	u2 Bob          (no displayName)    (no email)         inactive ext-2  g2 (direct), g1 (via g2)
//	u3 carol        "Carol 100%_done"   Carol@Example.ORG  active          g2 (direct), g1 (via g2)
//	u4 dave.o'neil  "Ärger Dave"        dave@example.com   active          (none)
//	g1 Admins       members u1, g2
//	g2 Developers   members u2, u3
//	g3 Empty        externalId gx-3, no members
func readStore(t *testing.T) *DB {
	t.Helper()
	db := openTest(t)
	u1, u2, u3, u4 := mkUser("u1", "alice"), mkUser("u2", "Bob"), mkUser("u3", "carol"), mkUser("u4", "dave.o'neil")
	u1.DisplayName, u1.GivenName, u1.FamilyName, u1.Email = "Alice Anderson", "Alice", "Anderson", "alice@example.com"
	u1.ExternalID, u1.EmployeeNumber, u1.Department = "ext-1", "1001", "Sales"
	u1.LastModified = ts("2026-01-02T10:00:00Z")
	u2.GivenName, u2.FamilyName, u2.Active, u2.ExternalID, u2.Department = "Bob", "Builder", false, "ext-2", "Engineering"
	u2.LastModified = ts("2026-02-01T00:00:00Z")
	u3.DisplayName, u3.Email, u3.GivenName = "Carol 100%_done", "Carol@Example.ORG", "Carol"
	u3.Created, u3.LastModified = ts("2026-01-05T00:00:00Z"), ts("2026-03-01T12:30:00.5Z")
	u4.DisplayName, u4.Email = "Ärger Dave", "dave@example.com"
	u4.LastModified = ts("2026-01-15T00:00:00Z")
	g3 := mkGroup("g3", "Empty")
	g3.ExternalID = "gx-3"
	g1 := mkGroup("g1", "Admins")
	g1.LastModified = ts("2026-02-10T00:00:00Z")
	mustApply(t, db, &bridge.Plan{
		CreateUsers:  []bridge.UserRow{u1, u2, u3, u4},
		CreateGroups: []bridge.GroupRow{g1, mkGroup("g2", "Developers"), g3},
		Ancestors:    map[string][]string{"g2": {"g1"}},
		GroupMembers: map[string][]bridge.Member{
			"g1": {{ID: "u1", Type: bridge.MemberUser}, {ID: "g2", Type: bridge.MemberGroup}},
			"g2": {{ID: "u2", Type: bridge.MemberUser}, {ID: "u3", Type: bridge.MemberUser}},
		},
	})
	return db
}

func cmp(op, attr string, v any) *Expr { return &Expr{Op: op, Attr: attr, Value: v} }
func pr(attr string) *Expr             { return &Expr{Op: "pr", Attr: attr} }
func and(l, r *Expr) *Expr             { return &Expr{Op: "and", Left: l, Right: r} }
func or(l, r *Expr) *Expr              { return &Expr{Op: "or", Left: l, Right: r} }
func not(l *Expr) *Expr                { return &Expr{Op: "not", Left: l} }
func anyOf(attr string, f *Expr) *Expr { return &Expr{Op: "any", Attr: attr, Left: f} }

func userIDs(us []UserResource) []string {
	ids := []string{}
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

func groupIDs(gs []GroupResource) []string {
	ids := []string{}
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return ids
}

func TestUserFilters(t *testing.T) {
	db := readStore(t)
	none := []string{}
	all := []string{"u1", "u2", "u3", "u4"}
	cases := []struct {
		name string
		f    *Expr
		want []string
	}{
		{"userName eq ignores case", cmp("eq", "userName", "ALICE"), []string{"u1"}},
		{"userName eq folds the stored name", cmp("eq", "userName", "bob"), []string{"u2"}},
		{"attribute and operator names ignore case", cmp("EQ", "USERNAME", "Alice"), []string{"u1"}},
		{"schema-qualified name", cmp("eq", "urn:ietf:params:scim:schemas:core:2.0:User:userName", "carol"), []string{"u3"}},
		{"userName ne", cmp("ne", "userName", "alice"), []string{"u2", "u3", "u4"}},
		{"userName co", cmp("co", "userName", "A"), []string{"u1", "u3", "u4"}},
		{"userName sw", cmp("sw", "userName", "CA"), []string{"u3"}},
		{"userName sw empty", cmp("sw", "userName", ""), all},
		{"userName ew", cmp("ew", "userName", "O'NEIL"), []string{"u4"}},
		{"userName ew empty", cmp("ew", "userName", ""), all},
		{"userName ew longer than the value", cmp("ew", "userName", "xalice"), none},
		{"userName gt", cmp("gt", "userName", "bob"), []string{"u3", "u4"}},
		{"userName ge", cmp("ge", "userName", "BOB"), []string{"u2", "u3", "u4"}},
		{"userName lt", cmp("lt", "userName", "bob"), []string{"u1"}},
		{"userName le", cmp("le", "userName", "bob"), []string{"u1", "u2"}},
		{"userName pr", pr("userName"), all},
		{"id eq", cmp("eq", "id", "u3"), []string{"u3"}},
		{"id is case-exact", cmp("eq", "id", "U3"), none},
		{"externalId eq", cmp("eq", "externalId", "ext-1"), []string{"u1"}},
		{"externalId is case-exact", cmp("eq", "externalId", "EXT-1"), none},
		{"externalId pr", pr("externalId"), []string{"u1", "u2"}},
		{"not externalId pr", not(pr("externalId")), []string{"u3", "u4"}},
		{"externalId eq empty matches no absent value", cmp("eq", "externalId", ""), none},
		{"displayName eq", cmp("eq", "displayName", "alice ANDERSON"), []string{"u1"}},
		{"displayName folds non-ASCII", cmp("sw", "displayName", "ärger"), []string{"u4"}},
		{"displayName co takes % and _ literally", cmp("co", "displayName", "100%_"), []string{"u3"}},
		{"displayName co %", cmp("co", "displayName", "%"), []string{"u3"}},
		{"displayName co _ alone", cmp("co", "displayName", "e_"), none},
		{"displayName pr", pr("displayName"), []string{"u1", "u3", "u4"}},
		{"displayName ne is true when absent", cmp("ne", "displayName", "Alice Anderson"), []string{"u2", "u3", "u4"}},
		{"displayName lt skips absent", cmp("lt", "displayName", "b"), []string{"u1"}},
		{"displayName eq null", cmp("eq", "displayName", nil), []string{"u2"}},
		{"displayName ne null", cmp("ne", "displayName", nil), []string{"u1", "u3", "u4"}},
		{"name.givenName", cmp("eq", "name.givenName", "BOB"), []string{"u2"}},
		{"name.familyName sw", cmp("sw", "name.familyName", "and"), []string{"u1"}},
		{"name.formatted both", cmp("eq", "name.formatted", "alice anderson"), []string{"u1"}},
		{"name.formatted given only", cmp("eq", "name.formatted", "carol"), []string{"u3"}},
		{"name.formatted pr", pr("name.formatted"), []string{"u1", "u2", "u3"}},
		{"emails.value eq", cmp("eq", "emails.value", "carol@example.org"), []string{"u3"}},
		{"emails eq means its value", cmp("eq", "emails", "ALICE@example.com"), []string{"u1"}},
		{"emails pr", pr("emails"), []string{"u1", "u3", "u4"}},
		{"not emails pr", not(pr("emails")), []string{"u2"}},
		{"emails.type eq work", cmp("eq", "emails.type", "Work"), []string{"u1", "u3", "u4"}},
		{"emails.type eq home", cmp("eq", "emails.type", "home"), none},
		{"emails.primary eq true", cmp("eq", "emails.primary", true), []string{"u1", "u3", "u4"}},
		{"emails.primary eq false", cmp("eq", "emails.primary", false), none},
		{"emails.value ne needs an email", cmp("ne", "emails.value", "alice@example.com"), []string{"u3", "u4"}},
		{"emails[type eq work and value ew]", anyOf("emails", and(cmp("eq", "type", "work"), cmp("ew", "value", "EXAMPLE.org"))), []string{"u3"}},
		{"emails[value sw or value sw]", anyOf("emails", or(cmp("sw", "value", "alice"), cmp("sw", "value", "dave"))), []string{"u1", "u4"}},
		{"emails[not (value co example.com)]", anyOf("emails", not(cmp("co", "value", "example.com"))), []string{"u3"}},
		{"Entra's emails[type eq work].value eq", and(anyOf("emails", cmp("eq", "type", "work")), cmp("eq", "emails.value", "dave@example.com")), []string{"u4"}},
		{"active eq true", cmp("eq", "active", true), []string{"u1", "u3", "u4"}},
		{"active eq false", cmp("eq", "active", false), []string{"u2"}},
		{"active ne true", cmp("ne", "active", true), []string{"u2"}},
		{"active pr", pr("active"), all},
		{"employeeNumber", cmp("eq", "employeeNumber", "1001"), []string{"u1"}},
		{"department ignores case", cmp("eq", "department", "SALES"), []string{"u1"}},
		{"enterprise-qualified department", cmp("eq", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "engineering"), []string{"u2"}},
		{"meta.lastModified gt", cmp("gt", "meta.lastModified", "2026-02-01T00:00:00Z"), []string{"u3"}},
		{"meta.lastModified ge", cmp("ge", "meta.lastModified", "2026-02-01T00:00:00Z"), []string{"u2", "u3"}},
		{"meta.lastModified lt", cmp("lt", "meta.lastModified", "2026-01-15T00:00:00Z"), []string{"u1"}},
		{"meta.lastModified le", cmp("le", "meta.lastModified", "2026-01-15T00:00:00.000Z"), []string{"u1", "u4"}},
		{"meta.lastModified eq in another zone", cmp("eq", "meta.lastModified", "2026-02-01T01:00:00+01:00"), []string{"u2"}},
		{"meta.lastModified ne", cmp("ne", "meta.lastModified", "2026-02-01T01:00:00+01:00"), []string{"u1", "u3", "u4"}},
		{"meta.lastModified eq with trailing zeros", cmp("eq", "meta.lastModified", "2026-03-01T12:30:00.500000Z"), []string{"u3"}},
		{"meta.lastModified eq between milliseconds", cmp("eq", "meta.lastModified", "2026-03-01T12:30:00.5001Z"), none},
		{"meta.lastModified ne between milliseconds", cmp("ne", "meta.lastModified", "2026-03-01T12:30:00.5001Z"), all},
		{"meta.lastModified ge between milliseconds", cmp("ge", "meta.lastModified", "2026-03-01T12:30:00.5001Z"), none},
		{"meta.lastModified gt between milliseconds", cmp("gt", "meta.lastModified", "2026-03-01T12:30:00.4999Z"), []string{"u3"}},
		{"meta.lastModified lt between milliseconds", cmp("lt", "meta.lastModified", "2026-03-01T12:30:00.5001Z"), all},
		{"meta.lastModified le between milliseconds", cmp("le", "meta.lastModified", "2026-03-01T12:30:00.4999Z"), []string{"u1", "u2", "u4"}},
		{"meta.created", cmp("gt", "meta.created", "2026-01-01T00:00:00Z"), []string{"u3"}},
		{"meta.version is case-exact", cmp("eq", "meta.version", "v-u1"), []string{"u1"}},
		{"groups.value eq", cmp("eq", "groups.value", "g1"), []string{"u1", "u2", "u3"}},
		{"groups eq means its value", cmp("eq", "groups", "g2"), []string{"u2", "u3"}},
		{"groups[value eq and type eq direct]", anyOf("groups", and(cmp("eq", "value", "g1"), cmp("eq", "type", "direct"))), []string{"u1"}},
		{"groups.type eq indirect", cmp("eq", "groups.type", "Indirect"), []string{"u2", "u3"}},
		{"groups.display eq", cmp("eq", "groups.display", "DEVELOPERS"), []string{"u2", "u3"}},
		{"groups.value ne: some other group", cmp("ne", "groups.value", "g1"), []string{"u2", "u3"}},
		{"not groups.value eq", not(cmp("eq", "groups.value", "g1")), []string{"u4"}},
		{"not groups pr", not(pr("groups")), []string{"u4"}},
		{"not not", not(not(cmp("eq", "active", true))), []string{"u1", "u3", "u4"}},
		{"or inside and", and(or(cmp("eq", "userName", "alice"), cmp("eq", "userName", "bob")), cmp("eq", "active", true)), []string{"u1"}},
		{"not over or", not(or(cmp("eq", "userName", "alice"), pr("groups"))), []string{"u4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			total, users, err := db.ListUsers(context.Background(), Query{Filter: c.f, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "users", userIDs(users), c.want)
			equal(t, "total", total, len(c.want))
		})
	}
}

func TestGroupFilters(t *testing.T) {
	db := readStore(t)
	cases := []struct {
		name string
		f    *Expr
		want []string
	}{
		{"displayName eq ignores case", cmp("eq", "displayName", "ADMINS"), []string{"g1"}},
		{"displayName sw", cmp("sw", "displayName", "d"), []string{"g2"}},
		{"displayName co", cmp("co", "displayName", "M"), []string{"g1", "g3"}},
		{"externalId eq", cmp("eq", "externalId", "gx-3"), []string{"g3"}},
		{"id eq", cmp("eq", "id", "g2"), []string{"g2"}},
		{"members.value eq a user", cmp("eq", "members.value", "u1"), []string{"g1"}},
		{"members.value eq a group", cmp("eq", "members.value", "g2"), []string{"g1"}},
		{"members eq means its value", cmp("eq", "members", "u3"), []string{"g2"}},
		{"members.type eq group", cmp("eq", "members.type", "group"), []string{"g1"}},
		{"members.display is the userName without displayName", cmp("eq", "members.display", "bob"), []string{"g2"}},
		{"members.display is the displayName", cmp("sw", "members.display", "carol 100"), []string{"g2"}},
		{"members.display of a group", cmp("eq", "members.display", "developers"), []string{"g1"}},
		{"members[value eq or value eq]", anyOf("members", or(cmp("eq", "value", "u2"), cmp("eq", "value", "u1"))), []string{"g1", "g2"}},
		{"members[type eq User and value eq]", anyOf("members", and(cmp("eq", "type", "User"), cmp("eq", "value", "g2"))), []string{}},
		{"Entra's membership check, member", and(cmp("eq", "id", "g1"), anyOf("members", cmp("eq", "value", "u1"))), []string{"g1"}},
		{"Entra's membership check, not a member", and(cmp("eq", "id", "g2"), anyOf("members", cmp("eq", "value", "u1"))), []string{}},
		{"not members pr", not(pr("members")), []string{"g3"}},
		{"meta.lastModified gt", cmp("gt", "meta.lastModified", "2026-02-01T00:00:00Z"), []string{"g1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			total, groups, err := db.ListGroups(context.Background(), Query{Filter: c.f, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "groups", groupIDs(groups), c.want)
			equal(t, "total", total, len(c.want))
		})
	}
}

func TestBadFilters(t *testing.T) {
	db := readStore(t)
	ctx := context.Background()
	users := []*Expr{
		cmp("eq", "nickName", "x"),
		cmp("eq", "userName", 5.0),
		cmp("eq", "userName", true),
		cmp("eq", "active", "true"),
		cmp("gt", "active", true),
		cmp("co", "active", true),
		cmp("gt", "meta.lastModified", "yesterday"),
		cmp("gt", "meta.lastModified", 20260101.0),
		cmp("co", "meta.lastModified", "2026-01-01T00:00:00Z"),
		cmp("gt", "userName", nil),
		cmp("eq", "emails.display", "x"),
		cmp("eq", "members.value", "u1"),
		anyOf("userName", cmp("eq", "value", "x")),
		anyOf("emails", anyOf("emails", cmp("eq", "value", "x"))),
		anyOf("groups", cmp("eq", "primary", true)),
		{Op: "xx", Attr: "userName", Value: "x"},
		{Op: "and", Left: cmp("eq", "userName", "x")},
		{Op: "not"},
		not(cmp("eq", "userName", map[string]any{})),
	}
	for _, f := range users {
		if _, _, err := db.ListUsers(ctx, Query{Filter: f, Count: 10}); !errors.Is(err, ErrBadFilter) {
			t.Errorf("ListUsers(%+v): err = %v, want ErrBadFilter", f, err)
		}
	}
	groups := []*Expr{
		cmp("eq", "userName", "x"),
		cmp("eq", "emails.value", "x"),
		anyOf("members", cmp("eq", "primary", true)),
	}
	for _, f := range groups {
		if _, _, err := db.ListGroups(ctx, Query{Filter: f, Count: 10}); !errors.Is(err, ErrBadFilter) {
			t.Errorf("ListGroups(%+v): err = %v, want ErrBadFilter", f, err)
		}
	}
	if _, _, err := db.ListUsers(ctx, Query{SortBy: "nickName", Count: 10}); !errors.Is(err, ErrBadFilter) {
		t.Errorf("sort by an unknown attribute: %v", err)
	}
	if _, _, err := db.ListGroups(ctx, Query{SortBy: "userName", Count: 10}); !errors.Is(err, ErrBadFilter) {
		t.Errorf("sort groups by userName: %v", err)
	}
}

func TestUserSortingAndPaging(t *testing.T) {
	db := readStore(t)
	cases := []struct {
		name  string
		q     Query
		total int
		want  []string
	}{
		{"by id", Query{Count: 10}, 4, []string{"u1", "u2", "u3", "u4"}},
		{"by userName ignoring case", Query{SortBy: "userName", Count: 10}, 4, []string{"u1", "u2", "u3", "u4"}},
		{"by userName descending", Query{SortBy: "userName", Descending: true, Count: 10}, 4, []string{"u4", "u3", "u2", "u1"}},
		{"by displayName, absent first", Query{SortBy: "displayName", Count: 10}, 4, []string{"u2", "u1", "u3", "u4"}},
		{"by id descending", Query{SortBy: "id", Descending: true, Count: 10}, 4, []string{"u4", "u3", "u2", "u1"}},
		{"second page", Query{SortBy: "userName", StartIndex: 2, Count: 2}, 4, []string{"u2", "u3"}},
		{"startIndex below 1 is 1", Query{StartIndex: -3, Count: 1}, 4, []string{"u1"}},
		{"last partial page", Query{StartIndex: 4, Count: 3}, 4, []string{"u4"}},
		{"startIndex beyond the total", Query{StartIndex: 5, Count: 3}, 4, []string{}},
		{"count 0 gives the total only", Query{Count: 0}, 4, []string{}},
		{"filtered page", Query{Filter: cmp("eq", "active", true), SortBy: "userName", StartIndex: 2, Count: 1}, 3, []string{"u3"}},
		{"filtered, nothing matches", Query{Filter: cmp("eq", "userName", "nonexistent"), Count: 10}, 0, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			total, users, err := db.ListUsers(context.Background(), c.q)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "users", userIDs(users), c.want)
			equal(t, "total", total, c.total)
		})
	}
}

func TestGroupSortingAndPaging(t *testing.T) {
	db := readStore(t)
	ctx := context.Background()
	total, groups, err := db.ListGroups(ctx, Query{SortBy: "displayName", Descending: true, StartIndex: 2, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "groups", groupIDs(groups), []string{"g2", "g1"})
	equal(t, "total", total, 3)
	_, groups, err = db.ListGroups(ctx, Query{SortBy: "displayName", Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "groups by name", groupIDs(groups), []string{"g1", "g2", "g3"})
}

func TestUsersWithGroups(t *testing.T) {
	db := readStore(t)
	ctx := context.Background()
	_, users, err := db.ListUsers(ctx, Query{Count: 10, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]GroupRef{}
	for _, u := range users {
		got[u.ID] = u.Groups
	}
	equal(t, "groups of users", got, map[string][]GroupRef{
		"u1": {{ID: "g1", Name: "Admins", Direct: true}},
		"u2": {{ID: "g1", Name: "Admins"}, {ID: "g2", Name: "Developers", Direct: true}},
		"u3": {{ID: "g1", Name: "Admins"}, {ID: "g2", Name: "Developers", Direct: true}},
		"u4": nil,
	})
	_, users, err = db.ListUsers(ctx, Query{Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(users, func(u UserResource) bool { return u.Groups != nil }) {
		t.Error("groups loaded without WithGroups")
	}
	u, ok, err := db.GetUser(ctx, "u3")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	equal(t, "GetUser groups", u.Groups, got["u3"])
	equal(t, "GetUser email", u.Email, "Carol@Example.ORG")
	if _, ok, err := db.GetUser(ctx, "nobody"); ok || err != nil {
		t.Errorf("GetUser(nobody) = %v, %v", ok, err)
	}
}

func TestGroupsWithMembers(t *testing.T) {
	db := readStore(t)
	ctx := context.Background()
	_, groups, err := db.ListGroups(ctx, Query{Count: 10, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]MemberRef{}
	for _, g := range groups {
		got[g.ID] = g.Members
	}
	equal(t, "members", got, map[string][]MemberRef{
		"g1": {{ID: "g2", Type: bridge.MemberGroup, Display: "Developers"}, {ID: "u1", Type: bridge.MemberUser, Display: "Alice Anderson"}},
		"g2": {{ID: "u2", Type: bridge.MemberUser, Display: "Bob"}, {ID: "u3", Type: bridge.MemberUser, Display: "Carol 100%_done"}},
		"g3": nil,
	})
	_, groups, err = db.ListGroups(ctx, Query{Count: 10, Filter: cmp("eq", "id", "g1")})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "members without WithMembers", groups[0].Members, []MemberRef(nil))
	g, ok, err := db.GetGroup(ctx, "g2")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	equal(t, "GetGroup", g.Members, got["g2"])
	equal(t, "GetGroup name", g.Name, "Developers")
	if _, ok, err := db.GetGroup(ctx, "nobody"); ok || err != nil {
		t.Errorf("GetGroup(nobody) = %v, %v", ok, err)
	}
}
