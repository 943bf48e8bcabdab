package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
