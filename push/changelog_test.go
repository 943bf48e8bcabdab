package push_test

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
)

// TestPushTurnedOnAgainReconciles: syncs with push off keep no change log
// (nobody would read it), and the push turned on again compares every user
// and group with the target instead of draining a log with a gap.
func TestPushTurnedOnAgainReconciles(t *testing.T) {
	h := newHarness(t)
	h.sync()
	h.ldap.Load(t, oneModLDIF(slapdtest.LDIF(t, "change-mail.ldif")))
	h.syncPushOff()
	if ch, err := h.db.PushChanges(h.ctx, 0); err != nil || len(ch) != 0 {
		t.Fatalf("change log after a sync with push off: %d entries, %v; want none", len(ch), err)
	}
	h.target.Reset(t)
	rep := h.sync()
	users, groups := baseUsers(), baseGroups()
	users["alice"] = targetUser{Email: "alice.anderson@example.com", Active: true}
	assertState(t, h.state(), users, groups)
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"PATCH /Users": 1}) {
		t.Errorf("push turned on again: writes %v, report %+v; want the one PATCH a full comparison finds", got, rep)
	}
	// From then on the log is kept: one change, one request.
	h.target.Reset(t)
	h.ldap.Load(t, oneModLDIF(slapdtest.LDIF(t, "add-member.ldif")))
	rep = h.sync()
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"PATCH /Groups": 1}) {
		t.Errorf("after one member change: writes %v, report %+v; want one PATCH", got, rep)
	}
}
