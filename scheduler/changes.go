package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// rescheduleChanges applies the settings' changed-entries interval and
// live switch: a gocron job beside the full sync's (both take the Syncer's
// run lock, so a pass never runs inside a full sync), or the live stream,
// which covers what the job would do. Called with s.mu held.
func (s *Scheduler) rescheduleChanges(set *schema.Settings) error {
	want := time.Duration(0)
	if set.Enabled && !set.Sync.Live && set.Sync.ChangedSyncIntervalSeconds > 0 {
		want = time.Duration(set.Sync.ChangedSyncIntervalSeconds) * time.Second
	}
	if set.Enabled && set.Sync.Live {
		// Restarted, so that it connects with the settings just saved.
		s.live.Stop()
		s.live.Start()
	} else {
		s.live.Stop()
	}
	if s.changedJob != nil && want == s.changedInterval {
		return nil
	}
	if s.changedJob != nil {
		if err := s.cron.RemoveJob(s.changedJob.ID()); err != nil {
			return fmt.Errorf("remove the changed-entries schedule: %w", err)
		}
		s.changedJob, s.changedInterval = nil, 0
	}
	if want == 0 {
		return nil
	}
	job, err := s.cron.NewJob(gocron.DurationJob(want), gocron.NewTask(s.changedRun),
		gocron.WithSingletonMode(gocron.LimitModeReschedule), gocron.WithName("changed-entries"))
	if err != nil {
		return fmt.Errorf("schedule changed-entries passes every %s: %w", want, err)
	}
	s.changedJob, s.changedInterval = job, want
	s.log.Info("changed-entries passes scheduled", "every", want.String())
	return nil
}

// changedRun is one scheduled changed-entries pass.
func (s *Scheduler) changedRun() {
	set, err := s.load(s.ctx)
	if err != nil {
		s.log.Error("changed-entries pass not started", "err", err)
		return
	}
	if !set.Enabled {
		return
	}
	s.startMu.Lock()
	if s.closing {
		s.startMu.Unlock()
		return
	}
	s.wg.Add(1)
	s.startMu.Unlock()
	defer s.wg.Done()
	res, err := s.syncer.RunChanged(s.ctx, set, bridge.Options{Trigger: bridge.TriggerChanged})
	var busy *bridge.BusyError
	switch {
	case errors.As(err, &busy):
		s.log.Info("changed-entries pass skipped: a sync is running", "runningRun", busy.RunID)
	case err != nil:
		s.log.Error("changed-entries pass failed", "err", err)
	}
	if res != nil {
		for _, r := range res.Runs {
			s.ended(r)
		}
	}
}

// ended hands a recorded run to OnRunEnded's function.
func (s *Scheduler) ended(r *bridge.Report) {
	s.endMu.Lock()
	onEnd := s.onEnd
	s.endMu.Unlock()
	if onEnd != nil {
		onEnd(r)
	}
}

// Live returns the state of the live stream (state off when it is not started).
func (s *Scheduler) Live() bridge.LiveStatus { return s.live.Status() }

// RunChanged runs one changed-entries pass now (see bridge.Syncer.RunChanged).
func (s *Scheduler) RunChanged(ctx context.Context, opt bridge.Options) (*bridge.ChangedResult, error) {
	set, err := s.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load settings: %w", err)
	}
	return s.syncer.RunChanged(ctx, set, opt)
}
