package store

import (
	"errors"
	"fmt"
	"os"

	"github.com/scimbridge/scimbridge/bridge"
)

// LockSync takes the cross-process sync lock of this database (an exclusive
// advisory lock on the file PATH.lock) without waiting, so that a `scimbridge
// sync` and a `scimbridge serve` on the same store never sync at once. While
// another process holds it, LockSync returns an error wrapping bridge.ErrBusy.
// unlock releases it.
func (db *DB) LockSync() (unlock func(), err error) {
	f, err := os.OpenFile(db.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the sync lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("another scimbridge process is syncing this store (%s): %w", db.path, bridge.ErrBusy)
		}
		return nil, fmt.Errorf("take the sync lock %s.lock: %w", db.path, err)
	}
	return func() {
		_ = unlockFile(f)
		f.Close()
	}, nil
}

var errLocked = errors.New("locked")
