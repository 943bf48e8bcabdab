package bridge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/store"
)

// orderedDirectory returns the add records of a directory with duplicates
// (a shared employeeNumber, a shared uid) and nested groups, each record
// its own element, so that a test can load them in any order.
func orderedDirectory() (ous, users, groups []string) {
	ous = []string{
		"dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n",
		"dn: ou=groups,dc=example,dc=com\nobjectClass: organizationalUnit\nou: groups\n",
	}
	for i := 0; i < 40; i++ {
		uid, num := fmt.Sprintf("user%02d", i), fmt.Sprintf("%d", 1000+i)
		switch i {
		case 7:
			num = "1003" // shares user03's employeeNumber: cn=u03 keeps it
		case 9:
			uid = "USER04" // shares user04's uid (folded): cn=u04 keeps it
		}
		users = append(users, fmt.Sprintf("dn: cn=u%02d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\ncn: u%02d\nsn: u%02d\nuid: %s\nemployeeNumber: %s\nmail: %s@example.com\n", i, i, i, uid, num, uid))
	}
	for g := 0; g < 6; g++ {
		var b strings.Builder
		fmt.Fprintf(&b, "dn: cn=g%d,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: g%d\nbusinessCategory: %d\n", g, g, 500+g)
		for i := g; i < 40; i += 6 {
			fmt.Fprintf(&b, "member: cn=u%02d,ou=people,dc=example,dc=com\n", i)
		}
		if g > 0 {
			fmt.Fprintf(&b, "member: cn=g%d,ou=groups,dc=example,dc=com\n", g-1) // g0 ⊂ g1 ⊂ … ⊂ g5
		}
		groups = append(groups, b.String())
	}
	return ous, users, groups
}

func reversed(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

// scimOutput is what the store serves at /scim/v2, ids included, without
// the times of the writes, by id (a list without sortBy is in the order the
// users were stored, which two runs need not share).
func scimOutput(t *testing.T, db *store.DB) ([]store.UserResource, []store.GroupResource) {
	t.Helper()
	ctx := context.Background()
	_, users, err := db.ListUsers(ctx, store.Query{Count: 1000, WithGroups: true, SortBy: "id"})
	if err != nil {
		t.Fatal(err)
	}
	_, groups, err := db.ListGroups(ctx, store.Query{Count: 1000, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		users[i].Created, users[i].LastModified = time.Time{}, time.Time{}
	}
	for i := range groups {
		groups[i].Created, groups[i].LastModified = time.Time{}, time.Time{}
	}
	return users, groups
}

func syncInto(t *testing.T, srv *slapdtest.Server, path string) (*store.DB, *bridge.Report) {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	set := srv.Settings()
	set.Users.Attributes.ExternalID = "employeeNumber"
	set.Groups.Attributes.ExternalID = "businessCategory"
	e := &env{srv: srv, db: db, path: path, syncer: bridge.NewSyncer(db, ldapsource.Dial, quietLog()), set: set}
	return db, e.mustSucceed(t)
}

// readOrder returns the DNs of the users srv returns, in its order.
func readOrder(t *testing.T, srv *slapdtest.Server) []string {
	t.Helper()
	res, err := srv.Conn(t).Search(ldap.NewSearchRequest("ou=people,dc=example,dc=com", ldap.ScopeSingleLevel,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"1.1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var dns []string
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	return dns
}

// The same directory loaded in two entry orders into two slapd instances
// syncs to identical SCIM output, ids included.
func TestTwoEntryOrdersGiveTheSameSCIMOutput(t *testing.T) {
	ous, users, groups := orderedDirectory()
	forward := slapdtest.Start(t, slapdtest.Empty(), slapdtest.WithLDIF(strings.Join(append(append(ous, users...), groups...), "\n")))
	backward := slapdtest.Start(t, slapdtest.Empty(), slapdtest.WithLDIF(strings.Join(append(append(ous, reversed(groups)...), reversed(users)...), "\n")))
	if f, b := readOrder(t, forward), readOrder(t, backward); slices.Equal(f, b) || len(f) != 40 {
		t.Fatalf("the two servers return the users in the same order (%d entries): the test shows nothing", len(f))
	}
	dir := t.TempDir()
	dbF, rF := syncInto(t, forward, filepath.Join(dir, "forward.db"))
	defer dbF.Close()
	dbB, rB := syncInto(t, backward, filepath.Join(dir, "backward.db"))
	defer dbB.Close()

	uF, gF := scimOutput(t, dbF)
	uB, gB := scimOutput(t, dbB)
	if len(uF) != 38 || len(gF) != 6 {
		t.Fatalf("forward: %d users, %d groups; want 38 (two duplicates skipped) and 6", len(uF), len(gF))
	}
	if !reflect.DeepEqual(uF, uB) {
		t.Errorf("users differ between entry orders:\nforward  %+v\nbackward %+v", uF, uB)
	}
	if !reflect.DeepEqual(gF, gB) {
		t.Errorf("groups differ between entry orders:\nforward  %+v\nbackward %+v", gF, gB)
	}
	wantSkipped := []bridge.SkippedEntry{
		{DN: "cn=u07,ou=people,dc=example,dc=com", Reason: `duplicate externalId "1003": already used by cn=u03,ou=people,dc=example,dc=com`},
		{DN: "cn=u09,ou=people,dc=example,dc=com", Reason: `duplicate username "USER04": already used by cn=u04,ou=people,dc=example,dc=com`},
	}
	for _, r := range []*bridge.Report{rF, rB} {
		if !reflect.DeepEqual(r.SkippedEntries, wantSkipped) {
			t.Errorf("skipped %+v, want %+v", r.SkippedEntries, wantSkipped)
		}
	}
	for _, u := range uF {
		if want := bridge.NameID(bridge.MemberUser, u.ExternalID); u.ID != want {
			t.Errorf("user %s: id %s, want %s (from externalId %s)", u.UserName, u.ID, want, u.ExternalID)
		}
	}
}

// A store deleted and rebuilt by a new sync serves every resource that has
// an externalId under the same SCIM id as before.
func TestRebuiltStoreKeepsTheIDs(t *testing.T) {
	e := newEnv(t) // the base fixture: externalId entryUUID
	e.mustSucceed(t)
	before, beforeG := scimOutput(t, e.db)
	e.db.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(e.path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	db, err := store.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e.db, e.syncer = db, bridge.NewSyncer(db, ldapsource.Dial, quietLog())
	if r := e.mustSucceed(t); r.UsersCreated != len(before) || r.GroupsCreated != len(beforeG) {
		t.Fatalf("rebuild created %d users and %d groups, want %d and %d", r.UsersCreated, r.GroupsCreated, len(before), len(beforeG))
	}
	after, afterG := scimOutput(t, db)
	if len(before) == 0 || len(beforeG) == 0 {
		t.Fatal("the base fixture synced no users or groups")
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("users after the rebuild differ:\nbefore %+v\nafter  %+v", before, after)
	}
	if !reflect.DeepEqual(beforeG, afterG) {
		t.Errorf("groups after the rebuild differ:\nbefore %+v\nafter  %+v", beforeG, afterG)
	}
}
