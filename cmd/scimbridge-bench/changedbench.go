package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// Row 8 (issue 15): a changed-entries pass on the N-user store, against the
// same slapd (with syncprov), in this process.

// passRounds is how many rounds of 10 changes row 8 times (the median is kept).
const passRounds = 5

type changedResult struct {
	err string
	// full is the full sync that took the first change position (the
	// yardstick of row 8: same process, same store, same moment).
	full        time.Duration
	pass        time.Duration   // the median of passTimes
	passTimes   []time.Duration // the first pass of each round
	passChanges int             // entries the directory delivered
	passes      int             // passes until each round's 10 changes were applied
	passUpdated []int           // users updated, each round
	passFull    string          // a full sync instead, and why (must be "")
}

// benchChanged measures row 8.
func benchChanged(ctx context.Context, settings *schema.Settings, mainDB string, d *directory, logf func(string, ...any)) (changedResult, error) {
	var cr changedResult
	s := *settings
	s.Sync.Live, s.Sync.ChangedSyncIntervalSeconds = true, 60
	db, sy, err := changeSyncer(ctx, mainDB)
	if err != nil {
		return cr, err
	}
	defer db.Close()

	t0 := time.Now()
	res, err := sy.RunChanged(ctx, &s, bridge.Options{})
	cr.full = time.Since(t0)
	if err != nil {
		return cr, fmt.Errorf("the full sync that takes the first position: %w", err)
	}
	if len(res.Runs) != 1 || res.Runs[0].FullSyncReason == "" || res.Runs[0].Status != bridge.StatusSucceeded {
		return cr, fmt.Errorf("the first pass ran %+v, want one full sync", res.Runs)
	}
	logf("full sync taking the first change position: %v", cr.full.Round(time.Millisecond))

	for round := range passRounds {
		ten := spread(d, 10, 1+round)
		if err := modifyMails(settings, d, ten, 10+round); err != nil {
			return cr, err
		}
		t0 = time.Now()
		res, err = sy.RunChanged(ctx, &s, bridge.Options{})
		cr.passTimes = append(cr.passTimes, time.Since(t0))
		if err != nil {
			return cr, fmt.Errorf("changed-entries pass: %w", err)
		}
		updated, passes := 0, 1
		for {
			cr.passChanges += res.Changes
			for _, r := range res.Runs {
				updated += r.UsersUpdated
				if r.FullSyncReason != "" {
					cr.passFull = r.FullSyncReason
				}
			}
			// syncprov may list a change that had just been made in the
			// next refresh only: count the passes it takes (the row times
			// the first).
			if updated >= len(ten) || passes == 5 {
				break
			}
			time.Sleep(100 * time.Millisecond)
			if res, err = sy.RunChanged(ctx, &s, bridge.Options{}); err != nil {
				return cr, fmt.Errorf("changed-entries pass: %w", err)
			}
			passes++
		}
		cr.passUpdated = append(cr.passUpdated, updated)
		cr.passes += passes
	}
	sortedPasses := slices.Sorted(slices.Values(cr.passTimes))
	cr.pass = sortedPasses[len(sortedPasses)/2]
	logf("changed-entries passes with 10 changes: median %v of %v (%d changes delivered, users updated %v in %d passes)",
		cr.pass.Round(time.Millisecond), cr.passTimes, cr.passChanges, cr.passUpdated, cr.passes)

	return cr, nil
}

// changeSyncer opens the store at path and returns a Syncer of it that
// reads the directory with ldapsource, changes included, and logs nothing.
func changeSyncer(ctx context.Context, path string) (*store.DB, *bridge.Syncer, error) {
	db, err := store.Open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	sy := bridge.NewSyncer(db, ldapsource.Dial, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sy.SetChangeDialer(ldapsource.DialChanges)
	return db, sy, nil
}

// spread returns k users spread over the directory, starting at offset.
func spread(d *directory, k, offset int) []int {
	out := make([]int, k)
	for j := range out {
		out[j] = (offset + j*(d.n/k)) % d.n
	}
	return out
}

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// reportRows is row 8.
func (cr changedResult) reportRows(n int) []row {
	if cr.err != "" {
		return []row{{"8", "changed-entries pass", "", "", cr.err, "", "✗"}}
	}
	share := float64(cr.pass) / float64(cr.full)
	// syncprov may list a change in a later round's refresh (the round's
	// passes stop after 5): every change must arrive, once.
	total := 0
	for _, u := range cr.passUpdated {
		total += u
	}
	ok := share < 0.05 && cr.passFull == "" && total == 10*len(cr.passUpdated)
	return []row{{"8", fmt.Sprintf("changed-entries pass with 10 changes on the %d-user store (syncrepl cookie), median of %d", n, len(cr.passTimes)), ms(cr.pass),
		fmt.Sprintf("%.1f%% of a full sync", 100*share),
		fmt.Sprintf("passes %s; users updated %v in %d passes, %d changes delivered; the full sync taking the position: %s",
			durations(cr.passTimes), cr.passUpdated, cr.passes, cr.passChanges, ms(cr.full)),
		"< 5% of a full sync; 10 users updated a round, in all", mark(ok)}}
}
