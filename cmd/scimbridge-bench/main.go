// Command scimbridge-bench measures scimbridge against the limit of its LDAP
// source (`make bench`, issue 7). It generates a directory of N users and N/50
// groupOfNames groups nested three to four levels deep (each user in one to
// three groups; -shape deep puts most groups on the fourth level), bulk-loads it into a throwaway slapd with slapadd -q, and
// measures in one run:
//
//  1. the same paged searches read by ldapsearch (the yardstick of every
//     ratio), by go-ldap alone, and by ldapsource's bulk path;
//  2. the first full sync into an empty store;
//  3. a second full sync with no change (rows written must be 0);
//  4. a full sync after changing the mail of 1% of the users;
//  5. the peak RSS of those syncs, each run in a child process;
//  6. SCIM userName eq lookups and a full walk of /Users;
//  7. the initial push of 10,000 users to a SCIMMY target at concurrency 1
//     and 4, and the requests one changed user causes;
//  8. a changed-entries pass with 10 changes, against a full sync (issue 15);
//  9. live changes of every kind (modify, add, member add/remove, delete),
//     LDAP write → visible through GET /scim/v2, and (9b) → at the push target;
//  10. changed-entries passes every 2 s run by the scheduler against a slapd
//     without syncprov (timestamps), LDAP write → visible through GET /scim/v2.
//
// It prints one markdown table and writes it, with the machine's
// description, to bench/results/latest.md.
//
// Usage:
//
//	scimbridge-bench [-n 100000] [-shape wide|deep] [-out bench/results/latest.md] [-seed 1] [-push=false] [-sync-only] [-keep] [-profile DIR]
//	scimbridge-bench -filters-store STATE.DB [-n 100000] [-shape wide|deep] [-seed 1] [-out bench/results/filters.md]
//
// -filters-store measures only the expensive-filter rows (6c, 6d) on a store
// that a full run kept (-keep) with the same -n, -shape and -seed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/scimbridge/scimbridge/store"
)

func main() {
	if os.Getenv(childEnv) == "sync" {
		if err := childMain(os.Args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 100000, "number of users (groups: n/50)")
	out := flag.String("out", "", "write the report here too (default bench/results/latest.md, latest-deep.md for -shape deep; \"-\": don't)")
	shape := flag.String("shape", "wide", "directory shape: wide (groups spread over 4 levels) or deep (85% of the groups on the 4th)")
	seed := flag.Uint64("seed", 1, "generator seed")
	pushUsers := flag.Int("push-users", 10000, "users in the initial-push store")
	lookups := flag.Int("lookups", 2000, "SCIM userName eq lookups")
	pushRows := flag.Bool("push", true, "measure the push rows (7)")
	syncOnly := flag.Bool("sync-only", false, "measure the reads and the syncs only (rows 1 to 5)")
	keep := flag.Bool("keep", false, "keep the scratch directory (slapd data, stores)")
	profile := flag.String("profile", "", "write CPU and heap profiles of the syncs and of the SCIM server to this directory")
	filtersStore := flag.String("filters-store", "", "measure only the expensive SCIM filter rows on this kept store")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *filtersStore != "" {
		if err := filtersRun(ctx, *filtersStore, *n, *seed, *shape, *lookups, *out); err != nil {
			fmt.Fprintln(os.Stderr, "scimbridge-bench:", err)
			os.Exit(1)
		}
		return
	}
	switch {
	case *out == "-":
		*out = ""
	case *out == "" && *shape == "wide":
		*out = "bench/results/latest.md"
	case *out == "":
		*out = "bench/results/latest-" + *shape + ".md"
	}
	cfg := config{n: *n, seed: *seed, pushUsers: *pushUsers, lookups: *lookups, rawRuns: 3, shape: *shape, skipPush: !*pushRows, syncOnly: *syncOnly,
		worstRuns: worstRuns, worstLookupTime: worstLookupTime, liveChanges: liveChanges, interval: changedInterval, intervalChanges: intervalChanges,
		profileDir: *profile, progress: os.Stderr}
	if err := mainRun(ctx, cfg, *out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "scimbridge-bench:", err)
		os.Exit(1)
	}
}

// filtersRun measures rows 6c and 6d on a kept store and reports them.
func filtersRun(ctx context.Context, path string, n int, seed uint64, shape string, lookups int, out string) error {
	db, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	users, groups, err := db.Counts(ctx)
	if err != nil {
		return err
	}
	d := generate(n, seed, 0, shape)
	if users != d.n || groups != d.groups {
		return fmt.Errorf("%s holds %d users and %d groups, not the %d and %d of -n %d -shape %s", path, users, groups, d.n, d.groups, n, shape)
	}
	w, err := benchSCIMWorst(ctx, db, d, worstRuns, lookups, worstLookupTime)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# scimbridge benchmark: expensive SCIM filters, %d users, %d groups\n\n", d.n, d.groups)
	fmt.Fprintf(&b, "Machine: %s\n\nStore: synced by a full run (`-keep`) of the same directory; rows 6c and 6d of the full report.\n\n", machine())
	writeTable(&b, w.reportRows())
	fmt.Println(b.String())
	if out == "" || out == "-" {
		return nil
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// The expensive-filter rows: each filter sent alone worstRuns times (6c),
// and lookups for at least worstLookupTime while 4 clients send them (6d).
const (
	worstRuns       = 10
	worstLookupTime = 20 * time.Second
)

// Rows 9 and 9b: liveChanges changes of every kind, one after the other.
// Row 10: intervalChanges changes at random moments, a changed-entries pass
// every changedInterval.
const (
	liveChanges     = 100
	changedInterval = 2 * time.Second
	intervalChanges = 20
)

// mainRun runs the benchmark in a fresh scratch directory and reports.
func mainRun(ctx context.Context, cfg config, out string, keep bool) error {
	if cfg.n < 100 {
		return fmt.Errorf("-n %d: need at least 100 users", cfg.n)
	}
	dir, err := os.MkdirTemp("", "scimbridge-bench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(cfg.progress, "scratch directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	cfg.workDir = dir
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	res, err := run(ctx, cfg)
	if err != nil {
		return err
	}
	md := res.markdown(machine())
	fmt.Println(md)
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(md), 0o644)
}
