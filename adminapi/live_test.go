package adminapi_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/scimbridge/scimbridge/adminapi"
)

// countingPusher is a push client that reports fixed counts of what it has
// not delivered.
type countingPusher struct{ recordingPusher }

func (*countingPusher) PushCounts(context.Context) (adminapi.PushCounts, error) {
	return adminapi.PushCounts{PendingChanges: 7, Pending: 1, Failed: 2}, nil
}

// TestStatusCountsWhatThePushHasNotDelivered: with push enabled the status
// carries the push client's counts; with push off it carries none.
func TestStatusCountsWhatThePushHasNotDelivered(t *testing.T) {
	e := newEnv(t, withPusher(&countingPusher{}))
	doc := e.document()
	e.must(e.call("PUT", "/api/v1/settings", doc), http.StatusOK, "PUT settings, push off")
	if r := e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status"); r.body["push"] != nil {
		t.Errorf("push off, yet the status has push counts: %s", r.raw)
	}
	set(doc, "push.enabled", true)
	set(doc, "push.url", "https://iomete.example.com/api/v1/identity/scim/v2")
	set(doc, "push.token", "push-token")
	e.must(e.call("PUT", "/api/v1/settings", doc), http.StatusOK, "PUT settings, push on")
	r := e.must(e.call("GET", "/api/v1/status", nil), http.StatusOK, "status")
	if got, want := r.body["push"], map[string]any{"pendingChanges": 7.0, "pending": 1.0, "failed": 2.0}; !reflect.DeepEqual(got, want) {
		t.Errorf("push = %v, want %v", got, want)
	}
}

// TestRunningRunShowsItsProgress holds a sync while it connects: its run
// answers the phase and the entries read so far, and stops showing progress
// once it has ended. (The console's browser test holds one later, after the
// groups are read.)
func TestRunningRunShowsItsProgress(t *testing.T) {
	gate := make(chan struct{})
	e := newEnv(t, withGate(gate))
	e.must(e.call("PUT", "/api/v1/settings", e.document()), http.StatusOK, "PUT settings")
	e.must(e.call("POST", "/api/v1/ldap/enable", nil), http.StatusOK, "enable")
	id := num(t, e.must(e.call("POST", "/api/v1/sync", nil), http.StatusAccepted, "sync").body["runId"])
	r := e.must(e.call("GET", "/api/v1/sync/runs/"+itoa(id), nil), http.StatusOK, "running run")
	if got, want := r.body["progress"], map[string]any{"phase": "connecting", "entries": 0.0}; !reflect.DeepEqual(got, want) {
		t.Errorf("progress = %v, want %v: %s", got, want, r.raw)
	}
	close(gate)
	e.sched.Wait()
	if run := e.must(e.call("GET", "/api/v1/sync/runs/"+itoa(id), nil), http.StatusOK, "ended run"); run.body["status"] != "succeeded" || run.body["progress"] != nil {
		t.Errorf("ended run: %s", run.raw)
	}
}
