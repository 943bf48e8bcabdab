package bridge

// SetStreamMin sets how many new users s buffers before it writes them
// while still reading, so that tests can take either path with a small directory.
func SetStreamMin(s *Syncer, n int) { s.streamMin = n }
