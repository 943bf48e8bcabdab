package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

func walkIDs(t *testing.T, db *DB, count, from int, between func(page int)) []string {
	t.Helper()
	var ids []string
	for start, page := from, 0; ; start, page = start+count, page+1 {
		total, users, err := db.ListUsers(context.Background(), Query{StartIndex: start, Count: count})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if start+count > total {
			return ids
		}
		if between != nil {
			between(page)
		}
	}
}

// A walk through every page returns each user once, in the order the users
// were stored (not their ids' order), the same as reading each page by
// offset; a user changed mid-walk keeps its place; and a user deleted
// mid-walk from an earlier page does not make the walk skip anyone.
func TestListWalkContinuesAfterThePreviousPage(t *testing.T) {
	db := openTest(t)
	// Stored in two runs, the second with the smaller ids: u010…u024, then u000…u009.
	var want []string
	for _, ids := range [][2]int{{10, 25}, {0, 10}} {
		p := &bridge.Plan{}
		for i := ids[0]; i < ids[1]; i++ {
			id := fmt.Sprintf("u%03d", i)
			p.CreateUsers = append(p.CreateUsers, mkUser(id, fmt.Sprintf("user%d", i)))
			want = append(want, id)
		}
		mustApply(t, db, p)
	}

	equal(t, "walk", walkIDs(t, db, 10, 1, nil), want)
	equal(t, "walk again", walkIDs(t, db, 10, 1, nil), want)
	equal(t, "walk from 11", walkIDs(t, db, 10, 11, nil), want[10:])
	equal(t, "walk by 7 from 4", walkIDs(t, db, 7, 4, nil), want[3:])

	got := walkIDs(t, db, 10, 1, func(page int) {
		if page == 0 {
			changed := mkUser("u012", "user12")
			changed.DisplayName = "Changed"
			mustApply(t, db, &bridge.Plan{UpdateUsers: []bridge.UserRow{changed}})
		}
	})
	equal(t, "walk with a change on page 1", got, want)

	got = walkIDs(t, db, 10, 1, func(page int) {
		if page == 0 {
			mustApply(t, db, &bridge.Plan{DeleteUsers: []string{"u013"}})
		}
	})
	equal(t, "walk with a deletion on page 1", got, want)
	_, users, err := db.ListUsers(context.Background(), Query{StartIndex: 11, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if users[0].ID != "u020" {
		t.Errorf("page 2 starts at %s, want u020 (after u019, the user that ended page 1)", users[0].ID)
	}
}

// Without sortBy, users list in the order they were stored, both ways and
// by offset; sortBy "id" sorts them by id. Groups list by id.
func TestListsWithoutSortByInTheStoresOrder(t *testing.T) {
	db := openTest(t)
	mustApply(t, db, &bridge.Plan{CreateUsers: []bridge.UserRow{mkUser("u3", "carol"), mkUser("u4", "dave")},
		CreateGroups: []bridge.GroupRow{mkGroup("g2", "Two"), mkGroup("g1", "One")}})
	mustApply(t, db, &bridge.Plan{CreateUsers: []bridge.UserRow{mkUser("u2", "bob"), mkUser("u1", "ann")}})
	ctx := context.Background()
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"stored order", Query{Count: 10}, []string{"u3", "u4", "u1", "u2"}},
		{"stored order, descending", Query{Count: 10, Descending: true}, []string{"u2", "u1", "u4", "u3"}},
		{"stored order, from 2", Query{StartIndex: 2, Count: 2}, []string{"u4", "u1"}},
		{"by id", Query{Count: 10, SortBy: "id"}, []string{"u1", "u2", "u3", "u4"}},
		{"by id, from 2", Query{StartIndex: 2, Count: 2, SortBy: "id"}, []string{"u2", "u3"}},
		{"by userName, descending", Query{Count: 10, SortBy: "userName", Descending: true}, []string{"u4", "u3", "u2", "u1"}},
	}
	for _, c := range cases {
		total, users, err := db.ListUsers(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, c.name, userIDs(users), c.want)
		equal(t, c.name+": total", total, 4)
	}
	_, groups, err := db.ListGroups(ctx, Query{Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "groups", groupIDs(groups), []string{"g1", "g2"})
}

func seedWalk(t *testing.T, db *DB, n int) {
	t.Helper()
	p := &bridge.Plan{}
	for i := range n {
		p.CreateUsers = append(p.CreateUsers, mkUser(fmt.Sprintf("u%03d", i), fmt.Sprintf("user%d", i)))
	}
	mustApply(t, db, p)
}

// Two filters with the same SQL whose values only differ in where one ends
// and the next begins never share a walk's cursor.
func TestListWalkCursorsAreKeyedByTypedValues(t *testing.T) {
	db := openTest(t)
	seedWalk(t, db, 25)
	and := func(a, b string) *Expr {
		return &Expr{Op: "and", Left: &Expr{Op: "co", Attr: "userName", Value: a}, Right: &Expr{Op: "co", Attr: "userName", Value: b}}
	}
	ctx := context.Background()
	if _, _, err := db.ListUsers(ctx, Query{Filter: and("user2", ""), StartIndex: 1, Count: 2}); err != nil {
		t.Fatal(err)
	}
	total, users, err := db.ListUsers(ctx, Query{Filter: and("user", "2"), StartIndex: 3, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{users[0].ID, users[1].ID}
	// "user" and "2": user2, user12, user20…user24 = u002, u012, u020, …
	equal(t, "page 2 of the second filter", got, []string{"u020", "u021"})
	equal(t, "total", total, 7)
}

// After the store changes, a page that continues an old walk counts again.
func TestListWalkRecountsAfterAWrite(t *testing.T) {
	db := openTest(t)
	seedWalk(t, db, 25)
	walkIDs(t, db, 10, 1, nil)
	var gone []string
	for i := range 8 {
		gone = append(gone, fmt.Sprintf("u%03d", i))
	}
	mustApply(t, db, &bridge.Plan{DeleteUsers: gone})
	total, _, err := db.ListUsers(context.Background(), Query{StartIndex: 11, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "total after deleting 8", total, 17)
}
