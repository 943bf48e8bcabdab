package bridge_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// fakeChanges is a FAKE change source for the engine's rules: an in-memory
// directory whose every Set logs the entries that changed (Present) or went
// (Gone) since the previous content, with a position that counts log
// entries. Real directories are covered by ldapsource's sources.
type fakeChanges struct {
	mu       sync.Mutex
	dir      *bridgetest.Directory
	users    map[string]*schema.Entry // by entryUUID
	groups   map[string]*schema.Entry
	log      []schema.Change
	expired  bool // Changes answers ErrPositionExpired
	uuidOnly bool // a deletion names the entry by UUID alone, as syncprov's session log does
}

func newFakeChanges() *fakeChanges {
	return &fakeChanges{dir: bridgetest.NewDirectory(bridgetest.Forward), users: map[string]*schema.Entry{}, groups: map[string]*schema.Entry{}}
}

// set makes users and groups the directory's content and logs the difference.
func (f *fakeChanges) set(users, groups []*schema.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dir.Set(users, groups)
	diff := func(old map[string]*schema.Entry, now []*schema.Entry, group bool) map[string]*schema.Entry {
		next := map[string]*schema.Entry{}
		for _, e := range now {
			id := string(e.First("entryUUID"))
			next[id] = e
			if o, ok := old[id]; !ok || !reflect.DeepEqual(o, e) {
				f.log = append(f.log, schema.Change{Kind: schema.ChangePresent, Group: group, UUID: id, Entry: e})
			}
		}
		var gone []string
		for id := range old {
			if _, ok := next[id]; !ok {
				gone = append(gone, id)
			}
		}
		sort.Strings(gone)
		for _, id := range gone {
			e := &schema.Entry{DN: old[id].DN}
			if f.uuidOnly {
				e.DN = ""
			}
			f.log = append(f.log, schema.Change{Kind: schema.ChangeGone, Group: group, UUID: id, Entry: e})
		}
		return next
	}
	f.users = diff(f.users, users, false)
	f.groups = diff(f.groups, groups, true)
}

func (f *fakeChanges) dial(context.Context, *schema.Settings, bool) (bridge.ChangeSource, error) {
	return fakeConn{f}, nil
}

type fakeConn struct{ f *fakeChanges }

func (fakeConn) Mechanism() string { return "fake" }
func (fakeConn) Close() error      { return nil }
func (c fakeConn) Start(context.Context) ([]byte, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return binary.BigEndian.AppendUint64(nil, uint64(len(c.f.log))), nil
}
func (c fakeConn) Changes(_ context.Context, pos []byte, _ bool, fn func(schema.ChangeBatch) error) error {
	c.f.mu.Lock()
	if c.f.expired {
		c.f.mu.Unlock()
		return fmt.Errorf("fake: %w", schema.ErrPositionExpired)
	}
	from := int(binary.BigEndian.Uint64(pos))
	batch := append([]schema.Change(nil), c.f.log[from:]...)
	end := binary.BigEndian.AppendUint64(nil, uint64(len(c.f.log)))
	c.f.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return fn(schema.ChangeBatch{Changes: batch, Position: end})
}

// uuidBytes turns a test UUID ("u1") into 16 bytes whose text form is uuidOf.
func uuidBytes(id string) []byte {
	var b [16]byte
	copy(b[16-len(id):], id)
	return b[:]
}

func uuidOf(id string) string {
	b := uuidBytes(id)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func duser(id, cn string, lines ...string) *schema.Entry {
	return user(cn, append([]string{"entryUUID: " + uuidOf(id), "uid: " + cn, "sn: " + cn}, lines...)...)
}

func dgroup(id, cn string, lines ...string) *schema.Entry {
	return group(cn, append([]string{"entryUUID: " + uuidOf(id)}, lines...)...)
}

func deltaSettings() *schema.Settings {
	s := orderSettings(false)
	s.Users.Attributes.ExternalID = "entryUUID"
	s.Groups.Attributes.ExternalID = "entryUUID"
	s.Sync.ChangedSyncIntervalSeconds = 60
	return s
}

// deltaEnv is a store kept by changed-entries passes over a fake change source.
type deltaEnv struct {
	f   *fakeChanges
	db  *store.DB
	sy  *bridge.Syncer
	set *schema.Settings
}

func newDeltaEnv(t *testing.T) *deltaEnv {
	t.Helper()
	users, groups := base()
	return newDeltaEnvWith(t, users, groups)
}

func newDeltaEnvWith(t *testing.T, users, groups []*schema.Entry) *deltaEnv {
	t.Helper()
	f := newFakeChanges()
	f.set(users, groups)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sy := bridge.NewSyncer(db, f.dir.Dialer(), quietLog())
	sy.SetChangeDialer(f.dial)
	e := &deltaEnv{f: f, db: db, sy: sy, set: deltaSettings()}
	if r := e.full(t); r.Status != bridge.StatusSucceeded {
		t.Fatalf("first sync: %s %s", r.Status, r.Error)
	}
	return e
}

func (e *deltaEnv) full(t *testing.T) *bridge.Report {
	t.Helper()
	r, err := e.sy.Run(context.Background(), e.set, bridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *deltaEnv) pass(t *testing.T) *bridge.ChangedResult {
	t.Helper()
	res, err := e.sy.RunChanged(context.Background(), e.set, bridge.Options{})
	if err != nil {
		t.Fatalf("RunChanged: %v", err)
	}
	return res
}

// base is a directory of three users, a group listing two of them and a
// user not there yet, and a group nested in it.
func base() (users, groups []*schema.Entry) {
	users = []*schema.Entry{duser("u1", "ann", "mail: ann@x"), duser("u2", "bob"), duser("u3", "cy")}
	groups = []*schema.Entry{
		dgroup("g1", "eng", member("ann"), member("bob"), member("dee"), groupMember("ops")),
		dgroup("g2", "ops", member("cy")),
		dgroup("g3", "all"),
	}
	return users, groups
}

// TestChangedPassGivesWhatAFullSyncGives applies each change as a pass and
// compares what the store serves, ids and versions included, with a full
// sync of the same directory on a new store; a second pass writes nothing.
func TestChangedPassGivesWhatAFullSyncGives(t *testing.T) {
	cases := []struct {
		name       string
		edit       func(users, groups []*schema.Entry) ([]*schema.Entry, []*schema.Entry)
		wantRuns   int
		wantCounts [6]int // users created, updated, deleted; groups created, updated, deleted
	}{
		{"add a user a group lists already", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			return append(u, duser("u4", "dee")), g
		}, 1, [6]int{1, 0, 0, 0, 1, 0}},
		{"modify a user", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			u[0] = duser("u1", "ann", "mail: ann@y")
			return u, g
		}, 1, [6]int{0, 1, 0, 0, 0, 0}},
		{"rename a user (modrdn): the group lists the old DN", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			u[1] = duser("u2", "rob")
			u[1].Attrs["uid"] = [][]byte{[]byte("bob")}
			return u, g
		}, 1, [6]int{0, 1, 0, 0, 1, 0}},
		{"delete a user", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			return u[1:], g
		}, 1, [6]int{0, 0, 1, 0, 1, 0}},
		{"add a group member", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			g[1] = dgroup("g2", "ops", member("cy"), member("ann"))
			return u, g
		}, 1, [6]int{0, 0, 0, 0, 1, 0}},
		{"remove a group member", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			g[0] = dgroup("g1", "eng", member("bob"), member("dee"), groupMember("ops"))
			return u, g
		}, 1, [6]int{0, 0, 0, 0, 1, 0}},
		{"nest a group: its users get the parent indirectly", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			g[2] = dgroup("g3", "all", groupMember("eng"))
			return u, g
		}, 1, [6]int{0, 0, 0, 0, 1, 0}},
		{"delete a nested group", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			return u, []*schema.Entry{g[0], g[2]}
		}, 1, [6]int{0, 0, 0, 0, 1, 1}},
		{"a user leaves the scope", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			return []*schema.Entry{u[0], u[1]}, g
		}, 1, [6]int{0, 0, 1, 0, 1, 0}},
		{"a new user takes a stored user's name: skipped", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			e := duser("u9", "zed")
			e.Attrs["uid"] = [][]byte{[]byte("ann")}
			return append(u, e), g
		}, 0, [6]int{}},
		{"a change of an attribute not mapped writes only the position", func(u, g []*schema.Entry) ([]*schema.Entry, []*schema.Entry) {
			u[2] = duser("u3", "cy", "description: x")
			return u, g
		}, 0, [6]int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newDeltaEnv(t)
			u, g := base()
			u, g = tc.edit(u, g)
			e.f.set(u, g)
			res := e.pass(t)
			if len(res.Runs) != tc.wantRuns {
				t.Fatalf("runs = %d, want %d: %+v", len(res.Runs), tc.wantRuns, res.Runs)
			}
			if tc.wantRuns > 0 {
				r := res.Runs[0]
				got := [6]int{r.UsersCreated, r.UsersUpdated, r.UsersDeleted, r.GroupsCreated, r.GroupsUpdated, r.GroupsDeleted}
				if r.Status != bridge.StatusSucceeded || r.Trigger != bridge.TriggerChanged || r.FullSyncReason != "" || got != tc.wantCounts {
					t.Fatalf("run = %s %q trigger %s full %q counts %v, want succeeded changed counts %v", r.Status, r.Error, r.Trigger, r.FullSyncReason, got, tc.wantCounts)
				}
			}
			if got, want := bridgetest.Served(t, e.db, nil), bridgetest.FullSync(t, e.f.dir.Dialer(), e.set, nil); !reflect.DeepEqual(got, want) {
				t.Fatalf("after the pass the store serves\n%s\nwant (a full sync)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			before := bridgetest.Served(t, e.db, nil)
			if res := e.pass(t); len(res.Runs) != 0 || res.Changes != 0 {
				t.Fatalf("second pass: %+v", res)
			}
			if r := e.full(t); r.UsersCreated+r.UsersUpdated+r.UsersDeleted+r.GroupsCreated+r.GroupsUpdated+r.GroupsDeleted != 0 {
				t.Fatalf("a full sync after the pass changed %+v", r)
			}
			if got := bridgetest.Served(t, e.db, nil); !reflect.DeepEqual(got, before) {
				t.Fatalf("the full sync after the pass changed what is served")
			}
		})
	}
}

// TestChangedPassFallsBackToAFullSync: no position yet, an expired one, and
// a deleted duplicate winner whose skipped loser only a read can bring back.
func TestChangedPassFallsBackToAFullSync(t *testing.T) {
	t.Run("no position", func(t *testing.T) {
		e := newDeltaEnv(t)
		e.set.Sync.ChangedSyncIntervalSeconds = 0
		e.full(t) // tracking off: the position goes
		e.set.Sync.ChangedSyncIntervalSeconds = 60
		res := e.pass(t)
		if len(res.Runs) != 1 || res.Runs[0].FullSyncReason != "no saved change position: a full sync takes the first one" {
			t.Fatalf("runs = %+v", res.Runs)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e := newDeltaEnv(t)
		u, g := base()
		e.f.set(u[:2], g)
		e.f.expired = true
		res := e.pass(t)
		if len(res.Runs) != 1 || !strings.HasPrefix(res.Runs[0].FullSyncReason, "the directory no longer accepts the saved change position") ||
			res.Runs[0].UsersDeleted != 1 || res.Runs[0].Status != bridge.StatusSucceeded {
			t.Fatalf("runs = %+v", res.Runs[0])
		}
		e.f.expired = false
		if res := e.pass(t); len(res.Runs) != 0 {
			t.Fatalf("the pass after the full sync: %+v", res.Runs)
		}
	})
	t.Run("duplicate winner deleted", func(t *testing.T) {
		u, g := base()
		loser := duser("u8", "zz")
		loser.Attrs["uid"] = [][]byte{[]byte("ann")}
		e := newDeltaEnvWith(t, append(u, loser), g)
		e.f.set(append(u[1:], loser), g)
		res := e.pass(t)
		if len(res.Runs) != 1 || !strings.Contains(res.Runs[0].FullSyncReason, "skipped as a duplicate") {
			t.Fatalf("runs = %+v", res.Runs)
		}
		got := bridgetest.Served(t, e.db, nil)
		if want := bridgetest.FullSync(t, e.f.dir.Dialer(), e.set, nil); !reflect.DeepEqual(got, want) {
			t.Fatalf("served\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if !strings.Contains(strings.Join(got, "\n"), "dn=cn=zz,ou=people,dc=example,dc=com") {
			t.Fatalf("the skipped loser did not appear:\n%s", strings.Join(got, "\n"))
		}
	})
}

// TestChangedPassHeldByMaxDeletes: a burst of deletions above sync.maxDeletes
// is held like a full run, and nothing is applied.
func TestChangedPassHeldByMaxDeletes(t *testing.T) {
	e := newDeltaEnv(t)
	e.set.Sync.MaxDeletes = 1
	before := bridgetest.Served(t, e.db, nil)
	u, g := base()
	e.f.set(u[2:], g)
	res := e.pass(t)
	if len(res.Runs) != 1 || res.Runs[0].Status != bridge.StatusHeld ||
		res.Runs[0].Error != "held: the changes would delete 2 users, more than sync.maxDeletes (1); approve with a full sync with --allow-deletes" {
		t.Fatalf("runs = %+v", res.Runs)
	}
	if got := bridgetest.Served(t, e.db, nil); !reflect.DeepEqual(got, before) {
		t.Fatalf("a held pass changed the store")
	}
	// Later passes wait for the approval: no run is recorded again.
	if res := e.pass(t); len(res.Runs) != 0 || !res.Held {
		t.Fatalf("the pass after a hold: %+v", res)
	}
	// The approval is a full sync that may delete them; passes go on after it.
	if r, err := e.sy.Run(context.Background(), e.set, bridge.Options{AllowDeletes: true}); err != nil || r.UsersDeleted != 2 {
		t.Fatalf("approval: %v %+v", err, r)
	}
	u, g = base()
	e.f.set(append(u[2:], duser("u5", "eve")), g)
	if res := e.pass(t); len(res.Runs) != 1 || res.Held || res.Runs[0].UsersCreated != 1 {
		t.Fatalf("the pass after the approval: %+v", res)
	}
	if got, want := bridgetest.Served(t, e.db, nil), bridgetest.FullSync(t, e.f.dir.Dialer(), e.set, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("served\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestChangedPassInMemberUidMode: groups that list member keys (memberUid)
// follow a user whose key appears, changes or goes, as a full sync would.
func TestChangedPassInMemberUidMode(t *testing.T) {
	users := func() []*schema.Entry {
		return []*schema.Entry{duser("u1", "ann", "employeeID: K1"), duser("u2", "bob", "employeeID: k2")}
	}
	groups := func(lines ...string) []*schema.Entry {
		return []*schema.Entry{dgroup("g1", "eng", append([]string{"memberUid: k1", "memberUid: k3"}, lines...)...), dgroup("g2", "ops", "memberUid: K2")}
	}
	cases := []struct {
		name string
		u    []*schema.Entry
		g    []*schema.Entry
	}{
		{"a user with a listed key appears", append(users(), duser("u3", "cy", "employeeID: k3")), groups()},
		{"a user's key changes", []*schema.Entry{duser("u1", "ann", "employeeID: k9"), duser("u2", "bob", "employeeID: k2")}, groups()},
		{"a user goes", users()[:1], groups()},
		{"a group lists another key", users(), groups("memberUid: k2")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newDeltaEnvWith(t, users(), groups())
			e.set.Groups.Attributes.Membership = "memberUid"
			e.set.Groups.Attributes.MembershipAttributeType = schema.MembershipUID
			e.set.Groups.Attributes.MembershipUserAttribute = "employeeID"
			if r := e.full(t); r.Status != bridge.StatusSucceeded {
				t.Fatalf("full sync in memberUid mode: %+v", r)
			}
			e.f.set(tc.u, tc.g)
			res := e.pass(t)
			if len(res.Runs) != 1 || res.Runs[0].FullSyncReason != "" || res.Runs[0].Status != bridge.StatusSucceeded {
				t.Fatalf("runs %+v", res.Runs)
			}
			if got, want := bridgetest.Served(t, e.db, nil), bridgetest.FullSync(t, e.f.dir.Dialer(), e.set, nil); !reflect.DeepEqual(got, want) {
				t.Fatalf("after the pass the store serves\n%s\nwant (a full sync)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestDeletionByUUIDAloneWithAnotherExternalID: with externalId mapped to an
// attribute other than the directory's UUID, a deletion named by UUID alone
// finds the user and the group by the UUID a pass recorded when it saw them.
func TestDeletionByUUIDAloneWithAnotherExternalID(t *testing.T) {
	users := []*schema.Entry{duser("u1", "ann", "employeeNumber: 1"), duser("u2", "bob", "employeeNumber: 2")}
	groups := []*schema.Entry{dgroup("g1", "eng", "employeeNumber: 10", member("ann")), dgroup("g2", "ops", "employeeNumber: 20", member("bob"))}
	e := newDeltaEnvWith(t, users, groups)
	e.set.Users.Attributes.ExternalID, e.set.Groups.Attributes.ExternalID = "employeeNumber", "employeeNumber"
	if r := e.full(t); r.Status != bridge.StatusSucceeded {
		t.Fatalf("full sync: %+v", r)
	}
	e.f.uuidOnly = true
	// A pass sees ann and ops change: it records their UUIDs.
	users[0] = duser("u1", "ann", "employeeNumber: 1", "mail: ann@new")
	groups[1] = dgroup("g2", "ops", "employeeNumber: 20", member("bob"), member("ann"))
	e.f.set(users, groups)
	if res := e.pass(t); len(res.Runs) != 1 {
		t.Fatalf("pass: %+v", res)
	}
	// Then both go, named by UUID alone.
	e.f.set(users[1:], groups[:1])
	res := e.pass(t)
	if len(res.Runs) != 1 || res.Runs[0].UsersDeleted != 1 || res.Runs[0].GroupsDeleted != 1 {
		t.Fatalf("deletions by UUID: %+v", res.Runs)
	}
	if got, want := bridgetest.Served(t, e.db, nil), bridgetest.FullSync(t, e.f.dir.Dialer(), e.set, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("served\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
