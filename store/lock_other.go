//go:build !unix

package store

import "os"

// Without flock, only the Syncer's in-process lock keeps syncs apart.
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
