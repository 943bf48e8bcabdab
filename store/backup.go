package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the state store at path to out, while
// other processes (a running `scimbridge serve`, a sync in progress) go on
// using it. It opens path read-only and copies one committed snapshot with
// VACUUM INTO: a sync's open transaction is neither waited for nor copied.
// out must not exist; the copy is checked (quick_check) and written under a
// temporary name first, so out is either complete or absent.
func Backup(ctx context.Context, path, out string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("back up state store: %w", err)
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("back up state store to %s: the file exists; choose a new name", out)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("back up state store to %s: %w", out, err)
	}
	src, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("open state store %q: %w", path, err)
	}
	defer src.Close()
	var version int
	if err := src.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read state store %q: %w", path, err)
	}
	if version == 0 {
		return fmt.Errorf("back up %q: not a scimbridge state store (no schema)", path)
	}
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".partial")
	_ = os.Remove(tmp)
	defer os.Remove(tmp)
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("copy state store %q: %w", path, err)
	}
	if err := quickCheck(ctx, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("back up state store: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("back up state store: %w", err)
	}
	return nil
}

func quickCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("check backup: %w", err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("check backup: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("check backup: %s", res)
	}
	return nil
}
