package store

import (
	"context"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
)

// migrationOf is the number of migrations up to and including the one
// whose text holds marker (found by its text, not its place).
func migrationOf(t *testing.T, marker string) int {
	t.Helper()
	i := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, marker) })
	if i < 0 {
		t.Fatalf("no migration holds %q", marker)
	}
	return i + 1
}

// rowidMigration turns users into a rowid table; memberMigration keeps the
// memberships and the closure by rowid.
const (
	rowidMigration  = "CREATE TABLE users_by_rowid"
	memberMigration = "CREATE TABLE group_users"
)

// writeOldStore writes the directory src holds (users, groups, memberships,
// closure and the changed-entries state) into a new store at path with the
// schema of the first v migrations, before memberMigration, in its layout:
// groups keyed by id, memberships and the closure as pairs of ids. It is
// how a scimbridge of that version stored the same sync.
func writeOldStore(t *testing.T, src *DB, path string, v int) *DB {
	t.Helper()
	if v >= migrationOf(t, memberMigration) {
		t.Fatalf("writeOldStore: schema %d has memberships by rowid", v)
	}
	ctx := context.Background()
	old, err := open(ctx, path, migrations[:v])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	stmts := []string{
		"ATTACH DATABASE " + quoteSQL(src.path) + " AS src",
		"BEGIN",
		"INSERT INTO users (" + userCols + ") SELECT " + userCols + " FROM src.users ORDER BY rid",
		"INSERT INTO groups (" + groupCols + ") SELECT " + groupCols + " FROM src.groups ORDER BY id",
		`INSERT INTO group_members (group_id, member_id, member_type)
			SELECT g.id, m.id, 'User' FROM src.group_users gm JOIN src.groups g ON g.rid = gm.group_rid JOIN src.users m ON m.rid = gm.user_rid
			UNION ALL SELECT g.id, m.id, 'Group' FROM src.group_subgroups gm JOIN src.groups g ON g.rid = gm.group_rid
			JOIN src.groups m ON m.rid = gm.member_rid`,
		`INSERT INTO group_closure (group_id, ancestor_id)
			SELECT g.id, a.id FROM src.group_closure c JOIN src.groups g ON g.rid = c.group_rid JOIN src.groups a ON a.rid = c.ancestor_rid`,
		"INSERT INTO skipped_entries SELECT * FROM src.skipped_entries",
		"INSERT INTO dangling_members SELECT * FROM src.dangling_members",
		"INSERT INTO directory_uuids SELECT * FROM src.directory_uuids",
		"INSERT INTO change_position SELECT * FROM src.change_position",
		"COMMIT",
		"DETACH DATABASE src",
	}
	for _, q := range stmts {
		if _, err := old.w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return old
}

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// synced returns a store that a real sync of the slapd fixture wrote, and
// the sync's report.
func synced(t *testing.T, srv *slapdtest.Server) (*DB, *bridge.Report) {
	t.Helper()
	db := openTest(t)
	r := syncOnce(t, db, srv)
	if r.UsersCreated == 0 || r.GroupsCreated == 0 || r.MembershipsChanged == 0 {
		t.Fatalf("first sync created %d users, %d groups and %d memberships: the fixture should give some",
			r.UsersCreated, r.GroupsCreated, r.MembershipsChanged)
	}
	return db, r
}

// withoutRuns is a dump without the run records (the stores compared ran
// different syncs).
func withoutRuns(d map[string][]string) map[string][]string {
	delete(d, "sync_runs")
	return d
}

// syncsNoChange runs a sync on db, which holds what first created, and
// checks that it finds no change and writes only its run record.
func syncsNoChange(t *testing.T, db *DB, srv *slapdtest.Server, first *bridge.Report) {
	t.Helper()
	before := withoutRuns(dump(t, db))
	written := totalChanges(t, db)
	r := syncOnce(t, db, srv)
	want := first.Summary()
	want.UsersCreated, want.GroupsCreated, want.MembershipsChanged, want.DurationMs = 0, 0, 0, r.DurationMs
	equal(t, "the sync after the migration", r.Summary(), want)
	equal(t, "rows the sync after the migration wrote (its run record)", totalChanges(t, db)-written, int64(2))
	equal(t, "rows after the no-change sync", withoutRuns(dump(t, db)), before)
}

func syncOnce(t *testing.T, db *DB, srv *slapdtest.Server) *bridge.Report {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	r, err := bridge.NewSyncer(db, ldapsource.Dial, log).Run(context.Background(), srv.Settings(), bridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != bridge.StatusSucceeded {
		t.Fatalf("sync: %s (%s)", r.Status, r.Error)
	}
	return r
}

func totalChanges(t *testing.T, db *DB) int64 {
	t.Helper()
	var n int64
	if err := db.w.QueryRow("SELECT total_changes()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A store written while users were keyed by id is migrated: the same rows,
// the same indexes plus the id one, and the next sync finds no change and
// writes only its run record.
func TestUsersRowidMigrationKeepsTheStoreAndSyncsNoChange(t *testing.T) {
	ctx := context.Background()
	srv := slapdtest.Start(t)
	src, first := synced(t, srv)
	path := filepath.Join(t.TempDir(), "state.db")
	n := migrationOf(t, rowidMigration)
	old := writeOldStore(t, src, path, n-1)
	before := dump(t, old)
	oldIndexes := indexes(t, old)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := open(ctx, path, migrations[:n])
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	equal(t, "rows after the migration", dump(t, db), before)
	wantIndexes := append(slices.Clone(oldIndexes), "users_id: CREATE UNIQUE INDEX users_id ON users(id)")
	slices.Sort(wantIndexes)
	equal(t, "indexes after the migration", indexes(t, db), wantIndexes)
	var withoutRowid int
	if err := db.w.QueryRow("SELECT count(*) FROM pragma_table_list WHERE name = 'users' AND wr = 1").Scan(&withoutRowid); err != nil {
		t.Fatal(err)
	}
	equal(t, "users WITHOUT ROWID after the migration", withoutRowid, 0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	syncsNoChange(t, db, srv, first)
}

// A store written while memberships and the closure were pairs of ids is
// migrated: the same users, groups, memberships and closure, the indexes a
// store of the new schema has, the same SCIM answers (lists with groups and
// members, and filters on them) as a store the same sync wrote at the new
// schema; and the next sync finds no change and writes only its run record.
func TestMembershipsByRowidMigrationKeepsTheSCIMAnswers(t *testing.T) {
	ctx := context.Background()
	srv := slapdtest.Start(t)
	want, first := synced(t, srv)
	path := filepath.Join(t.TempDir(), "state.db")
	old := writeOldStore(t, want, path, migrationOf(t, memberMigration)-1)
	before := withoutRuns(dump(t, old))
	equal(t, "the old store's rows", before, withoutRuns(dump(t, want)))
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	equal(t, "rows after the migration", withoutRuns(dump(t, db)), before)
	equal(t, "indexes after the migration", indexes(t, db), indexes(t, want))
	for _, table := range []string{"groups", "group_users", "group_subgroups", "group_closure"} {
		var n int
		if err := db.w.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s is empty after the migration: the fixture should fill it", table)
		}
	}
	equal(t, "SCIM answers after the migration", scimAnswers(t, db), scimAnswers(t, want))
	syncsNoChange(t, db, srv, first)
}

// scimAnswers lists every user with its groups and every group with its
// members, and the users and groups that filters on groups and members
// select.
func scimAnswers(t *testing.T, db *DB) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, q := range []struct {
		users  bool
		filter *Expr
	}{
		{true, nil}, {false, nil},
		{true, cmp("co", "groups.display", "e")},
		{true, cmp("eq", "groups.type", "indirect")},
		{true, cmp("eq", "groups.type", "direct")},
		{false, cmp("eq", "members.type", "Group")},
		{false, cmp("co", "members.display", "a")},
		{false, cmp("pr", "members", nil)},
	} {
		if q.users {
			total, us, err := db.ListUsers(ctx, Query{Filter: q.filter, Count: 1000, WithGroups: true})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("users %s: %d %+v", exprText(q.filter), total, us))
			continue
		}
		total, gs, err := db.ListGroups(ctx, Query{Filter: q.filter, Count: 1000, WithMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("groups %s: %d %+v", exprText(q.filter), total, gs))
	}
	return out
}

// A migration that rebuilds a table keeps the indexes other migrations gave
// it, whichever came first; an index a migration drops stays dropped.
func TestMigrationRebuildingATableKeepsOtherIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	n := migrationOf(t, rowidMigration)
	extra := "CREATE INDEX users_email_test ON users(email); DROP INDEX groups_last_modified;"
	migs := append(slices.Clone(migrations[:n-1]), extra)
	db, err := open(ctx, path, migs)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = open(ctx, path, append(migs, migrations[n-1]))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := strings.Join(indexes(t, db), "\n")
	if !strings.Contains(got, "users_email_test: CREATE INDEX users_email_test ON users(email)") {
		t.Errorf("the rebuilt users table lost an index another migration added:\n%s", got)
	}
	if strings.Contains(got, "groups_last_modified") {
		t.Errorf("an index dropped by a migration came back:\n%s", got)
	}
}

// A user row is stored compact (the hashes as 16 bytes; dn_norm always
// spelled out, changed-entries passes look users up by it), and a row written
// in the earlier form (hex hashes) reads the same: through GetUser and
// through Snapshot.
func TestUserRowsCompactAndEarlierFormReadAlike(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	lower := mkUser("u1", "ann") // dn_norm equals dn
	mixed := mkUser("u2", "bea") // dn_norm differs
	mixed.DN = "UID=bea,OU=People,DC=example,DC=com"
	mustApply(t, db, &bridge.Plan{CreateUsers: []bridge.UserRow{lower, mixed}})
	if _, err := db.w.Exec("INSERT INTO users ("+userCols+") SELECT 'u3', external_id, dn, dn, 'cid', 'cid', "+
		"given_name, family_name, display_name, email, active, employee_number, department, member_key, ?, ?, "+
		"version, created, last_modified FROM users WHERE id = 'u1'", digest("h3"), digest("gh3")); err != nil {
		t.Fatal(err)
	}
	earlier := lower
	earlier.ID, earlier.UserName, earlier.UserNameNorm, earlier.Hash, earlier.GroupsHash = "u3", "cid", "cid", digest("h3"), digest("gh3")

	type stored struct {
		DNNorm               string
		HashType, GroupsType string
		HashLen              int
	}
	for _, c := range []struct {
		row  bridge.UserRow
		want stored
	}{
		{lower, stored{lower.DNNorm, "blob", "blob", 16}},
		{mixed, stored{mixed.DNNorm, "blob", "blob", 16}},
		{earlier, stored{earlier.DN, "text", "text", 32}},
	} {
		var got stored
		if err := db.r.QueryRow("SELECT dn_norm, typeof(hash), typeof(groups_hash), length(hash) FROM users WHERE id = ?", c.row.ID).
			Scan(&got.DNNorm, &got.HashType, &got.GroupsType, &got.HashLen); err != nil {
			t.Fatal(err)
		}
		equal(t, "stored form of "+c.row.ID, got, c.want)
		u, ok, err := db.GetUser(ctx, c.row.ID)
		if err != nil || !ok {
			t.Fatalf("GetUser(%s): %v %v", c.row.ID, ok, err)
		}
		equal(t, "user row "+c.row.ID, u.UserRow, c.row)
	}
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "snapshot users", snap.Users, []bridge.StoredUser{storedUser(t, lower), storedUser(t, mixed), storedUser(t, earlier)})
}

// Users come out of the snapshot in id order whatever their order in the
// table: ids that share their first 8 bytes, ids shorter than 8 bytes, a NUL
// byte, several sizes of permutation cycles.
func TestSortUsersByID(t *testing.T) {
	ids := []string{"", "a", "a\x00", "a\x00b", "ab", "abcdefgh", "abcdefgh-1", "abcdefgh-2", "abcdefgi",
		"b", "zz", "\xff", "00000000-0000-5000-8000-000000000001", "00000000-0000-5000-8000-000000000002",
		"7f280bf0-9b09-5219-b06b-b8bf77cdfc1d", "ffffffff-ffff-5fff-bfff-ffffffffffff"}
	want := slices.Clone(ids)
	slices.Sort(want)
	rng := mrand.New(mrand.NewPCG(7, 11))
	for round := range 50 {
		us := make([]bridge.StoredUser, len(ids))
		for i, j := range rng.Perm(len(ids)) {
			us[i] = bridge.StoredUser{ID: ids[j], UserNameNorm: "name-" + ids[j]}
		}
		if round == 0 {
			slices.Reverse(us)
		}
		sortUsersByID(us)
		var got []string
		for _, u := range us {
			if u.UserNameNorm != "name-"+u.ID {
				t.Fatalf("round %d: user %q carries %q: records were mixed up", round, u.ID, u.UserNameNorm)
			}
			got = append(got, u.ID)
		}
		equal(t, fmt.Sprint("round ", round), got, want)
	}
}
