// Command scimbridge syncs users and nested groups from LDAP or Active
// Directory into a SQLite state store, serves them as SCIM 2.0 and pushes each
// sync's changes to a SCIM service provider such as IOMETE's IAM.
//
// Usage:
//
//	scimbridge sync --settings FILE [--db PATH] [--dry-run | --changed] [--allow-deletes]
//	scimbridge test-connection --settings FILE [--json]
//	scimbridge serve [--listen ADDR] [--db PATH] [--settings FILE]
//	scimbridge push [--db PATH] [--settings FILE] [--status | --reconcile | --dry-run]
//	scimbridge backup --out FILE [--db PATH]
//	scimbridge version
//
// --db defaults to $SCIMBRIDGE_DB, else ./scimbridge.db. Logs are structured
// (JSON) on stderr; $SCIMBRIDGE_LOG_LEVEL sets debug, info (default), warn or error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/scimbridge/scimbridge/internal/memlimit"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries a process exit code for an error already reported.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(os.Stderr)
	// A sync of a million users holds a few hundred MB: the limit keeps
	// the heap near that instead of twice that (README: Memory).
	stopLimit, _ := memlimit.Start()
	defer stopLimit()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, log)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "scimbridge:", ee.msg)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "scimbridge:", err)
	os.Exit(1)
}

const usage = `usage:
  scimbridge sync --settings FILE [--db PATH] [--dry-run | --changed] [--allow-deletes]
  scimbridge test-connection --settings FILE [--json]
  scimbridge serve [--listen ADDR] [--db PATH] [--settings FILE]
  scimbridge push [--db PATH] [--settings FILE] [--status | --reconcile | --dry-run]
  scimbridge backup --out FILE [--db PATH]
  scimbridge version`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "no command given\n" + usage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "sync":
		return cmdSync(ctx, rest, stdout, stderr, log)
	case "test-connection":
		return cmdTestConnection(ctx, rest, stdout, stderr)
	case "serve":
		return cmdServe(ctx, rest, stderr, log)
	case "push":
		return cmdPush(ctx, rest, stdout, stderr, log)
	case "backup":
		return cmdBackup(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "scimbridge %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "--help", "-h":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func newLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(os.Getenv("SCIMBRIDGE_LOG_LEVEL")) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// dbPath returns the --db flag value, else $SCIMBRIDGE_DB, else ./scimbridge.db.
func dbPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("SCIMBRIDGE_DB"); v != "" {
		return v
	}
	return "scimbridge.db"
}
