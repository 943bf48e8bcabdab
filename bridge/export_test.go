package bridge

import "time"

// SetStreamMin sets how many new users s buffers before it writes them
// while still reading, so that tests can take either path with a small directory.
func SetStreamMin(s *Syncer, n int) { s.streamMin = n }

// SetClock sets the clock s stamps its runs with.
func SetClock(s *Syncer, now func() time.Time) { s.now = now }
