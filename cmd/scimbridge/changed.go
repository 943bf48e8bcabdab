package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// changedLine is what `scimbridge sync --changed` prints: the mechanism,
// what the directory delivered, and each run recorded (one per batch that
// changed something, or the full sync that ran instead).
type changedLine struct {
	Status    string           `json:"status"`
	Mechanism string           `json:"mechanism"`
	Batches   int              `json:"batches"`
	Changes   int              `json:"changes"`
	Runs      []changedRunLine `json:"runs"`
	Error     string           `json:"error,omitempty"`
}

type changedRunLine struct {
	ID             int64  `json:"id"`
	FullSyncReason string `json:"fullSyncReason,omitempty"`
	bridge.Summary
}

// changedPass runs one changed-entries pass and prints one JSON line. The
// exit codes are sync's: 3 when deletion safety held a batch, 1 when a run
// failed, 4 when the push did not deliver everything.
func changedPass(ctx context.Context, syncer *bridge.Syncer, settings *schema.Settings, allowDeletes bool, stdout io.Writer) error {
	res, err := syncer.RunChanged(ctx, settings, bridge.Options{Trigger: bridge.TriggerChanged, AllowDeletes: allowDeletes})
	if res == nil {
		return err
	}
	out := changedLine{Status: bridge.StatusSucceeded, Mechanism: res.Mechanism, Batches: res.Batches, Changes: res.Changes, Runs: []changedRunLine{}}
	var exit *exitError
	for _, r := range res.Runs {
		out.Runs = append(out.Runs, changedRunLine{ID: r.ID, FullSyncReason: r.FullSyncReason, Summary: r.Summary()})
		switch {
		case r.Status == bridge.StatusHeld:
			out.Status, exit = r.Status, &exitError{code: 3, msg: r.Error}
		case r.Status != bridge.StatusSucceeded:
			out.Status, exit = r.Status, &exitError{code: 1, msg: r.Error}
		case exit == nil && pushProblem(r.Push) != "":
			exit = &exitError{code: 4, msg: pushProblem(r.Push)}
		}
	}
	if err != nil {
		out.Status, out.Error = bridge.StatusFailed, err.Error()
		exit = &exitError{code: 1, msg: err.Error()}
	}
	line, merr := json.Marshal(out)
	if merr != nil {
		return merr
	}
	fmt.Fprintln(stdout, string(line))
	if exit != nil {
		return exit
	}
	return nil
}
