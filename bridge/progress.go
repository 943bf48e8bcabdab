package bridge

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// Phases of a run, as Progress reports them.
const (
	PhaseConnecting    = "connecting"
	PhaseReadingGroups = "reading groups"
	PhaseReadingUsers  = "reading users"
	PhaseComparing     = "comparing with the store"
	PhaseWriting       = "writing to the store"
	PhasePushing       = "pushing"
)

// Progress is how far the run in progress has come: its phase and how many
// directory entries (groups and users) it has read so far.
type Progress struct {
	RunID   int64  `json:"runId"`
	Phase   string `json:"phase"`
	Entries int64  `json:"entries"`
}

// live is the progress of the run in progress, written by the run and read
// by anyone.
type live struct {
	phase   atomic.Pointer[string]
	entries atomic.Int64
}

func (l *live) reset() {
	l.entries.Store(0)
	l.setPhase(PhaseConnecting)
}

func (l *live) setPhase(phase string) { l.phase.Store(&phase) }

// Progress returns the progress of the run in progress, if any.
func (s *Syncer) Progress() (Progress, bool) {
	id := s.running.Load()
	if id == 0 {
		return Progress{}, false
	}
	p := Progress{RunID: id, Entries: s.live.entries.Load()}
	if ph := s.live.phase.Load(); ph != nil {
		p.Phase = *ph
	}
	return p, true
}

// progress counts the entries of one reading phase: it logs every
// progressEvery and adds each entry to the run's live count.
type progress struct {
	log     *slog.Logger
	what    string
	n       int
	live    *live
	started time.Time
	next    time.Time
}

const progressEvery = 5 * time.Second

// newProgress starts the reading phase what.
func (s *Syncer) newProgress(log *slog.Logger, what string) *progress {
	s.live.setPhase(what)
	now := time.Now()
	return &progress{log: log, what: what, live: &s.live, started: now, next: now.Add(progressEvery)}
}

func (p *progress) tick() {
	p.n++
	p.live.entries.Add(1)
	if p.n&1023 != 0 {
		return
	}
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(progressEvery)
		p.log.Info("sync progress", "phase", p.what, "entries", p.n, "elapsedMs", now.Sub(p.started).Milliseconds())
	}
}
