package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the sync child, as the real program does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "sync" {
		if err := childMain(os.Args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestGenerateIsDeterministicAndNested(t *testing.T) {
	a, b := generate(5000, 7, 1000, "wide"), generate(5000, 7, 1000, "wide")
	if fmt.Sprint(a.users, a.parent, a.changed) != fmt.Sprint(b.users, b.parent, b.changed) {
		t.Fatal("same seed, different directories")
	}
	if a.groups != 100 || a.depth() != 4 {
		t.Errorf("groups %d depth %d, want 100 and 4", a.groups, a.depth())
	}
	deep := generate(5000, 7, 1000, "deep")
	atDepth := 0
	for g := range deep.level {
		if deep.level[g] == 3 {
			atDepth++
		}
	}
	if deep.depth() != 4 || atDepth != 85 {
		t.Errorf("deep shape: depth %d, %d of 100 groups on the 4th level; want 4 and 85", deep.depth(), atDepth)
	}
	if len(a.changed) != 50 {
		t.Errorf("changed %d users, want 50", len(a.changed))
	}
	per := make([]int, a.n)
	for g := range a.users {
		if len(a.users[g])+len(a.children[g]) == 0 {
			t.Errorf("group %d has no member", g)
		}
		for _, u := range a.users[g] {
			per[u]++
		}
	}
	for u, k := range per {
		if k < 1 || k > 3 {
			t.Fatalf("user %d is in %d groups, want 1 to 3", u, k)
		}
	}
}

// TestSmoke runs the whole harness at N=2,000 so it cannot rot: every row is
// measured and the counts that must be exact are.
func TestSmoke(t *testing.T) {
	const n = 2000
	cfg := config{n: n, seed: 1, pushUsers: 500, lookups: 200, rawRuns: 1, shape: "deep", worstRuns: 2,
		liveChanges: 8, interval: time.Second, intervalChanges: 3, workDir: t.TempDir(), progress: io.Discard}
	if testing.Verbose() {
		cfg.progress = os.Stderr
	}
	res, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.reads {
		if r.users != n || r.groups != n/50 || r.memberValues != res.userMembers+res.groupMembers || r.total() <= 0 {
			t.Errorf("%s read: %d users, %d groups, %d member values in %v", readers[i].name, r.users, r.groups, r.memberValues, r.total())
		}
	}
	if gl, bk := res.reads[readGoLDAP], res.reads[readBulk]; gl.allocBytes == 0 || bk.allocBytes >= gl.allocBytes {
		t.Errorf("allocated: go-ldap %d bytes, bulk path %d", gl.allocBytes, bk.allocBytes)
	}
	if s := res.first.Summary; s.UsersCreated != n || s.GroupsCreated != n/50 || res.first.rowsWritten() <= int64(n) {
		t.Errorf("first sync: %+v, %d rows written", s, res.first.rowsWritten())
	}
	if res.noChange.rowsWritten() != 0 || res.noChange.changesFound() != 0 || res.noChange.Summary.MembershipsChanged != 0 {
		t.Errorf("no-change sync wrote %d rows, found %d changes: %+v", res.noChange.rowsWritten(), res.noChange.changesFound(), res.noChange.Summary)
	}
	if s := res.onePct.Summary; res.changed != n/100 || s.UsersUpdated != n/100 || res.onePct.changesFound() != n/100 {
		t.Errorf("1%% change: changed %d, found %+v", res.changed, s)
	}
	for _, r := range []syncResult{res.first, res.noChange, res.onePct} {
		if r.PeakRSS < 1e6 || r.PeakRSS > 2e9 || r.duration() <= 0 {
			t.Errorf("implausible sync measurement: %v, peak RSS %d", r.duration(), r.PeakRSS)
		}
	}
	if res.scim.walkUsers != n || res.scim.walkReq != 2 || res.scim.p50 <= 0 || res.scim.p99 < res.scim.p50 || res.scim.lookupsPerSec <= 0 {
		t.Errorf("SCIM: %+v", res.scim)
	}
	w := res.worst
	if len(w.rows) != len(worstFilters(generate(n, 1, 0, "deep"))) || w.lookups < 200 || w.lookupP99 < w.lookupP50 || w.lookupP50 <= 0 {
		t.Errorf("expensive filters: %+v", w)
	}
	for _, r := range w.rows {
		want := map[string]int{`groups.value eq "no-such-group"`: 0, `meta.lastModified gt "2000-01-01T00:00:00Z"`: n,
			`not (userName eq "user000000")`: n - 1, `members.value eq "no-such-member"`: 0}
		if total, ok := want[r.f.filter]; ok && (r.status != 200 || r.total != total) {
			t.Errorf("%s: status %d, %d results; want %d", r.f.filter, r.status, r.total, total)
		}
		if r.status != 200 && r.status != 503 {
			t.Errorf("%s: status %d", r.f.filter, r.status)
		}
	}
	p := res.push
	if p.err != "" {
		t.Fatalf("push not measured: %s", p.err)
	}
	if len(p.initial) != 2 || p.initial[0].concurrency != 1 || p.initial[1].concurrency != 4 {
		t.Fatalf("initial pushes: %+v", p.initial)
	}
	for _, ir := range p.initial {
		if ir.rep.Created != 500 || ir.rep.Sent < 500 {
			t.Errorf("initial push at %d: %+v", ir.concurrency, ir.rep)
		}
	}
	if fmt.Sprint(p.oneChangeReqs) != "map[PATCH /Users:1]" || p.oneChangeSync.Summary.UsersUpdated != 1 {
		t.Errorf("one change: requests %v, sync %+v", p.oneChangeReqs, p.oneChangeSync.Summary)
	}

	c := res.changedR
	updated := 0
	for _, u := range c.passUpdated {
		updated += u
	}
	if c.err != "" || c.passFull != "" || len(c.passUpdated) != passRounds || updated != 10*passRounds {
		t.Errorf("changed-entries row: err %q, full sync %q, updated %v", c.err, c.passFull, c.passUpdated)
	}
	lv := res.live
	kinds := map[string]int{}
	for _, ch := range lv.changes {
		kinds[ch.kind]++
		if ch.toSCIM <= 0 || ch.toTarget <= 0 {
			t.Errorf("%s of %s: %v to /scim/v2, %v to the target", ch.kind, ch.user, ch.toSCIM, ch.toTarget)
		}
	}
	if lv.err != "" || !lv.pushed || lv.state != "connected" || len(lv.wrongRequests) != 0 || fmt.Sprint(kinds) != "map[add:2 delete:2 member:2 modify:2]" {
		t.Errorf("live rows: err %q, pushed %v, stream %s, kinds %v, wrong requests %q", lv.err, lv.pushed, lv.state, kinds, lv.wrongRequests)
	}

	iv := res.interval
	if iv.err != "" || len(iv.latencies) != 3 || fmt.Sprint(iv.kinds) != "map[add:1 member:1 modify:1]" || iv.runs < 1 {
		t.Errorf("interval row: err %q, %d changes %v, %d runs", iv.err, len(iv.latencies), iv.kinds, iv.runs)
	}

	md := res.markdown("test machine")
	for _, want := range []string{"| 1 | `ldapsearch -E pr=1000/noprompt`", "| 1b | raw read with go-ldap", "| 1c | raw read with ldapsource's bulk path",
		`shape "deep": 2%/4%/9%/85%`, "| 2 | first full sync", "| 3 | second full sync, no change",
		"rows written: 0; changes found: 0", "| 4 | full sync after changing 1% of users (20 mails)", "changes found: 20",
		"| 5 | peak RSS", "| 6a | SCIM GET", "| 6b | SCIM full walk", "| 6c.1 | SCIM GET /Users?count=100&filter=`groups.display co", "| 6d | SCIM userName eq while 4 clients", "| 7 (c=1) | initial push of 500 users",
		"| 7 (c=4) |", "requests: PATCH /Users ×1", "| 8 | changed-entries pass with 10 changes on the 2000-user store",
		"| 9 | live (syncrepl) on the store, 8 changes one at a time (2 modify, 2 add, 2 member add/remove, 2 delete)",
		"| 9 (delete) | live → GET /scim/v2: a user of group", "| 9b | the same changes with push on", "| 9b (member) | live → the push target:",
		"| 10 | changed-entries passes every 1s run by the scheduler (timestamps: slapd without syncprov, index modifyTimestamp eq, the same 2000-user directory stamped a day before): 3 changes", "Machine: test machine"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "not measured") {
		t.Errorf("report has an unmeasured row:\n%s", md)
	}
}
