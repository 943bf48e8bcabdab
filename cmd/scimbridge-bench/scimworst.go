package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/scimserver"
	"github.com/scimbridge/scimbridge/store"
)

// worstFilter is one of the most expensive filter shapes the SCIM server
// accepts (issue 14): each scans a table or reads memberships through a
// subquery, at the limits of depth, terms and subqueries.
type worstFilter struct {
	endpoint, filter string
}

// worstFilters lists them. The directory's groups are named group00000…,
// its users' display names are "First Last".
func worstFilters(d *directory) []worstFilter {
	or := func(term string, n int) string {
		t := make([]string, n)
		for i := range t {
			t[i] = fmt.Sprintf(term, i)
		}
		return strings.Join(t, " or ")
	}
	nest := func(inner string, n int) string {
		return strings.Repeat("not (", n) + inner + strings.Repeat(")", n)
	}
	return []worstFilter{
		{"Users", `groups.display co "zz"`},
		{"Users", `groups.display co "1"`},
		{"Users", or(`groups.display co "%d9"`, 3)},
		{"Users", `groups.type eq "indirect"`},
		{"Users", `groups[type eq "indirect" and display ew "7"]`},
		{"Users", fmt.Sprintf(`groups.value eq "%s"`, "no-such-group")},
		{"Users", `displayName co "zz"`},
		{"Users", `name.formatted ew "x"`},
		{"Users", `emails[value co "zz"]`},
		{"Users", or(`displayName co "q%d"`, 4)},
		{"Users", or(`userName co "q%d"`, 20)},
		{"Users", nest(`userName sw "user00"`, 10)},
		{"Users", `meta.lastModified gt "2000-01-01T00:00:00Z"`},
		{"Users", `not (userName eq "` + d.userName(0) + `")`},
		{"Groups", `members.display ew "9"`},
		{"Groups", `members[type eq "User" and display co "zz"]`},
		{"Groups", or(`members.display co "x%d"`, 3)},
		{"Groups", `members.value eq "no-such-member"`},
		{"Groups", or(`displayName co "%d"`, 20)},
	}
}

// worstRow is one filter's measurement.
type worstRow struct {
	f        worstFilter
	p50, p99 time.Duration
	total    int
	status   int // of the last run
}

// worstResult holds the expensive-filter rows and the lookup latency
// measured while 4 clients send those filters.
type worstResult struct {
	runs                 int
	rows                 []worstRow
	lookups              int
	lookupP50, lookupP99 time.Duration
	// aloneP50, aloneP99 are the same lookups just before, with the clients
	// idle: what the machine gives at that moment.
	aloneP50, aloneP99 time.Duration
	clients            int
	served, busy       int64 // the clients' answers: 200, 503
	timeout            time.Duration
	maxScans           int
}

// benchSCIMWorst serves the store like `scimbridge serve` does (default
// request timeout and admission limit) and measures, first, each of the
// worst filters alone (count=100) runs times, then userName eq lookups (at
// least lookups of them, for at least lookupTime) while 4 clients send the
// worst filters continuously.
func benchSCIMWorst(ctx context.Context, db *store.DB, d *directory, runs, lookups int, lookupTime time.Duration) (worstResult, error) {
	res := worstResult{runs: runs, lookups: lookups, clients: 4, timeout: scimserver.DefaultRequestTimeout, maxScans: scimserver.DefaultMaxScans}
	c, stop, err := serveSCIM(db, time.Minute)
	if err != nil {
		return res, err
	}
	defer stop()

	send := func(ctx context.Context, f worstFilter) (int, int, error) {
		q := url.Values{"filter": {f.filter}, "count": {"100"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/"+f.endpoint+"?"+q.Encode(), nil)
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, 0, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var lr listResponse
			if err := json.Unmarshal(body, &lr); err != nil {
				return 0, 0, err
			}
			return resp.StatusCode, lr.TotalResults, nil
		case http.StatusServiceUnavailable:
			return resp.StatusCode, 0, nil
		}
		return 0, 0, fmt.Errorf("GET /%s?filter=%.80s: %s: %s", f.endpoint, f.filter, resp.Status, body)
	}

	filters := worstFilters(d)
	for _, f := range filters {
		row := worstRow{f: f}
		lat := make([]time.Duration, runs)
		for i := range lat {
			t0 := time.Now()
			status, total, err := send(ctx, f)
			if err != nil {
				return res, err
			}
			lat[i] = time.Since(t0)
			row.status, row.total = status, total
		}
		slices.Sort(lat)
		row.p50, row.p99 = percentile(lat, 50), percentile(lat, 99)
		res.rows = append(res.rows, row)
	}

	// Lookups alone, then while the clients send the worst filters, each
	// from its own place in the list.
	alone, err := timeLookups(ctx, c, d, lookups, lookupTime/4)
	if err != nil {
		return res, err
	}
	res.aloneP50, res.aloneP99 = percentile(alone, 50), percentile(alone, 99)
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, res.clients)
	for w := range res.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; bg.Err() == nil; i++ {
				status, _, err := send(bg, filters[i%len(filters)])
				switch {
				case bg.Err() != nil:
					return
				case err != nil:
					errs[w] = err
					return
				case status == http.StatusOK:
					atomic.AddInt64(&res.served, 1)
				default:
					atomic.AddInt64(&res.busy, 1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the clients fill the server
	// At least lookupTime, so that the clients go through the list.
	lat, lookupErr := timeLookups(ctx, c, d, lookups, lookupTime)
	res.lookups = len(lat)
	stop()
	wg.Wait()
	if lookupErr != nil {
		return res, lookupErr
	}
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	res.lookupP50, res.lookupP99 = percentile(lat, 50), percentile(lat, 99)
	return res, nil
}

// timeLookups times sequential userName eq lookups, at least n of them and
// for at least d, and returns their latencies sorted.
func timeLookups(ctx context.Context, c *scimClient, dir *directory, n int, d time.Duration) ([]time.Duration, error) {
	var lat []time.Duration
	for start := time.Now(); len(lat) < n || time.Since(start) < d; {
		name := dir.userName((len(lat) * 7919) % dir.n)
		t0 := time.Now()
		if err := c.lookup(ctx, name); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat, nil
}

// rows renders the measurements as report rows 6c (one per filter) and 6d.
func (w worstResult) reportRows() []row {
	var rs []row
	for i, r := range w.rows {
		answer := fmt.Sprintf("%d results", r.total)
		if r.status == http.StatusServiceUnavailable {
			answer = fmt.Sprintf("503 after the %s deadline", w.timeout)
		}
		rs = append(rs, row{fmt.Sprintf("6c.%d", i+1), fmt.Sprintf("SCIM GET /%s?count=100&filter=`%s`", r.f.endpoint, shorten(r.f.filter, 90)),
			"p50 " + ms(r.p50) + ", p99 " + ms(r.p99), "", fmt.Sprintf("%s; %d runs, sequential", answer, w.runs),
			"p99 ≤ 200 ms", mark(r.status == http.StatusOK && r.p99 <= 200*time.Millisecond)})
	}
	rs = append(rs, row{"6d", `SCIM userName eq while 4 clients send the filters of 6c`, "p50 " + ms(w.lookupP50) + ", p99 " + ms(w.lookupP99), "",
		fmt.Sprintf("%d lookups, sequential; the 4 clients got %d answers and %d × 503 (request timeout %s, %d scan at a time); the same lookups alone just before: p50 %s, p99 %s",
			w.lookups, w.served, w.busy, w.timeout, w.maxScans, ms(w.aloneP50), ms(w.aloneP99)),
		"p99 ≤ 20 ms", mark(w.lookupP99 <= 20*time.Millisecond)})
	return rs
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
