package main

import (
	"context"
	"fmt"

	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// scimmy is a running SCIMMY target (testdata/scimmy/server.js on Node).
type scimmy struct{ *scimmytest.Server }

// startSCIMMY starts the SCIMMY target on a free loopback port.
func startSCIMMY() (*scimmy, error) {
	s, err := scimmytest.Launch("bench-push-token")
	if err != nil {
		return nil, err
	}
	return &scimmy{s}, nil
}

func (s *scimmy) close() { s.Close() }

// clear empties the target and its request log.
func (s *scimmy) clear() error { return s.Control("/_reset", map[string]any{"data": true}) }

// resetLog empties the request log only.
func (s *scimmy) resetLog() error { return s.Control("/_reset", map[string]any{}) }

// requestCounts returns the logged requests grouped as "METHOD /Kind".
func (s *scimmy) requestCounts() (map[string]int, error) {
	reqs, err := s.Log()
	if err != nil {
		return nil, err
	}
	return scimmytest.Counts(reqs), nil
}

// pushRun is one measured push.
type pushRun struct {
	concurrency int
	rep         *push.Report
}

func (p pushRun) perSec() float64 {
	if p.rep.DurationMs == 0 {
		return 0
	}
	return float64(p.rep.Sent) / (float64(p.rep.DurationMs) / 1000)
}

// pushResult holds the push measurements.
type pushResult struct {
	err     string // why push was not measured, if it was not
	sample  int    // users in the push store
	initial []pushRun
	// The one-change run in the N-user store.
	scopeGroup    string
	scopeInitial  *push.Report
	oneChangeSync syncResult
	oneChange     *push.Report
	oneChangeReqs map[string]int
}

func pushSettings(base *schema.Settings, t *scimmy, concurrency int) *schema.Settings {
	s := *base
	s.Push = schema.Push{Enabled: true, URL: t.URL, Token: t.Token, AuthHeader: "Authorization", Profile: schema.ProfileRFC,
		Deprovision: schema.DeprovisionDelete, GroupMembers: schema.MembersFlatten, Concurrency: concurrency,
		TimeoutSeconds: 60, ScopeGroups: []string{}}
	return &s
}

// benchInitialPush pushes the push store (users only) to an empty target at
// each concurrency, starting over each time.
func benchInitialPush(ctx context.Context, db *store.DB, settings *schema.Settings, t *scimmy, want int) ([]pushRun, error) {
	var runs []pushRun
	for _, conc := range []int{1, 4} {
		if err := t.clear(); err != nil {
			return nil, err
		}
		if err := db.ResetPush(ctx); err != nil {
			return nil, err
		}
		// A target never pushed to: the next run is a full one.
		if err := db.SetPushMeta(ctx, "target", ""); err != nil {
			return nil, err
		}
		rep, err := push.New(db, nil).Run(ctx, pushSettings(settings, t, conc))
		if err != nil {
			return nil, fmt.Errorf("initial push at concurrency %d: %w", conc, err)
		}
		if rep.Created != want || rep.Failed != 0 {
			return nil, fmt.Errorf("initial push at concurrency %d: created %d, failed %d, want %d created", conc, rep.Created, rep.Failed, want)
		}
		runs = append(runs, pushRun{concurrency: conc, rep: rep})
	}
	return runs, nil
}
