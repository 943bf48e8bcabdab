package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// childEnv names the state store a re-executed test binary pushes from; the
// settings document comes in childSettingsEnv.
const (
	childEnv         = "SCIMBRIDGE_PUSH_CHILD_DB"
	childSettingsEnv = "SCIMBRIDGE_PUSH_CHILD_SETTINGS"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(pushChild(path, os.Getenv(childSettingsEnv)))
	}
	os.Exit(m.Run())
}

// pushChild runs one push the way `scimbridge push` does, in its own process.
func pushChild(path, settings string) int {
	ctx := context.Background()
	var s schema.Settings
	if err := json.Unmarshal([]byte(settings), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	if _, err := push.New(db, nil).Run(ctx, &s); err != nil {
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
	doc, _ := json.Marshal(&s)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+h.dbPath, childSettingsEnv+"="+string(doc))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for scimmytest.Counts(h.target.Requests(t))["POST /Users"] < 2 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the child never sent a second POST /Users: %v", h.target.Requests(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
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
