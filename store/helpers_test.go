package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// mkUser builds a stored user row; hashes and version derive from id and name.
// digest returns a user row's hash for s: 32 hex digits, as the bridge writes.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return bridge.Digest(h[:16]).String()
}

func mkUser(id, userName string) bridge.UserRow {
	dn := "uid=" + userName + ",ou=people,dc=example,dc=com"
	return bridge.UserRow{
		ID: id,
		User: schema.User{
			DN: dn, UserName: userName, Active: true,
		},
		DNNorm:       strings.ToLower(dn),
		UserNameNorm: strings.ToLower(userName),
		Hash:         digest("h-" + id + "-" + userName),
		GroupsHash:   digest("gh-" + id),
		Version:      "v-" + id,
		Created:      ts("2026-01-01T00:00:00Z"),
		LastModified: ts("2026-01-01T00:00:00Z"),
	}
}

func mkGroup(id, name string) bridge.GroupRow {
	dn := "cn=" + name + ",ou=groups,dc=example,dc=com"
	return bridge.GroupRow{
		ID: id, DN: dn, DNNorm: strings.ToLower(dn), Name: name, NameNorm: strings.ToLower(name),
		Hash: "h-" + id, MembersHash: "mh-" + id, Version: "v-" + id,
		Created: ts("2026-01-01T00:00:00Z"), LastModified: ts("2026-01-01T00:00:00Z"),
	}
}

// dump renders every row of every table that Apply may touch, for
// before/after comparisons.
func dump(t testing.TB, db *DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var byRID bool // memberships and the closure by rowid (migration 8)
	if err := db.w.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'group_users'").Scan(&byRID); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"users", "groups", "group_members", "group_closure", "changes", "sync_runs", "settings", "settings_history"} {
		q := "SELECT * FROM " + table + " ORDER BY 1, 2"
		// A rowid is where a row was written, not what it holds: users and
		// groups are listed by id, memberships and the closure by the ids
		// their rowids stand for (or the rowid that stands for nothing).
		switch {
		case table == "users":
			q = "SELECT " + userCols + " FROM users ORDER BY id"
		case table == "groups":
			q = "SELECT " + groupCols + " FROM groups ORDER BY id"
		case table == "group_members" && byRID:
			q = `SELECT coalesce(g.id, 'no group ' || gm.group_rid), coalesce(m.id, 'no user ' || gm.user_rid), 'User'
				FROM group_users gm LEFT JOIN groups g ON g.rid = gm.group_rid LEFT JOIN users m ON m.rid = gm.user_rid
				UNION ALL SELECT coalesce(g.id, 'no group ' || gm.group_rid), coalesce(m.id, 'no group ' || gm.member_rid), 'Group'
				FROM group_subgroups gm LEFT JOIN groups g ON g.rid = gm.group_rid LEFT JOIN groups m ON m.rid = gm.member_rid
				ORDER BY 1, 2`
		case table == "group_closure" && byRID:
			q = `SELECT coalesce(g.id, 'no group ' || c.group_rid), coalesce(a.id, 'no group ' || c.ancestor_rid)
				FROM group_closure c LEFT JOIN groups g ON g.rid = c.group_rid LEFT JOIN groups a ON a.rid = c.ancestor_rid
				ORDER BY 1, 2`
		}
		rows, err := db.w.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprint(vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func equal[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustApply(t testing.TB, db *DB, p *bridge.Plan) *bridge.Report {
	t.Helper()
	ctx := context.Background()
	r := &bridge.Report{Trigger: bridge.TriggerManual}
	if err := db.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Status = bridge.StatusSucceeded
	r.FinishedAt = r.StartedAt.Add(time.Second)
	if err := db.Apply(ctx, p, r); err != nil {
		t.Fatal(err)
	}
	return r
}
