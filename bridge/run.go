package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// Options are the choices of one sync run.
type Options struct {
	// Trigger is TriggerManual, TriggerScheduled or TriggerStartup.
	Trigger string
	// DryRun computes and reports the run without writing anything.
	DryRun bool
	// AllowDeletes approves a run that deletion safety would otherwise hold.
	AllowDeletes bool
	// FullPush makes the push after the run a full reconcile with the target
	// (repairing drift) instead of delivering only the change log.
	FullPush bool

	// fullSyncReason is why a changed-entries pass runs this full sync.
	fullSyncReason string
	// track stores a change position with the run even when the settings
	// turn change tracking off (a pass asked for from the command line).
	track bool
}

// ErrBusy is wrapped by BusyError.
var ErrBusy = errors.New("a sync is already running")

// BusyError is returned when a sync is asked for while another one runs.
type BusyError struct {
	// RunID is the running sync's run, when this process runs it.
	RunID int64
	// OtherProcess says another process on the same store is syncing.
	OtherProcess bool
}

func (e *BusyError) Error() string {
	switch {
	case e.OtherProcess:
		return fmt.Sprintf("%v in another process", ErrBusy)
	case e.RunID == 0:
		return "an admin action that excludes syncs is running"
	}
	return fmt.Sprintf("%v (run %d)", ErrBusy, e.RunID)
}

// Unwrap makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Unwrap() error { return ErrBusy }

// Pusher delivers the store's pending changes to a SCIM target. The Syncer
// calls it after each successful run (not dry runs, not held runs) when push
// is enabled; full asks for a reconcile of the whole target instead of the
// change log alone.
type Pusher interface {
	Push(ctx context.Context, s *schema.Settings, runID int64, full bool) (json.RawMessage, error)
}

// maxSkippedListed bounds the skipped entries a report lists; the count is always complete.
const maxSkippedListed = 1000

// Syncer runs full syncs, one at a time.
type Syncer struct {
	store Store
	dial  Dialer
	// changes connects the change source of changed-entries passes and
	// live streams; nil when none is set (SetChangeDialer).
	changes ChangeDialer
	// held is the stored position a batch was held at (deletion safety):
	// passes from it wait for a full sync, so that a held batch is recorded
	// once, not at every pass.
	held atomic.Pointer[[]byte]
	// memo is the last pass's change source memo (ChangeMemo); the run
	// lock guards it.
	memo   any
	log    *slog.Logger
	pusher Pusher
	now    func() time.Time
	// streamMin is how many new users a run buffers before it writes them
	// while still reading (DefaultStreamMin).
	streamMin int

	sem     chan struct{} // holds one token for the whole of a run or an admin action
	running atomic.Int64  // id of the run in progress; 0 when idle
	live    live          // how far the run in progress has come
}

// storeClock is the time to the millisecond, as the store keeps times: a
// run's report and its stored row (and what metrics take from the report)
// then say the same instant.
func storeClock() time.Time { return time.Now().Truncate(time.Millisecond) }

// NewSyncer returns a Syncer that reads with dial and writes to st.
func NewSyncer(st Store, dial Dialer, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{store: st, dial: dial, log: log, now: storeClock, streamMin: DefaultStreamMin, sem: make(chan struct{}, 1)}
}

// SetPusher sets the push client called after each applied run.
func (s *Syncer) SetPusher(p Pusher) { s.pusher = p }

// Running returns the id of the run in progress, if any.
func (s *Syncer) Running() (int64, bool) {
	id := s.running.Load()
	return id, id != 0
}

// Exclusive runs fn while no sync can run, as admin actions that change the
// store outside a sync need ("Remove imported users and groups"). It returns
// a *BusyError, without calling fn, while a sync is running.
func (s *Syncer) Exclusive(ctx context.Context, fn func(ctx context.Context) error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(ctx)
}

// RecoverInterrupted records runs that a stopped process left running as
// failed, unless a sync is running now (here or in another process), in
// which case nothing is changed; every run's start checks again.
func (s *Syncer) RecoverInterrupted(ctx context.Context) (int, error) {
	n := 0
	err := s.Exclusive(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.store.MarkInterruptedRuns(ctx)
		return err
	})
	if errors.Is(err, ErrBusy) {
		return 0, nil
	}
	return n, err
}

// lock takes the in-process run lock and the store's cross-process one.
func (s *Syncer) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.sem <- struct{}{}:
	default:
		if id := s.running.Load(); id != 0 {
			return nil, &BusyError{RunID: id}
		}
		// An admin action (Exclusive) holds it, and usually ends soon.
		t := time.NewTimer(lockWait)
		defer t.Stop()
		select {
		case s.sem <- struct{}{}:
		case <-t.C:
			return nil, &BusyError{RunID: s.running.Load()}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	release := func() { <-s.sem }
	storeUnlock, err := s.store.LockSync()
	if err != nil {
		release()
		if errors.Is(err, ErrBusy) {
			return nil, &BusyError{OtherProcess: true}
		}
		return nil, err
	}
	return func() {
		storeUnlock()
		release()
	}, nil
}

// lockWait is how long a run waits for an admin action to end.
const lockWait = time.Second

// Run performs one full sync now and returns its report (status succeeded,
// failed or held). While another run is in progress it returns a *BusyError.
// The returned error is otherwise only about recording the run.
func (s *Syncer) Run(ctx context.Context, settings *schema.Settings, opt Options) (*Report, error) {
	p, err := s.Begin(ctx, opt)
	if err != nil {
		return nil, err
	}
	return p.Complete(ctx, settings)
}

// Pending is a run that Begin recorded and holds the run lock for. Complete
// performs it; every Pending must be completed, exactly once.
type Pending struct {
	s      *Syncer
	opt    Options
	r      *Report
	unlock func()
}

// ID is the run's id in the store.
func (p *Pending) ID() int64 { return p.r.ID }

// Begin takes the run lock and records a run as running, so that a caller
// can hand out its id before the sync itself (Complete) runs, e.g. in the
// background. While another run is in progress it returns a *BusyError.
func (s *Syncer) Begin(ctx context.Context, opt Options) (p *Pending, err error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	return s.begin(ctx, opt, unlock)
}

// begin records a run while the caller holds the run lock, which the
// Pending's Complete releases with unlock.
func (s *Syncer) begin(ctx context.Context, opt Options, unlock func()) (p *Pending, err error) {
	defer func() {
		if p == nil { // an error or a panic: never keep the lock
			unlock()
		}
	}()
	// Holding the lock, no other process is syncing: a run still marked
	// running was left by a process that stopped.
	if n, err := s.store.MarkInterruptedRuns(ctx); err != nil {
		return nil, fmt.Errorf("record interrupted runs: %w", err)
	} else if n > 0 {
		s.log.Warn("runs interrupted by a stopped process marked failed", "runs", n)
	}
	if opt.Trigger == "" {
		opt.Trigger = TriggerManual
	}
	r := &Report{Trigger: opt.Trigger, DryRun: opt.DryRun, Status: StatusRunning,
		StartedAt: s.now().UTC(), SkippedEntries: []SkippedEntry{}, FullSyncReason: opt.fullSyncReason}
	if err := s.store.StartRun(ctx, r); err != nil {
		return nil, fmt.Errorf("record sync run: %w", err)
	}
	s.live.reset()
	s.running.Store(r.ID)
	return &Pending{s: s, opt: opt, r: r, unlock: unlock}, nil
}

// Complete performs the run Begin recorded, records its report and releases
// the run lock. The returned error is only about recording the run.
func (p *Pending) Complete(ctx context.Context, settings *schema.Settings) (*Report, error) {
	s, opt, r := p.s, p.opt, p.r
	defer func() {
		s.running.Store(0)
		p.unlock()
	}()
	log := s.log.With("run", r.ID, "trigger", r.Trigger, "dryRun", r.DryRun)
	log.Info("sync started")

	plan, tx, err := s.plan(ctx, settings, opt, r)
	// A transaction that was not committed is rolled back (after a commit
	// this does nothing), before anything else needs the store's writer.
	rollback := func() {
		if tx != nil {
			if err := tx.Rollback(); err != nil {
				log.Error("roll back the run", "err", err)
			}
		}
	}
	defer rollback()
	r.FinishedAt = s.now().UTC()
	r.DurationMs = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
	applied := false
	switch {
	case err != nil && ctx.Err() != nil:
		r.Status, r.Error = StatusInterrupted, "stopped before it finished, nothing applied: "+err.Error()
	case err != nil:
		r.Status, r.Error = StatusFailed, err.Error()
	case r.Status == StatusHeld:
	case opt.DryRun:
		r.Status = StatusSucceeded
	default:
		r.Status = StatusSucceeded
		s.live.setPhase(PhaseWriting)
		if err := s.commit(ctx, settings, tx, plan, r); err != nil {
			r.Status, r.Error = StatusFailed, fmt.Sprintf("write to the state store: %v", err)
			if ctx.Err() != nil {
				r.Status = StatusInterrupted
			}
			rollback()
			break
		}
		applied = tx != nil || !plan.Empty() || plan.state != nil
		if applied {
			// The run's record went in with the data; its duration now
			// counts the commit too (at a million users, seconds).
			r.FinishedAt = s.now().UTC()
			r.DurationMs = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		}
		// Push after every successful run, changed or not: changes a
		// previous push could not deliver are still pending.
		s.push(ctx, settings, opt, r, log)
	}
	rollback()
	if err := s.store.FinishRun(context.WithoutCancel(ctx), r); err != nil {
		return r, fmt.Errorf("record sync run %d: %w", r.ID, err)
	}
	s.logDone(log, r)
	return r, nil
}

// changeLog says the runs keep a change log: only a push reads it.
func changeLog(settings *schema.Settings) bool { return settings.Push.Enabled }

// commit writes the plan and the report in tx, the run's transaction, or in
// a new one when nothing was written during the read and the plan is not empty.
func (s *Syncer) commit(ctx context.Context, settings *schema.Settings, tx Tx, p *Plan, r *Report) error {
	if tx == nil {
		if p.Empty() && p.state == nil {
			return nil
		}
		var err error
		if tx, err = s.store.Begin(ctx, changeLog(settings)); err != nil {
			return err
		}
		defer tx.Rollback()
	}
	if p.state != nil {
		ct, ok := tx.(ChangeTx)
		if !ok {
			return errors.New("the store cannot keep a change position")
		}
		if err := ct.SaveChangeState(p.state); err != nil {
			return err
		}
	}
	return tx.Commit(p, r)
}

func (s *Syncer) push(ctx context.Context, settings *schema.Settings, opt Options, r *Report, log *slog.Logger) {
	if s.pusher == nil || !settings.Push.Enabled {
		return
	}
	s.live.setPhase(PhasePushing)
	rep, err := s.pusher.Push(ctx, settings, r.ID, opt.FullPush)
	if err != nil {
		log.Error("push failed", "err", err)
		rep, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	r.Push = rep
}

func (s *Syncer) logDone(log *slog.Logger, r *Report) {
	attrs := []any{"status", r.Status, "users", r.Users, "groups", r.Groups,
		"usersCreated", r.UsersCreated, "usersUpdated", r.UsersUpdated, "usersDeleted", r.UsersDeleted,
		"groupsCreated", r.GroupsCreated, "groupsUpdated", r.GroupsUpdated, "groupsDeleted", r.GroupsDeleted,
		"skipped", r.Skipped, "durationMs", r.DurationMs}
	if r.Error != "" {
		log.Warn("sync ended", append(attrs, "err", r.Error)...)
		return
	}
	log.Info("sync ended", attrs...)
}
