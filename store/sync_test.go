package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
)

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.w.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	equal(t, "user_version", v, len(migrations))
	var mode string
	if err := db.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	equal(t, "journal_mode", mode, "wal")
	var fk int
	if err := db.w.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	equal(t, "foreign_keys", fk, 1)
	if err := db.PutSettings(ctx, []byte(`{"vendor":"ad"}`), []string{"vendor"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if err := db.w.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	equal(t, "user_version after reopen", v, len(migrations))
	doc, _, found, err := db.GetSettings(ctx)
	if err != nil || !found {
		t.Fatalf("settings after reopen: found %v, %v", found, err)
	}
	equal(t, "settings after reopen", string(doc), `{"vendor":"ad"}`)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database from a newer version")
	}
	if want := fmt.Sprintf("schema version 99, newer than this scimbridge knows (%d)", len(migrations)); !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v", err)
	}
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?mode=ro")} {
		if db, err := Open(context.Background(), p); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestTimestampsSortAsText(t *testing.T) {
	for _, s := range []string{"2026-03-01T12:30:00.5Z", "0001-01-01T00:00:00Z", "2026-12-31T23:59:59.999Z"} {
		in := ts(s)
		got, err := parseTS(formatTS(in))
		if err != nil || !got.Equal(in) {
			t.Errorf("round trip of %s: %v, %v", s, got, err)
		}
	}
	equal(t, "format", formatTS(time.Date(2026, 3, 1, 13, 30, 0, 5e8+123, time.FixedZone("", 3600))), "2026-03-01T12:30:00.500Z")
	equal(t, "zero", formatTS(time.Time{}), "")
	if _, err := parseTS("2026-02-30T00:00:00.000Z"); err == nil {
		t.Error("parseTS accepted February 30")
	}
}

// seedPlan is a plan creating three users, two groups (one nested in the
// other) and their memberships.
func seedPlan() *bridge.Plan {
	alice, bob, carol := mkUser("u1", "Alice"), mkUser("u2", "bob"), mkUser("u3", "carol")
	alice.Email, alice.GivenName, alice.FamilyName, alice.DisplayName = "alice@example.com", "Alice", "Anderson", "Alice Anderson"
	alice.ExternalID, alice.EmployeeNumber, alice.Department, alice.MemberKey = "ext-1", "1001", "Sales", "alice"
	bob.Active = false
	return &bridge.Plan{
		CreateUsers:  []bridge.UserRow{carol, alice, bob},
		CreateGroups: []bridge.GroupRow{mkGroup("g1", "Admins"), mkGroup("g2", "Developers")},
		Ancestors:    map[string][]string{"g2": {"g1"}},
		GroupMembers: map[string][]bridge.Member{
			"g1": {{ID: "u1", Type: bridge.MemberUser}, {ID: "g2", Type: bridge.MemberGroup}},
			"g2": {{ID: "u2", Type: bridge.MemberUser}},
		},
		Changes: []bridge.Change{
			{ResourceType: bridge.MemberUser, ResourceID: "u1", Op: bridge.OpCreate, Name: "Alice"},
			{ResourceType: bridge.MemberGroup, ResourceID: "g1", Op: bridge.OpCreate, Name: "Admins"},
		},
	}
}

func storedUser(t *testing.T, u bridge.UserRow) bridge.StoredUser {
	t.Helper()
	hash, err := bridge.ParseDigest([]byte(u.Hash))
	if err != nil {
		t.Fatal(err)
	}
	groupsHash, err := bridge.ParseDigest([]byte(u.GroupsHash))
	if err != nil {
		t.Fatal(err)
	}
	return bridge.StoredUser{ID: u.ID, ExternalID: u.ExternalID, DNNorm: u.DNNorm, UserNameNorm: u.UserNameNorm, MemberKey: u.MemberKey,
		Hash: hash, GroupsHash: groupsHash}
}

func storedGroup(g bridge.GroupRow) bridge.StoredGroup {
	return bridge.StoredGroup{ID: g.ID, ExternalID: g.ExternalID, DNNorm: g.DNNorm, NameNorm: g.NameNorm,
		Hash: g.Hash, MembersHash: g.MembersHash, Created: g.Created}
}

func TestApplyRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	p := seedPlan()
	r := mustApply(t, db, p)

	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "snapshot users", snap.Users, []bridge.StoredUser{
		storedUser(t, p.CreateUsers[1]), storedUser(t, p.CreateUsers[2]), storedUser(t, p.CreateUsers[0])})
	equal(t, "snapshot groups", snap.Groups, []bridge.StoredGroup{
		storedGroup(p.CreateGroups[0]), storedGroup(p.CreateGroups[1])})

	ms, err := db.Memberships(ctx, []string{"u1", "u2", "u3", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "memberships", ms, map[string][]bridge.Membership{
		"u1": {{GroupID: "g1", Direct: true}},
		"u2": {{GroupID: "g1", Direct: false}, {GroupID: "g2", Direct: true}},
	})

	for _, want := range p.CreateUsers {
		got, ok, err := db.GetUser(ctx, want.ID)
		if err != nil || !ok {
			t.Fatalf("GetUser(%s): %v %v", want.ID, ok, err)
		}
		equal(t, "user row "+want.ID, got.UserRow, want)
	}
	g, _, err := db.GetGroup(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "group row", g.GroupRow, p.CreateGroups[0])
	equal(t, "group members", g.Members, []MemberRef{
		{ID: "g2", Type: bridge.MemberGroup, Display: "Developers"},
		{ID: "u1", Type: bridge.MemberUser, Display: "Alice Anderson"},
	})

	d := dump(t, db)
	equal(t, "changes", len(d["changes"]), 2)
	for i, c := range p.Changes {
		var runID int64
		var typ, id, op, name string
		if err := db.r.QueryRow("SELECT run_id, resource_type, resource_id, op, name FROM changes ORDER BY seq LIMIT 1 OFFSET ?", i).
			Scan(&runID, &typ, &id, &op, &name); err != nil {
			t.Fatal(err)
		}
		equal(t, "change", bridge.Change{ResourceType: typ, ResourceID: id, Op: op, Name: name}, c)
		equal(t, "change run id", runID, r.ID)
	}
	run, ok, err := db.Run(ctx, r.ID)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	equal(t, "run", run, *r)
}

func TestApplyUpdatesDeletesAndCascades(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, seedPlan())

	bob := mkUser("u2", "bob")
	bob.DisplayName, bob.Hash, bob.Version = "Bob Builder", "h-new", "v2"
	bob.LastModified = ts("2026-02-01T00:00:00.123Z")
	created := bob.Created
	bob.Created = time.Time{} // an update leaves created as stored
	dev := mkGroup("g2", "Devs")
	dev.Version = "v2"
	mustApply(t, db, &bridge.Plan{
		UpdateUsers:  []bridge.UserRow{bob},
		DeleteUsers:  []string{"u1"},
		UpdateGroups: []bridge.GroupRow{dev},
		DeleteGroups: []string{"g1"},
		GroupMembers: map[string][]bridge.Member{"g2": {{ID: "u2", Type: bridge.MemberUser}, {ID: "u3", Type: bridge.MemberUser}}},
	})

	got, _, err := db.GetUser(ctx, "u2")
	if err != nil {
		t.Fatal(err)
	}
	bob.Created = created
	equal(t, "updated user", got.UserRow, bob)
	// g1's deletion removed bob's indirect membership with it.
	equal(t, "bob's groups", got.Groups, []GroupRef{{ID: "g2", Name: "Devs", Direct: true}})
	ms, err := db.Memberships(ctx, []string{"u1", "u2", "u3"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "memberships", ms, map[string][]bridge.Membership{
		"u2": {{GroupID: "g2", Direct: true}},
		"u3": {{GroupID: "g2", Direct: true}},
	})
	d := dump(t, db)
	equal(t, "group_members", d["group_members"], []string{"[g2 u2 User]", "[g2 u3 User]"})
	users, groups, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "counts", [2]int{users, groups}, [2]int{2, 1})
}

func TestApplyMovesUserNamesWithinOnePlan(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, &bridge.Plan{CreateUsers: []bridge.UserRow{
		mkUser("a", "bob"), mkUser("b", "rob"), mkUser("c", "frank"), mkUser("d", "dora")}})

	// a and b swap names; c's old name goes to new user e; deleted d's name to new user f.
	mustApply(t, db, &bridge.Plan{
		UpdateUsers: []bridge.UserRow{mkUser("a", "rob"), mkUser("b", "Bob"), mkUser("c", "franklin")},
		DeleteUsers: []string{"d"},
		CreateUsers: []bridge.UserRow{mkUser("e", "Frank"), mkUser("f", "dora")},
	})
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, u := range snap.Users {
		names[u.ID] = u.UserNameNorm
	}
	equal(t, "names", names, map[string]string{"a": "rob", "b": "bob", "c": "franklin", "e": "frank", "f": "dora"})

	// A real clash is still refused, naming the user.
	err = db.Apply(ctx, &bridge.Plan{UpdateUsers: []bridge.UserRow{mkUser("a", "BOB")}}, nil)
	if err == nil || !strings.Contains(err.Error(), `update user a (uid=BOB,ou=people,dc=example,dc=com, userName "BOB")`) ||
		!strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("clash: %v", err)
	}
}

func TestApplyIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, seedPlan())
	r := &bridge.Report{Trigger: bridge.TriggerScheduled}
	if err := db.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)

	r.Status = bridge.StatusSucceeded
	newUser := mkUser("u9", "zed")
	renamed := mkUser("u3", "caroline")
	err := db.Apply(ctx, &bridge.Plan{
		CreateUsers:  []bridge.UserRow{newUser},
		UpdateUsers:  []bridge.UserRow{renamed},
		DeleteUsers:  []string{"u1"},
		CreateGroups: []bridge.GroupRow{mkGroup("g3", "Ops")},
		DeleteGroups: []string{"g2"},
		GroupMembers: map[string][]bridge.Member{"g3": {{ID: "u9", Type: bridge.MemberUser}}},
		Ancestors:    map[string][]string{"g3": {"no-such-group"}},
		Changes:      []bridge.Change{{ResourceType: bridge.MemberUser, ResourceID: "u9", Op: bridge.OpCreate, Name: "zed"}},
	}, r)
	if err == nil {
		t.Fatal("Apply with a nesting in an unknown group succeeded")
	}
	if !strings.Contains(err.Error(), "nesting of group g3: ancestor group no-such-group, which is not stored") {
		t.Errorf("error = %v", err)
	}
	equal(t, "store after a failed Apply", dump(t, db), before)

	// An update of a user that is not stored fails the same way.
	err = db.Apply(ctx, &bridge.Plan{CreateUsers: []bridge.UserRow{newUser}, UpdateUsers: []bridge.UserRow{mkUser("ghost", "ghost")}}, r)
	if err == nil || !strings.Contains(err.Error(), "update user ghost") {
		t.Errorf("update of a missing user: %v", err)
	}
	equal(t, "store after a failed update", dump(t, db), before)
}

func TestApplyEmptyPlanOnlyRecordsTheRun(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, seedPlan())
	r := &bridge.Report{Trigger: bridge.TriggerManual}
	if err := db.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	r.Status, r.Users = bridge.StatusSucceeded, 3
	if err := db.Apply(ctx, &bridge.Plan{GroupMembers: map[string][]bridge.Member{}}, r); err != nil {
		t.Fatal(err)
	}
	after := dump(t, db)
	for table := range before {
		if table != "sync_runs" {
			equal(t, table, after[table], before[table])
		}
	}
	got, _, err := db.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "run", got, *r)
}

func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustApply(t, db, seedPlan())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("DELETE FROM users"); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	total, _, err := db.ListUsers(ctx2, Query{Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "users seen while a write is open", total, 3)
}

func indexes(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.w.Query("SELECT name || ': ' || sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestApplyBulkLoadRebuildsIndexes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	want := indexes(t, db)
	p := bigPlan(bulkMinRows, 50)
	mustApply(t, db, p)
	equal(t, "indexes after a bulk load", indexes(t, db), want)
	var id, parent, unused int
	var plan string
	if err := db.r.QueryRow("EXPLAIN QUERY PLAN SELECT id FROM users WHERE user_name_norm = 'user000042'").Scan(&id, &parent, &unused, &plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "users_user_name_norm") {
		t.Errorf("userName lookup does not use its index: %s", plan)
	}
	users, groups, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "counts", [2]int{users, groups}, [2]int{bulkMinRows, 50})

	// A duplicate userName in a bulk load fails when the unique index is
	// rebuilt, and nothing is kept.
	db2 := openTest(t)
	before := dump(t, db2)
	p.CreateUsers[7].UserNameNorm = p.CreateUsers[3].UserNameNorm
	err = db2.Apply(ctx, p, nil)
	if err == nil || !strings.Contains(err.Error(), "rebuild index users_user_name_norm") || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("duplicate userName in a bulk load: %v", err)
	}
	equal(t, "store after a failed bulk load", dump(t, db2), before)
	equal(t, "indexes after a failed bulk load", indexes(t, db2), want)
}

func TestApplyNamesTheRowOfAFailedInsert(t *testing.T) {
	db := openTest(t)
	err := db.Apply(context.Background(), &bridge.Plan{CreateUsers: []bridge.UserRow{
		mkUser("a", "ann"), mkUser("b", "bea"), mkUser("c", "Ann")}}, nil)
	if err == nil || !strings.Contains(err.Error(), "insert users: row (c, ") || !strings.Contains(err.Error(), "UNIQUE constraint failed: users.user_name_norm") {
		t.Errorf("error = %v", err)
	}
	err = db.Apply(context.Background(), &bridge.Plan{GroupMembers: map[string][]bridge.Member{"nope": {{ID: "a", Type: bridge.MemberUser}}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "members of group nope: the group is not stored") {
		t.Errorf("members of an unknown group: %v", err)
	}
	g := mkGroup("g1", "Admins")
	for _, c := range []struct {
		members []bridge.Member
		want    string
	}{
		{[]bridge.Member{{ID: "a", Type: "Robot"}}, `insert members of group g1: member a has type "Robot", not User or Group`},
		{[]bridge.Member{{ID: "a", Type: bridge.MemberUser}, {ID: "a", Type: bridge.MemberUser}}, "insert members of group g1: constraint failed: UNIQUE constraint failed: group_users.group_rid, group_users.user_rid"},
		{[]bridge.Member{{ID: "a", Type: bridge.MemberUser}, {ID: "zed", Type: bridge.MemberUser}}, "members of group g1: user zed is not stored"},
		{[]bridge.Member{{ID: "g2", Type: bridge.MemberGroup}}, "members of group g1: group g2 is not stored"},
	} {
		err = db.Apply(context.Background(), &bridge.Plan{CreateUsers: []bridge.UserRow{mkUser("a", "ann")}, CreateGroups: []bridge.GroupRow{g},
			GroupMembers: map[string][]bridge.Member{"g1": c.members}}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("members %v: error = %v, want %q", c.members, err, c.want)
		}
	}
	err = db.Apply(context.Background(), &bridge.Plan{Ancestors: map[string][]string{"nobody": {}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "nesting of group nobody: the group is not stored") {
		t.Errorf("nesting of an unknown group: %v", err)
	}
	equal(t, "users", dump(t, db)["users"], []string(nil))
	equal(t, "groups", dump(t, db)["groups"], []string(nil))
}

// A run's transaction takes new users while the directory is still being
// read, takes some back, and commits them with the rest of the plan; rolled
// back, it leaves nothing.
func TestRunTxStreamsUsersAndTakesThemBack(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	rows := make([]bridge.UserRow, 0, bulkMinRows+2)
	for i := 0; i < bulkMinRows+2; i++ {
		rows = append(rows, mkUser(fmt.Sprintf("u%06d", i), fmt.Sprintf("user%06d", i)))
	}
	r := &bridge.Report{Trigger: bridge.TriggerManual}
	if err := db.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}

	tx, err := db.Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.CreateUsers(r.ID, rows[:bulkMinRows]); err != nil { // a bulk load: indexes dropped
		t.Fatal(err)
	}
	if err := tx.CreateUsers(r.ID, rows[bulkMinRows:]); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteCreated([]string{"u000001", "u010001"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteCreated([]string{"nobody"}); err == nil || !strings.Contains(err.Error(), "0 were stored") {
		t.Fatalf("taking back a user never created: %v", err)
	}
	// The end of the read rebuilds the users' indexes before the commit.
	if err := tx.UsersDone(); err != nil {
		t.Fatal(err)
	}
	var usersIndexes int
	if err := tx.(*runTx).a.tx.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL").Scan(&usersIndexes); err != nil {
		t.Fatal(err)
	}
	equal(t, "users' indexes once the read is done", usersIndexes, 5)
	g := mkGroup("g1", "Admins")
	r.Status = bridge.StatusSucceeded
	if err := tx.Commit(&bridge.Plan{CreateGroups: []bridge.GroupRow{g},
		GroupMembers: map[string][]bridge.Member{"g1": {{ID: "u000000", Type: bridge.MemberUser}}},
		Changes:      []bridge.Change{{ResourceType: bridge.MemberGroup, ResourceID: "g1", Op: bridge.OpCreate, Name: "Admins"}}}, r); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback after commit: %v", err)
	}
	users, groups, err := db.Counts(ctx)
	if err != nil || users != bulkMinRows || groups != 1 {
		t.Fatalf("counts %d users, %d groups (%v); want %d and 1", users, groups, err, bulkMinRows)
	}
	for _, id := range []string{"u000001", "u010001"} {
		if _, ok, err := db.GetUser(ctx, id); err != nil || ok {
			t.Fatalf("user %s taken back but found (%v)", id, err)
		}
	}
	d := dump(t, db)
	if n := len(d["changes"]); n != bulkMinRows+1 {
		t.Fatalf("%d changes, want one per user kept and the group's", n)
	}
	// The rebuilt unique index still refuses a second holder of a username.
	if _, err := db.SQL().ExecContext(ctx, "INSERT INTO users ("+userCols+") SELECT 'dup', external_id, dn, dn_norm, user_name, user_name_norm, given_name, family_name, display_name, email, active, employee_number, department, member_key, hash, groups_hash, version, created, last_modified FROM users WHERE id = 'u000000'"); err == nil || !strings.Contains(err.Error(), "UNIQUE constraint failed: users.user_name_norm") {
		t.Fatalf("a duplicate user_name_norm after the bulk load: %v", err)
	}

	tx, err = db.Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.CreateUsers(r.ID, []bridge.UserRow{mkUser("late", "late")}); err != nil {
		t.Fatal(err)
	}
	before := d
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	equal(t, "store after a rolled-back run", dump(t, db), before)
	if err := tx.CreateUsers(r.ID, nil); err == nil {
		t.Fatal("CreateUsers after Rollback succeeded")
	}
}
