package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/console"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/scimserver"
	"github.com/scimbridge/scimbridge/store"
)

// HTTP server limits: slow or stuck clients cannot hold connections forever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 5 * time.Minute // a full /Users page of 1,000 with groups is well under this
	idleTimeout       = 2 * time.Minute
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", envOr("SCIMBRIDGE_LISTEN", "127.0.0.1:8080"), "listen address (env SCIMBRIDGE_LISTEN)")
	db := fs.String("db", "", "state store path (default $SCIMBRIDGE_DB, else ./scimbridge.db)")
	settingsFile := fs.String("settings", "", "apply this settings document at every start, as code: its fields are laid over the stored settings and the admin API refuses to change them (empty secrets keep the stored ones)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}

	env, err := readServeEnv()
	if err != nil {
		return err
	}
	scimTokens, adminToken := env.scimTokens, env.adminToken
	if err := checkTokens(scimTokens, adminToken, env.metricsToken); err != nil {
		return err
	}
	key, err := secretKey()
	if err != nil {
		return err
	}
	decl, err := readDeclared(*settingsFile)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, dbPath(*db))
	if err != nil {
		return err
	}
	defer st.Close()
	managed, err := decl.apply(ctx, st, key, log)
	if err != nil {
		return err
	}
	load := settingsdoc.Loader(st, key)
	if s, err := load(ctx); err == nil && !s.Push.Enabled {
		// A log kept while push was off (older versions wrote it anyway) is never read.
		if n, err := st.DropChangeLog(ctx); err != nil {
			log.Error("drop the change log", "err", err)
		} else if n > 0 {
			log.Info("change log dropped: push is off", "entries", n)
		}
	}

	syncer := bridge.NewSyncer(st, ldapsource.Dial, log)
	syncer.SetChangeDialer(ldapsource.DialChanges)
	if n, err := syncer.RecoverInterrupted(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Warn("runs interrupted by an earlier stop marked failed", "runs", n)
	}
	pusher := push.New(st, log)
	syncer.SetPusher(pusher)
	sched, err := scheduler.New(syncer, load, log)
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Server.ReadHeaderTimeout = readHeaderTimeout
	e.Server.ReadTimeout = readTimeout
	e.Server.WriteTimeout = writeTimeout
	e.Server.IdleTimeout = idleTimeout
	e.Server.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)

	h, err := scimserver.New(st, scimserver.Options{Tokens: scimTokens, BaseURL: os.Getenv("SCIMBRIDGE_BASE_URL"), Logger: log})
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	mountMetrics(ctx, e, st, sched, pusher, env.metricsToken)
	scimserver.Mount(e, h)
	if err := adminapi.Register(e, adminapi.Deps{
		Store: st, Scheduler: sched, Key: key, Token: adminToken, SCIMTokens: scimTokens,
		Logger: log, Validate: validate, Pusher: adminPusher{pusher},
		Managed: managed, ManagedSource: decl.source(),
		Sessions: adminapi.SessionOptions{PublicURL: os.Getenv("SCIMBRIDGE_BASE_URL")},
	}); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	console.Register(e)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("listen on %s (--listen / SCIMBRIDGE_LISTEN): %v", *listen, err)}
	}
	e.Listener = ln

	sched.Start()
	if err := sched.Reschedule(ctx); err != nil {
		log.Error("schedule from stored settings", "err", err)
	}
	startupSync(ctx, sched, load, log)

	errc := make(chan error, 1)
	go func() { errc <- e.Start("") }()
	log.Info("scimbridge serving", "addr", ln.Addr().String(), "scim", scimserver.MountPath, "admin", adminapi.Prefix, "console", "/", "version", buildVersion())

	select {
	case err := <-errc:
		_ = sched.Stop()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	return shutdown(e, sched, env.shutdownTimeout, log)
}

// startupSync runs a sync at start when the stored settings are enabled, so
// a restarted server does not wait a whole interval for fresh data.
func startupSync(ctx context.Context, sched *scheduler.Scheduler, load func(context.Context) (*schema.Settings, error), log *slog.Logger) {
	s, err := load(ctx)
	if err != nil || !s.Enabled {
		return
	}
	if _, err := sched.Trigger(ctx, bridge.Options{Trigger: bridge.TriggerStartup}); err != nil {
		log.Error("startup sync not started", "err", err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
