package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// config is one benchmark run's parameters.
type config struct {
	n         int    // users
	seed      uint64 // generator seed
	pushUsers int    // users in the initial-push store
	skipPush  bool   // leave the push rows unmeasured (repeated runs of the sync rows)
	syncOnly  bool   // measure rows 1 to 5 only (the reads and the syncs)
	lookups   int    // SCIM eq lookups
	rawRuns   int    // measured raw reads (the median is kept)
	shape     string // a key of levelShares
	workDir   string // scratch directory (created and removed by run)
	// worstRuns is how often each expensive filter is sent alone (row 6c);
	// row 6d looks up for at least worstLookupTime.
	worstRuns       int
	worstLookupTime time.Duration
	// Rows 9 and 9b make liveChanges changes, one after the other.
	liveChanges int
	// Row 10 makes intervalChanges changes, a changed-entries pass every interval.
	interval        time.Duration
	intervalChanges int
	// profileDir, when set, receives CPU and heap profiles of the syncs
	// (first.pprof, nochange.pprof, onepct.pprof, *.heap) and of the SCIM
	// measurements in this process (scim.pprof).
	profileDir string
	progress   io.Writer
}

// benchPageSize is connection.pageSize for every read and sync.
const benchPageSize = 1000

// results is everything one run measured.
type results struct {
	n, groups, depth          int
	shape                     string
	pageSize                  int
	syncOnly                  bool // rows 6 to 10 were not measured
	userMembers, groupMembers int
	genTime, loadTime         time.Duration

	// reads are the median raw reads by each of readers, readRuns every run.
	reads    [3]rawResult
	readRuns [3][]rawResult
	first    syncResult
	noChange syncResult
	changed  int // users whose mail the 1% change rewrote
	onePct   syncResult
	changedR changedResult
	scim     scimResult
	worst    worstResult
	push     pushResult
	live     liveResult
	interval intervalResult
}

// run generates and loads the directory, then measures every row.
func run(ctx context.Context, cfg config) (*results, error) {
	logf := func(format string, a ...any) {
		fmt.Fprintf(cfg.progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	if levelShares[cfg.shape] == nil {
		return nil, fmt.Errorf("-shape %q: want one of wide, deep", cfg.shape)
	}
	res := &results{n: cfg.n, shape: cfg.shape, pageSize: benchPageSize}
	prof := func(label string) string {
		if cfg.profileDir == "" {
			return ""
		}
		return filepath.Join(cfg.profileDir, label+".pprof")
	}

	t0 := time.Now()
	d := generate(cfg.n, cfg.seed, cfg.pushUsers, cfg.shape)
	ldifPath := filepath.Join(cfg.workDir, "directory.ldif")
	if err := d.writeLDIF(ldifPath, ""); err != nil {
		return nil, err
	}
	res.genTime = time.Since(t0)
	res.groups, res.depth = d.groups, d.depth()
	res.userMembers, res.groupMembers = d.memberships()
	logf("generated %d users, %d groups (%d levels) in %v", d.n, d.groups, res.depth, res.genTime.Round(time.Millisecond))

	slapdDir := filepath.Join(cfg.workDir, "slapd")
	if err := os.Mkdir(slapdDir, 0o700); err != nil {
		return nil, err
	}
	t0 = time.Now()
	// mdb maps its file sparsely: a generous maxsize costs nothing at 100k
	// and leaves room at millions of users.
	srv, err := slapdtest.Launch(slapdDir, slapdtest.Empty(), slapdtest.WithLDIFFile(ldifPath),
		slapdtest.WithDatabaseConfig("maxsize 68719476736"), slapdtest.WithSyncprov())
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	res.loadTime = time.Since(t0)
	_ = os.Remove(ldifPath)
	logf("slapadd -q and slapd start: %v", res.loadTime.Round(time.Millisecond))

	settings := srv.Settings()
	settings.Connection.PageSize = benchPageSize
	settings.Connection.ReadTimeoutSeconds = 600
	mainSettings := filepath.Join(cfg.workDir, "settings.json")
	if err := writeSettings(mainSettings, settings); err != nil {
		return nil, err
	}
	mainDB := filepath.Join(cfg.workDir, "state.db")

	// 1. Raw reads: ldapsearch, go-ldap and ldapsource's bulk path, one
	// warm-up each, then rounds of all three (so that each sees the machine
	// as the others do); the median run of each is kept.
	pwFile := filepath.Join(cfg.workDir, "bindpw")
	if err := os.WriteFile(pwFile, []byte(settings.Connection.BindCredential), 0o600); err != nil {
		return nil, err
	}
	for i, rd := range readers {
		if _, err := rd.read(ctx, settings, pwFile); err != nil {
			return nil, fmt.Errorf("%s read: %w", readers[i].name, err)
		}
	}
	for range cfg.rawRuns {
		for i, rd := range readers {
			r, err := measureAlloc(func() (rawResult, error) { return rd.read(ctx, settings, pwFile) })
			if err != nil {
				return nil, fmt.Errorf("%s read: %w", rd.name, err)
			}
			if r.users != d.n || r.groups != d.groups || r.memberValues != res.userMembers+res.groupMembers {
				return nil, fmt.Errorf("%s read found %d users, %d groups, %d member values; want %d, %d, %d", rd.name,
					r.users, r.groups, r.memberValues, d.n, d.groups, res.userMembers+res.groupMembers)
			}
			res.readRuns[i] = append(res.readRuns[i], r)
		}
	}
	for i := range readers {
		runs := slices.Clone(res.readRuns[i])
		slices.SortFunc(runs, func(a, b rawResult) int { return int(a.total() - b.total()) })
		res.reads[i] = runs[len(runs)/2]
		logf("%s read: %v (users %v, groups %v)", readers[i].name, res.reads[i].total().Round(time.Millisecond),
			res.reads[i].usersTime.Round(time.Millisecond), res.reads[i].groupsTime.Round(time.Millisecond))
	}

	// 2–4. Syncs, each in its own process.
	if res.first, err = runSyncChild(ctx, mainSettings, mainDB, prof("first")); err != nil {
		return nil, fmt.Errorf("first full sync: %w", err)
	}
	if s := res.first.Summary; s.UsersCreated != d.n || s.GroupsCreated != d.groups {
		return nil, fmt.Errorf("first full sync created %d users and %d groups, want %d and %d", s.UsersCreated, s.GroupsCreated, d.n, d.groups)
	}
	logf("first full sync: %v", res.first.duration().Round(time.Millisecond))
	if res.noChange, err = runSyncChild(ctx, mainSettings, mainDB, prof("nochange")); err != nil {
		return nil, fmt.Errorf("no-change sync: %w", err)
	}
	logf("no-change sync: %v, %d rows written", res.noChange.duration().Round(time.Millisecond), res.noChange.rowsWritten())
	res.changed = len(d.changed)
	if err := modifyMails(settings, d, d.changed, 1); err != nil {
		return nil, err
	}
	if res.onePct, err = runSyncChild(ctx, mainSettings, mainDB, prof("onepct")); err != nil {
		return nil, fmt.Errorf("sync after the 1%% change: %w", err)
	}
	logf("sync after changing %d mails: %v, %d users updated", res.changed, res.onePct.duration().Round(time.Millisecond), res.onePct.Summary.UsersUpdated)
	if cfg.syncOnly {
		res.syncOnly = true
		return res, nil
	}

	// 8–9. A changed-entries pass and the live stream (issue 15).
	if res.changedR, err = benchChanged(ctx, settings, mainDB, d, logf); err != nil {
		res.changedR.err = err.Error()
		logf("changed-entries rows: %v", err)
	}
	// 10. Changed-entries passes on a schedule (timestamps, a second slapd).
	if res.interval, err = benchInterval(ctx, cfg, d, logf); err != nil {
		res.interval.err = err.Error()
		logf("interval row: %v", err)
	} else {
		sorted := slices.Sorted(slices.Values(res.interval.latencies))
		logf("changed-entries passes every %v: p50 %v, p99 %v, max %v", cfg.interval, pct(sorted, 50), pct(sorted, 99), sorted[len(sorted)-1])
	}

	// 6. SCIM.
	db, err := store.Open(ctx, mainDB)
	if err != nil {
		return nil, err
	}
	stopProfile, err := startProfile(prof("scim"))
	if err != nil {
		db.Close()
		return nil, err
	}
	res.scim, err = benchSCIM(ctx, db, d, cfg.lookups, cfg.seed)
	if err == nil {
		logf("SCIM: eq p50 %v p99 %v, %.0f req/s; walk %v", res.scim.p50, res.scim.p99, res.scim.lookupsPerSec, res.scim.walkTime.Round(time.Millisecond))
		res.worst, err = benchSCIMWorst(ctx, db, d, cfg.worstRuns, cfg.lookups, cfg.worstLookupTime)
	}
	stopProfile()
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("SCIM: %w", err)
	}
	logf("SCIM worst filters: userName eq p99 %v while 4 clients send them", res.worst.lookupP99)

	// 7. Push, then 9: live changes of every kind, pushed when the target runs.
	var target *scimmy
	switch {
	case cfg.skipPush:
		res.push.err = "not measured (-push=false)"
	default:
		if target, err = startSCIMMY(); err != nil {
			res.push.err = "not measured: the SCIMMY target did not start: " + err.Error()
			logf("push: %s", res.push.err)
			target = nil
			break
		}
		defer target.close()
		if res.push, err = benchPush(ctx, cfg, d, settings, mainDB, target, logf); err != nil {
			return nil, err
		}
	}
	if res.live, err = benchLiveKinds(ctx, settings, mainDB, d, target, cfg.liveChanges); err != nil {
		res.live.err = err.Error()
		logf("live rows: %v", err)
	} else {
		logf("live: %d changes", len(res.live.changes))
	}
	if target == nil {
		res.live.targetErr = res.push.err
	}
	return res, nil
}

// benchPush measures the initial push of the push-sample store and the push
// of one changed user in the N-user store.
func benchPush(ctx context.Context, cfg config, d *directory, settings *schema.Settings, mainDB string, target *scimmy, logf func(string, ...any)) (pushResult, error) {
	var pr pushResult

	// 7a. A store of the push-sample users (no groups), pushed to an empty target.
	sample := *settings
	sample.Users.Filter = "(employeeType=" + pushSample + ")"
	sample.Groups.Enabled = false
	sampleFile := filepath.Join(cfg.workDir, "settings-push.json")
	if err := writeSettings(sampleFile, &sample); err != nil {
		return pr, err
	}
	pushDB := filepath.Join(cfg.workDir, "push.db")
	s, err := runSyncChild(ctx, sampleFile, pushDB, "")
	if err != nil {
		return pr, fmt.Errorf("sync of the push store: %w", err)
	}
	pr.sample = s.Summary.UsersCreated
	if pr.sample != d.pushUsers {
		return pr, fmt.Errorf("push store holds %d users, want %d", pr.sample, d.pushUsers)
	}
	db, err := store.Open(ctx, pushDB)
	if err != nil {
		return pr, err
	}
	pr.initial, err = benchInitialPush(ctx, db, &sample, target, pr.sample)
	db.Close()
	if err != nil {
		return pr, err
	}
	for _, r := range pr.initial {
		logf("initial push of %d users at concurrency %d: %d requests in %dms", pr.sample, r.concurrency, r.rep.Sent, r.rep.DurationMs)
	}

	// 7b. The N-user store, pushed with push.scopeGroups set to one leaf
	// group (a SCIMMY target cannot hold N users: it scans every resource
	// on each request); then one user in it changes in LDAP and is synced.
	if err := target.clear(); err != nil {
		return pr, err
	}
	leaf := d.leafWithUsers()
	pr.scopeGroup = groupName(leaf)
	ps := pushSettings(settings, target, 4)
	ps.Push.ScopeGroups = []string{pr.scopeGroup}
	db, err = store.Open(ctx, mainDB)
	if err != nil {
		return pr, err
	}
	defer db.Close()
	client := push.New(db, nil)
	if pr.scopeInitial, err = client.Run(ctx, ps); err != nil {
		return pr, fmt.Errorf("scoped initial push: %w", err)
	}
	if pr.scopeInitial.Failed != 0 {
		return pr, fmt.Errorf("scoped initial push: %d failed: %+v", pr.scopeInitial.Failed, pr.scopeInitial.Failures)
	}
	user := int(d.users[leaf][0])
	if err := modifyMails(settings, d, []int{user}, 2); err != nil {
		return pr, err
	}
	// The sync keeps the change log (push is configured; the child only
	// syncs), as the service's sync does before it pushes.
	pushFile := filepath.Join(cfg.workDir, "settings-push.json")
	if err := writeSettings(pushFile, ps); err != nil {
		return pr, err
	}
	if pr.oneChangeSync, err = runSyncChild(ctx, pushFile, mainDB, ""); err != nil {
		return pr, fmt.Errorf("sync of the one change: %w", err)
	}
	if err := target.resetLog(); err != nil {
		return pr, err
	}
	if pr.oneChange, err = client.Run(ctx, ps); err != nil {
		return pr, fmt.Errorf("push of the one change: %w", err)
	}
	if pr.oneChangeReqs, err = target.requestCounts(); err != nil {
		return pr, err
	}
	logf("push of 1 changed user: %v", pr.oneChangeReqs)

	return pr, nil
}

// startProfile starts a CPU profile of this process into path ("" does nothing).
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeSettings(path string, s *schema.Settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
