package push_test

import (
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/internal/iometetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/schema"
)

// TestIOMETEProfile pushes to a target with IOMETE's semantics: ids are
// names, users are PUT (never PATCHed), groups get their complete member
// list, lists always carry startIndex=1 and count, and the token travels in
// the configured header.
func TestIOMETEProfile(t *testing.T) {
	h := newChain(t)
	fake := iometetest.Start("X-API-Token", "iomete-secret")
	t.Cleanup(fake.Close)
	h.settings.Push.URL, h.settings.Push.Token = fake.URL, "iomete-secret"
	h.settings.Push.AuthHeader = "X-API-Token"
	h.settings.Push.Profile = schema.ProfileIOMETE
	h.settings.Push.Deprovision = schema.DeprovisionOff // means delete at IOMETE

	state := func() (map[string]string, map[string][]string) {
		users := map[string]string{}
		for n, u := range fake.Users() {
			users[n] = u.Email
		}
		return users, fake.Groups()
	}
	wantUsers := map[string]string{}
	for n, u := range baseUsers() {
		wantUsers[n] = u.Email
	}
	wantGroups := baseGroups()
	check := func(step string) {
		t.Helper()
		users, groups := state()
		for _, ms := range wantGroups {
			sort.Strings(ms)
		}
		if !mapsEqual(users, wantUsers) || !mapsEqual(groups, wantGroups) {
			t.Errorf("%s: target\n users %v\ngroups %v\nwant\n users %v\ngroups %v", step, users, groups, wantUsers, wantGroups)
		}
		for _, r := range fake.Requests() {
			if r.Status == 401 {
				t.Errorf("%s: %s %s unauthorized", step, r.Method, r.Path)
			}
			if r.Method == "GET" && (r.Query["startIndex"] != "1" || r.Query["count"] == "") {
				t.Errorf("%s: list without startIndex=1 and count: %s %v", step, r.Path, r.Query)
			}
			if r.Method == "PATCH" {
				t.Errorf("%s: PATCH %s sent to IOMETE", step, r.Path)
			}
		}
	}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, r := range fake.Requests() {
			out[r.Method+" "+r.Path]++
		}
		fake.Reset()
		return out
	}

	h.sync()
	check("initial")
	if c := counts(); c["POST /Users"] != 9 || c["POST /Groups"] != 8 {
		t.Errorf("initial requests %v", c)
	}

	h.ldap.Load(t, oneModLDIF(slapdtest.LDIF(t, "change-mail.ldif")))
	h.sync()
	wantUsers["alice"] = "alice.anderson@example.com"
	check("change a mail")
	if c := counts(); !mapsEqual(c, map[string]int{"PUT /Users/alice": 1}) {
		t.Errorf("change a mail: requests %v", c)
	}

	// A rename at a target whose ids are names: the old user and group go,
	// new ones come, and the groups that listed bob get their full list.
	h.ldap.Load(t, oneModLDIF(slapdtest.LDIF(t, "rename.ldif")))
	h.sync()
	wantUsers["robert"] = wantUsers["bob"]
	delete(wantUsers, "bob")
	wantGroups["site-reliability"] = wantGroups["sre"]
	delete(wantGroups, "sre")
	for _, g := range []string{"engineers", "backend"} {
		for i, m := range wantGroups[g] {
			if m == "bob" {
				wantGroups[g][i] = "robert"
			}
		}
	}
	check("rename")
	want := map[string]int{"DELETE /Users/bob": 1, "GET /Users": 1, "POST /Users": 1,
		"PUT /Groups/engineers": 1, "PUT /Groups/backend": 1,
		"DELETE /Groups/sre": 1, "GET /Groups": 1, "POST /Groups": 1}
	if c := counts(); !mapsEqual(c, want) {
		t.Errorf("rename: requests\n %v\nwant %v", c, want)
	}

	// deprovision "deactivate" deletes at IOMETE (PUT active:false would too).
	h.ldap.Load(t, slapdtest.LDIF(t, "delete.ldif"))
	h.sync()
	delete(wantUsers, "frank")
	wantGroups["design"] = []string{"gina", "zoe"}
	check("delete")
	if c := counts(); !mapsEqual(c, map[string]int{"PUT /Groups/design": 1, "DELETE /Users/frank": 1}) {
		t.Errorf("delete: requests %v", c)
	}
}
