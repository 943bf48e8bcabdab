// Tests of the duplicate rules around entries that lose their username
// (written in review of the streamed sync), against a real slapd.
package bridge_test

import (
	"slices"
	"testing"
)

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
	wantSkippedBesideBase(t, r,
		`cn=zz,ou=people,dc=example,dc=com: duplicate username "dupname": already used by cn=aa,ou=people,dc=example,dc=com`)
	if r.KeptUnchanged != 1 || r.DanglingMembers != 1 {
		t.Errorf("kept %d dangling %d, want 1 and 1", r.KeptUnchanged, r.DanglingMembers)
	}
	if !slices.Equal(after.userGroups["zzname"], before.userGroups["zzname"]) {
		t.Errorf("zzname (stored user of dropped cn=zz) groups %v -> %v; DN mode keeps them (keptAs)", before.userGroups["zzname"], after.userGroups["zzname"])
	}
	e.idempotent(t)
}
