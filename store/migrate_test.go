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

// rowidMigration is the number of migrations up to and including the one
// that turns users into a rowid table (found by its text, not its place).
func rowidMigration(t *testing.T) int {
	t.Helper()
	i := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, "CREATE TABLE users_by_rowid") })
	if i < 0 {
		t.Fatal("no migration creates users_by_rowid")
	}
	return i + 1
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

// A store written while users were keyed by id, by a real sync of the slapd
// fixture, is migrated by Open: the same rows, the same indexes plus the id
// one, and the next sync finds no change and writes only its run record.
func TestUsersRowidMigrationKeepsTheStoreAndSyncsNoChange(t *testing.T) {
	ctx := context.Background()
	srv := slapdtest.Start(t)
	path := filepath.Join(t.TempDir(), "state.db")
	n := rowidMigration(t)
	old, err := open(ctx, path, migrations[:n-1])
	if err != nil {
		t.Fatal(err)
	}
	first := syncOnce(t, old, srv)
	if first.UsersCreated == 0 || first.GroupsCreated == 0 {
		t.Fatalf("first sync created %d users and %d groups: the fixture should give some", first.UsersCreated, first.GroupsCreated)
	}
	before := dump(t, old)
	oldIndexes := indexes(t, old)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	equal(t, "rows after the migration", dump(t, db), before)
	wantIndexes := append(slices.Clone(oldIndexes), "users_id: CREATE UNIQUE INDEX users_id ON users(id)")
	slices.Sort(wantIndexes)
	equal(t, "indexes after the migration", indexes(t, db), wantIndexes)
	var withoutRowid int
	if err := db.w.QueryRow("SELECT count(*) FROM pragma_table_list WHERE name = 'users' AND wr = 1").Scan(&withoutRowid); err != nil {
		t.Fatal(err)
	}
	equal(t, "users WITHOUT ROWID after the migration", withoutRowid, 0)

	written := totalChanges(t, db)
	r := syncOnce(t, db, srv)
	want := first.Summary()
	want.UsersCreated, want.GroupsCreated, want.MembershipsChanged, want.DurationMs = 0, 0, 0, r.DurationMs
	equal(t, "the sync after the migration", r.Summary(), want)
	equal(t, "rows the sync after the migration wrote (its run record)", totalChanges(t, db)-written, int64(2))
	after := dump(t, db)
	delete(after, "sync_runs")
	delete(before, "sync_runs")
	equal(t, "rows after the no-change sync", after, before)
}

// A migration that rebuilds a table keeps the indexes other migrations gave
// it, whichever came first; an index a migration drops stays dropped.
func TestMigrationRebuildingATableKeepsOtherIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	n := rowidMigration(t)
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
