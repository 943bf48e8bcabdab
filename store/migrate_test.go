package store

import (
	"context"
	"log/slog"
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
