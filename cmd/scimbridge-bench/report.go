package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// machine describes where the benchmark ran.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	slapd := "unknown"
	for _, p := range []string{"slapd", "/usr/sbin/slapd"} {
		// slapd -VV prints its version on stderr and exits non-zero.
		out, _ := exec.Command(p, "-VV").CombinedOutput()
		if i := strings.Index(string(out), "slapd "); i >= 0 {
			slapd = strings.Fields(string(out)[i:])[1]
			break
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s RAM, %s, slapd %s, %s/%s, %s",
		runtime.NumCPU(), model, mem, runtime.Version(), slapd, runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// row is one line of the table.
type row struct {
	id, what, time, ratio, figures, target, ok string
}

// Targets (issue 11), up to 100k users and beyond.
func firstLimit(n int) float64 { return pick(n, 2.0, 2.5) }

func noChangeLimit(n int) float64 { return pick(n, 1.3, 1.5) }

func rssLimit(n int) int64 { return int64(pick(n, 200e6, 600e6)) }

func pick(n int, small, large float64) float64 {
	if n <= 100000 {
		return small
	}
	return large
}

// readFigures describes a raw read's counts and its runs.
func readFigures(r rawResult, runs []rawResult) string {
	ds := make([]time.Duration, len(runs))
	for i, x := range runs {
		ds[i] = x.total()
	}
	return fmt.Sprintf("%d users in %s + %d groups (%d member values) in %s; runs %s", r.users, ms(r.usersTime),
		r.groups, r.memberValues, ms(r.groupsTime), durations(ds))
}

// allocFigures describes what a raw read allocated, over its runs.
func allocFigures(r rawResult, runs []rawResult) string {
	lo, hi := runs[0].allocBytes, runs[0].allocBytes
	for _, x := range runs {
		lo, hi = min(lo, x.allocBytes), max(hi, x.allocBytes)
	}
	return fmt.Sprintf("allocated %s (runs %s–%s) in %d mallocs, %d GCs", mib(int64(r.allocBytes)), mib(int64(lo)), mib(int64(hi)), r.mallocs, r.gcs)
}

// rows turns the results into the table's rows.
func (r *results) rows() []row {
	yard := r.reads[readLDAPSearch].total()
	ratio := func(d time.Duration) float64 { return float64(d) / float64(yard) }
	times := func(d time.Duration) string { return fmt.Sprintf("%.2f×", ratio(d)) }
	ls, gl, bk := r.reads[readLDAPSearch], r.reads[readGoLDAP], r.reads[readBulk]
	share := float64(bk.allocBytes) / float64(gl.allocBytes)
	rs := []row{
		{"1", fmt.Sprintf("`ldapsearch -E pr=%d/noprompt`, the same searches: the directory's own speed", r.pageSize), ms(yard), "1.00×",
			readFigures(ls, r.readRuns[readLDAPSearch]), "the yardstick", ""},
		{"1b", "raw read with go-ldap alone (SearchAsync, paged by hand), for reference", ms(gl.total()), times(gl.total()),
			readFigures(gl, r.readRuns[readGoLDAP]) + "; " + allocFigures(gl, r.readRuns[readGoLDAP]), "", ""},
		{"1c", "raw read with ldapsource's bulk path (Users and Groups, counted only)", ms(bk.total()), times(bk.total()),
			readFigures(bk, r.readRuns[readBulk]) + "; " + allocFigures(bk, r.readRuns[readBulk]) + fmt.Sprintf(", %.1f%% of go-ldap's bytes", 100*share),
			"≤ 1.15×, < 10% of go-ldap's bytes", mark(ratio(bk.total()) <= 1.15 && share < 0.1)},
	}

	f := r.first
	rs = append(rs, row{"2", "first full sync into an empty store", ms(f.duration()), times(f.duration()),
		fmt.Sprintf("created %d users, %d groups; %d rows written", f.Summary.UsersCreated, f.Summary.GroupsCreated, f.rowsWritten()),
		fmt.Sprintf("≤ %.1f×", firstLimit(r.n)), mark(ratio(f.duration()) <= firstLimit(r.n))})

	nc := r.noChange
	ncOK := ratio(nc.duration()) <= noChangeLimit(r.n) && nc.rowsWritten() == 0 && nc.changesFound() == 0
	rs = append(rs, row{"3", "second full sync, no change", ms(nc.duration()), times(nc.duration()),
		fmt.Sprintf("rows written: %d; changes found: %d", nc.rowsWritten(), nc.changesFound()),
		fmt.Sprintf("≤ %.1f×, 0 rows written", noChangeLimit(r.n)), mark(ncOK)})

	op := r.onePct
	opOK := op.Summary.UsersUpdated == r.changed && op.changesFound() == r.changed
	rs = append(rs, row{"4", fmt.Sprintf("full sync after changing 1%% of users (%d mails)", r.changed), ms(op.duration()),
		times(op.duration()),
		fmt.Sprintf("changes found: %d (users updated %d); rows written: %d", op.changesFound(), op.Summary.UsersUpdated, op.rowsWritten()),
		fmt.Sprintf("exactly %d users updated", r.changed), mark(opOK)})

	peak := max(f.PeakRSS, nc.PeakRSS, op.PeakRSS)
	rs = append(rs, row{"5", "peak RSS of a sync (child process, getrusage maxrss)", mib(peak), "",
		fmt.Sprintf("first %s, no change %s, 1%% change %s", mib(f.PeakRSS), mib(nc.PeakRSS), mib(op.PeakRSS)),
		"≤ " + mib(rssLimit(r.n)), mark(peak <= rssLimit(r.n))})

	if r.syncOnly {
		return append(rs, row{"6–10", "SCIM, push, changed-entries and live rows", "", "", "not measured (-sync-only)", "", ""})
	}
	rs = append(rs, r.changedR.reportRows(r.n)...)

	s := r.scim
	rs = append(rs, row{"6a", `SCIM GET /Users?filter=userName eq "…"`, "p50 " + ms(s.p50) + ", p99 " + ms(s.p99), "",
		fmt.Sprintf("%d random users, sequential; %.0f requests/s with %d clients", s.lookups, s.lookupsPerSec, s.concurrency),
		"p99 ≤ 5 ms", mark(s.p99 <= 5*time.Millisecond)})
	rs = append(rs, row{"6b", "SCIM full walk of /Users (count=1000)", ms(s.walkTime), times(s.walkTime),
		fmt.Sprintf("%d users in %d requests", s.walkUsers, s.walkReq), "≤ 2×", mark(ratio(s.walkTime) <= 2)})
	rs = append(rs, r.worst.reportRows()...)

	p := r.push
	if p.err != "" {
		rs = append(rs, row{"7", "push to SCIMMY", "", "", p.err, "", "✗"})
		return append(append(rs, r.live.reportRows()...), r.interval.reportRow(r.n))
	}
	for _, ir := range p.initial {
		rs = append(rs, row{fmt.Sprintf("7 (c=%d)", ir.concurrency), fmt.Sprintf("initial push of %d users to SCIMMY, concurrency %d", p.sample, ir.concurrency),
			ms(time.Duration(ir.rep.DurationMs) * time.Millisecond), "",
			fmt.Sprintf("%.0f requests/s; %d requests, %d created", ir.perSec(), ir.rep.Sent, ir.rep.Created), "", ""})
	}
	oneOK := len(p.oneChangeReqs) == 1 && (p.oneChangeReqs["PATCH /Users"] == 1 || p.oneChangeReqs["PUT /Users"] == 1)
	rs = append(rs, row{"7 (1 change)", fmt.Sprintf("push of 1 changed user in the %d-user store", r.n),
		ms(time.Duration(p.oneChange.DurationMs) * time.Millisecond), "",
		fmt.Sprintf("requests: %s (sync found %d change, %s); target scoped to %s (%d requests to set up)",
			counts(p.oneChangeReqs), p.oneChangeSync.changesFound(), ms(p.oneChangeSync.duration()), p.scopeGroup, p.scopeInitial.Sent),
		"1 request (PATCH /Users)", mark(oneOK)})
	return append(append(rs, r.live.reportRows()...), r.interval.reportRow(r.n))
}

func shareText(shares []int) string {
	parts := make([]string, len(shares))
	for i, p := range shares {
		parts[i] = fmt.Sprintf("%d%%", p)
	}
	return strings.Join(parts, "/")
}

func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = ms(d)
	}
	return strings.Join(parts, ", ")
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// markdown renders the whole report: header, machine and table.
func (r *results) markdown(machineDesc string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# scimbridge benchmark: %d users, %d groups\n\n", r.n, r.groups)
	fmt.Fprintf(&b, "Machine: %s\n\n", machineDesc)
	fmt.Fprintf(&b, "Directory (shape %q: %s of the groups on levels 1 to %d): %d users, %d groupOfNames groups nested %d levels deep, "+
		"%d user and %d group memberships; generated in %s, loaded with slapadd -q and slapd started in %s. Every row was "+
		"measured in this run; every ratio is against ldapsearch (1) in this run.\n\n",
		r.shape, shareText(levelShares[r.shape]), len(levelShares[r.shape]), r.n, r.groups, r.depth, r.userMembers, r.groupMembers,
		ms(r.genTime), ms(r.loadTime))
	writeTable(&b, r.rows())
	return b.String()
}

// writeTable writes rows as the report's markdown table.
func writeTable(b *strings.Builder, rows []row) {
	b.WriteString("| # | measurement | time | × ldapsearch | figures | target | |\n|---|---|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.id, x.what, x.time, x.ratio,
			strings.ReplaceAll(x.figures, "|", `\|`), x.target, x.ok)
	}
}
