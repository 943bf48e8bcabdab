package push_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/push"
)

// TestDeltaPushEndToEnd: the initial sync creates everything; each following
// change in LDAP sends only the requests it needs, and the target ends equal
// to the directory.
func TestDeltaPushEndToEnd(t *testing.T) {
	h := newHarness(t)
	rep := h.sync()
	users, groups := baseUsers(), baseGroups()
	assertState(t, h.state(), users, groups)
	if rep.Created != len(users)+len(groups) || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("initial push report %+v, want %d created", rep, len(users)+len(groups))
	}
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"POST /Users": 9, "POST /Groups": 8}) {
		t.Errorf("initial writes %v", got)
	}

	steps := []struct {
		name   string
		ldif   string
		writes map[string]int
		gets   int // lookups before creating
		apply  func()
	}{
		{"add a user to a group", slapdtest.LDIF(t, "add-member.ldif"),
			map[string]int{"PATCH /Groups": 1}, 0,
			func() { groups["design"] = append(groups["design"], "ivan") }},
		{"add a user", `dn: uid=nina,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
uid: nina
cn: Nina Novak
sn: Novak
mail: nina@example.com

dn: cn=sre,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=nina,ou=people,dc=example,dc=com
-
`, map[string]int{"POST /Users": 1, "PATCH /Groups": 4}, 1, func() {
			users["nina"] = targetUser{Email: "nina@example.com", Active: true}
			for _, g := range []string{"sre", "platform", "backend", "engineers"} {
				groups[g] = append(groups[g], "nina")
			}
		}},
		{"change a mail", slapdtest.LDIF(t, "change-mail.ldif"),
			map[string]int{"PATCH /Users": 1}, 0,
			func() { users["alice"] = targetUser{Email: "alice.anderson@example.com", Active: true} }},
		{"move a user between nested groups", `dn: cn=sre,ou=groups,dc=example,dc=com
changetype: modify
delete: member
member: uid=dave,ou=people,dc=example,dc=com
-

dn: cn=backend,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=dave,ou=people,dc=example,dc=com
-
`, map[string]int{"PATCH /Groups": 2}, 0, func() {
			groups["sre"] = []string{"nina"}
			groups["platform"] = []string{"carol", "nina", "zoe"}
		}},
		{"rename a user and a group", slapdtest.LDIF(t, "rename.ldif"),
			map[string]int{"PATCH /Users": 1, "PATCH /Groups": 1}, 0, func() {
				users["robert"] = users["bob"]
				delete(users, "bob")
				groups["site-reliability"] = groups["sre"]
				delete(groups, "sre")
				for g, ms := range groups {
					for i, m := range ms {
						if m == "bob" {
							ms[i] = "robert"
						}
					}
					groups[g] = ms
				}
			}},
		{"delete a user", slapdtest.LDIF(t, "delete.ldif"),
			map[string]int{"PATCH /Groups": 1, "DELETE /Users": 1}, 0, func() {
				delete(users, "frank")
				groups["design"] = []string{"gina", "ivan", "zoe"}
			}},
	}
	for _, s := range steps {
		h.target.Reset(t)
		h.ldap.Load(t, oneModLDIF(s.ldif))
		rep := h.sync()
		s.apply()
		reqs := h.target.Requests(t)
		if got := writes(reqs); !mapsEqual(got, s.writes) {
			t.Errorf("%s: writes %v, want %v", s.name, got, s.writes)
		}
		if got := scimmytest.Counts(reqs)["GET /Users"] + scimmytest.Counts(reqs)["GET /Groups"]; got != s.gets {
			t.Errorf("%s: %d lookups, want %d", s.name, got, s.gets)
		}
		if rep.Failed != 0 || rep.Pending != 0 || rep.Error != "" {
			t.Errorf("%s: report %+v", s.name, rep)
		}
		t.Logf("%s: %+v %v", s.name, rep, scimmytest.Counts(reqs))
		assertState(t, h.state(), users, groups)
	}
}

const analyticsLDIF = `dn: cn=analytics,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: analytics
member: uid=erin,ou=people,dc=example,dc=com
member: cn=platform,ou=groups,dc=example,dc=com
`

// TestScopeGroups: only analytics' transitive members and the groups nested
// in it reach the target; a user who leaves analytics is deprovisioned there.
func TestScopeGroups(t *testing.T) {
	h := newHarness(t, slapdtest.WithLDIF(analyticsLDIF))
	h.settings.Push.ScopeGroups = []string{"Analytics"}
	h.sync()
	u := func(mail string) targetUser { return targetUser{Email: mail, Active: true} }
	users := map[string]targetUser{"carol": u("carol@example.com"), "dave": u("dave@example.com"),
		"erin": u("erin@example.com"), "zoe": u("zoe@example.com")}
	groups := map[string][]string{"analytics": {"carol", "dave", "erin", "zoe"}, "platform": {"carol", "dave", "zoe"}, "sre": {"dave"}}
	assertState(t, h.state(), users, groups)

	h.target.Reset(t)
	h.ldap.Load(t, `dn: cn=platform,ou=groups,dc=example,dc=com
changetype: modify
delete: member
member: uid=carol,ou=people,dc=example,dc=com
`)
	rep := h.sync()
	delete(users, "carol")
	groups["analytics"] = []string{"dave", "erin", "zoe"}
	groups["platform"] = []string{"dave", "zoe"}
	assertState(t, h.state(), users, groups)
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"PATCH /Groups": 2, "DELETE /Users": 1}) {
		t.Errorf("leaving the scope: writes %v", got)
	}
	if rep.Deleted != 1 || rep.Failed != 0 {
		t.Errorf("report %+v", rep)
	}

	// Moving sre under analytics' direct members changes nothing in scope;
	// nesting design into analytics brings its users and the group in.
	h.target.Reset(t)
	h.ldap.Load(t, `dn: cn=analytics,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: cn=design,ou=groups,dc=example,dc=com
`)
	h.sync()
	users["frank"], users["gina"] = u(""), u("gina.green@example.com")
	groups["design"] = []string{"frank", "gina", "zoe"}
	groups["analytics"] = []string{"dave", "erin", "frank", "gina", "zoe"}
	assertState(t, h.state(), users, groups)
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"POST /Users": 2, "POST /Groups": 1, "PATCH /Groups": 1}) {
		t.Errorf("entering the scope: writes %v", got)
	}
}

// TestServerErrorIsRetried: a 500 is retried and nothing is lost.
func TestServerErrorIsRetried(t *testing.T) {
	h := newHarness(t)
	h.target.Fault(t, scimmytest.Fault{Method: "POST", Path: "/Users", Status: 500, Times: 1})
	rep := h.sync()
	assertState(t, h.state(), baseUsers(), baseGroups())
	statuses := map[int]int{}
	for _, r := range h.target.Requests(t) {
		if r.Method == "POST" && r.Path == "/Users" {
			statuses[r.Status]++
		}
	}
	if !mapsEqual(map[string]int{"500": statuses[500], "201": statuses[201]}, map[string]int{"500": 1, "201": 9}) {
		t.Errorf("POST /Users statuses %v", statuses)
	}
	if rep.Failed != 0 || rep.Created != 17 {
		t.Errorf("report %+v", rep)
	}
}

// TestTooManyRequestsHonoursRetryAfter: a 429 with Retry-After: 1 is waited out.
func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	h := newHarness(t)
	one := 1
	h.target.Fault(t, scimmytest.Fault{Method: "POST", Path: "/Groups", Status: 429, RetryAfter: &one, Times: 1})
	h.settings.Push.Concurrency = 1
	start := time.Now()
	rep := h.sync()
	if d := time.Since(start); d < time.Second {
		t.Errorf("the run took %v, less than the Retry-After of 1s", d)
	}
	assertState(t, h.state(), baseUsers(), baseGroups())
	if rep.Failed != 0 {
		t.Errorf("report %+v", rep)
	}
}

// TestTargetDownForAWholeRun: nothing is marked delivered or lost, and the
// next run delivers.
func TestTargetDownForAWholeRun(t *testing.T) {
	h := newHarness(t)
	h.client.Attempts = 2
	h.sync()
	h.target.Fault(t, scimmytest.Fault{Reset: true})
	h.ldap.Load(t, oneModLDIF(slapdtest.LDIF(t, "change-mail.ldif")))
	rep := h.sync()
	if rep.Error == "" || rep.Pending != 1 {
		t.Fatalf("report of a run against a down target %+v, want an error and 1 pending", rep)
	}
	st, err := h.client.Status(h.ctx)
	if err != nil || st.PendingChanges != 1 {
		t.Fatalf("status %+v %v, want 1 pending change", st, err)
	}
	h.target.Reset(t)
	rep2, err := h.client.Run(h.ctx, h.settings)
	if err != nil {
		t.Fatal(err)
	}
	users := baseUsers()
	users["alice"] = targetUser{Email: "alice.anderson@example.com", Active: true}
	assertState(t, h.state(), users, baseGroups())
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"PATCH /Users": 1}) || rep2.Pending != 0 {
		t.Errorf("next run: writes %v, report %+v", got, rep2)
	}
}

// TestBadRequestForOneUser: the others are delivered, the one is reported
// and retried on the next run.
func TestBadRequestForOneUser(t *testing.T) {
	h := newHarness(t)
	h.target.Fault(t, scimmytest.Fault{Method: "POST", Path: "/Users", UserName: "carol", Status: 400, ScimType: "invalidValue", Detail: "carol is not welcome"})
	rep := h.sync()
	if rep.Failed != 1 || len(rep.Failures) != 1 || rep.Failures[0].Name != "carol" || rep.Failures[0].Status != 400 ||
		!strings.Contains(rep.Failures[0].Error, "carol is not welcome") || rep.Pending != 1 {
		t.Fatalf("report %+v", rep)
	}
	users, groups := baseUsers(), baseGroups()
	delete(users, "carol")
	without := map[string][]string{}
	for g, ms := range groups {
		without[g] = slices.DeleteFunc(slices.Clone(ms), func(m string) bool { return m == "carol" })
	}
	assertState(t, h.state(), users, without)
	st, err := h.client.Status(h.ctx)
	if err != nil || len(st.Items) != 1 || st.Items[0].Name != "carol" || st.Items[0].Status != "failed" || st.Items[0].Attempts != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if n, err := h.client.Counts(h.ctx); err != nil || n != (push.Counts{Failed: 1}) {
		t.Errorf("counts %+v %v, want 1 failed", n, err)
	}

	h.target.Reset(t)
	rep2, err := h.client.Run(h.ctx, h.settings)
	if err != nil || rep2.Failed != 0 || rep2.Pending != 0 {
		t.Fatalf("retry: %+v %v", rep2, err)
	}
	assertState(t, h.state(), baseUsers(), baseGroups())
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"POST /Users": 1, "PATCH /Groups": 3}) {
		t.Errorf("retry writes %v", got)
	}
}

// TestDryRunSendsNothing: the requests are printed, none is sent, nothing changes.
func TestDryRunSendsNothing(t *testing.T) {
	h := newHarness(t)
	h.sync()
	aliceID := h.remoteID("Users", "userName", "alice")
	h.ldap.Load(t, oneModLDIF(slapdtest.LDIF(t, "change-mail.ldif")))
	h.syncOnly()
	h.target.Reset(t)
	var out strings.Builder
	rep, err := h.client.DryRun(h.ctx, h.settings, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := `PATCH /Users/` + aliceID + ` {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails","value":[{"value":"alice.anderson@example.com","type":"work","primary":true}]}]}` + "\n"
	if out.String() != want {
		t.Errorf("dry run printed\n%s\nwant\n%s", out.String(), want)
	}
	if n := len(h.target.Requests(t)); n != 0 || rep.Sent != 1 || !rep.DryRun {
		t.Errorf("dry run sent %d requests, report %+v", n, rep)
	}
	if strings.Contains(out.String(), h.target.Token) {
		t.Error("dry run printed the token")
	}
	if st, _ := h.client.Status(h.ctx); st.PendingChanges != 1 {
		t.Errorf("after a dry run %d changes pending, want 1", st.PendingChanges)
	}
}

// TestReconcileRepairsDrift: users and groups deleted or changed by hand are
// restored; a user created by hand for a stored user is adopted; resources
// the store does not know are left alone.
func TestReconcileRepairsDrift(t *testing.T) {
	h := newHarness(t)
	h.sync()
	h.scim("DELETE", "/Users/"+h.remoteID("Users", "userName", "dave"), nil)
	h.scim("PATCH", "/Users/"+h.remoteID("Users", "userName", "erin"), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "emails", "value": []map[string]any{{"value": "hacked@example.com", "primary": true}}}}})
	h.scim("DELETE", "/Groups/"+h.remoteID("Groups", "displayName", "design"), nil)
	h.scim("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "stranger", "active": true})
	// ivan is new in LDAP and already created by hand at the target.
	h.scim("DELETE", "/Users/"+h.remoteID("Users", "userName", "ivan"), nil)
	h.scim("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ivan", "active": true})
	h.target.Reset(t)

	rep, err := h.client.Reconcile(h.ctx, h.settings)
	if err != nil || rep.Failed != 0 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	users := baseUsers()
	users["stranger"] = targetUser{Active: true}
	assertState(t, h.state(), users, baseGroups())
	want := map[string]int{"POST /Users": 1, "PATCH /Users": 2, "POST /Groups": 1, "PATCH /Groups": 4} // dave back in his 4 groups
	if got := writes(h.target.Requests(t)); !mapsEqual(got, want) {
		t.Errorf("reconcile writes %v, want %v", got, want)
	}
	// A second reconcile finds nothing to repair.
	h.target.Reset(t)
	if _, err := h.client.Reconcile(h.ctx, h.settings); err != nil {
		t.Fatal(err)
	}
	if got := writes(h.target.Requests(t)); len(got) != 0 {
		t.Errorf("second reconcile writes %v", got)
	}
}

// TestNestedGroupMembers: with groupMembers "nested" each group gets its
// direct users and its nested groups as type Group members, cycles included.
func TestNestedGroupMembers(t *testing.T) {
	h := newHarness(t)
	h.settings.Push.GroupMembers = "nested"
	h.sync()
	assertState(t, h.state(), baseUsers(), map[string][]string{
		"engineers": {"alice", "group:backend"},
		"backend":   {"bob", "group:platform"},
		"platform":  {"carol", "group:sre", "zoe"},
		"sre":       {"dave"},
		"cycle-a":   {"erin", "group:cycle-b"},
		"cycle-b":   {"group:cycle-a"},
		"design":    {"frank", "gina", "zoe"},
		"ghosts":    {},
	})
	for _, r := range h.target.Requests(t) {
		if r.Path == "/Groups" && r.Method == "POST" {
			ms, _ := r.Body["members"].([]any)
			for _, m := range ms {
				if mm := m.(map[string]any); mm["type"] != "User" && mm["type"] != "Group" {
					t.Errorf("member without a type: %v", mm)
				}
			}
		}
	}
}
