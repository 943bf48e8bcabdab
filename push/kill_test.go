package push_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/childtest"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

func TestMain(m *testing.M) { childtest.Main(m, "push", pushChild) }

// pushChild runs one push the way `scimbridge push` does, in its own process.
func pushChild(ctx context.Context, db *store.DB, s *schema.Settings) int {
	if _, err := push.New(db, nil).Run(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKilledMidPush: the process pushing is killed (SIGKILL) after the target
// created a user but before its answer arrived; the next run adopts that user
// instead of creating a duplicate, and delivers the rest.
func TestKilledMidPush(t *testing.T) {
	h := newHarness(t)
	h.sync()
	h.ldap.Load(t, `dn: uid=kim,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
uid: kim
cn: Kim Kent
sn: Kent

dn: uid=lee,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
uid: lee
cn: Lee Lam
sn: Lam

dn: uid=max,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
uid: max
cn: Max Moe
sn: Moe

dn: cn=design,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=kim,ou=people,dc=example,dc=com
member: uid=lee,ou=people,dc=example,dc=com
member: uid=max,ou=people,dc=example,dc=com
`)
	h.syncOnly()
	h.target.Reset(t)
	// The second user created is processed, but its answer is held back.
	h.target.Fault(t, scimmytest.Fault{Method: "POST", Path: "/Users", Skip: 1, DelayResponseMs: 60000})
	s := *h.settings
	s.Push.Concurrency = 1
	child := childtest.Start(t, "push", h.dbPath, &s)
	deadline := time.Now().Add(20 * time.Second)
	for scimmytest.Counts(h.target.Requests(t))["POST /Users"] < 2 {
		if time.Now().After(deadline) {
			child.Kill()
			t.Fatalf("the child never sent a second POST /Users: %v", h.target.Requests(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.Kill()
	if got := len(h.state().Users); got != 11 {
		t.Fatalf("after the kill the target has %d users, want 9+2", got)
	}

	h.target.Reset(t)
	rep, err := h.client.Run(h.ctx, h.settings)
	if err != nil || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("next run: %+v %v", rep, err)
	}
	users, groups := baseUsers(), baseGroups()
	for _, n := range []string{"kim", "lee", "max"} {
		users[n] = targetUser{Active: true}
	}
	groups["design"] = append(groups["design"], "kim", "lee", "max")
	assertState(t, h.state(), users, groups) // fails on any duplicate
	// Only the user never created is POSTed; the other one is looked up and adopted.
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"POST /Users": 1, "PATCH /Groups": 1}) {
		t.Errorf("next run writes %v", got)
	}
}
