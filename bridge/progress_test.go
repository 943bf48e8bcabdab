package bridge

import (
	"log/slog"
	"testing"
)

// BenchmarkProgressTick is the cost per directory entry of counting it for
// the live progress (and the progress log).
func BenchmarkProgressTick(b *testing.B) {
	s := &Syncer{}
	p := s.newProgress(slog.New(slog.DiscardHandler), PhaseReadingUsers)
	for b.Loop() {
		p.tick()
	}
}
