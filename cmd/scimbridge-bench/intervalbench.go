package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/schema"
)

// Row 10 (issue 15): changed-entries passes every
// sync.changedSyncIntervalSeconds, run by the scheduler as `scimbridge
// serve` runs them, against a slapd without syncprov (the timestamps
// mechanism) holding the same generated directory in a store of its own.
// Changes are made at random moments, each timed from the LDAP write's
// answer until GET /scim/v2 shows it: within one interval plus 1 s.

// intervalKinds are the kinds of change row 10 makes: modifyTimestamp
// passes see no deletion (full syncs find them).
var intervalKinds = []string{kindModify, kindAdd, kindMember}

// intervalResult is what row 10 measured.
type intervalResult struct {
	err       string
	interval  time.Duration
	latencies []time.Duration
	kinds     map[string]int
	// runs counts the runs the scheduled passes recorded (one per pass
	// that changed something); full is the full sync that took the first
	// position.
	runs int
	full time.Duration
}

// benchInterval measures row 10 with changes changes, interval apart on
// average, a pass every interval.
func benchInterval(ctx context.Context, cfg config, d *directory, logf func(string, ...any)) (intervalResult, error) {
	ir := intervalResult{interval: cfg.interval, kinds: map[string]int{}}
	per := (cfg.intervalChanges + len(intervalKinds) - 1) / len(intervalKinds)
	groupA, groupB, users, err := changeUsers(d, per+(per+1)/2)
	if err != nil {
		return ir, err
	}
	modUsers, memUsers := users[:per], users[per:]

	dir := filepath.Join(cfg.workDir, "slapd-timestamps")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return ir, err
	}
	ldifPath := filepath.Join(cfg.workDir, "directory-timestamps.ldif")
	// Entries stamped a day before, as in a directory in use: one loaded
	// within the overlap window (5 minutes) is read whole by every pass
	// until the window has passed.
	if err := d.writeLDIF(ldifPath, time.Now().UTC().Add(-24*time.Hour).Format("20060102150405Z")); err != nil {
		return ir, err
	}
	// The index the README asks for: without it, each pass makes slapd scan every user.
	srv, err := slapdtest.Launch(dir, slapdtest.Empty(), slapdtest.WithLDIFFile(ldifPath),
		slapdtest.WithDatabaseConfig("maxsize 68719476736\nindex modifyTimestamp eq"))
	_ = os.Remove(ldifPath)
	if err != nil {
		return ir, err
	}
	defer srv.Close()
	s := srv.Settings()
	s.Connection.PageSize, s.Connection.ReadTimeoutSeconds = benchPageSize, 600
	s.Sync.PeriodicFullSync, s.Sync.Live, s.Sync.ChangedSyncIntervalSeconds = false, false, int(cfg.interval/time.Second)

	db, sy, err := changeSyncer(ctx, filepath.Join(cfg.workDir, "timestamps.db"))
	if err != nil {
		return ir, err
	}
	defer db.Close()
	t0 := time.Now()
	res, err := sy.RunChanged(ctx, s, bridge.Options{})
	ir.full = time.Since(t0)
	if err != nil {
		return ir, fmt.Errorf("the full sync that takes the first position: %w", err)
	}
	if res.Mechanism != ldapsource.MechanismTimestamps || len(res.Runs) != 1 || res.Runs[0].FullSyncReason == "" || res.Runs[0].Status != bridge.StatusSucceeded {
		return ir, fmt.Errorf("the first pass (%s) ran %+v, want one full sync", res.Mechanism, res.Runs)
	}
	logf("timestamps: the full sync taking the first position: %v", ir.full.Round(time.Millisecond))

	sc, stopSCIM, err := serveSCIM(db, 30*time.Second)
	if err != nil {
		return ir, err
	}
	defer stopSCIM()
	scimGroup, err := sc.groupIDs(ctx, groupA, groupB)
	if err != nil {
		return ir, err
	}
	sched, err := scheduler.New(sy, func(context.Context) (*schema.Settings, error) { c := *s; return &c, nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return ir, err
	}
	var runs atomic.Int64
	sched.OnRunEnded(func(*bridge.Report) { runs.Add(1) })
	sched.Start()
	defer sched.Stop()
	if err := sched.Reschedule(ctx); err != nil {
		return ir, err
	}
	c, err := dialAdmin(s)
	if err != nil {
		return ir, err
	}
	defer c.Close()

	rng := rand.New(rand.NewPCG(cfg.seed, 0x17e4))
	for i := range cfg.intervalChanges {
		// A random moment of the schedule's cycle.
		time.Sleep(time.Duration(rng.Int64N(int64(cfg.interval))))
		kind, j := intervalKinds[i%len(intervalKinds)], i/len(intervalKinds)
		var u int
		switch kind {
		case kindModify:
			u = modUsers[j]
		case kindAdd:
			u = d.n + j
		case kindMember:
			u = memUsers[j/2]
		}
		var scimID string
		if kind != kindAdd {
			if scimID, err = sc.id(ctx, "Users", "userName", d.userName(u)); err != nil {
				return ir, err
			}
		}
		t0, err := makeChange(c, d, kind, u, j, groupA, groupB)
		if err != nil {
			return ir, err
		}
		lat, err := waitFor(t0, scimShows(ctx, sc, d, kind, u, j, scimID, scimGroup), 2*time.Millisecond)
		if err != nil {
			return ir, fmt.Errorf("%s of %s: %w", kind, d.userName(u), err)
		}
		ir.latencies = append(ir.latencies, lat)
		ir.kinds[kind]++
	}
	ir.runs = int(runs.Load())
	return ir, nil
}

// reportRow is row 10.
func (ir intervalResult) reportRow(n int) row {
	what := "changed-entries passes on a schedule"
	if ir.err != "" {
		return row{"10", what, "", "", ir.err, "", "✗"}
	}
	sorted := slices.Sorted(slices.Values(ir.latencies))
	if len(sorted) == 0 {
		return row{"10", what, "", "", "no change measured", "", "✗"}
	}
	limit := ir.interval + time.Second
	top := sorted[len(sorted)-1]
	return row{"10", fmt.Sprintf("changed-entries passes every %s run by the scheduler (timestamps: slapd without syncprov, index modifyTimestamp eq, the same %d-user directory stamped a day before): "+
		"%d changes at random moments (%d modify, %d add, %d member add/remove), LDAP write → visible through GET /scim/v2",
		ir.interval, n, len(sorted), ir.kinds[kindModify], ir.kinds[kindAdd], ir.kinds[kindMember]),
		"p50 " + ms(pct(sorted, 50)) + ", p99 " + ms(pct(sorted, 99)), "",
		fmt.Sprintf("max %s; %d runs recorded by the passes; the full sync taking the first position: %s", ms(top), ir.runs, ms(ir.full)),
		"max ≤ one interval + 1 s (" + ms(limit) + ")", mark(top <= limit)}
}
