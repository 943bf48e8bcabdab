// More duplicate rules around kept stored users, and a check that a second
// run of the same directory changes nothing (written in review).
package bridge_test

import (
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

// second runs the same directory again and checks it changes nothing.
func (e *env) idempotent(t *testing.T) {
	t.Helper()
	before := e.state(t)
	n := countChanges(t, e.db)
	r := e.mustSucceed(t)
	if c := countsOf(r); c.UsersCreated != 0 || c.UsersUpdated != 0 || c.UsersDeleted != 0 || c.GroupsUpdated != 0 || r.MembershipsChanged != 0 {
		t.Errorf("second run of the same directory: %+v memberships %d", c, r.MembershipsChanged)
	}
	if m := countChanges(t, e.db); m != n {
		t.Errorf("second run wrote %d changes: %v", m-n, changesOf(t, e.db, r.ID))
	}
	after := e.state(t)
	for name, u := range before.users {
		if a, ok := after.users[name]; !ok || a.Version != u.Version {
			t.Errorf("second run changed user %s", name)
		}
	}
}

// README: "the holder keeps it". A stored user whose entry is skipped
// (missing username) is kept unchanged under its username; a new entry read
// later with that username must not be created with it (unique index).
func TestKeptHolderKeepsItsUsername(t *testing.T) {
	e := newEnv(t)
	e.srv.Load(t, person("zz", "uid: pat"))
	e.mustSucceed(t)
	e.srv.Load(t, `dn: cn=zz,ou=people,dc=example,dc=com
changetype: modify
delete: uid
-

`+
		person("yy", "uid: pat"))
	r := e.mustSucceed(t)
	wantSkippedBesideBase(t, r,
		"cn=yy,ou=people,dc=example,dc=com: duplicate username \"pat\": already used by cn=zz,ou=people,dc=example,dc=com",
		"cn=zz,ou=people,dc=example,dc=com: missing username attribute \"uid\"")
	if u := e.state(t).users["pat"]; u.DN != "cn=zz,ou=people,dc=example,dc=com" || r.UsersCreated != 0 || r.KeptUnchanged != 1 {
		t.Errorf("pat = %q, created %d, kept %d; want cn=zz kept as it was, nothing created", u.DN, r.UsersCreated, r.KeptUnchanged)
	}
	e.idempotent(t)
}

// wantSkippedBesideBase checks r skipped exactly want ("DN: reason")
// besides the base fixture's two entries.
func wantSkippedBesideBase(t *testing.T, r *bridge.Report, want ...string) {
	t.Helper()
	var got []string
	for _, s := range r.SkippedEntries {
		if s.DN != "cn=Gina Grey,ou=people,dc=example,dc=com" && s.DN != "cn=No Username,ou=people,dc=example,dc=com" {
			got = append(got, s.DN+": "+s.Reason)
		}
	}
	if !slices.Equal(got, want) || r.Skipped != len(want)+2 {
		t.Errorf("skipped (%d in all)\n got %q\nwant %q", r.Skipped, got, want)
	}
}

// Same, the holder kept because its entry was dropped (lost its new
// username to an entry read later).
func TestDroppedHolderKeepsItsUsername(t *testing.T) {
	e := newEnv(t)
	e.srv.Load(t, person("zz", "uid: pat"))
	e.mustSucceed(t)
	e.srv.Load(t, `dn: cn=zz,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: x
-

`+
		person("aa", "uid: x")+
		person("yy", "uid: pat"))
	r := e.mustSucceed(t)
	// aa's DN sorts before zz's: aa gets x; zz's stored user is kept and
	// keeps pat, so yy does not get it.
	wantSkippedBesideBase(t, r,
		"cn=yy,ou=people,dc=example,dc=com: duplicate username \"pat\": already used by cn=zz,ou=people,dc=example,dc=com",
		"cn=zz,ou=people,dc=example,dc=com: duplicate username \"x\": already used by cn=aa,ou=people,dc=example,dc=com")
	s := e.state(t)
	if s.users["pat"].DN != "cn=zz,ou=people,dc=example,dc=com" || s.users["x"].DN != "cn=aa,ou=people,dc=example,dc=com" {
		t.Errorf("pat = %q, x = %q; want cn=zz and cn=aa", s.users["pat"].DN, s.users["x"].DN)
	}
	e.idempotent(t)
}

// A renamed entry (matched by externalId) skipped at once for a duplicate
// username (the winner was read before it) must keep its stored user, as
// drop does ("protection goes by the stored DN").
func TestRenamedEntrySkippedAtOnceKeepsTheStoredUser(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Attributes.ExternalID = "employeeNumber"
	e.srv.Load(t, person("aa", "uid: alf", "employeeNumber: 7002")+
		person("zz", "uid: pat", "employeeNumber: 7001")+
		`dn: cn=design,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: cn=zz,ou=people,dc=example,dc=com
-

`)
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, `dn: cn=aa,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: eve
-

dn: cn=zz,ou=people,dc=example,dc=com
changetype: modrdn
newrdn: cn=zz2
deleteoldrdn: 1

dn: cn=zz2,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: eve
-
`)
	r := e.mustSucceed(t)
	wantSkippedBesideBase(t, r,
		"cn=zz2,ou=people,dc=example,dc=com: duplicate username \"eve\": already used by cn=aa,ou=people,dc=example,dc=com")
	after := e.state(t)
	if u, ok := after.users["pat"]; !ok || u.ID != before.users["pat"].ID {
		t.Errorf("pat (stored user of skipped cn=zz2, ext 7001) deleted: ok=%v; want kept unchanged", ok)
	}
	if r.UsersDeleted != 0 || r.KeptUnchanged != 1 {
		t.Errorf("deleted %d kept %d, want 0 and 1", r.UsersDeleted, r.KeptUnchanged)
	}
	e.idempotent(t)
}

// The failure of TestKeptHolderKeepsItsUsername repeats on every
// run, and a dry run reports it as fine.
func TestKeptHolderNeverWedgesTheSync(t *testing.T) {
	e := newEnv(t)
	e.srv.Load(t, person("zz", "uid: pat"))
	e.mustSucceed(t)
	e.srv.Load(t, `dn: cn=zz,ou=people,dc=example,dc=com
changetype: modify
delete: uid
-

`+
		person("yy", "uid: pat"))
	if d := e.sync(t, bridge.Options{DryRun: true}); d.Status != bridge.StatusSucceeded || d.UsersCreated != 0 {
		t.Errorf("dry run: %s, created %d; want succeeded, none created (pat keeps its name)", d.Status, d.UsersCreated)
	}
	for i := 0; i < 3; i++ {
		r := e.sync(t, bridge.Options{})
		if r.Status != bridge.StatusSucceeded || r.UsersCreated != 0 {
			t.Errorf("run %d: %s, created %d", i, r.Status, r.UsersCreated)
		}
	}
	e.idempotent(t)
}

// A renamed entry (matched by externalId) whose username is removed is
// skipped (missing username); its stored user must stay.
func TestRenamedEntrySkippedForABadValueKeepsTheStoredUser(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Attributes.ExternalID = "employeeNumber"
	e.srv.Load(t, person("zz", "uid: pat", "employeeNumber: 7001"))
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, `dn: cn=zz,ou=people,dc=example,dc=com
changetype: modrdn
newrdn: cn=zz2
deleteoldrdn: 1

dn: cn=zz2,ou=people,dc=example,dc=com
changetype: modify
delete: uid
-
`)
	r := e.mustSucceed(t)
	after := e.state(t)
	if r.KeptUnchanged != 1 || r.UsersDeleted != 0 || r.Skipped != 3 {
		t.Errorf("kept %d, deleted %d, skipped %d (%+v); want pat kept, nothing deleted", r.KeptUnchanged, r.UsersDeleted, r.Skipped, r.SkippedEntries)
	}
	if u, ok := after.users["pat"]; !ok || u.ID != before.users["pat"].ID || u.Version != before.users["pat"].Version {
		t.Errorf("pat (stored user of skipped cn=zz2, ext 7001) deleted; want kept unchanged")
	}
	e.idempotent(t)
}

// Swap two usernames while a third stored user is kept holding one of them.
func TestUsernameSwapBesideAKeptHolder(t *testing.T) {
	e := newEnv(t)
	e.srv.Load(t, person("aa", "uid: pat")+
		person("bb", "uid: eve")+
		person("cc", "uid: bob"))
	e.mustSucceed(t)
	// aa -> eve, bb -> bob, cc loses uid (kept with bob), new dd takes pat
	e.srv.Load(t, `dn: cn=aa,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: eve
-

`+
		`dn: cn=bb,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: bob
-

`+
		`dn: cn=cc,ou=people,dc=example,dc=com
changetype: modify
delete: uid
-

`+
		person("dd", "uid: pat"))
	// cc is kept, so it keeps bob; bb, which wanted bob, is kept with eve;
	// aa, which wanted eve, is kept with pat; dd does not get pat.
	r := e.mustSucceed(t)
	after := e.state(t)
	if c := countsOf(r); c.UsersCreated != 0 || c.UsersUpdated != 0 || c.UsersDeleted != 0 || r.KeptUnchanged != 3 {
		t.Errorf("counts %+v, kept %d; want nothing written and three kept", c, r.KeptUnchanged)
	}
	for name, dn := range map[string]string{"pat": "cn=aa,ou=people,dc=example,dc=com",
		"eve": "cn=bb,ou=people,dc=example,dc=com", "bob": "cn=cc,ou=people,dc=example,dc=com"} {
		if got := after.users[name].DN; got != dn {
			t.Errorf("%s is %q, want %q", name, got, dn)
		}
	}
	for _, w := range []bridge.SkippedEntry{
		{DN: "cn=cc,ou=people,dc=example,dc=com", Reason: `missing username attribute "uid"`},
		{DN: "cn=bb,ou=people,dc=example,dc=com", Reason: `duplicate username "bob": already used by cn=cc,ou=people,dc=example,dc=com`},
		{DN: "cn=aa,ou=people,dc=example,dc=com", Reason: `duplicate username "eve": already used by cn=bb,ou=people,dc=example,dc=com`},
		{DN: "cn=dd,ou=people,dc=example,dc=com", Reason: `duplicate username "pat": already used by cn=aa,ou=people,dc=example,dc=com`},
	} {
		if !slices.Contains(r.SkippedEntries, w) {
			t.Errorf("skipped %+v, want it to hold %+v", r.SkippedEntries, w)
		}
	}
	e.idempotent(t)
}

func TestMemberUIDSwapBesideAKeptHolder(t *testing.T) {
	e := newUIDEnv(t)
	e.srv.Load(t, person("aa", "objectClass: adLiteUser", "uid: pa", "sAMAccountName: aname")+
		person("bb", "objectClass: adLiteUser", "uid: pb", "sAMAccountName: bname")+
		person("cc", "objectClass: adLiteUser", "uid: pc", "sAMAccountName: cname")+
		`dn: cn=developers,ou=posix,dc=example,dc=com
changetype: modify
add: memberUid
memberUid: pa
memberUid: pb
memberUid: pc
memberUid: pn
-

`)
	e.mustSucceed(t)
	e.srv.Load(t, `dn: cn=aa,ou=people,dc=example,dc=com
changetype: modify
replace: sAMAccountName
sAMAccountName: bname
-
replace: uid
uid: pb
-

`+
		`dn: cn=bb,ou=people,dc=example,dc=com
changetype: modify
replace: sAMAccountName
sAMAccountName: cname
-
replace: uid
uid: pa
-

`+
		`dn: cn=cc,ou=people,dc=example,dc=com
changetype: modify
delete: sAMAccountName
-

`+
		person("dd", "objectClass: adLiteUser", "uid: pb", "sAMAccountName: aname")+
		person("ee", "objectClass: adLiteUser", "uid: pn", "sAMAccountName: cname"))
	r := e.mustSucceed(t)
	after := e.state(t)
	wantSkippedBesideBase(t, r,
		`cn=aa,ou=people,dc=example,dc=com: duplicate username "bname": already used by cn=bb,ou=people,dc=example,dc=com`,
		`cn=bb,ou=people,dc=example,dc=com: duplicate username "cname": already used by cn=cc,ou=people,dc=example,dc=com`,
		`cn=cc,ou=people,dc=example,dc=com: missing username attribute "sAMAccountName"`,
		`cn=dd,ou=people,dc=example,dc=com: duplicate member key "pb": already used by cn=aa,ou=people,dc=example,dc=com`,
		`cn=ee,ou=people,dc=example,dc=com: duplicate username "cname": already used by cn=bb,ou=people,dc=example,dc=com`)
	if c := countsOf(r); c.UsersCreated+c.UsersUpdated+c.UsersDeleted != 0 || r.KeptUnchanged != 3 {
		t.Errorf("counts %+v kept %d; want nothing written and three kept", c, r.KeptUnchanged)
	}
	if got, want := after.groupMembers["developers"], []string{"User:aanderson", "User:aname", "User:bbrown", "User:bname", "User:cname", "User:zagren"}; !slices.Equal(got, want) {
		t.Errorf("developers = %v, want %v", got, want)
	}
	e.idempotent(t)
	e.srv.Load(t, `dn: cn=cc,ou=people,dc=example,dc=com
changetype: delete
`)
	r = e.mustSucceed(t)
	wantSkippedBesideBase(t, r,
		`cn=dd,ou=people,dc=example,dc=com: duplicate member key "pb": already used by cn=aa,ou=people,dc=example,dc=com`,
		`cn=ee,ou=people,dc=example,dc=com: duplicate username "cname": already used by cn=bb,ou=people,dc=example,dc=com`)
	if c := countsOf(r); c.UsersUpdated != 2 || c.UsersDeleted != 1 || r.KeptUnchanged != 0 {
		t.Errorf("after deleting cn=cc: counts %+v kept %d; want aa and bb updated, cc deleted", c, r.KeptUnchanged)
	}
	e.idempotent(t)
}
