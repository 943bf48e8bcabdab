package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// fileMode is the mode of the database and of SQLite's -wal and -shm files:
// they hold every synced person and the sealed secrets, so only the owner
// reads them. SQLite gives the -wal and -shm files the mode of the database.
const fileMode = 0o600

// restrictFiles creates the database file at path with fileMode when it does
// not exist, and takes group and other permissions away from it and from its
// -wal and -shm files when they have them. The directory is left as it is.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		return f.Close()
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create the database file: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&fileMode); err != nil {
				return fmt.Errorf("restrict the permissions of %s: %w", p, err)
			}
		}
	}
	return nil
}

// DropChangeLog deletes the whole change log and returns how many entries
// it held. Only the push client reads the log, so a store whose settings
// turn push off drops it rather than let it grow with every sync. It also
// forgets the shape last pushed, so that a push turned on again compares
// every user and group with its target instead of draining a log with a
// gap (the target is kept: another one still resets what was delivered).
func (db *DB) DropChangeLog(ctx context.Context) (int64, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("drop the change log: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "DELETE FROM changes")
	if err != nil {
		return 0, fmt.Errorf("drop the change log: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("drop the change log: %w", err)
	}
	if err := logGap(ctx, tx); err != nil {
		return 0, fmt.Errorf("drop the change log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("drop the change log: %w", err)
	}
	return n, nil
}
