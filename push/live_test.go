package push_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// TestLiveChangesArePushedAtOnce: with sync.live on slapd with syncprov, an
// LDAP modify is pushed to the target as soon as its batch is applied, at
// the cost of the one request it needs; a quiet period sends nothing.
func TestLiveChangesArePushedAtOnce(t *testing.T) {
	h := newHarness(t, slapdtest.WithSyncprov())
	h.syncer.SetChangeDialer(ldapsource.DialChanges)
	h.settings.Sync.Live = true
	h.sync() // takes the change position and pushes the directory
	live := bridge.NewLive(h.syncer, func(context.Context) (*schema.Settings, error) { s := *h.settings; return &s, nil })
	runs := make(chan *bridge.Report, 10)
	live.OnRun = func(r *bridge.Report) { runs <- r }
	live.Start()
	t.Cleanup(live.Stop)
	deadline := time.Now().Add(15 * time.Second)
	for live.Status().State != bridge.LiveConnected {
		if time.Now().After(deadline) {
			t.Fatalf("live %+v", live.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.target.Reset(t)

	h.ldap.Load(t, "dn: uid=alice,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: mail\nmail: alice@live.example.com\n")
	select {
	case r := <-runs:
		if r.Trigger != bridge.TriggerLive || r.UsersUpdated != 1 || r.Push == nil {
			t.Fatalf("live run %+v", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no live run (live %+v)", live.Status())
	}
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"PATCH /Users": 1}) {
		t.Fatalf("the target received %v, want one PATCH /Users", got)
	}
	if got := h.state().Users["alice"].Email; got != "alice@live.example.com" {
		t.Fatalf("alice's mail at the target: %q", got)
	}

	h.target.Reset(t)
	time.Sleep(1500 * time.Millisecond)
	if got := h.target.Requests(t); len(got) != 0 {
		t.Fatalf("a quiet live period sent %v", got)
	}
	select {
	case r := <-runs:
		t.Fatalf("a quiet live period recorded run %+v", r)
	default:
	}
}
