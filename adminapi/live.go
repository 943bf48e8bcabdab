package adminapi

import (
	"context"

	"github.com/scimbridge/scimbridge/bridge"
)

// The admin console shows a running sync's progress and what the push has
// not delivered. Both come from optional methods, so a Scheduler or Pusher
// without them still serves every route.

// progressReporter is a Scheduler that can tell how far the run in progress
// has come; *scheduler.Scheduler is one.
type progressReporter interface {
	Progress() (bridge.Progress, bool)
}

// addProgress adds "progress": {"phase", "entries"} to the JSON object of a
// run still in progress in this process (a run of another process has none).
// That includes a run whose report says succeeded while it pushes.
func (s *server) addProgress(m map[string]any, r *bridge.Report) {
	pr, ok := s.sched.(progressReporter)
	if !ok {
		return
	}
	if p, ok := pr.Progress(); ok && p.RunID == r.ID {
		m["progress"] = map[string]any{"phase": p.Phase, "entries": p.Entries}
	}
}

// PushCounts is what the push client has not delivered yet.
type PushCounts struct {
	// PendingChanges counts change log entries not pushed yet.
	PendingChanges int `json:"pendingChanges"`
	// Pending counts resources whose last request was never answered.
	Pending int `json:"pending"`
	// Failed counts resources whose last attempt failed (retried next run).
	Failed int `json:"failed"`
}

// pushCounter is a Pusher that can count what it has not delivered.
type pushCounter interface {
	PushCounts(ctx context.Context) (PushCounts, error)
}

// addPush adds "push": PushCounts to the status when push is enabled and the
// push client can count.
func (s *server) addPush(ctx context.Context, out map[string]any, pushEnabled bool) error {
	pc, ok := s.pusher.(pushCounter)
	if !ok || !pushEnabled {
		return nil
	}
	counts, err := pc.PushCounts(ctx)
	if err != nil {
		return internal("counting what the push has not delivered", err)
	}
	out["push"] = counts
	return nil
}
