package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
)

// GetSettings returns the stored settings document and when it was saved;
// found is false when none was ever saved.
func (db *DB) GetSettings(ctx context.Context) (doc []byte, updated time.Time, found bool, err error) {
	var d, u string
	err = db.r.QueryRowContext(ctx, "SELECT document, updated FROM settings WHERE id = 1").Scan(&d, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("read settings: %w", err)
	}
	if updated, err = parseTS(u); err != nil {
		return nil, time.Time{}, false, fmt.Errorf("read settings: %w", err)
	}
	return []byte(d), updated, true, nil
}

// PutSettings saves the settings document (secrets already encrypted by the
// caller) and, in the same transaction, one history entry listing the changed
// field paths (e.g. "connection.url"); every save is recorded, even with no
// field listed.
func (db *DB) PutSettings(ctx context.Context, doc []byte, changedFields []string) error {
	if changedFields == nil {
		changedFields = []string{}
	}
	fields, err := json.Marshal(changedFields)
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	at := formatTS(now())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (id, document, updated) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated = excluded.updated`, string(doc), at); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO settings_history (at, fields) VALUES (?, ?)", at, string(fields)); err != nil {
		return fmt.Errorf("save settings history: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// SettingsChange is one saved settings document: when, and which field paths changed.
type SettingsChange struct {
	At     time.Time
	Fields []string
}

// SettingsHistory lists saved settings changes, newest first; limit <= 0 means all.
func (db *DB) SettingsHistory(ctx context.Context, limit, offset int) ([]SettingsChange, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT at, fields FROM settings_history ORDER BY id DESC LIMIT ? OFFSET ?",
		sqlLimit(limit), max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("read settings history: %w", err)
	}
	defer rows.Close()
	out := []SettingsChange{}
	for rows.Next() {
		var at, fields string
		if err := rows.Scan(&at, &fields); err != nil {
			return nil, fmt.Errorf("read settings history: %w", err)
		}
		var c SettingsChange
		if c.At, err = parseTS(at); err != nil {
			return nil, fmt.Errorf("read settings history: %w", err)
		}
		if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
			return nil, fmt.Errorf("read settings history: fields %q: %w", fields, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read settings history: %w", err)
	}
	return out, nil
}

// sqlLimit maps "no limit" (<= 0) to SQLite's LIMIT -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

const runCols = "id, trigger, dry_run, status, started_at, finished_at, report"

type scanner interface{ Scan(dest ...any) error }

// scanRun decodes a run row: the report JSON, with the columns taking precedence.
func scanRun(s scanner) (bridge.Report, error) {
	var r bridge.Report
	var id int64
	var trigger, status, started, finished, doc string
	var dry bool
	if err := s.Scan(&id, &trigger, &dry, &status, &started, &finished, &doc); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return r, fmt.Errorf("run %d: report: %w", id, err)
	}
	r.ID, r.Trigger, r.DryRun, r.Status = id, trigger, dry, status
	var err error
	if r.StartedAt, err = parseTS(started); err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	if r.FinishedAt, err = parseTS(finished); err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

// Runs lists sync runs newest first, with the total number of runs; limit <= 0 means all.
func (db *DB) Runs(ctx context.Context, limit, offset int) ([]bridge.Report, int, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sync_runs").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count runs: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+runCols+" FROM sync_runs ORDER BY id DESC LIMIT ? OFFSET ?",
		sqlLimit(limit), max(offset, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	out := []bridge.Report{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	return out, total, nil
}

// Run returns run id; found is false when there is none.
func (db *DB) Run(ctx context.Context, id int64) (bridge.Report, bool, error) {
	r, err := scanRun(db.r.QueryRowContext(ctx, "SELECT "+runCols+" FROM sync_runs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return bridge.Report{}, false, nil
	}
	if err != nil {
		return bridge.Report{}, false, fmt.Errorf("read run %d: %w", id, err)
	}
	return r, true, nil
}

// LastRun returns the newest run, whatever its status; found is false before the first run.
func (db *DB) LastRun(ctx context.Context) (bridge.Report, bool, error) {
	r, err := scanRun(db.r.QueryRowContext(ctx, "SELECT "+runCols+" FROM sync_runs ORDER BY id DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return bridge.Report{}, false, nil
	}
	if err != nil {
		return bridge.Report{}, false, fmt.Errorf("read last run: %w", err)
	}
	return r, true, nil
}

// InterruptedError is the error recorded on runs a stopped process left running.
const InterruptedError = "interrupted: the process stopped during the run"

// MarkInterruptedRuns marks the runs left "running" by a process that stopped
// as failed with InterruptedError, and returns how many it marked. Call it at
// startup, before any run starts.
func (db *DB) MarkInterruptedRuns(ctx context.Context) (int, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("mark interrupted runs: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+runCols+" FROM sync_runs WHERE status = ?", bridge.StatusRunning)
	if err != nil {
		return 0, fmt.Errorf("mark interrupted runs: %w", err)
	}
	var runs []bridge.Report
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("mark interrupted runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("mark interrupted runs: %w", err)
	}
	at := now()
	for i := range runs {
		r := &runs[i]
		r.Status, r.Error, r.FinishedAt = bridge.StatusFailed, InterruptedError, at
		if err := finishRun(ctx, tx, r); err != nil {
			return 0, fmt.Errorf("mark run %d interrupted: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("mark interrupted runs: %w", err)
	}
	return len(runs), nil
}

// Counts returns how many users and groups are stored.
func (db *DB) Counts(ctx context.Context) (users, groups int, err error) {
	err = db.r.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups)").Scan(&users, &groups)
	if err != nil {
		return 0, 0, fmt.Errorf("count users and groups: %w", err)
	}
	return users, groups, nil
}

// Clear removes every imported user, group and membership ("Remove imported
// users and groups") and, in the same transaction, the push client's
// bookkeeping of them (push_state, push_members): the next sync gives the
// entries new ids, and a push adopts the target's users and groups by name
// instead of deprovisioning them for the old ids. Settings, runs, the change
// log, the push cursor and the push target's identity stay.
func (db *DB) Clear(ctx context.Context) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove imported users and groups: %w", err)
	}
	defer tx.Rollback()
	for _, t := range []string{"group_closure", "group_users", "group_subgroups", "users", "groups", "push_state", "push_members"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("remove imported users and groups: empty %s: %w", t, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("remove imported users and groups: %w", err)
	}
	db.gen.bump()
	return nil
}
