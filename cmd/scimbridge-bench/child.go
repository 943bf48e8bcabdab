package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/memlimit"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// childEnv, set to "sync", makes the program (or the test binary) run one
// sync and exit: each measured sync runs in a fresh process, so its peak RSS
// comes from the OS and no run warms the next one's heap.
const childEnv = "SCIMBRIDGE_BENCH_CHILD"

// profileEnv names a file the sync child writes its CPU profile to (and a
// heap profile to the same name + ".heap").
const profileEnv = "SCIMBRIDGE_BENCH_CPUPROFILE"

// runRecordWrites are the rows every run writes besides data: the sync_runs
// row is inserted at the start and updated at the end; a run that writes
// data updates it twice (with the data, and after the commit).
const runRecordWrites = 2

// childResult is what a sync child prints: the run's report, its duration
// and the rows SQLite changed (total_changes()) during the run.
type childResult struct {
	Summary      bridge.Summary `json:"summary"`
	Nanos        int64          `json:"nanos"`
	TotalChanges int64          `json:"totalChanges"`
}

// syncResult is a measured sync.
type syncResult struct {
	childResult
	// PeakRSS is the child's maximum resident set size, in bytes.
	PeakRSS int64
}

func (r syncResult) duration() time.Duration { return time.Duration(r.Nanos) }

// rowsWritten counts the users, groups and memberships rows the run wrote.
func (r syncResult) rowsWritten() int64 {
	if r.changesFound() > 0 || r.Summary.MembershipsChanged > 0 {
		return r.TotalChanges - runRecordWrites - 1
	}
	return r.TotalChanges - runRecordWrites
}

// changesFound counts what the run found changed.
func (r syncResult) changesFound() int {
	s := r.Summary
	return s.UsersCreated + s.UsersUpdated + s.UsersDeleted + s.GroupsCreated + s.GroupsUpdated + s.GroupsDeleted
}

// childMain runs one sync: args are the settings file and the database path.
func childMain(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("child sync: want SETTINGS DB, got %q", args)
	}
	ctx := context.Background()
	// As the scimbridge command does (its main): the RSS measured is a user's.
	stopLimit, _ := memlimit.Start()
	defer stopLimit()
	data, err := os.ReadFile(args[0])
	if err != nil {
		return fmt.Errorf("child sync: %w", err)
	}
	settings, err := schema.Parse(data)
	if err != nil {
		return fmt.Errorf("child sync: settings %s: %w", args[0], err)
	}
	st, err := store.Open(ctx, args[1])
	if err != nil {
		return fmt.Errorf("child sync: %w", err)
	}
	defer st.Close()
	before, err := totalChanges(ctx, st)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	prof := os.Getenv(profileEnv)
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return fmt.Errorf("child sync: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("child sync: %w", err)
		}
		stop := watchPeakHeap(prof + ".peak")
		defer stop()
	}
	t0 := time.Now()
	r, err := bridge.NewSyncer(st, ldapsource.Dial, log).Run(ctx, &settings, bridge.Options{Trigger: bridge.TriggerManual})
	elapsed := time.Since(t0)
	if prof != "" {
		pprof.StopCPUProfile()
		if err := writeHeapProfile(prof + ".heap"); err != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("child sync: %w", err)
	}
	if r.Status != bridge.StatusSucceeded {
		return fmt.Errorf("child sync: run %s: %s", r.Status, r.Error)
	}
	after, err := totalChanges(ctx, st)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(childResult{Summary: r.Summary(), Nanos: elapsed.Nanoseconds(), TotalChanges: after - before})
}

// watchPeakHeap writes a heap profile to path each time the live heap
// reaches a new high (by a tenth at least), so that the last one written
// shows what the sync held at its peak; stop ends the watch.
func watchPeakHeap(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var high uint64
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > high+high/10 {
				high = live
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("child sync: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return fmt.Errorf("child sync: heap profile: %w", err)
	}
	return nil
}

// totalChanges reads SQLite's count of rows changed on the store's one writer connection.
func totalChanges(ctx context.Context, st *store.DB) (int64, error) {
	var n int64
	if err := st.SQL().QueryRowContext(ctx, "SELECT total_changes()").Scan(&n); err != nil {
		return 0, fmt.Errorf("child sync: total_changes: %w", err)
	}
	return n, nil
}

// runSyncChild runs one sync in a child process of this program; with
// profile set, the child writes its CPU and heap profiles there.
func runSyncChild(ctx context.Context, settingsFile, db, profile string) (syncResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return syncResult{}, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, settingsFile, db)
	cmd.Env = append(os.Environ(), childEnv+"=sync", profileEnv+"="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return syncResult{}, fmt.Errorf("sync child: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var r syncResult
	if err := json.Unmarshal(stdout.Bytes(), &r.childResult); err != nil {
		return syncResult{}, fmt.Errorf("sync child: read result %q: %w", stdout.String(), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return r, nil
}
