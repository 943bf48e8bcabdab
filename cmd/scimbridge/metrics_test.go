package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/metrics"
)

// do sends a request with a bearer token (none when empty) and returns the
// status and body; status 0 means no answer came.
func do(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// scrape reads /metrics with the token and parses it.
func scrape(t *testing.T, base, token string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	code, body := do(t, http.MethodGet, base+"/metrics", token)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, string(body)
}

// values maps each series of a family (its labels, "k=v,…" in label order)
// to its value; histograms give their sample count.
func values(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var parts []string
		for _, l := range m.Label {
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
		key := strings.Join(parts, ",")
		switch {
		case m.Counter != nil:
			out[key] = m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] = m.Gauge.GetValue()
		case m.Histogram != nil:
			out[key] = float64(m.Histogram.GetSampleCount())
		}
	}
	return out
}

// runEnded waits until run id is no longer running and returns its report.
func runEnded(t *testing.T, p *serveProc, id float64) map[string]any {
	t.Helper()
	var run map[string]any
	p.waitFor(t, fmt.Sprintf("end of run %v", id), 30*time.Second, func() bool {
		code, body := getJSON(t, fmt.Sprintf("%s/api/v1/sync/runs/%v", p.url(), id), testAdminToken)
		run = body
		return code == 200 && body["status"] != "running"
	})
	return run
}

// trigger starts a manual sync through the admin API and waits for its end.
func trigger(t *testing.T, p *serveProc, query string) map[string]any {
	t.Helper()
	// The previous run releases the run lock just after its report is
	// recorded: a 409 busy is retried for a moment.
	var code int
	var body []byte
	p.waitFor(t, "accepted sync", 10*time.Second, func() bool {
		code, body = do(t, http.MethodPost, p.url()+"/api/v1/sync"+query, testAdminToken)
		return code != http.StatusConflict
	})
	var started map[string]any
	if err := json.Unmarshal(body, &started); err != nil || code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/sync%s: %d %s", query, code, body)
	}
	return runEnded(t, p, started["runId"].(float64))
}

// TestMetricsAfterSyncsAndPushes scrapes /metrics after a startup sync with
// its push (one user refused by the target), a failed run, a dry run and
// SCIM requests of several outcomes, and checks each value against what
// happened: the run history, the store, the target's own request log.
func TestMetricsAfterSyncsAndPushes(t *testing.T) {
	srv := slapdtest.Start(t)
	target := scimmytest.Start(t)
	target.Fault(t, scimmytest.Fault{Method: "POST", Path: "/Users", UserName: "frank", Status: 400, Detail: "refused by the test"})
	s := srv.Settings()
	s.Push.Enabled, s.Push.URL, s.Push.Token = true, target.URL, target.Token
	db := filepath.Join(t.TempDir(), "state.db")
	p := startServe(t, []string{"SCIMBRIDGE_METRICS_TOKEN=metrics-token-0a1b2c3d"}, "--db", db, "--settings", writeSettings(t, s))

	p.waitFor(t, "startup run", 20*time.Second, func() bool {
		code, body := getJSON(t, p.url()+"/api/v1/sync/runs", testAdminToken)
		runs, _ := body["runs"].([]any)
		return code == 200 && len(runs) == 1
	})
	startup := runEnded(t, p, 1)
	if startup["status"] != "succeeded" {
		t.Fatalf("startup run: %v", startup)
	}
	srv.Stop()
	if failed := trigger(t, p, ""); failed["status"] != "failed" {
		t.Fatalf("run with slapd stopped: %v", failed)
	}
	srv.Restart(t)
	if dry := trigger(t, p, "?dryRun=true"); dry["status"] != "succeeded" || dry["dryRun"] != true {
		t.Fatalf("dry run: %v", dry)
	}

	// SCIM requests: 2×200, 404, 401, 405 (writes are refused).
	for _, r := range []struct {
		method, path, token string
		code                int
	}{
		{"GET", "/scim/v2/Users", testSCIMToken, 200},
		{"GET", `/scim/v2/Users?filter=userName%20eq%20%22alice%22`, testSCIMToken, 200},
		{"GET", "/scim/v2/Users/no-such-id", testSCIMToken, 404},
		{"GET", "/scim/v2/Groups", "wrong-token", 401},
		{"POST", "/scim/v2/Users", testSCIMToken, 405},
	} {
		if code, body := do(t, r.method, p.url()+r.path, r.token); code != r.code {
			t.Fatalf("%s %s: %d %s, want %d", r.method, r.path, code, body, r.code)
		}
	}

	// The token is required when set.
	for _, tok := range []string{"", testSCIMToken, testAdminToken} {
		if code, _ := do(t, http.MethodGet, p.url()+"/metrics", tok); code != http.StatusUnauthorized {
			t.Errorf("/metrics with token %q: %d, want 401", tok, code)
		}
	}
	fams, text := scrape(t, p.url(), "metrics-token-0a1b2c3d")

	check := func(name string, want map[string]float64) {
		t.Helper()
		if got := values(fams, name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v\nwant %v", name, got, want)
		}
	}
	check("scimbridge_sync_runs_total", map[string]float64{
		"status=succeeded,trigger=startup": 1, "status=failed,trigger=manual": 1, "status=succeeded,trigger=manual": 1})
	check("scimbridge_sync_duration_seconds", map[string]float64{"": 3})
	check("scimbridge_sync_skipped_entries", map[string]float64{"": startup["skipped"].(float64)})
	finished, err := time.Parse(time.RFC3339Nano, startup["finishedAt"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got := values(fams, "scimbridge_sync_last_success_timestamp_seconds")[""]; math.Abs(got-float64(finished.UnixNano())/1e9) > 1e-3 {
		t.Errorf("last success %v, want the startup run's end %v (the dry run does not count)", got, finished)
	}
	_, status := getJSON(t, p.url()+"/api/v1/status", testAdminToken)
	check("scimbridge_users", map[string]float64{"": status["users"].(float64)})
	check("scimbridge_groups", map[string]float64{"": status["groups"].(float64)})
	if status["users"] != 9.0 || status["groups"] != 8.0 {
		t.Errorf("store: %v", status)
	}
	check("scimbridge_scim_requests_total", map[string]float64{
		"code=200,resource=Users": 2, "code=404,resource=Users": 1, "code=401,resource=Groups": 1, "code=405,resource=Users": 1})
	check("scimbridge_scim_request_duration_seconds", map[string]float64{"": 5})

	// Push requests equal the target's own log, by method, resource and code.
	want := map[string]float64{}
	for _, r := range target.Requests(t) {
		want[fmt.Sprintf("code=%d,method=%s,resource=%s", r.Status, r.Method, metrics.Resource(r.Path))]++
	}
	check("scimbridge_push_requests_total", want)
	if want["code=201,method=POST,resource=Users"] != 8 || want["code=400,method=POST,resource=Users"] != 1 {
		t.Errorf("the target's log: %v; want 8 users created and frank refused", want)
	}
	res := runCmd(t, nil, "push", "--status", "--db", db)
	var ps struct {
		PendingChanges int
		Items          []struct{ Status string }
	}
	if err := json.Unmarshal([]byte(res.stdout), &ps); err != nil {
		t.Fatalf("push --status: %v %s %s", err, res.stdout, res.stderr)
	}
	pending, failed := ps.PendingChanges, 0
	for _, it := range ps.Items {
		if it.Status == "failed" {
			failed++
		} else {
			pending++
		}
	}
	check("scimbridge_push_pending", map[string]float64{"": float64(pending)})
	check("scimbridge_push_failed", map[string]float64{"": float64(failed)})
	if failed != 1 {
		t.Errorf("push --status: %d failed, want frank", failed)
	}

	ver := strings.Fields(runCmd(t, nil, "version").stdout)[1]
	check("scimbridge_build_info", map[string]float64{"version=" + ver: 1})
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing: the Go runtime and process collectors are registered", name)
		}
	}
	for _, secret := range []string{"alice", "frank", "dc=example", testSCIMToken, testAdminToken, "metrics-token-0a1b2c3d", target.Token, srv.AdminPassword} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics contains %q", secret)
		}
	}
	if _, err := p.stop(t, 30*time.Second); err != nil {
		t.Errorf("serve: %v", err)
	}
}
