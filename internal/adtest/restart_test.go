package adtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/store"
)

// Where TestChangedPassesAcrossSambaRestart works: OUs of its own on the
// shared DC, deleted at the end.
const (
	restartUsersDN  = "OU=RestartUsers," + sambatest.BaseDN
	restartGroupsDN = "OU=RestartGroups," + sambatest.BaseDN
)

// passCounts sums what the runs of one pass (or of the whole history) did.
type passCounts struct {
	runs, fullSyncs                             int
	usersCreated, usersUpdated, usersDeleted    int
	groupsCreated, groupsUpdated, groupsDeleted int
	// membershipsChanged counts (user, group) pairs, nesting included.
	membershipsChanged int
}

func countRuns(runs []bridge.Report) passCounts {
	var c passCounts
	for _, r := range runs {
		c.runs++
		if r.FullSyncReason != "" {
			c.fullSyncs++
		}
		c.usersCreated += r.UsersCreated
		c.usersUpdated += r.UsersUpdated
		c.usersDeleted += r.UsersDeleted
		c.groupsCreated += r.GroupsCreated
		c.groupsUpdated += r.GroupsUpdated
		c.groupsDeleted += r.GroupsDeleted
		c.membershipsChanged += r.MembershipsChanged
	}
	return c
}

// TestChangedPassesAcrossSambaRestart: DirSync passes resume from the
// stored cookie after the Samba DC restarts, whether the changes were made
// before the restart or after it: no change is lost, none is applied twice
// (each pass's runs and the whole run history count every change once), no
// full sync runs, and the store serves exactly what the directory holds.
func TestChangedPassesAcrossSambaRestart(t *testing.T) {
	dc := populatedDC(t)
	c := adminConn(t, dc)
	t.Cleanup(func() {
		// The restarts dropped c's connection: a new one deletes the OUs.
		c, err := dc.Dial()
		if err != nil {
			t.Errorf("clean up: %v", err)
			return
		}
		defer c.Close()
		for _, ou := range []string{restartUsersDN, restartGroupsDN} {
			del := ldap.NewDelRequest(ou, []ldap.Control{ldap.NewControlString("1.2.840.113556.1.4.805", false, "")})
			if err := c.Del(del); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				t.Errorf("delete %s: %v", ou, err)
			}
		}
	})
	do := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for _, ou := range []string{restartUsersDN, restartGroupsDN} {
		req := ldap.NewAddRequest(ou, nil)
		req.Attribute("objectClass", []string{"top", "organizationalUnit"})
		do("add "+ou, c.Add(req))
	}
	user := func(sam string) string { return "CN=" + sam + "," + restartUsersDN }
	group := func(name string) string { return "CN=" + name + "," + restartGroupsDN }
	addUser := func(c *ldap.Conn, sam string) {
		t.Helper()
		req := ldap.NewAddRequest(user(sam), nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
		req.Attribute("sAMAccountName", []string{sam})
		req.Attribute("mail", []string{sam + "@example.com"})
		do("add "+sam, c.Add(req))
	}
	setMail := func(c *ldap.Conn, sam, mail string) {
		t.Helper()
		req := ldap.NewModifyRequest(user(sam), nil)
		req.Replace("mail", []string{mail})
		do("modify "+sam, c.Modify(req))
	}
	members := func(c *ldap.Conn, name string, add, del []string) {
		t.Helper()
		req := ldap.NewModifyRequest(group(name), nil)
		if len(add) > 0 {
			req.Add("member", add)
		}
		if len(del) > 0 {
			req.Delete("member", del)
		}
		do("change the members of "+name, c.Modify(req))
	}
	for _, sam := range []string{"r-ann", "r-ben", "r-cat"} {
		addUser(c, sam)
	}
	for _, g := range []struct {
		name    string
		members []string
	}{{"r-team", []string{user("r-ann"), user("r-ben")}}, {"r-all", []string{group("r-team"), user("r-cat")}}} {
		req := ldap.NewAddRequest(group(g.name), nil)
		req.Attribute("objectClass", []string{"top", "group"})
		req.Attribute("sAMAccountName", []string{g.name})
		req.Attribute("member", g.members)
		do("add "+g.name, c.Add(req))
	}

	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sy := bridge.NewSyncer(db, ldapsource.Dial, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sy.SetChangeDialer(ldapsource.DialChanges)
	s := dc.Settings()
	s.Users.UsersDN, s.Groups.GroupsDN = restartUsersDN, restartGroupsDN
	s.Sync.ChangedSyncIntervalSeconds = 60

	restart := func() {
		t.Helper()
		if err := dc.Restart(); err != nil {
			t.Fatal(err)
		}
		// The restart dropped c's connection.
		if c, err = dc.Dial(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	// pass runs one changed-entries pass and checks what its runs did and
	// what the store serves then.
	pass := func(step string, want passCounts, users map[string]string) {
		t.Helper()
		res, err := sy.RunChanged(ctx, s, bridge.Options{})
		if err != nil {
			t.Fatalf("%s: RunChanged: %v", step, err)
		}
		if res.Mechanism != ldapsource.MechanismDirSync {
			t.Fatalf("%s: mechanism %q", step, res.Mechanism)
		}
		var runs []bridge.Report
		for _, r := range res.Runs {
			if r.Status != bridge.StatusSucceeded {
				t.Fatalf("%s: run %s %q", step, r.Status, r.Error)
			}
			runs = append(runs, *r)
		}
		if got := countRuns(runs); got != want {
			t.Fatalf("%s: the runs did\n %+v\nwant\n %+v", step, got, want)
		}
		if got := servedUsers(t, db); !reflect.DeepEqual(got, users) {
			t.Fatalf("%s: the store serves\n %v\nwant\n %v", step, got, users)
		}
	}

	pass("the first pass: a full sync takes the position",
		passCounts{runs: 1, fullSyncs: 1, usersCreated: 3, groupsCreated: 2, membershipsChanged: 5},
		map[string]string{
			"r-ann": served("r-ann@example.com", "r-all/false", "r-team/true"),
			"r-ben": served("r-ben@example.com", "r-all/false", "r-team/true"),
			"r-cat": served("r-cat@example.com", "r-all/true"),
		})

	setMail(c, "r-ann", "ann@one.example.com")
	pass("a modify", passCounts{runs: 1, usersUpdated: 1}, map[string]string{
		"r-ann": served("ann@one.example.com", "r-all/false", "r-team/true"),
		"r-ben": served("r-ben@example.com", "r-all/false", "r-team/true"),
		"r-cat": served("r-cat@example.com", "r-all/true"),
	})

	// Changes made, then the DC restarts before the next pass.
	addUser(c, "r-dan")
	setMail(c, "r-cat", "cat@two.example.com")
	members(c, "r-team", []string{user("r-dan")}, []string{user("r-ben")})
	do("delete r-ann", c.Del(ldap.NewDelRequest(user("r-ann"), nil)))
	restart()
	// r-dan created (in r-team and r-all), r-cat's mail updated, r-ann
	// deleted (out of both groups), r-ben out of both groups: six (user,
	// group) pairs; r-team's members changed (r-all's direct ones did not).
	afterRestart := map[string]string{
		"r-ben": served("r-ben@example.com"),
		"r-cat": served("cat@two.example.com", "r-all/true"),
		"r-dan": served("r-dan@example.com", "r-all/false", "r-team/true"),
	}
	pass("changes made before a restart", passCounts{runs: 1, usersCreated: 1, usersUpdated: 1, usersDeleted: 1, groupsUpdated: 1, membershipsChanged: 6}, afterRestart)
	pass("the same position again, nothing changed", passCounts{}, afterRestart)

	// The DC restarts, then changes are made: r-dan's mail, r-ben into r-all.
	restart()
	setMail(c, "r-dan", "dan@three.example.com")
	members(c, "r-all", []string{user("r-ben")}, nil)
	final := map[string]string{
		"r-ben": served("r-ben@example.com", "r-all/true"),
		"r-cat": served("cat@two.example.com", "r-all/true"),
		"r-dan": served("dan@three.example.com", "r-all/false", "r-team/true"),
	}
	pass("changes made after a restart", passCounts{runs: 1, usersUpdated: 1, groupsUpdated: 1, membershipsChanged: 1}, final)
	restart()
	pass("a restart, nothing changed", passCounts{}, final)

	// The run history counts every change once: the full sync, then one
	// run per pass that changed something.
	history, total, err := db.Runs(ctx, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := passCounts{runs: 4, fullSyncs: 1, usersCreated: 4, usersUpdated: 3, usersDeleted: 1, groupsCreated: 2, groupsUpdated: 2, membershipsChanged: 12}
	if got := countRuns(history); total != 4 || got != want {
		t.Fatalf("run history (%d runs): %+v, want %+v", total, got, want)
	}
	if got, want := servedAD(t, db), fullOfAD(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("the store serves\n%s\nwant (a full sync)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// servedUsers is each stored user's mail and groups (as "name/direct"), by userName.
func servedUsers(t testing.TB, db *store.DB) map[string]string {
	t.Helper()
	_, users, err := db.ListUsers(context.Background(), store.Query{Count: 1000, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, u := range users {
		var gs []string
		for _, g := range u.Groups {
			gs = append(gs, fmt.Sprintf("%s/%v", g.Name, g.Direct))
		}
		out[u.UserName] = served(u.Email, gs...)
	}
	return out
}

// served spells a user as servedUsers does.
func served(mail string, groups ...string) string {
	slices.Sort(groups)
	return "mail=" + mail + " groups=" + strings.Join(groups, ",")
}
