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

// A walk through every page returns each user once, in id order, the same
// as reading each page by offset; and a user deleted mid-walk from an
// earlier page does not make the walk skip anyone.
func TestListWalkContinuesAfterThePreviousPage(t *testing.T) {
	db := openTest(t)
	p := &bridge.Plan{}
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("u%03d", i)
		p.CreateUsers = append(p.CreateUsers, mkUser(id, fmt.Sprintf("user%d", i)))
		want = append(want, id)
	}
	mustApply(t, db, p)

	equal(t, "walk", walkIDs(t, db, 10, 1, nil), want)
	equal(t, "walk again", walkIDs(t, db, 10, 1, nil), want)
	equal(t, "walk from 11", walkIDs(t, db, 10, 11, nil), want[10:])

	got := walkIDs(t, db, 10, 1, func(page int) {
		if page == 0 {
			mustApply(t, db, &bridge.Plan{DeleteUsers: []string{"u003"}})
		}
	})
	equal(t, "walk with a deletion on page 1", got, want)
	_, users, err := db.ListUsers(context.Background(), Query{StartIndex: 11, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if users[0].ID != "u010" {
		t.Errorf("page 2 starts at %s, want u010 (after the id that ended page 1)", users[0].ID)
	}
}
