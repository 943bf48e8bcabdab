package store

import (
	stdcmp "cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/scimbridge/scimbridge/bridge"
)

// corpPlan is a corp-like directory for comparing filter plans: bigPlan's
// four levels of nested groups ("Group 0000" …), users in one to three
// groups (some in a group and in one nested in it, so that a group is
// direct and not also indirect), and names that fold beyond ASCII: "Ärger",
// "İnci" (strings.ToLower gives "i"), the Kelvin sign "K" (gives "k"),
// "100%_done" (LIKE's wildcards) and users without a displayName (a
// member's display is then its userName).
func corpPlan() *bridge.Plan {
	p := bigPlan(1500, 60)
	names := []struct{ given, family, display string }{
		{"Ärger", "Dave", "Ärger Dave"},
		{"İnci", "Yilmaz", "İnci Yilmaz"},
		{"Kelvin", "\u212aelvin", "\u212aelvin Q0x"},
		{"Carol", "Done", "Carol 100%_done"},
		{"", "", ""},
		{"Zoë", "X", "ZOË Q3X"},
	}
	for i := range p.CreateUsers {
		u := &p.CreateUsers[i]
		if i%7 == 0 {
			n := names[(i/7)%len(names)]
			u.GivenName, u.FamilyName, u.DisplayName = n.given, n.family, n.display
		}
		if i%5 == 0 {
			u.Email = strings.ToUpper(u.Email)
		}
		if i%11 == 0 {
			u.Email = ""
		}
		u.LastModified = u.LastModified.Add(time.Duration(i) * time.Hour)
	}
	return p
}

// worstShapes are the filter shapes of cmd/scimbridge-bench's rows 6c, on
// corpPlan's names, and variants of them that match there.
func worstShapes() (users, groups []*Expr) {
	orOf := func(f func(i int) *Expr, n int) *Expr {
		e := f(0)
		for i := 1; i < n; i++ {
			e = or(e, f(i))
		}
		return e
	}
	nest := func(e *Expr, n int) *Expr {
		for range n {
			e = not(e)
		}
		return e
	}
	users = []*Expr{
		cmp("co", "groups.display", "zz"),
		cmp("co", "groups.display", "1"),
		orOf(func(i int) *Expr { return cmp("co", "groups.display", fmt.Sprintf("%d9", i)) }, 3),
		cmp("eq", "groups.type", "indirect"),
		anyOf("groups", and(cmp("eq", "type", "indirect"), cmp("ew", "display", "7"))),
		cmp("eq", "groups.value", "no-such-group"),
		cmp("co", "displayName", "zz"),
		cmp("ew", "name.formatted", "x"),
		anyOf("emails", cmp("co", "value", "zz")),
		orOf(func(i int) *Expr { return cmp("co", "displayName", fmt.Sprintf("q%d", i)) }, 4),
		orOf(func(i int) *Expr { return cmp("co", "userName", fmt.Sprintf("q%d", i)) }, 20),
		nest(cmp("sw", "userName", "user00"), 10),
		cmp("gt", "meta.lastModified", "2026-01-20T00:00:00Z"),
		not(cmp("eq", "userName", "user000000")),
		// Variants that match in corpPlan.
		cmp("eq", "groups.type", "direct"),
		anyOf("groups", and(cmp("eq", "type", "direct"), cmp("co", "display", "1"))),
		anyOf("groups", or(cmp("eq", "type", "indirect"), cmp("sw", "display", "GROUP 000"))),
		anyOf("groups", and(cmp("eq", "type", "indirect"), cmp("sw", "display", "group 00"))),
		anyOf("groups", and(cmp("eq", "type", "indirect"), cmp("ne", "display", "group 0001"))),
		or(cmp("sw", "groups.display", "group 001"), cmp("eq", "groups.type", "indirect")),
		or(cmp("co", "groups.display", "5"), and(cmp("co", "userName", "7"), cmp("eq", "groups", "no-such-group"))),
		and(cmp("co", "groups.display", "2"), not(cmp("eq", "groups.type", "indirect"))),
		cmp("co", "displayName", "K"),
		cmp("co", "displayName", "kelvin"),
		cmp("co", "displayName", "inci"),
		cmp("sw", "displayName", "ärger"),
		cmp("eq", "displayName", "zoë q3x"),
		cmp("co", "displayName", "100%_"),
		cmp("co", "displayName", "e_"),
		cmp("ew", "name.formatted", "elvin"),
		cmp("ew", "name.formatted", "1"),
		cmp("eq", "name.formatted", "given family12"),
		pr("name.formatted"),
		anyOf("emails", cmp("co", "value", "EXAMPLE.COM")),
		cmp("sw", "emails.value", "user0001"),
		orOf(func(i int) *Expr { return cmp("co", "displayName", fmt.Sprintf("q%d", i)) }, 4),
		or(or(cmp("co", "displayName", "kelvin"), cmp("ew", "displayName", "x")), or(cmp("sw", "displayName", "inci"), cmp("co", "name.givenName", "rg"))),
		or(or(cmp("eq", "displayName", "carol 100%_done"), cmp("eq", "displayName", "zoë q3x")), or(cmp("co", "displayName", "_d"), not(cmp("co", "displayName", "a")))),
		cmp("ne", "displayName", "Ärger Dave"),
		cmp("eq", "displayName", nil),
	}
	groups = []*Expr{
		cmp("ew", "members.display", "9"),
		anyOf("members", and(cmp("eq", "type", "User"), cmp("co", "display", "zz"))),
		orOf(func(i int) *Expr { return cmp("co", "members.display", fmt.Sprintf("x%d", i)) }, 3),
		cmp("eq", "members.value", "no-such-member"),
		orOf(func(i int) *Expr { return cmp("co", "displayName", fmt.Sprint(i)) }, 20),
		// Variants that match in corpPlan.
		cmp("ew", "members.display", "7"),
		anyOf("members", and(cmp("eq", "type", "User"), cmp("co", "display", "k"))),
		orOf(func(i int) *Expr { return cmp("co", "members.display", []string{"ärger", "group 0001", "user000"}[i]) }, 3),
		or(cmp("eq", "members.type", "group"), cmp("sw", "members.display", "İnci")),
		and(cmp("co", "displayName", "1"), cmp("co", "members.display", "100%")),
	}
	return users, groups
}

// TestFilterPlansAgreeWithTheFilterSemantics compares, for every shape of
// the expensive-filter benchmark and variants that match, the ids, their
// order and totalResults the store answers (under both plans of a condition
// on users' groups) with the filter evaluated in Go on every resource as
// the SCIM filter defines it: strings.ToLower for caseExact=false.
func TestFilterPlansAgreeWithTheFilterSemantics(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, corpPlan())
	shuffleStoredOrder(t, db)
	_, allUsers, err := db.ListUsers(ctx, Query{Count: 10000, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	if slices.IsSorted(userIDs(allUsers)) {
		t.Fatal("the users' stored order is their ids' order")
	}
	_, allGroups, err := db.ListGroups(ctx, Query{Count: 10000, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	userShapes, groupShapes := worstShapes()
	pages := []Query{{Count: 100}, {StartIndex: 51, Count: 100}, {Count: 10000}, {Count: 100, SortBy: "displayName", Descending: true}}
	for _, f := range userShapes {
		var want []UserResource
		for _, u := range allUsers {
			if evalUser(f, &u) {
				want = append(want, u)
			}
		}
		eachGroupsPlan(t, func(plan string) {
			for _, q := range pages {
				q.Filter = f
				wantPage := pageOf(want, q, func(u UserResource) (string, string) { return u.ID, sortKeyUser(u, q.SortBy) })
				total, got, err := db.ListUsers(ctx, q)
				if err != nil {
					t.Fatalf("%s (%s): %v", exprText(f), plan, err)
				}
				what := fmt.Sprintf("%s (%s, startIndex %d, sortBy %q)", exprText(f), plan, q.StartIndex, q.SortBy)
				equal(t, what+": ids", userIDs(got), userIDs(wantPage))
				equal(t, what+": total", total, len(want))
			}
		})
	}
	for _, f := range groupShapes {
		var want []GroupResource
		for _, g := range allGroups {
			if evalGroup(f, &g) {
				want = append(want, g)
			}
		}
		for _, q := range pages[:3] {
			q.Filter = f
			wantPage := pageOf(want, q, func(g GroupResource) (string, string) { return g.ID, "" })
			total, got, err := db.ListGroups(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", exprText(f), err)
			}
			what := fmt.Sprintf("%s (startIndex %d)", exprText(f), q.StartIndex)
			equal(t, what+": ids", groupIDs(got), groupIDs(wantPage))
			equal(t, what+": total", total, len(want))
		}
	}
}

// TestRandomFiltersAgreeWithTheFilterSemantics compares random filters
// over the attributes compared without case (and the groups and members
// conditions around them) with the filter evaluated in Go, in the spirit of
// the test above but with values picked to meet LIKE's corners.
func TestRandomFiltersAgreeWithTheFilterSemantics(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	p := corpPlan()
	p.CreateUsers = p.CreateUsers[:300]
	for gid, ms := range p.GroupMembers {
		kept := ms[:0]
		for _, m := range ms {
			if m.Type == bridge.MemberGroup || slices.ContainsFunc(p.CreateUsers, func(u bridge.UserRow) bool { return u.ID == m.ID }) {
				kept = append(kept, m)
			}
		}
		p.GroupMembers[gid] = kept
	}
	mustApply(t, db, p)
	shuffleStoredOrder(t, db)
	_, allUsers, err := db.ListUsers(ctx, Query{Count: 10000, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	_, allGroups, err := db.ListGroups(ctx, Query{Count: 10000, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(14, 1))
	values := []string{"", "a", "A", "k", "K", "\u212a", "i", "İ", "I", "ä", "Ä", "ë", "%", "_", "\\", "e_", "100%_", "zz", "Z",
		"given", "GIVEN F", "family1", "group 00", "0", "7", "user0001", "@example.com", "EXAMPLE", "q0x", "ärger dave", "\u212aelvin"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	ops := []string{"eq", "ne", "co", "sw", "ew"}
	userAttrs := []string{"displayName", "name.givenName", "name.familyName", "name.formatted", "emails.value", "userName", "groups.display"}
	leaf := func(users bool) *Expr {
		if !users {
			attr := pick([]string{"displayName", "members.display", "members.type"})
			return cmp(pick(ops), attr, pick(append(values, "User", "group")))
		}
		if rng.IntN(6) == 0 {
			return anyOf("groups", and(cmp("eq", "type", pick([]string{"direct", "indirect"})), cmp(pick(ops), "display", pick(values))))
		}
		return cmp(pick(ops), pick(userAttrs), pick(values))
	}
	var gen func(users bool, depth int) *Expr
	gen = func(users bool, depth int) *Expr {
		switch n := rng.IntN(6); {
		case depth > 2 || n < 3:
			return leaf(users)
		case n == 3:
			return not(gen(users, depth+1))
		case n == 4:
			return and(gen(users, depth+1), gen(users, depth+1))
		default:
			return or(gen(users, depth+1), gen(users, depth+1))
		}
	}
	for range 300 {
		users := rng.IntN(3) > 0
		f := gen(users, 0)
		if CheckFilter(f, users) != nil {
			continue
		}
		var want, got []string
		var total int
		if users {
			want = matching(allUsers, func(u *UserResource) bool { return evalUser(f, u) }, userIDs)
			var us []UserResource
			total, us, err = db.ListUsers(ctx, Query{Filter: f, Count: 10000})
			got = userIDs(us)
		} else {
			want = matching(allGroups, func(g *GroupResource) bool { return evalGroup(f, g) }, groupIDs)
			var gs []GroupResource
			total, gs, err = db.ListGroups(ctx, Query{Filter: f, Count: 10000})
			got = groupIDs(gs)
		}
		if err != nil {
			t.Fatalf("%s: %v", exprText(f), err)
		}
		equal(t, exprText(f)+": ids", got, want)
		equal(t, exprText(f)+": total", total, len(want))
	}
}

// shuffleStoredOrder gives the users rowids in another order than their
// ids', as a streamed first sync stores them (in the order the directory
// returns them), so that the lists' own order is not the ids'.
func shuffleStoredOrder(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.w.Exec("UPDATE users SET rid = -rid"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec("UPDATE users SET rid = (-rid * 7919) % 100003"); err != nil {
		t.Fatal(err)
	}
}

// TestFoldsToASCIIListsEveryRune: compareFolded relies on foldsToASCII
// holding every rune beyond ASCII that strings.ToLower makes ASCII.
func TestFoldsToASCIIListsEveryRune(t *testing.T) {
	var got []rune
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if unicode.ToLower(r) < 0x80 {
			got = append(got, r)
		}
	}
	equal(t, "runes", string(got), foldsToASCII)
}

// matching returns the ids of the resources of all that eval holds for.
func matching[T any](all []T, eval func(*T) bool, ids func([]T) []string) []string {
	var out []T
	for i := range all {
		if eval(&all[i]) {
			out = append(out, all[i])
		}
	}
	return ids(out)
}

// pageOf returns the page q selects of all, which is in the store's own
// order (the order of a list without sortBy).
func pageOf[T any](all []T, q Query, key func(T) (id, sort string)) []T {
	sorted := slices.Clone(all)
	if q.SortBy == "" && q.Descending {
		slices.Reverse(sorted)
	}
	slices.SortStableFunc(sorted, func(a, b T) int {
		if q.SortBy == "" {
			return 0
		}
		ia, sa := key(a)
		ib, sb := key(b)
		c := stdcmp.Or(strings.Compare(sa, sb), strings.Compare(ia, ib))
		if q.Descending {
			return -c
		}
		return c
	})
	from := min(max(q.StartIndex, 1)-1, len(sorted))
	out := sorted[from:min(from+q.Count, len(sorted))]
	if out == nil {
		return []T{}
	}
	return out
}

func sortKeyUser(u UserResource, sortBy string) string {
	if sortBy == "displayName" {
		return strings.ToLower(u.DisplayName)
	}
	return ""
}

func exprText(e *Expr) string {
	switch {
	case e == nil:
		return ""
	case e.Op == "and" || e.Op == "or":
		return "(" + exprText(e.Left) + " " + e.Op + " " + exprText(e.Right) + ")"
	case e.Op == "not":
		return "not(" + exprText(e.Left) + ")"
	case e.Op == "any":
		return e.Attr + "[" + exprText(e.Left) + "]"
	}
	return fmt.Sprintf("%s %s %v", e.Attr, e.Op, e.Value)
}

// element is one value of an attribute for evalExpr: its text (or a bool or
// time), whether it is present, and whether it compares without case.
type element struct {
	text    string
	b       *bool
	at      time.Time
	isTime  bool
	present bool
	fold    bool
}

func textOf(s string, fold bool) element { return element{text: s, present: s != "", fold: fold} }

// evalExpr evaluates e with attribute values from attr (nil: unknown) and
// the elements of a multi-valued attribute from elems.
func evalExpr(e *Expr, attr func(name string) *element, elems func(name string) []func(sub string) *element) bool {
	switch e.Op {
	case "and":
		return evalExpr(e.Left, attr, elems) && evalExpr(e.Right, attr, elems)
	case "or":
		return evalExpr(e.Left, attr, elems) || evalExpr(e.Right, attr, elems)
	case "not":
		return !evalExpr(e.Left, attr, elems)
	case "any":
		for _, el := range elems(strings.ToLower(e.Attr)) {
			if evalExpr(e.Left, func(name string) *element { return el(strings.ToLower(name)) }, nil) {
				return true
			}
		}
		return false
	}
	name := strings.ToLower(e.Attr)
	if a := attr(name); a != nil {
		return compareElement(e, a)
	}
	parent, sub, _ := strings.Cut(name, ".")
	if sub == "" {
		sub = "value"
	}
	return evalExpr(&Expr{Op: "any", Attr: parent, Left: &Expr{Op: e.Op, Attr: sub, Value: e.Value}}, attr, elems)
}

func compareElement(e *Expr, a *element) bool {
	if e.Op == "pr" {
		return a.present
	}
	if e.Value == nil {
		return (e.Op == "eq") != a.present
	}
	if a.b != nil {
		return (e.Op == "eq") == (*a.b == e.Value.(bool))
	}
	if a.isTime {
		v := ts(e.Value.(string))
		switch e.Op {
		case "gt":
			return a.at.After(v)
		case "eq":
			return a.at.Equal(v)
		}
		panic("time op " + e.Op)
	}
	v, s := e.Value.(string), a.text
	if a.fold {
		v, s = strings.ToLower(v), strings.ToLower(s)
	}
	switch e.Op {
	case "eq":
		return a.present && s == v
	case "ne":
		return !(a.present && s == v)
	case "co":
		return a.present && strings.Contains(s, v)
	case "sw":
		return a.present && strings.HasPrefix(s, v)
	case "ew":
		return a.present && strings.HasSuffix(s, v)
	case "gt":
		return a.present && s > v
	}
	panic("op " + e.Op)
}

func evalUser(e *Expr, u *UserResource) bool {
	attr := func(name string) *element {
		switch name {
		case "id":
			return &element{text: u.ID, present: true}
		case "username":
			return &element{text: u.UserName, present: true, fold: true}
		case "displayname":
			return new(textOf(u.DisplayName, true))
		case "name.givenname":
			return new(textOf(u.GivenName, true))
		case "name.familyname":
			return new(textOf(u.FamilyName, true))
		case "name.formatted":
			return new(textOf(strings.Trim(u.GivenName+" "+u.FamilyName, " "), true))
		case "meta.lastmodified":
			return &element{at: u.LastModified, isTime: true, present: true}
		}
		return nil
	}
	elems := func(name string) []func(string) *element {
		var out []func(string) *element
		switch name {
		case "emails":
			if u.Email != "" {
				out = append(out, func(sub string) *element {
					switch sub {
					case "value":
						return new(textOf(u.Email, true))
					case "type":
						return new(textOf("work", true))
					}
					return nil
				})
			}
		case "groups":
			for _, g := range u.Groups {
				typ := "indirect"
				if g.Direct {
					typ = "direct"
				}
				out = append(out, func(sub string) *element {
					switch sub {
					case "value":
						return new(textOf(g.ID, false))
					case "display":
						return new(textOf(g.Name, true))
					case "type":
						return new(textOf(typ, true))
					}
					return nil
				})
			}
		}
		return out
	}
	return evalExpr(e, attr, elems)
}

func evalGroup(e *Expr, g *GroupResource) bool {
	attr := func(name string) *element {
		switch name {
		case "id":
			return &element{text: g.ID, present: true}
		case "displayname":
			return &element{text: g.Name, present: true, fold: true}
		}
		return nil
	}
	elems := func(name string) []func(string) *element {
		var out []func(string) *element
		for _, m := range g.Members {
			out = append(out, func(sub string) *element {
				switch sub {
				case "value":
					return new(textOf(m.ID, false))
				case "display":
					return new(textOf(m.Display, true))
				case "type":
					return new(textOf(m.Type, true))
				}
				return nil
			})
		}
		return out
	}
	return evalExpr(e, attr, elems)
}
