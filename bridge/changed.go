package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// Changed-entries passes: the changes since the stored position are read
// and applied batch by batch, each batch with its position in one
// transaction, one run in the history per batch that changed something.

// SetChangeDialer sets how changed-entries passes and live streams connect.
func (s *Syncer) SetChangeDialer(d ChangeDialer) { s.changes = d }

// Tracking says the settings ask for changed-entries passes or live changes.
func Tracking(settings *schema.Settings) bool {
	return settings.Sync.ChangedSyncIntervalSeconds > 0 || settings.Sync.Live
}

// tracking says a full sync stores a change position with its result.
func (s *Syncer) tracking(settings *schema.Settings, opt Options) bool {
	if s.changes == nil {
		return false
	}
	if _, ok := s.store.(ChangeStore); !ok {
		return false
	}
	return opt.track || Tracking(settings)
}

// startState takes the directory's position of now for a full sync.
func (s *Syncer) startState(ctx context.Context, settings *schema.Settings) (*ChangeState, error) {
	// The mechanism of the passes that will resume from the position.
	src, err := s.changes(ctx, settings, settings.Sync.Live)
	if err != nil {
		return nil, fmt.Errorf("connect to %s for the change position: %w", settings.Connection.URL, err)
	}
	defer src.Close()
	pos, err := src.Start(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the directory's change position (%s): %w", src.Mechanism(), err)
	}
	return &ChangeState{Full: true, Position: pos, Mechanism: src.Mechanism()}, nil
}

// ChangedResult is what one changed-entries pass did.
type ChangedResult struct {
	Mechanism string
	// Runs are the runs recorded: one per batch that changed something, or
	// the full sync that ran instead (its FullSyncReason says why).
	Runs []*Report
	// Batches and Changes count what the directory delivered.
	Batches, Changes int
	// Held says deletion safety holds the changes from the stored position
	// until a full sync (with allowDeletes) moves it.
	Held bool
}

// heldAt says a batch from stored position pos was held.
func (s *Syncer) heldAt(pos []byte) bool {
	h := s.held.Load()
	return h != nil && pos != nil && bytes.Equal(*h, pos)
}

// ErrNoChangeSource is returned when no change dialer or change store is set.
var ErrNoChangeSource = errors.New("changed-entries sync is not available: no change source")

// RunChanged runs one changed-entries pass now: it applies the changes since
// the stored position, or runs a full sync when there is none or the
// directory no longer accepts it. While another run is in progress it
// returns a *BusyError.
func (s *Syncer) RunChanged(ctx context.Context, settings *schema.Settings, opt Options) (*ChangedResult, error) {
	cs, ok := s.store.(ChangeStore)
	if s.changes == nil || !ok {
		return nil, ErrNoChangeSource
	}
	if opt.Trigger == "" {
		opt.Trigger = TriggerChanged
	}
	opt.track = true
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	// With live on, the pass reads the live stream's mechanism (to its end),
	// so that both resume from one position.
	src, err := s.changes(ctx, settings, settings.Sync.Live)
	if err != nil {
		return nil, fmt.Errorf("connect to %s for changes: %w", settings.Connection.URL, err)
	}
	if m, ok := src.(ChangeMemo); ok {
		m.Recall(s.memo)
		defer func() {
			if locked { // a full sync instead has released the lock
				s.memo = m.Memo()
			}
		}()
	}
	closed := false
	closeSrc := func() {
		if !closed {
			closed = true
			src.Close()
		}
	}
	defer closeSrc()
	res := &ChangedResult{Mechanism: src.Mechanism()}
	pos, mech, err := cs.ChangePosition(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the change position: %w", err)
	}
	reason := ""
	switch {
	case s.heldAt(pos):
		res.Held = true
		return res, nil
	case pos == nil:
		reason = "no saved change position: a full sync takes the first one"
	case mech != src.Mechanism():
		reason = fmt.Sprintf("the saved change position is %s's, the directory now offers %s: a full sync takes a new one", mech, src.Mechanism())
	default:
		cur := pos // the stored position
		err = src.Changes(ctx, pos, false, func(b schema.ChangeBatch) error {
			res.Batches++
			res.Changes += len(b.Changes)
			r, err := s.applyBatch(ctx, cs, settings, src.Mechanism(), cur, b, opt)
			if r != nil {
				res.Runs = append(res.Runs, r)
			}
			if err == nil && len(b.Changes) > 0 {
				cur = b.Position
			}
			return err
		})
		pos = cur
		var nf *needFull
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, schema.ErrPositionExpired):
			reason = "the directory no longer accepts the saved change position: " + err.Error()
		case errors.As(err, &nf):
			reason = nf.reason
		case errors.Is(err, errHeld):
			s.held.Store(&pos)
			res.Held = true
			return res, nil
		default:
			return res, err
		}
	}
	closeSrc()
	locked = false
	r, err := s.fullInstead(ctx, settings, opt, reason, unlock)
	if r != nil {
		res.Runs = append(res.Runs, r)
	}
	return res, err
}

// fullInstead runs a full sync for a pass that cannot go on, holding the
// run lock the pass took (unlock releases it).
func (s *Syncer) fullInstead(ctx context.Context, settings *schema.Settings, opt Options, reason string, unlock func()) (*Report, error) {
	s.log.Info("full sync instead of changes", "reason", reason)
	opt.fullSyncReason, opt.track = reason, true
	p, err := s.begin(ctx, opt, unlock)
	if err != nil {
		return nil, err
	}
	return p.Complete(ctx, settings)
}

// errHeld stops a pass whose batch deletion safety held.
var errHeld = errors.New("held by deletion safety")

// applyBatch applies one batch of changes with its position, in one
// transaction; from is the stored position it follows. An empty batch
// writes nothing; a batch that changes nothing stores only its position
// (nothing when that is from); else it is one run in the history, pushed at
// once. It returns that run, if any.
func (s *Syncer) applyBatch(ctx context.Context, cs ChangeStore, settings *schema.Settings, mech string, from []byte, b schema.ChangeBatch, opt Options) (*Report, error) {
	if len(b.Changes) == 0 {
		return nil, nil
	}
	r := &Report{Trigger: opt.Trigger, Status: StatusRunning, StartedAt: s.now().UTC(), SkippedEntries: []SkippedEntry{},
		Mechanism: mech, Changes: len(b.Changes)}
	log := s.log.With("trigger", r.Trigger, "mechanism", mech)
	dp, err := s.planDelta(ctx, cs, settings, b.Changes, opt, r)
	if err != nil {
		var nf *needFull
		if errors.As(err, &nf) {
			return nil, err
		}
		r.Status, r.Error = StatusFailed, err.Error()
		return s.record(ctx, r, log, err)
	}
	if r.Status == StatusHeld {
		log.Warn("changes held", "err", r.Error)
		if _, err := s.record(ctx, r, log, nil); err != nil {
			return r, err
		}
		return r, errHeld
	}
	dp.state.Position, dp.state.Mechanism = b.Position, mech
	if dp.p.Empty() {
		// Entries delivered again (a timestamp pass's overlap window) that
		// change nothing at a position already stored: nothing to write.
		st := dp.state
		if bytes.Equal(b.Position, from) && len(st.Skipped)+len(st.Unskipped)+len(st.UnskippedGroups)+len(st.DanglingGroups)+len(st.UUIDs) == 0 {
			return nil, nil
		}
		return nil, s.saveState(ctx, settings, dp, nil)
	}
	if err := s.store.StartRun(ctx, r); err != nil {
		return nil, fmt.Errorf("record the run of a batch: %w", err)
	}
	s.running.Store(r.ID)
	defer s.running.Store(0)
	r.Status = StatusSucceeded
	if err := s.saveState(ctx, settings, dp, r); err != nil {
		r.Status, r.Error = StatusFailed, fmt.Sprintf("write to the state store: %v", err)
		if ctx.Err() != nil {
			r.Status = StatusInterrupted
		}
		if ferr := s.store.FinishRun(context.WithoutCancel(ctx), r); ferr != nil {
			log.Error("record the run", "err", ferr)
		}
		return r, err
	}
	s.push(ctx, settings, opt, r, log)
	if r.Push != nil {
		if err := s.store.FinishRun(context.WithoutCancel(ctx), r); err != nil {
			return r, fmt.Errorf("record run %d: %w", r.ID, err)
		}
	}
	s.logDone(log, r)
	return r, nil
}

// record records a run that applied nothing (failed, held) and returns err.
func (s *Syncer) record(ctx context.Context, r *Report, log *slog.Logger, err error) (*Report, error) {
	r.FinishedAt = s.now().UTC()
	r.DurationMs = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
	status := r.Status
	if serr := s.store.StartRun(context.WithoutCancel(ctx), r); serr != nil {
		return r, errors.Join(err, serr)
	}
	r.Status = status
	if ferr := s.store.FinishRun(context.WithoutCancel(ctx), r); ferr != nil {
		return r, errors.Join(err, ferr)
	}
	s.logDone(log, r)
	return r, err
}

// saveState writes a pass's plan, run r (nil: none) and state in one transaction.
func (s *Syncer) saveState(ctx context.Context, settings *schema.Settings, dp *deltaPlan, r *Report) error {
	tx, err := s.store.Begin(ctx, changeLog(settings))
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ct, ok := tx.(ChangeTx)
	if !ok {
		return errors.New("the store cannot keep a change position")
	}
	if err := ct.SaveChangeState(dp.state); err != nil {
		return err
	}
	return tx.Commit(dp.p, r)
}

// timeNow is the clock of lag measurements.
var timeNow = time.Now
