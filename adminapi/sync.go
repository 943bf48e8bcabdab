package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// sync is "Sync all users": it starts a full sync in the background and
// answers 202 with its run id, or 409 with the id of the run in progress.
func (s *server) sync(c echo.Context) error {
	ctx := c.Request().Context()
	dryRun, err := boolParam(c, "dryRun")
	if err != nil {
		return err
	}
	allowDeletes, err := boolParam(c, "allowDeletes")
	if err != nil {
		return err
	}
	st, _, err := s.load(ctx)
	if err != nil {
		return internal("reading the settings", err)
	}
	if !st.Enabled && !dryRun {
		return conflict("LDAP is disabled: enable it first (POST /api/v1/ldap/enable), or ask for a dry run (?dryRun=true)")
	}
	if fields := s.validate(st); len(fields) > 0 {
		return conflict("the saved settings are invalid; fix them with PUT /api/v1/settings", fields...)
	}
	// The run outlives this request. "Sync all users" also reconciles the
	// push target in full, repairing drift made by hand there.
	id, err := s.sched.Trigger(context.WithoutCancel(ctx), bridge.Options{
		Trigger: bridge.TriggerManual, DryRun: dryRun, AllowDeletes: allowDeletes, FullPush: true,
	})
	if err != nil {
		var busy *bridge.BusyError
		if errors.As(err, &busy) {
			return &apiError{status: http.StatusConflict,
				body: errorBody{Error: "a sync is already running", RunID: s.runningRun(ctx, busy)}}
		}
		return internal("starting the sync", err)
	}
	s.log.Info("sync started", "runId", id, "dryRun", dryRun, "allowDeletes", allowDeletes)
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("%s/sync/runs/%d", Prefix, id))
	return c.JSON(http.StatusAccepted, map[string]int64{"runId": id})
}

// runs lists sync runs, newest first.
func (s *server) runs(c echo.Context) error {
	limit, offset, err := page(c, 20, 200)
	if err != nil {
		return err
	}
	reps, total, err := s.st.Runs(c.Request().Context(), limit, offset)
	if err != nil {
		return internal("reading the sync runs", err)
	}
	out := make([]map[string]any, 0, len(reps))
	for i := range reps {
		m, err := runJSON(&reps[i])
		if err != nil {
			return internal("encoding a sync run", err)
		}
		out = append(out, m)
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": out, "total": total, "limit": limit, "offset": offset})
}

// run answers one sync run's report.
func (s *server) run(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return badRequest("the run id must be a positive whole number")
	}
	rep, ok, err := s.st.Run(c.Request().Context(), id)
	if err != nil {
		return internal("reading the sync run", err)
	}
	if !ok {
		return &apiError{status: http.StatusNotFound, body: errorBody{Error: fmt.Sprintf("no sync run %d", id)}}
	}
	m, err := runJSON(&rep)
	if err != nil {
		return internal("encoding the sync run", err)
	}
	s.addProgress(m, &rep)
	return c.JSON(http.StatusOK, m)
}

// runJSON is the flat JSON object of a run: the report's keys, with
// finishedAt, error and skippedEntries always present.
func runJSON(r *bridge.Report) (map[string]any, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if _, ok := m["finishedAt"]; !ok {
		m["finishedAt"] = nil
	}
	if _, ok := m["error"]; !ok {
		m["error"] = ""
	}
	if m["skippedEntries"] == nil {
		m["skippedEntries"] = []any{}
	}
	return m, nil
}

// status answers whether LDAP is enabled, the next scheduled run, the last
// run and how many users and groups the store holds.
func (s *server) status(c echo.Context) error {
	st, _, err := s.load(c.Request().Context())
	if err != nil {
		return internal("reading the settings", err)
	}
	return s.writeStatus(c, st)
}

func (s *server) writeStatus(c echo.Context, st *schema.Settings) error {
	ctx := c.Request().Context()
	users, groups, err := s.st.Counts(ctx)
	if err != nil {
		return internal("counting users and groups", err)
	}
	out := map[string]any{
		"enabled":                 st.Enabled,
		"periodicFullSync":        st.Sync.PeriodicFullSync,
		"fullSyncIntervalSeconds": st.Sync.FullSyncIntervalSeconds,
		"pushEnabled":             st.Push.Enabled,
		"nextRun":                 nil,
		"lastRun":                 nil,
		"users":                   users,
		"groups":                  groups,
		"live":                    s.sched.Live(),
	}
	if next, ok := s.sched.NextRun(); ok {
		out["nextRun"] = next.UTC()
	}
	if err := s.addPush(ctx, out, st.Push.Enabled); err != nil {
		return err
	}
	last, ok, err := s.st.LastRun(ctx)
	if err != nil {
		return internal("reading the last run", err)
	}
	if ok {
		m, err := runJSON(&last)
		if err != nil {
			return internal("encoding the last run", err)
		}
		out["lastRun"] = m
	}
	return c.JSON(http.StatusOK, out)
}

// healthz answers 200 while the process serves requests.
func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// notReady is the 503 answer of /readyz after a failed sync.
type notReady struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
	RunID  int64  `json:"runId"`
}

// readyz answers 200 when the store answers and the last sync did not fail,
// else 503. It needs no token, so a failed sync is named by its run id only:
// the run's error, which may hold host names and DNs, is for the admin API.
func (s *server) readyz(c echo.Context) error {
	last, ok, err := s.st.LastRun(c.Request().Context())
	if err != nil {
		s.log.Error("readiness check: store not answering", "err", err)
		return &apiError{status: http.StatusServiceUnavailable, body: errorBody{Error: "not ready: the state store does not answer"}}
	}
	if ok && last.Status == bridge.StatusFailed {
		return c.JSON(http.StatusServiceUnavailable, notReady{Ready: false, Reason: "last sync failed", RunID: last.ID})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
