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
//     and 4, and the requests one changed user causes.
//
// It prints one markdown table and writes it, with the machine's
// description, to bench/results/latest.md.
//
// Usage:
//
//	scimbridge-bench [-n 100000] [-shape wide|deep] [-out bench/results/latest.md] [-seed 1] [-push=false] [-keep] [-profile DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
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
	keep := flag.Bool("keep", false, "keep the scratch directory (slapd data, stores)")
	profile := flag.String("profile", "", "write CPU and heap profiles of the syncs and of the SCIM server to this directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case *out == "-":
		*out = ""
	case *out == "" && *shape == "wide":
		*out = "bench/results/latest.md"
	case *out == "":
		*out = "bench/results/latest-" + *shape + ".md"
	}
	cfg := config{n: *n, seed: *seed, pushUsers: *pushUsers, lookups: *lookups, rawRuns: 3, shape: *shape, skipPush: !*pushRows, profileDir: *profile, progress: os.Stderr}
	if err := mainRun(ctx, cfg, *out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "scimbridge-bench:", err)
		os.Exit(1)
	}
}

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
