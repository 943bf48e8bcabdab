package adtest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// Where TestChangedPassesAcrossSambaRestart works: OUs of its own on the
// shared DC, deleted at the end.
const (
	restartUsersDN  = "OU=RestartUsers," + sambatest.BaseDN
	restartGroupsDN = "OU=RestartGroups," + sambatest.BaseDN
	// TestLiveAcrossSambaRestart's.
	liveRestartUsersDN  = "OU=LiveRestartUsers," + sambatest.BaseDN
	liveRestartGroupsDN = "OU=LiveRestartGroups," + sambatest.BaseDN
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
	f := newADFixture(t, populatedDC(t), restartUsersDN, restartGroupsDN)
	for _, sam := range []string{"r-ann", "r-ben", "r-cat"} {
		f.addUser(sam)
	}
	f.addGroup("r-team", f.user("r-ann"), f.user("r-ben"))
	f.addGroup("r-all", f.group("r-team"), f.user("r-cat"))

	ctx := context.Background()
	db, _, sy := bridgetest.ChangeSyncer(t)
	s := f.settings()
	s.Sync.ChangedSyncIntervalSeconds = 60

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

	f.setMail("r-ann", "ann@one.example.com")
	pass("a modify", passCounts{runs: 1, usersUpdated: 1}, map[string]string{
		"r-ann": served("ann@one.example.com", "r-all/false", "r-team/true"),
		"r-ben": served("r-ben@example.com", "r-all/false", "r-team/true"),
		"r-cat": served("r-cat@example.com", "r-all/true"),
	})

	// Changes made, then the DC restarts before the next pass.
	f.addUser("r-dan")
	f.setMail("r-cat", "cat@two.example.com")
	f.members("r-team", []string{f.user("r-dan")}, []string{f.user("r-ben")})
	f.do("delete r-ann", f.c.Del(ldap.NewDelRequest(f.user("r-ann"), nil)))
	f.restart()
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
	f.restart()
	f.setMail("r-dan", "dan@three.example.com")
	f.members("r-all", []string{f.user("r-ben")}, nil)
	final := map[string]string{
		"r-ben": served("r-ben@example.com", "r-all/true"),
		"r-cat": served("cat@two.example.com", "r-all/true"),
		"r-dan": served("dan@three.example.com", "r-all/false", "r-team/true"),
	}
	pass("changes made after a restart", passCounts{runs: 1, usersUpdated: 1, groupsUpdated: 1, membershipsChanged: 1}, final)
	f.restart()
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
	if got, want := bridgetest.Served(t, db, bulkUser), bridgetest.FullSync(t, ldapsource.Dial, s, bulkUser); !reflect.DeepEqual(got, want) {
		t.Fatalf("the store serves\n%s\nwant (a full sync)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLiveAcrossSambaRestart: the live stream on Samba AD (DirSync polled
// every second) reconnects after the DC restarts and resumes from the
// stored cookie: a change made before the restart and changes made after it
// are each applied once, by live runs, with no full sync; a quiet period
// after them records nothing.
func TestLiveAcrossSambaRestart(t *testing.T) {
	f := newADFixture(t, populatedDC(t), liveRestartUsersDN, liveRestartGroupsDN)
	f.addUser("l-ann")
	f.addUser("l-ben")
	f.addGroup("l-team", f.user("l-ann"))

	db, _, sy := bridgetest.ChangeSyncer(t)
	s := f.settings()
	s.Sync.Live, s.Sync.LivePollSeconds = true, 1
	live := bridge.NewLive(sy, func(context.Context) (*schema.Settings, error) { c := *s; return &c, nil })
	runs := make(chan bridge.Report, 100)
	live.OnRun = func(r *bridge.Report) { runs <- *r }
	live.Start()
	t.Cleanup(live.Stop)
	// until collects the runs recorded until the store serves want.
	until := func(step string, want map[string]string) passCounts {
		t.Helper()
		var got []bridge.Report
		deadline := time.After(30 * time.Second)
		for !reflect.DeepEqual(servedUsers(t, db), want) {
			select {
			case r := <-runs:
				if r.Status != bridge.StatusSucceeded {
					t.Fatalf("%s: run %s %q", step, r.Status, r.Error)
				}
				got = append(got, r)
			case <-deadline:
				t.Fatalf("%s: the store serves %v after 30 s, want %v (live %+v)", step, servedUsers(t, db), want, live.Status())
			}
		}
		return countRuns(got)
	}

	if got, want := until("the first position", map[string]string{
		"l-ann": served("l-ann@example.com", "l-team/true"),
		"l-ben": served("l-ben@example.com"),
	}), (passCounts{runs: 1, fullSyncs: 1, usersCreated: 2, groupsCreated: 1, membershipsChanged: 1}); got != want {
		t.Fatalf("the first position: %+v, want %+v", got, want)
	}
	f.setMail("l-ann", "ann@before.example.com")
	if got, want := until("a modify before the restart", map[string]string{
		"l-ann": served("ann@before.example.com", "l-team/true"),
		"l-ben": served("l-ben@example.com"),
	}), (passCounts{runs: 1, usersUpdated: 1}); got != want {
		t.Fatalf("a modify before the restart: %+v, want %+v", got, want)
	}

	f.restart()
	f.setMail("l-ben", "ben@after.example.com")
	f.members("l-team", []string{f.user("l-ben")}, nil)
	final := map[string]string{
		"l-ann": served("ann@before.example.com", "l-team/true"),
		"l-ben": served("ben@after.example.com", "l-team/true"),
	}
	// One or two live runs (the poll may fall between the two changes).
	got := until("changes after the restart", final)
	if want := (passCounts{runs: got.runs, usersUpdated: 1, groupsUpdated: 1, membershipsChanged: 1}); got != want || got.runs < 1 || got.runs > 2 {
		t.Fatalf("changes after the restart: %+v, want %+v in 1 or 2 runs", got, want)
	}
	time.Sleep(1500 * time.Millisecond) // a poll more, at least
	select {
	case r := <-runs:
		t.Fatalf("a quiet period recorded run %+v", r)
	default:
	}
	if st := live.Status(); st.State != bridge.LivePolling || st.Mechanism != ldapsource.MechanismDirSync || st.LastError != "" {
		t.Fatalf("live status %+v", st)
	}
}

// adFixture makes a test's entries on the shared DC, in OUs of its own
// that it deletes when the test ends.
type adFixture struct {
	t                 testing.TB
	dc                *sambatest.DC
	c                 *ldap.Conn // replaced by restart
	usersDN, groupsDN string
}

func newADFixture(t testing.TB, dc *sambatest.DC, usersDN, groupsDN string) *adFixture {
	f := &adFixture{t: t, dc: dc, c: adminConn(t, dc), usersDN: usersDN, groupsDN: groupsDN}
	t.Cleanup(func() {
		defer f.c.Close()
		for _, ou := range []string{usersDN, groupsDN} {
			del := ldap.NewDelRequest(ou, []ldap.Control{ldap.NewControlString("1.2.840.113556.1.4.805", false, "")})
			if err := f.c.Del(del); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				t.Errorf("delete %s: %v", ou, err)
			}
		}
	})
	for _, ou := range []string{usersDN, groupsDN} {
		req := ldap.NewAddRequest(ou, nil)
		req.Attribute("objectClass", []string{"top", "organizationalUnit"})
		f.do("add "+ou, f.c.Add(req))
	}
	return f
}

func (f *adFixture) do(what string, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

func (f *adFixture) user(sam string) string   { return "CN=" + sam + "," + f.usersDN }
func (f *adFixture) group(name string) string { return "CN=" + name + "," + f.groupsDN }

// settings are the DC's, with the fixture's OUs as the users' and groups' bases.
func (f *adFixture) settings() *schema.Settings {
	s := f.dc.Settings()
	s.Users.UsersDN, s.Groups.GroupsDN = f.usersDN, f.groupsDN
	return s
}

// addUser adds a user with mail <sam>@example.com.
func (f *adFixture) addUser(sam string) {
	f.t.Helper()
	req := ldap.NewAddRequest(f.user(sam), nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{sam})
	req.Attribute("mail", []string{sam + "@example.com"})
	f.do("add "+sam, f.c.Add(req))
}

func (f *adFixture) addGroup(name string, members ...string) {
	f.t.Helper()
	req := ldap.NewAddRequest(f.group(name), nil)
	req.Attribute("objectClass", []string{"top", "group"})
	req.Attribute("sAMAccountName", []string{name})
	req.Attribute("member", members)
	f.do("add "+name, f.c.Add(req))
}

func (f *adFixture) setMail(sam, mail string) {
	f.t.Helper()
	req := ldap.NewModifyRequest(f.user(sam), nil)
	req.Replace("mail", []string{mail})
	f.do("modify "+sam, f.c.Modify(req))
}

func (f *adFixture) members(name string, add, del []string) {
	f.t.Helper()
	req := ldap.NewModifyRequest(f.group(name), nil)
	if len(add) > 0 {
		req.Add("member", add)
	}
	if len(del) > 0 {
		req.Delete("member", del)
	}
	f.do("change the members of "+name, f.c.Modify(req))
}

// restart restarts the DC; its connection is dialled again.
func (f *adFixture) restart() {
	f.t.Helper()
	if err := f.dc.Restart(); err != nil {
		f.t.Fatal(err)
	}
	f.c.Close()
	c, err := f.dc.Dial()
	if err != nil {
		f.t.Fatal(err)
	}
	f.c = c
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
