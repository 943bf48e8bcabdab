package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

// TestStoreFilesAreOwnerOnly pins down finding 10 of issue 14: state.db, -wal
// and -shm were created 0644 (every synced person and the sealed secrets,
// world-readable). New stores are 0600, older ones are tightened on open,
// and the directory keeps its mode.
func TestStoreFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(path string) {
		t.Helper()
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// A write makes SQLite create the -wal and -shm files.
		if _, err := db.w.Exec("INSERT INTO push_meta (key, value) VALUES ('probe', 'x') ON CONFLICT (key) DO NOTHING"); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	fresh := filepath.Join(dir, "state.db")
	check(fresh)

	// A store an older version left world-readable.
	older := filepath.Join(dir, "older.db")
	check(older)
	for _, p := range []string{older, older + "-wal", older + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	check(older)

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("directory mode %v, want it left at 0755", fi.Mode().Perm())
	}
}

// TestDropChangeLog pins down finding 9 of issue 14 at the store: the change
// log is emptied and the shape last pushed forgotten, so a push turned on
// again compares everything; the target is kept (another one resets what
// was delivered).
func TestDropChangeLog(t *testing.T) {
	ctx := context.Background()
	db := pushFixture(t)
	if err := db.SetPushMeta(ctx, "target", "https://scim.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPushMeta(ctx, "shape", "rfc"); err != nil {
		t.Fatal(err)
	}
	n, err := db.DropChangeLog(ctx)
	if err != nil || n != 2 {
		t.Fatalf("dropped %d, %v; want 2", n, err)
	}
	if ch, err := db.PushChanges(ctx, 0); err != nil || len(ch) != 0 {
		t.Fatalf("changes after the drop: %+v %v", ch, err)
	}
	shape, err := db.PushMeta(ctx, "shape")
	if err != nil || shape != "" {
		t.Fatalf("shape %q %v, want forgotten", shape, err)
	}
	if target, _ := db.PushMeta(ctx, "target"); target != "https://scim.example.com" {
		t.Fatalf("target %q, want kept", target)
	}
	if n, err := db.DropChangeLog(ctx); err != nil || n != 0 {
		t.Fatalf("second drop: %d %v", n, err)
	}
}

// TestPageSizeOfNewStores: a new store gets 16 KiB pages, WAL mode and a
// 2 MiB page cache; a store created with SQLite's default 4 KiB pages and a
// rollback journal keeps its pages, with an 8 MiB cache, turns to WAL, and
// takes the migrations and data as before.
func TestPageSizeOfNewStores(t *testing.T) {
	ctx := context.Background()
	pragmas := func(db *DB) (page int, mode string, cache [2]int) {
		t.Helper()
		if err := db.w.QueryRow("PRAGMA page_size").Scan(&page); err != nil {
			t.Fatal(err)
		}
		if err := db.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		for i, pool := range []*sql.DB{db.w, db.r} {
			if err := pool.QueryRow("PRAGMA cache_size").Scan(&cache[i]); err != nil {
				t.Fatal(err)
			}
		}
		// The writer sorts in files (1), the readers in memory (2).
		for pool, want := range map[*sql.DB]int{db.w: 1, db.r: 2} {
			var temp int
			if err := pool.QueryRow("PRAGMA temp_store").Scan(&temp); err != nil {
				t.Fatal(err)
			}
			if temp != want {
				t.Errorf("temp_store %d, want %d", temp, want)
			}
		}
		return page, mode, cache
	}
	fresh, err := Open(ctx, filepath.Join(t.TempDir(), "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if page, mode, cache := pragmas(fresh); page != 16384 || mode != "wal" || cache != [2]int{-2048, -2048} {
		t.Errorf("new store: page size %d, journal mode %q, cache sizes %d; want 16384, wal and -2048 (KiB)", page, mode, cache)
	}

	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec("PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE; CREATE TABLE before (x)"); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if page, mode, cache := pragmas(db); page != 4096 || mode != "wal" || cache != [2]int{-8192, -8192} {
		t.Errorf("older store: page size %d, journal mode %q, cache sizes %d; want 4096, wal and -8192 (KiB)", page, mode, cache)
	}
	mustApply(t, db, &bridge.Plan{CreateUsers: []bridge.UserRow{mkUser("u1", "ada")}})
	if users, groups, err := db.Counts(ctx); err != nil || users != 1 || groups != 0 {
		t.Errorf("older store: %d users and %d groups (%v), want the 1 user applied", users, groups, err)
	}
}
