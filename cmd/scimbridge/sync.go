package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	dryRun := fs.Bool("dry-run", false, "compute and print the changes without writing anything")
	allowDeletes := fs.Bool("allow-deletes", false, "approve a run that deletion safety (sync.maxDeletes, empty read) would hold")
	changed := fs.Bool("changed", false, "run one changed-entries pass: apply what changed since the last pass (a full sync when there is no saved position)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	settings, err := loadSettings(ctx, st, *sf.settings)
	if err != nil {
		return err
	}
	syncer := bridge.NewSyncer(st, ldapsource.Dial, log)
	// A full sync with change tracking on stores the position passes resume from.
	syncer.SetChangeDialer(ldapsource.DialChanges)
	if settings.Push.Enabled {
		syncer.SetPusher(push.New(st, log))
	}
	if *changed {
		if *dryRun {
			return &exitError{code: 2, msg: "--changed and --dry-run cannot be combined"}
		}
		return changedPass(ctx, syncer, settings, *allowDeletes, stdout)
	}
	r, err := syncer.Run(ctx, settings, bridge.Options{Trigger: bridge.TriggerManual, DryRun: *dryRun, AllowDeletes: *allowDeletes})
	if err != nil {
		return err
	}
	line, err := json.Marshal(r.Summary())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(line))
	switch r.Status {
	case bridge.StatusSucceeded:
		if msg := pushProblem(r.Push); msg != "" {
			return &exitError{code: 4, msg: msg}
		}
		return nil
	case bridge.StatusHeld:
		return &exitError{code: 3, msg: r.Error}
	}
	return &exitError{code: 1, msg: r.Error}
}

// pushProblem says why the push after a sync did not deliver everything, or "".
func pushProblem(report json.RawMessage) string {
	if report == nil {
		return ""
	}
	var p struct {
		Error  string `json:"error"`
		Failed int    `json:"failed"`
	}
	if err := json.Unmarshal(report, &p); err != nil {
		return "push report unreadable: " + err.Error()
	}
	switch {
	case p.Error != "":
		return "the sync succeeded but the push did not finish: " + p.Error + " (pending changes are delivered by the next run)"
	case p.Failed > 0:
		return fmt.Sprintf("the sync succeeded but the push target refused %d resources; `scimbridge push --status` lists them, they are retried next run", p.Failed)
	}
	return ""
}

// loadSettings reads the settings file when given, else the stored settings
// (whose secrets need $SCIMBRIDGE_SECRET_KEY).
func loadSettings(ctx context.Context, st *store.DB, file string) (*schema.Settings, error) {
	if file != "" {
		return readSettingsFile(file)
	}
	key, err := secretKey()
	if err != nil {
		return nil, err
	}
	s, found, err := settingsdoc.Load(ctx, st, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &exitError{code: 2, msg: "no settings: give --settings FILE, or save settings through the admin API first"}
	}
	if fields := validate(s); len(fields) > 0 {
		return nil, &exitError{code: 2, msg: "stored settings: " + describeFields(fields)}
	}
	return s, nil
}

// secretKey reads $SCIMBRIDGE_SECRET_KEY (or the file $SCIMBRIDGE_SECRET_KEY_FILE
// names), the key that seals stored secrets.
func secretKey() (secret.Key, error) {
	v, err := envSecret("SCIMBRIDGE_SECRET_KEY")
	if err != nil {
		return secret.Key{}, err
	}
	if v == "" {
		return secret.Key{}, &exitError{code: 2, msg: "SCIMBRIDGE_SECRET_KEY (or SCIMBRIDGE_SECRET_KEY_FILE) is not set: it must hold the 32-byte key (64 hex characters or base64) that encrypts stored secrets; generate one with `openssl rand -hex 32`"}
	}
	k, err := secret.ParseKey(v)
	if err != nil {
		return secret.Key{}, &exitError{code: 2, msg: err.Error()}
	}
	return k, nil
}
