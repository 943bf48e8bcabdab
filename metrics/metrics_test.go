package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResourceNamesTheEndpointNeverTheID(t *testing.T) {
	tests := map[string]string{
		"/Users":                       "Users",
		"/Users/2819c223-7f76-453a":    "Users",
		"/scim/v2/Groups/abc":          "Groups",
		"/Users/.search":               "Users",
		"/.search":                     ".search",
		"/ServiceProviderConfig":       "ServiceProviderConfig",
		"/Schemas/urn:ietf:params:x":   "Schemas",
		"/alice":                       "other",
		"":                             "other",
		"/uid=alice,dc=example,dc=com": "other",
	}
	for path, want := range tests {
		if got := Resource(path); got != want {
			t.Errorf("Resource(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRunsSetTheGaugesTheirStatusAllows(t *testing.T) {
	m := New("v1", nil)
	end := time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC)
	m.RunEnded(Run{Trigger: "startup", Status: "succeeded", Duration: 2 * time.Second, Skipped: 3, Finished: end})
	m.RunEnded(Run{Trigger: "manual", Status: "succeeded", DryRun: true, Skipped: 4, Finished: end.Add(time.Hour)})
	m.RunEnded(Run{Trigger: "scheduled", Status: "failed", Skipped: 9, Finished: end.Add(2 * time.Hour)})
	m.RunEnded(Run{Trigger: "scheduled", Status: "interrupted", Finished: end.Add(3 * time.Hour)})
	if got := testutil.ToFloat64(m.lastSuccess); got != float64(end.UnixNano())/1e9 {
		t.Errorf("last success %v: only the first run was a real success", got)
	}
	// A batch of changes applied is a success, but its skipped entries are
	// only those of its changes.
	m.RunEnded(Run{Trigger: "live", Status: "succeeded", Skipped: 1, Partial: true, Finished: end.Add(4 * time.Hour)})
	if got := testutil.ToFloat64(m.lastSuccess); got != float64(end.Add(4*time.Hour).UnixNano())/1e9 {
		t.Errorf("last success %v: the live run succeeded", got)
	}
	if got := testutil.ToFloat64(m.skipped); got != 4 {
		t.Errorf("skipped %v, want 4 (the dry run, the last to read the whole directory)", got)
	}
	if got := testutil.CollectAndCount(m.syncRuns); got != 5 {
		t.Errorf("%d run series, want 5", got)
	}
	if got := testutil.ToFloat64(m.syncRuns.WithLabelValues("scheduled", "interrupted")); got != 1 {
		t.Errorf("interrupted runs %v", got)
	}
}

func TestHandlerNeedsTheTokenWhenSet(t *testing.T) {
	m := New("v1", func(context.Context) (Counts, error) { return Counts{Users: 5, Groups: 2, PushPending: 1}, nil })
	m.PushRequest("POST", "/Users", 201)
	m.PushRequest("GET", "/Groups?filter=x", 0)
	h := m.Handler("t0ken")
	for _, auth := range []string{"", "Bearer wrong", "t0ken", "Basic t0ken"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Authorization", auth)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "scimbridge_users") {
			t.Errorf("Authorization %q: %d", auth, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	for _, line := range []string{"scimbridge_users 5", "scimbridge_groups 2", "scimbridge_push_pending 1", "scimbridge_push_failed 0",
		`scimbridge_push_requests_total{code="201",method="POST",resource="Users"} 1`,
		`scimbridge_push_requests_total{code="error",method="GET",resource="Groups"} 1`,
		`scimbridge_build_info{version="v1"} 1`} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("no line %q in\n%s", line, body)
		}
	}
}

// A store that cannot be read costs its own gauges, not the scrape.
func TestUnreadableStoreKeepsTheOtherMetrics(t *testing.T) {
	m := New("v1", func(context.Context) (Counts, error) { return Counts{}, errors.New("database is locked") })
	rec := httptest.NewRecorder()
	m.Handler("").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "scimbridge_users") || !strings.Contains(rec.Body.String(), "scimbridge_build_info") {
		t.Errorf("%d\n%s", rec.Code, rec.Body.String())
	}
}
