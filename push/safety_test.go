package push_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// recreateZoe deletes zoe and adds her again at the same DN (a new
// entryUUID, so a new store id); memberof-refint drops her from platform and
// design on delete, so she is put back there.
const recreateZoe = `dn: uid=zoe,ou=people,dc=example,dc=com
changetype: delete

dn: uid=zoe,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: adLiteUser
uid: zoe
sAMAccountName: zagren
cn:: Wm/DqyDDhWdyZW4=
givenName:: Wm/Dqw==
sn:: w4VncmVu
displayName:: Wm/DqyDDhWdyZW4=
mail: zoe@example.com

dn: cn=platform,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=zoe,ou=people,dc=example,dc=com

dn: cn=design,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=zoe,ou=people,dc=example,dc=com
`

// recreateSRE deletes group sre and adds it again (new entryUUID) with its
// member dave, nested in platform as before.
const recreateSRE = `dn: cn=sre,ou=groups,dc=example,dc=com
changetype: delete

dn: cn=sre,ou=groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: sre
member: uid=dave,ou=people,dc=example,dc=com

dn: cn=platform,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: cn=sre,ou=groups,dc=example,dc=com
`

// TestRecreatedEntryKeepsItsRemoteResource: an entry deleted and added again
// under the same name between two syncs gets a new store id; the push adopts
// the target's resource for the new id and never deletes it for the old one.
func TestRecreatedEntryKeepsItsRemoteResource(t *testing.T) {
	for _, c := range []struct {
		name   string
		ldif   string
		kind   string // "Users" or "Groups"
		attr   string
		value  string
		writes map[string]int // the new entryUUID is the new externalId
		stored int            // store ids of that name before and after
	}{
		{"user", recreateZoe, "Users", "userName", "zoe", map[string]int{"PATCH /Users": 1}, 1},
		{"group", recreateSRE, "Groups", "displayName", "sre", map[string]int{"PATCH /Groups": 1}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.sync()
			before := h.remoteID(c.kind, c.attr, c.value)
			oldStates, err := h.db.ListPushStates(h.ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			h.target.Reset(t)
			h.ldap.Load(t, c.ldif)
			rep := h.sync()

			assertState(t, h.state(), baseUsers(), baseGroups())
			if got := writes(h.target.Requests(t)); !mapsEqual(got, c.writes) {
				t.Errorf("writes %v, want %v", got, c.writes)
			}
			if after := h.remoteID(c.kind, c.attr, c.value); after != before {
				t.Errorf("%s %q is %s at the target, was %s", c.kind, c.value, after, before)
			}
			if rep.Deleted != 0 || rep.Created != 0 || rep.Updated != 1 || rep.Failed != 0 || rep.Pending != 0 || rep.Error != "" {
				t.Errorf("report %+v, want 1 updated and nothing else", rep)
			}
			// The bookkeeping names the new store id for the remote id, once.
			states, err := h.db.ListPushStates(h.ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(states) != len(oldStates) {
				t.Errorf("%d push states, want %d", len(states), len(oldStates))
			}
			holders := 0
			for _, s := range states {
				if s.RemoteID == before {
					holders++
					if s.Status != store.PushDelivered || s.Name != c.value {
						t.Errorf("push state of %s: %+v", c.value, s)
					}
					for _, o := range oldStates {
						if o.RemoteID == before && o.ResourceID == s.ResourceID {
							t.Errorf("the remote id is still held by the old store id %s", o.ResourceID)
						}
					}
				}
			}
			if holders != c.stored {
				t.Errorf("%d push states hold %s, want %d", holders, before, c.stored)
			}

			// A full reconcile afterwards agrees: nothing to repair.
			h.target.Reset(t)
			if rep, err := h.client.Reconcile(h.ctx, h.settings); err != nil || rep.Deleted != 0 || rep.Failed != 0 {
				t.Fatalf("reconcile: %+v %v", rep, err)
			}
			if got := writes(h.target.Requests(t)); len(got) != 0 {
				t.Errorf("reconcile writes %v", got)
			}
			assertState(t, h.state(), baseUsers(), baseGroups())
		})
	}
}

// TestClearThenFullPushKeepsTarget: "Remove imported users and groups"
// without deprovisioning, then a sync with a full push: the new store ids
// adopt the target's users and groups by name and nothing is deleted.
func TestClearThenFullPushKeepsTarget(t *testing.T) {
	h := newHarness(t)
	h.sync()
	if err := h.db.Clear(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.target.Reset(t)
	rep := h.syncWith(bridge.Options{FullPush: true})
	assertState(t, h.state(), baseUsers(), baseGroups())
	if got := writes(h.target.Requests(t)); len(got) != 0 {
		t.Errorf("writes %v, want none", got)
	}
	if rep.Deleted != 0 || rep.Created != 0 || rep.Failed != 0 || rep.Pending != 0 || rep.Error != "" || !rep.Reconcile {
		t.Errorf("report %+v", rep)
	}
	states, err := h.db.ListPushStates(h.ctx, "", store.PushDelivered)
	if err != nil || len(states) != 17 {
		t.Fatalf("%d delivered push states (%v), want 17", len(states), err)
	}
}

// TestUnknownScopeGroupFailsThePush: a push.scopeGroups name that no synced
// group has stops the push before it sends anything, instead of taking every
// user out of scope.
func TestUnknownScopeGroupFailsThePush(t *testing.T) {
	h := newHarness(t)
	h.sync()
	for _, scope := range [][]string{{"engineerz"}, {"Engineers", " engineerz "}} {
		h.target.Reset(t)
		h.settings.Push.ScopeGroups = scope
		rep := h.sync()
		if want := `push.scopeGroups: no synced group is named "engineerz"`; rep.Error != want {
			t.Errorf("scope %q: push error %q, want %q", scope, rep.Error, want)
		}
		if reqs := h.target.Requests(t); len(reqs) != 0 {
			t.Errorf("scope %q: %d requests sent: %v", scope, len(reqs), reqs)
		}
		if _, err := h.client.Reconcile(h.ctx, h.settings); err == nil || !strings.Contains(err.Error(), `"engineerz"`) {
			t.Errorf("scope %q: reconcile error %v", scope, err)
		}
		assertState(t, h.state(), baseUsers(), baseGroups())
	}
	st, err := h.client.Status(h.ctx)
	if err != nil || len(st.Items) != 0 {
		t.Fatalf("status %+v %v", st, err)
	}
}

// TestRedirectIsNotFollowed: a redirect is reported as the answer it is and
// not followed, so the token in a custom auth header never reaches the host
// redirected to.
func TestRedirectIsNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var seen []string // X-API-Token values the second host received
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-API-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/scim+json")
		w.Write([]byte(`{"patch":{"supported":true}}`))
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer first.Close()

	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := push.New(db, nil)
	s := &schema.Settings{Push: schema.Push{Enabled: true, URL: first.URL + "/scim/v2", Token: "s3cret-token", AuthHeader: "X-API-Token"}}
	_, err = c.Run(ctx, s)
	if err == nil || !strings.Contains(err.Error(), "GET /ServiceProviderConfig: HTTP 307") {
		t.Errorf("run error %v, want the 307 reported", err)
	}
	if res := c.TestPush(ctx, s); res.OK || !strings.Contains(res.Message, "HTTP 307") {
		t.Errorf("test push %+v, want the 307 reported", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("the redirect was followed %d times, tokens seen there: %q", len(seen), seen)
	}
}

// TestDeliveredPushPrunesTheChangeLog: once a push moved the cursor, the
// change log keeps no entry at or before it.
func TestDeliveredPushPrunesTheChangeLog(t *testing.T) {
	h := newHarness(t)
	for i, ldif := range []string{"", recreateZoe} {
		if ldif != "" {
			h.ldap.Load(t, ldif)
		}
		if rep := h.sync(); rep.Pending != 0 || rep.Error != "" {
			t.Fatalf("push %d: %+v", i, rep)
		}
		cursor, err := h.db.PushCursor(h.ctx)
		if err != nil || cursor == 0 {
			t.Fatalf("push %d: cursor %d %v", i, cursor, err)
		}
		var atOrBefore, after int
		if err := h.db.SQL().QueryRow("SELECT count(*) FILTER (WHERE seq <= ?), count(*) FILTER (WHERE seq > ?) FROM changes",
			cursor, cursor).Scan(&atOrBefore, &after); err != nil {
			t.Fatal(err)
		}
		if atOrBefore != 0 || after != 0 {
			t.Errorf("push %d: change log holds %d entries up to the cursor %d and %d after, want none", i, atOrBefore, cursor, after)
		}
	}
}

// TestAdoptionRefusesARemoteHeldByAStoredUser: a lookup that finds a remote
// user whose push state belongs to another stored user does not share it
// between the two; the user is reported failed and nothing is written.
func TestAdoptionRefusesARemoteHeldByAStoredUser(t *testing.T) {
	h := newHarness(t)
	h.sync()
	states, err := h.db.ListPushStates(h.ctx, bridge.MemberUser)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*store.PushState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	zoe, bob := byName["zoe"], byName["bob"]
	// Broken bookkeeping: bob's state names zoe's remote user, zoe has none.
	bob.RemoteID = zoe.RemoteID
	if err := h.db.SavePushState(h.ctx, bob); err != nil {
		t.Fatal(err)
	}
	if err := h.db.DeletePushState(h.ctx, bridge.MemberUser, zoe.ResourceID); err != nil {
		t.Fatal(err)
	}
	h.target.Reset(t)
	h.ldap.Load(t, `dn: uid=zoe,ou=people,dc=example,dc=com
changetype: modify
replace: mail
mail: zoe.agren@example.com
`)
	rep := h.sync()
	want := "adopt the target's user \"zoe\" (id " + zoe.RemoteID + ") for " + zoe.ResourceID +
		": it is already pushed for the stored user " + bob.ResourceID
	if rep.Failed != 1 || len(rep.Failures) != 1 || rep.Failures[0].Name != "zoe" || rep.Failures[0].Error != want {
		t.Fatalf("report %+v, want zoe failed with %q", rep, want)
	}
	if got := writes(h.target.Requests(t)); len(got) != 0 {
		t.Errorf("writes %v, want none", got)
	}
	assertState(t, h.state(), baseUsers(), baseGroups())
	got, err := h.db.PushStates(h.ctx, bridge.MemberUser, []string{zoe.ResourceID})
	if err != nil || got[zoe.ResourceID] == nil || got[zoe.ResourceID].RemoteID != "" || got[zoe.ResourceID].Status != store.PushFailed {
		t.Fatalf("zoe's push state %+v %v, want failed without a remote id", got[zoe.ResourceID], err)
	}
}
