// Tests of the duplicate rules around entries that lose their username to an
// entry read later (written in review of the streamed sync).
package bridge_test

import (
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
)

// README: "a duplicate externalId or DN (the entry read first keeps it)".
// Read order zz(7001,pat), mm(7001,eve: waits), aa(7002,pat: drops zz),
// nn(7001,nina). mm was read before nn and should keep 7001.
func TestExternalIDWaitsBehindTheEntryReadFirst(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Attributes.ExternalID = "employeeNumber"
	e.srv.Load(t, person("zz", "uid: pat", "employeeNumber: 7001")+
		person("mm", "uid: eve", "employeeNumber: 7001")+
		person("aa", "uid: pat", "employeeNumber: 7002")+
		person("nn", "uid: nina", "employeeNumber: 7001"))
	r := e.mustSucceed(t)
	s := e.state(t)
	t.Logf("skipped: %+v", r.SkippedEntries)
	if u, ok := s.users["eve"]; !ok || u.ExternalID != "7001" {
		t.Errorf("eve (cn=mm, read before cn=nn) not synced with 7001: %+v ok=%v", u.User, ok)
	}
	if _, ok := s.users["nina"]; ok {
		t.Errorf("nina (cn=nn, read after cn=mm) synced with 7001")
	}
	e.idempotent(t)
}

// memberUid mode: an entry whose member key another entry claimed is taken
// in at once (in no group by that key), so an entry read after it with the
// same externalId is the duplicate and the stored user stays its.
func TestSharedMemberKeyKeepsTheStoredUser(t *testing.T) {
	e := newUIDEnv(t)
	e.set.Users.Attributes.ExternalID = "employeeNumber"
	e.srv.Load(t, person("a1", "objectClass: adLiteUser", "uid: pat", "sAMAccountName: a1", "employeeNumber: 8001")+
		person("w", "objectClass: adLiteUser", "uid: pat", "sAMAccountName: wuser", "employeeNumber: 8002")+
		addMemberUID("developers", "pat"))
	e.mustSucceed(t)
	before := e.state(t)
	if u, ok := before.users["wuser"]; !ok || u.DN != "cn=w,ou=people,dc=example,dc=com" {
		t.Fatalf("first sync: wuser = %+v ok=%v", u.User, ok)
	}
	// An entry with w's externalId appears (added after w: read after it).
	e.srv.Load(t, person("v", "objectClass: adLiteUser", "uid: vv", "sAMAccountName: vuser", "employeeNumber: 8002"))
	r := e.mustSucceed(t)
	after := e.state(t)
	t.Logf("skipped: %+v", r.SkippedEntries)
	if u, ok := after.users["wuser"]; !ok || u.ID != before.users["wuser"].ID || u.DN != "cn=w,ou=people,dc=example,dc=com" {
		t.Errorf("wuser (cn=w, read first with 8002) = %+v ok=%v; want unchanged", u.User, ok)
	}
	if u, ok := after.users["vuser"]; ok {
		t.Errorf("vuser (cn=v, read after cn=w with the same externalId) synced: %+v (id %s, wuser's id was %s)", u.User, u.ID, before.users["wuser"].ID)
	}
	want := bridge.SkippedEntry{DN: "cn=v,ou=people,dc=example,dc=com", Reason: `duplicate externalId "8002"`}
	if !slices.Contains(r.SkippedEntries, want) {
		t.Errorf("skipped %+v, want it to hold %+v", r.SkippedEntries, want)
	}
	e.idempotent(t)
}

// A dropped entry's stored user goes to the waiting entry with the same
// externalId; it is then that entry's, in that entry's groups only, not
// kept in the groups that list the dropped entry.
func TestStoredUserOfADroppedEntryGoesToTheEntryWithItsExternalID(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Attributes.ExternalID = "employeeNumber"
	e.srv.Load(t, person("zz", "uid: pat", "employeeNumber: 7001")+
		`dn: cn=design,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: cn=zz,ou=people,dc=example,dc=com
-

`)
	e.mustSucceed(t)
	before := e.state(t)
	if !slices.Contains(before.groupMembers["design"], "User:pat") {
		t.Fatalf("design = %v", before.groupMembers["design"])
	}
	e.srv.Load(t, `dn: cn=zz,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: newpat
-

`+
		person("mm", "uid: eve", "employeeNumber: 7001")+
		person("aa", "uid: newpat", "employeeNumber: 7002"))
	r := e.mustSucceed(t)
	after := e.state(t)
	t.Logf("skipped: %+v kept=%d", r.SkippedEntries, r.KeptUnchanged)
	t.Logf("design before %v after %v", before.groupMembers["design"], after.groupMembers["design"])
	t.Logf("pat=%+v eve=%+v", after.users["pat"].User, after.users["eve"].User)
	eve, ok := after.users["eve"]
	if ok && slices.Contains(after.groupMembers["design"], "User:eve") {
		t.Errorf("eve (cn=mm, in no group in LDAP) is a member of design: it is the stored user of the dropped cn=zz (id %s, was pat %s) that design keeps", eve.ID, before.users["pat"].ID)
	}
	e.idempotent(t)
}

// The memberUid counterpart of TestRenamedEntryLosingItsNameKeepsTheStoredUser:
// groups naming the dropped entry's new member key keep its stored user.
func TestDroppedEntryKeepsItsStoredUserInGroupsByUID(t *testing.T) {
	e := newUIDEnv(t)
	e.srv.Load(t, person("zz", "objectClass: adLiteUser", "uid: pat", "sAMAccountName: zzname")+
		addMemberUID("developers", "pat"))
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, `dn: cn=zz,ou=people,dc=example,dc=com
changetype: modify
replace: uid
uid: pat2
-
replace: sAMAccountName
sAMAccountName: dupname
-

`+
		`dn: cn=developers,ou=posix,dc=example,dc=com
changetype: modify
delete: memberUid
memberUid: pat
-
add: memberUid
memberUid: pat2
-

`+
		person("aa", "objectClass: adLiteUser", "uid: other", "sAMAccountName: dupname"))
	r := e.mustSucceed(t)
	after := e.state(t)
	t.Logf("skipped %+v kept %d dangling %d", r.SkippedEntries, r.KeptUnchanged, r.DanglingMembers)
	if !slices.Equal(after.userGroups["zzname"], before.userGroups["zzname"]) {
		t.Errorf("zzname (stored user of dropped cn=zz) groups %v -> %v; DN mode keeps them (keptAs)", before.userGroups["zzname"], after.userGroups["zzname"])
	}
	e.idempotent(t)
}
