// Package scheduler runs scimbridge's periodic full syncs with gocron and
// starts manual ones, on top of a bridge.Syncer.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// Scheduler runs periodic full syncs with gocron and starts manual runs.
// Runs never overlap: the Syncer holds one run at a time, and a run asked for
// while another runs is refused with a *BusyError rather than dropped silently.
type Scheduler struct {
	syncer *bridge.Syncer
	load   func(ctx context.Context) (*schema.Settings, error)
	log    *slog.Logger
	cron   gocron.Scheduler

	ctx    context.Context // canceled by Stop: ends runs in progress
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	job      gocron.Job
	interval time.Duration
	endMu    sync.Mutex           // guards onEnd: the live stream reads it while s.mu waits for the stream
	onEnd    func(*bridge.Report) // OnRunEnded
	// The changed-entries pass (sync.changedSyncIntervalSeconds) and the
	// live stream (sync.live); see changes.go.
	changedJob      gocron.Job
	changedInterval time.Duration
	live            *bridge.Live

	startMu sync.Mutex // held by Trigger from its closing check to wg.Add
	closing bool       // Shutdown began: no new runs
}

// ErrClosing is returned by Trigger once Shutdown has begun.
var ErrClosing = errors.New("the server is shutting down: no new sync runs")

// OnRunEnded sets fn to be called with the report of each run Trigger
// started once it is recorded, e.g. to count runs for metrics. Set it
// before the first Trigger.
func (s *Scheduler) OnRunEnded(fn func(*bridge.Report)) {
	s.endMu.Lock()
	defer s.endMu.Unlock()
	s.onEnd = fn
}

// New returns a stopped scheduler; load reads the current settings before
// every run and every Reschedule.
func New(sy *bridge.Syncer, load func(ctx context.Context) (*schema.Settings, error), log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	cron, err := gocron.NewScheduler()
	if err != nil {
		return nil, fmt.Errorf("create scheduler: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{syncer: sy, load: load, log: log, cron: cron, ctx: ctx, cancel: cancel}
	s.live = bridge.NewLive(sy, load)
	s.live.OnRun = s.ended
	return s, nil
}

// Start starts the scheduler; call Reschedule to set the period from the settings.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop stops scheduling, cancels a run in progress and waits for it to end.
func (s *Scheduler) Stop() error {
	s.live.Stop()
	s.cancel()
	err := s.cron.Shutdown()
	s.wg.Wait()
	return err
}

// Shutdown stops scheduling and starting runs, lets a run in progress go on
// until grace has passed, then cancels it (the run rolls back and is
// recorded as interrupted) and waits for it to end.
func (s *Scheduler) Shutdown(grace time.Duration) error {
	s.startMu.Lock()
	s.closing = true
	s.startMu.Unlock()
	s.live.Stop()
	err := s.cron.Shutdown()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if id, ok := s.syncer.Running(); ok {
			s.log.Warn("stopping the sync run in progress: the shutdown timeout is near", "run", id)
		}
	}
	s.cancel()
	<-done
	return err
}

// Reschedule reads the settings and applies them at once: when enabled with
// periodic full sync on, a full sync runs every sync.fullSyncIntervalSeconds
// (the first one an interval from now); otherwise nothing is scheduled.
func (s *Scheduler) Reschedule(ctx context.Context) error {
	set, err := s.load(ctx)
	if err != nil {
		return fmt.Errorf("load settings: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rescheduleChanges(set); err != nil {
		return err
	}
	want := time.Duration(0)
	if set.Enabled && set.Sync.PeriodicFullSync && set.Sync.FullSyncIntervalSeconds > 0 {
		want = time.Duration(set.Sync.FullSyncIntervalSeconds) * time.Second
	}
	if s.job != nil && want == s.interval {
		return nil
	}
	if s.job != nil {
		if err := s.cron.RemoveJob(s.job.ID()); err != nil {
			return fmt.Errorf("remove the sync schedule: %w", err)
		}
		s.job, s.interval = nil, 0
	}
	if want == 0 {
		s.log.Info("periodic full sync off")
		return nil
	}
	job, err := s.cron.NewJob(gocron.DurationJob(want), gocron.NewTask(s.scheduledRun),
		gocron.WithSingletonMode(gocron.LimitModeReschedule), gocron.WithName("full-sync"))
	if err != nil {
		return fmt.Errorf("schedule full sync every %s: %w", want, err)
	}
	s.job, s.interval = job, want
	s.log.Info("periodic full sync scheduled", "every", want.String())
	return nil
}

// NextRun returns when the next scheduled sync runs, if one is scheduled.
func (s *Scheduler) NextRun() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.job == nil {
		return time.Time{}, false
	}
	t, err := s.job.NextRun()
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return t, true
}

func (s *Scheduler) scheduledRun() {
	// The schedule follows the settings, but a Reschedule that failed after
	// "disable" must not leave syncs running.
	if set, err := s.load(s.ctx); err == nil && !set.Enabled {
		s.log.Info("scheduled sync skipped: LDAP sync is disabled")
		return
	}
	_, err := s.Trigger(s.ctx, bridge.Options{Trigger: bridge.TriggerScheduled})
	var busy *bridge.BusyError
	switch {
	case errors.As(err, &busy):
		s.log.Warn("scheduled sync skipped: a sync is already running", "runningRun", busy.RunID)
	case err != nil:
		s.log.Error("scheduled sync not started", "err", err)
	}
}

// Trigger starts a run in the background and returns its id as soon as the
// run is recorded. A run in progress yields a *BusyError with its id.
func (s *Scheduler) Trigger(ctx context.Context, opt bridge.Options) (int64, error) {
	set, err := s.load(ctx)
	if err != nil {
		return 0, fmt.Errorf("load settings: %w", err)
	}
	// Holding startMu from the check to wg.Add keeps Shutdown's wait from
	// missing a run that starts while it begins.
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.closing {
		return 0, ErrClosing
	}
	p, err := s.syncer.Begin(ctx, opt)
	if err != nil {
		return 0, err
	}
	s.wg.Add(1)
	s.endMu.Lock()
	onEnd := s.onEnd
	s.endMu.Unlock()
	go func() {
		defer s.wg.Done()
		r, err := p.Complete(s.ctx, set)
		if err != nil {
			s.log.Error("sync run not recorded", "run", p.ID(), "err", err)
		}
		if r != nil && onEnd != nil {
			onEnd(r)
		}
	}()
	return p.ID(), nil
}

// Exclusive runs fn while no sync can run (see bridge.Syncer.Exclusive).
func (s *Scheduler) Exclusive(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.syncer.Exclusive(ctx, fn)
}

// Progress is how far the run in progress has come (see bridge.Syncer.Progress).
func (s *Scheduler) Progress() (bridge.Progress, bool) { return s.syncer.Progress() }

// Wait blocks until runs started by Trigger have ended.
func (s *Scheduler) Wait() { s.wg.Wait() }
