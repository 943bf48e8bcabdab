package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
)

func cmdPush(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	status := fs.Bool("status", false, "list what is pending or failed, and send nothing")
	reconcile := fs.Bool("reconcile", false, "compare the target with the store and repair drift")
	dryRun := fs.Bool("dry-run", false, "print the requests a push would send, and send none")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	client := push.New(st, log)
	if *status {
		s, err := client.Status(ctx)
		if err != nil {
			return err
		}
		return printJSON(stdout, s)
	}
	settings, err := loadSettings(ctx, st, *sf.settings)
	if err != nil {
		return err
	}
	if !settings.Push.Enabled {
		return &exitError{code: 2, msg: "push is not enabled in the settings (push.enabled)"}
	}
	var rep *push.Report
	// A push changes the push bookkeeping a sync's own push also writes: hold
	// the store's sync lock, so that it never runs beside a sync (here or in
	// a `scimbridge serve` on the same store).
	err = bridge.NewSyncer(st, nil, log).Exclusive(ctx, func(ctx context.Context) error {
		var err error
		switch {
		case *dryRun:
			rep, err = client.DryRun(ctx, settings, stdout)
		case *reconcile:
			rep, err = client.Reconcile(ctx, settings)
		default:
			rep, err = client.Run(ctx, settings)
		}
		return err
	})
	var busy *bridge.BusyError
	if errors.As(err, &busy) {
		return &exitError{code: 1, msg: "a sync is running on this store; push again when it has finished (" + err.Error() + ")"}
	}
	if rep != nil {
		if perr := printJSON(stdout, rep); perr != nil {
			return perr
		}
	}
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	if rep.Failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d resources failed; see failures, they are retried on the next push", rep.Failed)}
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// adminPusher gives the admin API the push client's test button and
// deprovisioning.
type adminPusher struct{ c *push.Client }

func (a adminPusher) TestPush(ctx context.Context, s *schema.Settings) adminapi.TestResult {
	r := a.c.TestPush(ctx, s)
	return adminapi.TestResult{OK: r.OK, Step: r.Step, Message: r.Message, DurationMs: r.DurationMs}
}

// PushCounts counts what the push client has not delivered, for the status panel.
func (a adminPusher) PushCounts(ctx context.Context) (adminapi.PushCounts, error) {
	n, err := a.c.Counts(ctx)
	return adminapi.PushCounts(n), err
}

func (a adminPusher) Deprovision(ctx context.Context, s *schema.Settings) (json.RawMessage, error) {
	return a.c.Deprovision(ctx, s)
}
