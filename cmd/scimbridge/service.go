package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/metrics"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/scimserver"
	"github.com/scimbridge/scimbridge/store"
)

// defaultShutdownTimeout fits Kubernetes' default grace period of 30 s.
const defaultShutdownTimeout = 25 * time.Second

// shutdownTimeout reads $SCIMBRIDGE_SHUTDOWN_TIMEOUT: a Go duration ("25s",
// "1m") or whole seconds.
func shutdownTimeout() (time.Duration, error) {
	v := os.Getenv("SCIMBRIDGE_SHUTDOWN_TIMEOUT")
	if v == "" {
		return defaultShutdownTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, &exitError{code: 2, msg: fmt.Sprintf("SCIMBRIDGE_SHUTDOWN_TIMEOUT=%q: want a duration such as 25s or a number of seconds", v)}
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, &exitError{code: 2, msg: fmt.Sprintf("SCIMBRIDGE_SHUTDOWN_TIMEOUT=%q: must be positive", v)}
	}
	return d, nil
}

// serveEnv are serve's settings from the environment; every secret may also
// come from a file ($NAME_FILE).
type serveEnv struct {
	scimTokens      []string
	adminToken      string
	metricsToken    string
	shutdownTimeout time.Duration
}

func readServeEnv() (serveEnv, error) {
	var env serveEnv
	scim, err := envSecret("SCIMBRIDGE_SCIM_TOKEN")
	if err != nil {
		return env, err
	}
	env.scimTokens = scimserver.ParseTokens(scim)
	if len(env.scimTokens) == 0 {
		return env, &exitError{code: 2, msg: "SCIMBRIDGE_SCIM_TOKEN (or SCIMBRIDGE_SCIM_TOKEN_FILE) is not set: serve needs at least one bearer token for /scim/v2 (comma-separated for several)"}
	}
	if env.adminToken, err = envSecret("SCIMBRIDGE_ADMIN_TOKEN"); err != nil {
		return env, err
	}
	if env.adminToken == "" {
		return env, &exitError{code: 2, msg: "SCIMBRIDGE_ADMIN_TOKEN (or SCIMBRIDGE_ADMIN_TOKEN_FILE) is not set: serve needs a bearer token for the admin API at /api/v1"}
	}
	if env.metricsToken, err = envSecret("SCIMBRIDGE_METRICS_TOKEN"); err != nil {
		return env, err
	}
	if env.shutdownTimeout, err = shutdownTimeout(); err != nil {
		return env, err
	}
	return env, nil
}

// mountMetrics serves /metrics and hooks the metrics into the scheduler
// (runs), the push client (requests) and the SCIM routes (requests).
func mountMetrics(ctx context.Context, e *echo.Echo, st *store.DB, sched *scheduler.Scheduler, pusher *push.Client, token string) {
	m := metrics.New(buildVersion(), func(ctx context.Context) (metrics.Counts, error) {
		var n metrics.Counts
		var err error
		if n.Users, n.Groups, err = st.Counts(ctx); err != nil {
			return n, err
		}
		n.PushPending, n.PushFailed, err = st.PushCounts(ctx)
		return n, err
	})
	if t, ok := lastSuccess(ctx, st); ok {
		m.SetLastSuccess(t)
	}
	sched.OnRunEnded(func(r *bridge.Report) {
		m.RunEnded(metrics.Run{Trigger: r.Trigger, Status: r.Status, DryRun: r.DryRun,
			Duration: time.Duration(r.DurationMs) * time.Millisecond, Skipped: r.Skipped, Partial: r.Mechanism != "", Finished: r.FinishedAt})
	})
	pusher.OnResponse = m.PushRequest
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			path := c.Request().URL.Path
			if path != scimserver.MountPath && !strings.HasPrefix(path, scimserver.MountPath+"/") {
				return next(c)
			}
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // writes the answer, so its status is known
			}
			m.SCIMRequest(strings.TrimPrefix(path, scimserver.MountPath), c.Response().Status, time.Since(start))
			return nil
		}
	})
	e.GET("/metrics", echo.WrapHandler(m.Handler(token)))
}

// lastSuccess finds when the last successful run that was not a dry run
// ended, among the recent runs.
func lastSuccess(ctx context.Context, st *store.DB) (time.Time, bool) {
	runs, _, err := st.Runs(ctx, 200, 0)
	if err != nil {
		return time.Time{}, false
	}
	for _, r := range runs {
		if r.Status == bridge.StatusSucceeded && !r.DryRun {
			return r.FinishedAt, true
		}
	}
	return time.Time{}, false
}

// shutdown stops serve within timeout: the listener closes and in-flight
// requests finish; a sync in progress may finish until a reserve before the
// deadline, then it is cancelled, rolls back and is recorded interrupted.
func shutdown(e *echo.Echo, sched *scheduler.Scheduler, timeout time.Duration, log *slog.Logger) error {
	log.Info("shutting down", "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	herr := make(chan error, 1)
	go func() { herr <- e.Shutdown(ctx) }()
	// The reserve covers the rollback and the recording of the run.
	reserve := min(5*time.Second, timeout/5)
	if err := sched.Shutdown(timeout - reserve); err != nil {
		log.Error("stop scheduler", "err", err)
	}
	if err := <-herr; errors.Is(err, context.DeadlineExceeded) {
		log.Warn("requests still in flight at the shutdown timeout were cut off")
		_ = e.Close()
	} else if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
