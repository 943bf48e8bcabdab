package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// env is a real slapd with the base fixture (testdata/ldif/README.md) and a
// real SQLite store.
type env struct {
	srv    *slapdtest.Server
	db     *store.DB
	path   string
	syncer *bridge.Syncer
	set    *schema.Settings
}

func newEnv(t *testing.T, opts ...slapdtest.Option) *env {
	t.Helper()
	srv := slapdtest.Start(t, opts...)
	db, path := bridgetest.OpenStore(t)
	sy := bridge.NewSyncer(db, ldapsource.Dial, quietLog())
	bridge.SetStreamMin(sy, 1) // every new user is written while reading; see TestStreamedAndBufferedRunsAgree
	return &env{srv: srv, db: db, path: path, syncer: sy, set: logged(srv.Settings())}
}

// logged turns push on in set, so that runs keep the change log the tests
// read; the syncers of these tests have no pusher: nothing is sent.
func logged(set *schema.Settings) *schema.Settings {
	set.Push.Enabled = true
	return set
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (e *env) sync(t *testing.T, opt bridge.Options) *bridge.Report {
	t.Helper()
	r, err := e.syncer.Run(context.Background(), e.set, opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func (e *env) mustSucceed(t *testing.T) *bridge.Report {
	t.Helper()
	r := e.sync(t, bridge.Options{})
	if r.Status != bridge.StatusSucceeded {
		t.Fatalf("sync status = %s (%s), want succeeded", r.Status, r.Error)
	}
	return r
}

// counts is the part of a report the tests compare exactly.
type counts struct {
	Users, Groups, UsersCreated, UsersUpdated, UsersDeleted, GroupsCreated, GroupsUpdated, GroupsDeleted int
	Skipped, Dangling                                                                                    int
}

func countsOf(r *bridge.Report) counts {
	return counts{r.Users, r.Groups, r.UsersCreated, r.UsersUpdated, r.UsersDeleted, r.GroupsCreated,
		r.GroupsUpdated, r.GroupsDeleted, r.Skipped, r.DanglingMembers}
}

// state is the store's content in names: each user's transitive groups
// ("name" direct, "~name" indirect) and each group's direct members.
type state struct {
	userGroups   map[string][]string
	groupMembers map[string][]string
	users        map[string]store.UserResource
	groups       map[string]store.GroupResource
}

func (e *env) state(t *testing.T) state {
	t.Helper()
	ctx := context.Background()
	_, users, err := e.db.ListUsers(ctx, store.Query{Count: 100000, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	_, groups, err := e.db.ListGroups(ctx, store.Query{Count: 100000, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	s := state{userGroups: map[string][]string{}, groupMembers: map[string][]string{},
		users: map[string]store.UserResource{}, groups: map[string]store.GroupResource{}}
	names := map[string]string{}
	for _, g := range groups {
		names[g.ID] = g.Name
		s.groups[g.Name] = g
	}
	for _, u := range users {
		names[u.ID] = u.UserName
		s.users[u.UserName] = u
		gs := []string{}
		for _, g := range u.Groups {
			if g.Name != names[g.ID] {
				t.Errorf("user %s: group %s named %q, store says %q", u.UserName, g.ID, g.Name, names[g.ID])
			}
			if g.Direct {
				gs = append(gs, g.Name)
			} else {
				gs = append(gs, "~"+g.Name)
			}
		}
		sort.Strings(gs)
		s.userGroups[u.UserName] = gs
	}
	for _, g := range groups {
		ms := []string{}
		for _, m := range g.Members {
			ms = append(ms, m.Type+":"+names[m.ID])
		}
		sort.Strings(ms)
		s.groupMembers[g.Name] = ms
	}
	return s
}

var baseUserGroups = map[string][]string{
	"alice": {"engineers"},
	"bob":   {"backend", "~engineers"},
	"carol": {"platform", "~backend", "~engineers"},
	"dave":  {"sre", "~backend", "~engineers", "~platform"},
	"erin":  {"cycle-a", "~cycle-b"},
	"zoe":   {"design", "platform", "~backend", "~engineers"},
	"frank": {"design"},
	"gina":  {"design"},
	"ivan":  {},
}

var baseGroupMembers = map[string][]string{
	"engineers": {"Group:backend", "User:alice"},
	"backend":   {"Group:platform", "User:bob"},
	"platform":  {"Group:sre", "User:carol", "User:zoe"},
	"sre":       {"User:dave"},
	"cycle-a":   {"Group:cycle-b", "User:erin"},
	"cycle-b":   {"Group:cycle-a"},
	"design":    {"User:frank", "User:gina", "User:zoe"},
	"ghosts":    {},
}

func TestFirstSyncOfBaseFixture(t *testing.T) {
	e := newEnv(t)
	r := e.mustSucceed(t)
	want := counts{Users: 9, Groups: 8, UsersCreated: 9, GroupsCreated: 8, Skipped: 2, Dangling: 5}
	if got := countsOf(r); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	wantSkipped := []bridge.SkippedEntry{
		{DN: "cn=Gina Grey,ou=people,dc=example,dc=com", Reason: `duplicate username "GINA": already used by cn=gina green,ou=people,dc=example,dc=com`},
	}
	var skipped []bridge.SkippedEntry
	for _, s := range r.SkippedEntries {
		if s.DN == "cn=No Username,ou=people,dc=example,dc=com" {
			if !strings.Contains(s.Reason, "username") || !strings.Contains(s.Reason, "uid") {
				t.Errorf("No Username skipped for %q, want a missing-username reason naming uid", s.Reason)
			}
			continue
		}
		skipped = append(skipped, s)
	}
	if !reflect.DeepEqual(skipped, wantSkipped) || len(r.SkippedEntries) != 2 {
		t.Errorf("skipped = %+v, want No Username and %+v", r.SkippedEntries, wantSkipped)
	}
	s := e.state(t)
	if !reflect.DeepEqual(s.userGroups, baseUserGroups) {
		t.Errorf("user groups:\n got %v\nwant %v", s.userGroups, baseUserGroups)
	}
	if !reflect.DeepEqual(s.groupMembers, baseGroupMembers) {
		t.Errorf("group members:\n got %v\nwant %v", s.groupMembers, baseGroupMembers)
	}
	zoe := s.users["zoe"]
	if zoe.GivenName != "Zoë" || zoe.FamilyName != "Ågren" || zoe.DisplayName != "Zoë Ågren" || zoe.Email != "zoe@example.com" || !zoe.Active {
		t.Errorf("zoe = %+v", zoe.User)
	}
	if frank := s.users["frank"]; frank.GivenName != "" || frank.Email != "" || frank.FamilyName != "Fischer" {
		t.Errorf("frank = %+v, want no givenName, no mail", frank.User)
	}
	if gina := s.users["gina"]; gina.DN != "cn=Gina Green,ou=people,dc=example,dc=com" {
		t.Errorf("gina is %s, want cn=Gina Green", gina.DN)
	}
	for name, u := range s.users {
		if len(u.ExternalID) != 36 || u.ID == "" || u.Version == "" {
			t.Errorf("user %s: externalId %q, id %q, version %q", name, u.ExternalID, u.ID, u.Version)
		}
	}
}

func TestSecondSyncWithoutChangeWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	before := e.state(t)
	changesBefore := countChanges(t, e.db)
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if r.MembershipsChanged != 0 {
		t.Errorf("membershipsChanged = %d, want 0", r.MembershipsChanged)
	}
	after := e.state(t)
	for name, u := range before.users {
		a := after.users[name]
		if a.Version != u.Version || !a.LastModified.Equal(u.LastModified) || a.ID != u.ID {
			t.Errorf("user %s changed: version %s→%s, lastModified %v→%v", name, u.Version, a.Version, u.LastModified, a.LastModified)
		}
	}
	for name, g := range before.groups {
		if a := after.groups[name]; a.Version != g.Version || !a.LastModified.Equal(g.LastModified) {
			t.Errorf("group %s changed: version %s→%s", name, g.Version, a.Version)
		}
	}
	if n := countChanges(t, e.db); n != changesBefore {
		t.Errorf("change log grew from %d to %d rows", changesBefore, n)
	}
}

func countChanges(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM changes").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// changesOf returns the change log rows of one run as "Type op name".
func changesOf(t *testing.T, db *store.DB, runID int64) []string {
	t.Helper()
	rows, err := db.SQL().Query("SELECT resource_type, op, name FROM changes WHERE run_id = ? ORDER BY seq", runID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, op, name string
		if err := rows.Scan(&typ, &op, &name); err != nil {
			t.Fatal(err)
		}
		out = append(out, typ+" "+op+" "+name)
	}
	sort.Strings(out)
	return out
}

func TestRenameKeepsIDs(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, slapdtest.LDIF(t, "rename.ldif"))
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, UsersUpdated: 1, GroupsUpdated: 1, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	after := e.state(t)
	if after.users["robert"].ID != before.users["bob"].ID {
		t.Errorf("robert has id %s, bob had %s", after.users["robert"].ID, before.users["bob"].ID)
	}
	if after.groups["site-reliability"].ID != before.groups["sre"].ID {
		t.Errorf("site-reliability has id %s, sre had %s", after.groups["site-reliability"].ID, before.groups["sre"].ID)
	}
	if after.users["robert"].Version == before.users["bob"].Version {
		t.Error("robert's version did not change")
	}
	if after.users["alice"].Version != before.users["alice"].Version {
		t.Error("alice's version changed")
	}
	if got, want := after.userGroups["dave"], []string{"site-reliability", "~backend", "~engineers", "~platform"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dave's groups = %v, want %v", got, want)
	}
	if got, want := changesOf(t, e.db, r.ID), []string{"Group update site-reliability", "User update robert"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

func TestDeletionIsDetected(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	e.srv.Load(t, slapdtest.LDIF(t, "delete.ldif"))
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 8, Groups: 8, UsersDeleted: 1, GroupsUpdated: 1, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	s := e.state(t)
	if _, ok := s.users["frank"]; ok {
		t.Error("frank is still in the store")
	}
	if got, want := s.groupMembers["design"], []string{"User:gina", "User:zoe"}; !reflect.DeepEqual(got, want) {
		t.Errorf("design = %v, want %v", got, want)
	}
	if got, want := changesOf(t, e.db, r.ID), []string{"Group members design", "User delete frank"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

func TestUserMovedOutOfScopeIsDeleted(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	e.srv.Load(t, slapdtest.LDIF(t, "move-out-of-scope.ldif"))
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 8, Groups: 8, UsersDeleted: 1, GroupsUpdated: 1, Skipped: 2, Dangling: 6}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	s := e.state(t)
	if got, want := s.groupMembers["platform"], []string{"Group:sre", "User:zoe"}; !reflect.DeepEqual(got, want) {
		t.Errorf("platform = %v, want %v", got, want)
	}
	if _, ok := s.users["carol"]; ok {
		t.Error("carol is still in the store")
	}
}

func TestChangedMailUpdatesOnlyThatUser(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, slapdtest.LDIF(t, "change-mail.ldif"))
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, UsersUpdated: 1, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	after := e.state(t)
	if got := after.users["alice"].Email; got != "alice.anderson@example.com" {
		t.Errorf("alice's mail = %q", got)
	}
	if !after.users["alice"].LastModified.After(before.users["alice"].LastModified) {
		t.Error("alice's lastModified did not advance")
	}
	if !after.users["alice"].Created.Equal(before.users["alice"].Created) {
		t.Error("alice's created changed")
	}
	for name, u := range before.users {
		if name != "alice" && after.users[name].Version != u.Version {
			t.Errorf("%s's version changed", name)
		}
	}
	if got, want := changesOf(t, e.db, r.ID), []string{"User update alice"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

func TestAddedMemberChangesGroupAndUser(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	e.srv.Load(t, slapdtest.LDIF(t, "add-member.ldif"))
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, GroupsUpdated: 1, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if r.MembershipsChanged != 1 {
		t.Errorf("membershipsChanged = %d, want 1", r.MembershipsChanged)
	}
	s := e.state(t)
	if got, want := s.userGroups["ivan"], []string{"design"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ivan's groups = %v, want %v", got, want)
	}
	if got, want := changesOf(t, e.db, r.ID), []string{"Group members design"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

// Users moved between nested groups change the transitive users of groups
// whose own direct members did not change: they get a members change too.
func TestNestedMoveRecordsEveryAffectedGroup(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	e.srv.Load(t, `dn: cn=sre,ou=groups,dc=example,dc=com
changetype: modify
replace: member
member: uid=ivan,ou=interns,ou=people,dc=example,dc=com
-

dn: cn=cycle-b,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=dave,ou=people,dc=example,dc=com
-
`)
	r := e.mustSucceed(t)
	s := e.state(t)
	if got, want := s.userGroups["dave"], []string{"cycle-b", "~cycle-a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dave's groups = %v, want %v", got, want)
	}
	if got, want := s.userGroups["ivan"], []string{"sre", "~backend", "~engineers", "~platform"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ivan's groups = %v, want %v", got, want)
	}
	want := []string{"Group members backend", "Group members cycle-a", "Group members cycle-b",
		"Group members engineers", "Group members platform", "Group members sre"}
	if got := changesOf(t, e.db, r.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
	if r.MembershipsChanged != 10 {
		t.Errorf("membershipsChanged = %d, want 10 (dave left 4 groups and joined 2, ivan joined 4)", r.MembershipsChanged)
	}
}

func TestMembersByUID(t *testing.T) {
	e := newEnv(t)
	e.set = logged(e.srv.PosixSettings())
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 2, UsersCreated: 9, GroupsCreated: 2, Skipped: 2, Dangling: 1}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	s := e.state(t)
	want := map[string][]string{
		"developers": {"User:alice", "User:bob", "User:zoe"},
		"ops":        {"User:carol", "User:dave"},
	}
	if !reflect.DeepEqual(s.groupMembers, want) {
		t.Errorf("members = %v, want %v", s.groupMembers, want)
	}
}

func TestSAMAccountNameUsernames(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Attributes.Username = "sAMAccountName"
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 10, Groups: 8, UsersCreated: 10, GroupsCreated: 8, Skipped: 1, Dangling: 4}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	s := e.state(t)
	if got, want := s.groupMembers["design"], []string{"User:ffischer", "User:ggreen", "User:ggrey", "User:zagren"}; !reflect.DeepEqual(got, want) {
		t.Errorf("design = %v, want %v", got, want)
	}
}

func TestScopeOneLeavesSubtreeOut(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Scope = schema.ScopeOne
	r := e.mustSucceed(t)
	if r.Users != 8 {
		t.Errorf("users = %d, want 8", r.Users)
	}
	if _, ok := e.state(t).users["ivan"]; ok {
		t.Error("ivan synced with scope one")
	}
}

func TestDisabledBitMapsToInactive(t *testing.T) {
	e := newEnv(t)
	e.set.Users.Attributes.DisabledAttribute = "userAccountControl"
	e.set.Users.Attributes.DisabledBit = 2
	e.mustSucceed(t)
	for name, u := range e.state(t).users {
		if u.Active != (name != "ivan") {
			t.Errorf("%s active = %v", name, u.Active)
		}
	}
}

func TestDeletionSafety(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	before := e.state(t)

	// A filter that matches nobody: an empty read never deletes.
	e.set.Users.Filter = "(uid=nobody-has-this)"
	r := e.sync(t, bridge.Options{})
	if r.Status != bridge.StatusHeld || !strings.Contains(r.Error, "no users") {
		t.Fatalf("empty read: status %s (%s), want held for no users", r.Status, r.Error)
	}
	if got := e.state(t); !reflect.DeepEqual(got.userGroups, before.userGroups) {
		t.Fatalf("held run changed the store: %v", got.userGroups)
	}

	// More deletions than sync.maxDeletes.
	e.set.Users.Filter = ""
	e.set.Sync.MaxDeletes = 0
	e.srv.Load(t, slapdtest.LDIF(t, "delete.ldif"))
	r = e.sync(t, bridge.Options{})
	if r.Status != bridge.StatusHeld || !strings.Contains(r.Error, "sync.maxDeletes") || r.UsersDeleted != 1 {
		t.Fatalf("status %s (%s), usersDeleted %d; want held naming sync.maxDeletes with 1 deletion", r.Status, r.Error, r.UsersDeleted)
	}
	if _, ok := e.state(t).users["frank"]; !ok {
		t.Fatal("held run deleted frank")
	}
	stored, found, err := e.db.Run(context.Background(), r.ID)
	if err != nil || !found || stored.Status != bridge.StatusHeld {
		t.Fatalf("stored run = %+v, %v, %v; want held", stored, found, err)
	}

	// An admin approves it.
	r = e.sync(t, bridge.Options{AllowDeletes: true})
	if r.Status != bridge.StatusSucceeded || r.UsersDeleted != 1 {
		t.Fatalf("approved run: status %s (%s), usersDeleted %d", r.Status, r.Error, r.UsersDeleted)
	}
	if _, ok := e.state(t).users["frank"]; ok {
		t.Fatal("approved run kept frank")
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	r := e.sync(t, bridge.Options{DryRun: true})
	if r.Status != bridge.StatusSucceeded || r.UsersCreated != 9 || r.GroupsCreated != 8 || !r.DryRun {
		t.Fatalf("dry run = %+v", countsOf(r))
	}
	if users, groups, err := e.db.Counts(context.Background()); err != nil || users != 0 || groups != 0 {
		t.Fatalf("store after dry run: %d users, %d groups, %v", users, groups, err)
	}
	if n := countChanges(t, e.db); n != 0 {
		t.Fatalf("dry run wrote %d change log rows", n)
	}
	e.mustSucceed(t)
	e.srv.Load(t, slapdtest.LDIF(t, "change-mail.ldif"))
	before := e.state(t)
	if r := e.sync(t, bridge.Options{DryRun: true}); r.UsersUpdated != 1 {
		t.Fatalf("dry run usersUpdated = %d, want 1", r.UsersUpdated)
	}
	if got := e.state(t).users["alice"]; got.Email != before.users["alice"].Email || got.Version != before.users["alice"].Version {
		t.Fatal("dry run changed alice")
	}
}

// manyUsers returns LDIF for n extra users under ou=people.
func manyUsers(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "dn: uid=bulk%05d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: bulk%05d\ncn: Bulk %d\nsn: %d\nmail: bulk%05d@example.com\n\n", i, i, i, i, i)
	}
	return b.String()
}

// killingDir wraps a real directory connection and kills slapd after n user entries.
type killingDir struct {
	bridge.Directory
	srv  *slapdtest.Server
	n    int
	seen int
}

// dial connects to the real directory and wraps the connection (one at a time).
func (k *killingDir) dial(ctx context.Context, s *schema.Settings) (bridge.Directory, error) {
	d, err := ldapsource.Dial(ctx, s)
	if err != nil {
		return nil, err
	}
	k.Directory = d
	return k, nil
}

func (k *killingDir) Users(ctx context.Context, fn func(*schema.Entry) error) error {
	return k.Directory.Users(ctx, func(e *schema.Entry) error {
		k.seen++
		if k.seen == k.n {
			k.srv.Kill()
		}
		return fn(e)
	})
}

func TestDirectoryDyingMidReadDeletesNothing(t *testing.T) {
	e := newEnv(t, slapdtest.WithLDIF(manyUsers(3000)))
	e.set.Connection.PageSize = 100
	r := e.mustSucceed(t)
	if r.Users != 3009 {
		t.Fatalf("users = %d, want 3009", r.Users)
	}
	k := &killingDir{srv: e.srv, n: 1000}
	dying := bridge.NewSyncer(e.db, k.dial, quietLog())
	r, err := dying.Run(context.Background(), e.set, bridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != bridge.StatusFailed || r.Error == "" || r.UsersDeleted != 0 {
		t.Fatalf("status %s (%q), usersDeleted %d; want failed, nothing deleted", r.Status, r.Error, r.UsersDeleted)
	}
	if k.seen >= 3009 {
		t.Fatalf("the read saw all %d entries; slapd was not killed mid-read", k.seen)
	}
	if users, _, err := e.db.Counts(context.Background()); err != nil || users != 3009 {
		t.Fatalf("store has %d users (%v), want all 3009", users, err)
	}
	e.srv.Restart(t)
	if r := e.mustSucceed(t); r.UsersDeleted != 0 || r.UsersCreated != 0 {
		t.Fatalf("after restart: %+v", countsOf(r))
	}
}

func TestSizeLimitFailsTheRun(t *testing.T) {
	e := newEnv(t, slapdtest.WithSizeLimit(5))
	e.set.Connection.BindDN = e.srv.ReaderDN
	e.set.Connection.BindCredential = e.srv.ReaderPassword
	r := e.sync(t, bridge.Options{})
	if r.Status != bridge.StatusFailed || r.UsersCreated != 0 {
		t.Fatalf("status %s (%s), created %d; want failed, nothing written", r.Status, r.Error, r.UsersCreated)
	}
	if users, _, _ := e.db.Counts(context.Background()); users != 0 {
		t.Fatalf("store has %d users after a size-limited read", users)
	}
}

func TestOverlappingRunIsRefusedWithTheRunningID(t *testing.T) {
	e := newEnv(t)
	b := bridgetest.NewGate()
	sy := bridge.NewSyncer(e.db, b.Dialer(ldapsource.Dial), quietLog())
	var wg sync.WaitGroup
	var first *bridge.Report
	wg.Add(1)
	go func() {
		defer wg.Done()
		first, _ = sy.Run(context.Background(), e.set, bridge.Options{})
	}()
	<-b.Started
	_, err := sy.Run(context.Background(), e.set, bridge.Options{})
	var busy *bridge.BusyError
	if !errors.As(err, &busy) || !errors.Is(err, bridge.ErrBusy) {
		t.Fatalf("second run: %v, want a BusyError", err)
	}
	running, ok := sy.Running()
	if !ok || busy.RunID != running {
		t.Fatalf("BusyError.RunID = %d, running = %d %v", busy.RunID, running, ok)
	}
	b.Release()
	wg.Wait()
	if first.Status != bridge.StatusSucceeded || first.ID != busy.RunID {
		t.Fatalf("first run %d: %s; busy named %d", first.ID, first.Status, busy.RunID)
	}
}

// A bad value skips the entry, and the stored user it is stays exactly as it
// was: still stored, still in its groups, nothing in the change log.
func TestBadValueNeverDeletesAStoredUser(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, "dn: uid=zoe,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: displayName\ndisplayName: "+strings.Repeat("z", 3000)+"\n-\n")
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 8, Groups: 8, Skipped: 3, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if r.KeptUnchanged != 1 || r.MembershipsChanged != 0 {
		t.Errorf("keptUnchanged = %d, membershipsChanged = %d; want 1, 0", r.KeptUnchanged, r.MembershipsChanged)
	}
	after := e.state(t)
	if !reflect.DeepEqual(after.users["zoe"], before.users["zoe"]) {
		t.Errorf("zoe changed:\n%+v\n%+v", after.users["zoe"], before.users["zoe"])
	}
	if !reflect.DeepEqual(after.groupMembers, baseGroupMembers) || !reflect.DeepEqual(after.userGroups, baseUserGroups) {
		t.Errorf("memberships changed:\n%v\n%v", after.groupMembers, after.userGroups)
	}
	if got := changesOf(t, e.db, r.ID); len(got) != 0 {
		t.Errorf("changes = %v, want none", got)
	}
}

func TestEmptyGroupReadIsHeld(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	e.set.Groups.Filter = "(cn=no-such-group)"
	r := e.sync(t, bridge.Options{})
	if r.Status != bridge.StatusHeld || !strings.Contains(r.Error, "no groups") || r.GroupsDeleted != 8 {
		t.Fatalf("status %s (%s), groupsDeleted %d; want held for no groups", r.Status, r.Error, r.GroupsDeleted)
	}
	if _, groups, _ := e.db.Counts(context.Background()); groups != 8 {
		t.Fatalf("store has %d groups after a held run", groups)
	}
}

// Two processes on one store never sync at once: the store's lock is taken
// by the first, and the second neither runs nor marks the first's run as
// interrupted.
func TestSecondProcessCannotSyncTheSameStore(t *testing.T) {
	e := newEnv(t)
	other, err := store.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	b := bridgetest.NewGate()
	first := bridge.NewSyncer(e.db, b.Dialer(ldapsource.Dial), quietLog())
	done := make(chan *bridge.Report)
	go func() {
		r, _ := first.Run(context.Background(), e.set, bridge.Options{})
		done <- r
	}()
	<-b.Started
	running, _ := first.Running()
	_, err = bridge.NewSyncer(other, ldapsource.Dial, quietLog()).Run(context.Background(), e.set, bridge.Options{})
	var busy *bridge.BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second process: %v, want a BusyError", err)
	}
	if r, _, _ := other.Run(context.Background(), running); r.Status != bridge.StatusRunning {
		t.Fatalf("the first run is %s, want still running", r.Status)
	}
	b.Release()
	if r := <-done; r.Status != bridge.StatusSucceeded {
		t.Fatalf("first run: %s %s", r.Status, r.Error)
	}
	if r, err := bridge.NewSyncer(other, ldapsource.Dial, quietLog()).Run(context.Background(), e.set, bridge.Options{}); err != nil || r.Status != bridge.StatusSucceeded {
		t.Fatalf("second process after the first: %v %+v", err, r)
	}
}

// A group whose entry is skipped stays a member of its parents, and the
// nesting through it stays, until its entry can be read again.
func TestSkippedGroupStaysNested(t *testing.T) {
	e := newEnv(t)
	var ldif strings.Builder
	for _, g := range []string{"engineers", "backend", "platform", "sre", "cycle-a", "cycle-b", "design", "ghosts"} {
		fmt.Fprintf(&ldif, "dn: cn=%s,ou=groups,dc=example,dc=com\nchangetype: modify\nreplace: description\ndescription: %s\n-\n\n", g, g)
	}
	e.srv.Load(t, ldif.String())
	e.set.Groups.Attributes.Name = "description"
	e.mustSucceed(t)
	before := e.state(t)

	e.srv.Load(t, "dn: cn=backend,ou=groups,dc=example,dc=com\nchangetype: modify\nreplace: description\ndescription: "+strings.Repeat("b", 3000)+"\n-\n")
	r := e.mustSucceed(t)
	if r.KeptUnchanged != 1 || r.GroupsDeleted != 0 || r.GroupsUpdated != 0 {
		t.Errorf("keptUnchanged %d, groupsDeleted %d, groupsUpdated %d; want 1, 0, 0", r.KeptUnchanged, r.GroupsDeleted, r.GroupsUpdated)
	}
	after := e.state(t)
	if !reflect.DeepEqual(after.groupMembers, before.groupMembers) {
		t.Errorf("group members changed:\n got %v\nwant %v", after.groupMembers, before.groupMembers)
	}
	for _, u := range []string{"bob", "carol", "dave", "zoe"} {
		if !reflect.DeepEqual(after.userGroups[u], baseUserGroups[u]) {
			t.Errorf("%s's groups = %v, want %v", u, after.userGroups[u], baseUserGroups[u])
		}
	}
}

// With memberUid groups too, a skipped user stays in its groups.
func TestSkippedUserStaysMemberByUID(t *testing.T) {
	e := newEnv(t)
	e.set = logged(e.srv.PosixSettings())
	e.mustSucceed(t)
	e.srv.Load(t, "dn: uid=zoe,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: displayName\ndisplayName: "+strings.Repeat("z", 3000)+"\n-\n")
	r := e.mustSucceed(t)
	if r.KeptUnchanged != 1 || r.GroupsUpdated != 0 {
		t.Errorf("keptUnchanged %d, groupsUpdated %d; want 1, 0", r.KeptUnchanged, r.GroupsUpdated)
	}
	if got, want := e.state(t).groupMembers["developers"], []string{"User:alice", "User:bob", "User:zoe"}; !reflect.DeepEqual(got, want) {
		t.Errorf("developers = %v, want %v", got, want)
	}
}

func TestRecoverInterruptedMarksRunsLeftRunning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	left := &bridge.Report{Trigger: bridge.TriggerScheduled, Status: bridge.StatusRunning}
	if err := e.db.StartRun(ctx, left); err != nil {
		t.Fatal(err)
	}
	n, err := e.syncer.RecoverInterrupted(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RecoverInterrupted = %d, %v; want 1", n, err)
	}
	r, _, err := e.db.Run(ctx, left.ID)
	if err != nil || r.Status != bridge.StatusFailed || !strings.Contains(r.Error, "interrupted") {
		t.Fatalf("run left running is now %s (%q), %v", r.Status, r.Error, err)
	}
}

// person returns the LDIF add record of an inetOrgPerson cn=<cn> under
// ou=people (sn = cn) with more lines such as "uid: pat", and a blank line.
func person(cn string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: cn=%s,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\ncn: %s\nsn: %s\n", cn, cn, cn)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// newUIDEnv is newEnv with memberUid groups (ou=posix) and usernames from
// sAMAccountName (the adLiteUser object class).
func newUIDEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.set = logged(e.srv.PosixSettings())
	e.set.Users.Attributes.Username = "sAMAccountName"
	return e
}

// addMemberUID returns the LDIF that adds memberUid uid to group cn=<group> in ou=posix.
func addMemberUID(group, uid string) string {
	return "dn: cn=" + group + ",ou=posix,dc=example,dc=com\nchangetype: modify\nadd: memberUid\nmemberUid: " + uid + "\n-\n\n"
}

// TestNoChangeLogWithoutPush: with push off, nobody reads the change log:
// a first sync (its users written while the directory is read) and a
// sync of one change write none; the runs' counts are the same.
func TestNoChangeLogWithoutPush(t *testing.T) {
	e := newEnv(t)
	e.set.Push.Enabled = false
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, UsersCreated: 9, GroupsCreated: 8, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("first sync counts = %+v, want %+v", got, want)
	}
	e.srv.Load(t, slapdtest.LDIF(t, "change-mail.ldif"))
	r = e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, UsersUpdated: 1, Skipped: 2, Dangling: 5}); got != want {
		t.Errorf("second sync counts = %+v, want %+v", got, want)
	}
	if n := countChanges(t, e.db); n != 0 {
		t.Errorf("%d change log entries with push off, want none", n)
	}
	if got := e.state(t).users["alice"].Email; got != "alice.anderson@example.com" {
		t.Errorf("alice's mail = %q", got)
	}
}
