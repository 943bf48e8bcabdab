package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/store"
)

// The env tests write every new user while the directory is still being
// read (newEnv sets the stream threshold to 1). A run with few new users
// buffers them and writes them at commit instead; both must give the same
// store, the same report and the same change log.
func TestStreamedAndBufferedRunsAgree(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "buffered.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	buffered := &env{srv: e.srv, db: db, path: path, syncer: bridge.NewSyncer(db, ldapsource.Dial, quietLog()), set: e.set}

	for _, step := range []string{"", "rename.ldif", "add-member.ldif", "change-mail.ldif", "delete.ldif", "move-out-of-scope.ldif", "bulk"} {
		switch step {
		case "":
		case "bulk":
			e.srv.Load(t, manyUsers(300))
		default:
			e.srv.Load(t, slapdtest.LDIF(t, step))
		}
		rs, rb := e.mustSucceed(t), buffered.mustSucceed(t)
		if cs, cb := countsOf(rs), countsOf(rb); cs != cb {
			t.Errorf("after %q: streamed run counts %+v, buffered %+v", step, cs, cb)
		}
		if !reflect.DeepEqual(rs.SkippedEntries, rb.SkippedEntries) {
			t.Errorf("after %q: skipped entries differ:\nstreamed %+v\nbuffered %+v", step, rs.SkippedEntries, rb.SkippedEntries)
		}
		if cs, cb := changesOf(t, e.db, rs.ID), changesOf(t, db, rb.ID); !reflect.DeepEqual(cs, cb) {
			t.Errorf("after %q: change logs differ:\nstreamed %v\nbuffered %v", step, cs, cb)
		}
		ss, sb := e.state(t), buffered.state(t)
		if !reflect.DeepEqual(ss.userGroups, sb.userGroups) || !reflect.DeepEqual(ss.groupMembers, sb.groupMembers) {
			t.Errorf("after %q: memberships differ:\nstreamed %v %v\nbuffered %v %v", step, ss.userGroups, ss.groupMembers, sb.userGroups, sb.groupMembers)
		}
		if len(ss.users) != len(sb.users) {
			t.Errorf("after %q: %d users streamed, %d buffered", step, len(ss.users), len(sb.users))
		}
		for name, u := range ss.users {
			if b := sb.users[name]; b.User != u.User || b.Hash != u.Hash {
				t.Errorf("after %q: user %s streamed %+v, buffered %+v", step, name, u.User, b.User)
			}
		}
	}
	if users, _, err := e.db.Counts(context.Background()); err != nil || users != 9+300-2 {
		t.Fatalf("store has %d users (%v), want %d", users, err, 9+300-2)
	}
}

// A first sync that writes its users while reading and then loses the
// directory writes nothing at all: its transaction is rolled back.
func TestStreamedFirstSyncDyingMidReadWritesNothing(t *testing.T) {
	e := newEnv(t, slapdtest.WithLDIF(manyUsers(3000)))
	e.set.Connection.PageSize = 100
	k := &killingDir{srv: e.srv, n: 2000}
	dying := bridge.NewSyncer(e.db, k.dial, quietLog())
	bridge.SetStreamMin(dying, 100)
	r, err := dying.Run(context.Background(), e.set, bridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != bridge.StatusFailed || r.Error == "" {
		t.Fatalf("status %s (%q), want failed", r.Status, r.Error)
	}
	if k.seen < 2000 || k.seen >= 3009 {
		t.Fatalf("the read saw %d entries; want slapd killed after 2000 of 3009", k.seen)
	}
	if users, groups, err := e.db.Counts(context.Background()); err != nil || users != 0 || groups != 0 {
		t.Fatalf("store has %d users and %d groups (%v), want none", users, groups, err)
	}
	if n := countChanges(t, e.db); n != 0 {
		t.Fatalf("change log has %d entries, want none", n)
	}
	e.srv.Restart(t)
	r = e.mustSucceed(t)
	if r.UsersCreated != 3009 || r.Users != 3009 {
		t.Fatalf("after restart: %+v, want all 3009 users created", countsOf(r))
	}
	if users, _, err := e.db.Counts(context.Background()); err != nil || users != 3009 {
		t.Fatalf("store has %d users (%v), want 3009", users, err)
	}
}

// failingStore is a fake named for what it is: the real store, whose run
// transaction fails the second time new users are written to it, as a full
// disk or an I/O error would. No real component fails on cue mid-stream.
type failingStore struct {
	*store.DB
}

func (s failingStore) Begin(ctx context.Context, changeLog bool) (bridge.Tx, error) {
	tx, err := s.DB.Begin(ctx, changeLog)
	if err != nil {
		return nil, err
	}
	return &failingTx{Tx: tx}, nil
}

type failingTx struct {
	bridge.Tx
	calls int
}

var errDiskFull = errors.New("disk I/O error (injected)")

func (t *failingTx) CreateUsers(runID int64, rows []bridge.UserRow) error {
	if t.calls++; t.calls == 2 {
		return errDiskFull
	}
	return t.Tx.CreateUsers(runID, rows)
}

// A store that fails while new users are written during the read fails the
// run with the store's error, stops the read and writes nothing at all.
func TestStoreFailingMidStreamWritesNothing(t *testing.T) {
	e := newEnv(t, slapdtest.WithLDIF(manyUsers(3000)))
	sy := bridge.NewSyncer(failingStore{e.db}, ldapsource.Dial, quietLog())
	bridge.SetStreamMin(sy, 100)
	r, err := sy.Run(context.Background(), e.set, bridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "write to the state store: " + errDiskFull.Error(); r.Status != bridge.StatusFailed || r.Error != want {
		t.Fatalf("status %s (%q), want failed naming the store and its error", r.Status, r.Error)
	}
	if users, groups, err := e.db.Counts(context.Background()); err != nil || users != 0 || groups != 0 {
		t.Fatalf("store has %d users and %d groups (%v), want none", users, groups, err)
	}
	if n := countChanges(t, e.db); n != 0 {
		t.Fatalf("change log has %d entries, want none", n)
	}
	runs, _, err := e.db.Runs(context.Background(), 10, 0)
	if err != nil || len(runs) != 1 || runs[0].Status != bridge.StatusFailed {
		t.Fatalf("runs recorded: %+v (%v), want the one failed run", runs, err)
	}
	// The same store, working again, takes the whole directory.
	r = e.mustSucceed(t)
	if r.UsersCreated != 3009 {
		t.Fatalf("next run created %d users, want 3009", r.UsersCreated)
	}
}

// A dry run of a large first sync lets its new users go in batches instead
// of holding them all, and still reports exactly what the run then does;
// that includes an entry read last that takes the username of one let go
// long before.
func TestDryRunOfALargeFirstSyncReportsWhatTheRunDoes(t *testing.T) {
	late := "dn: cn=A Bulk,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: BULK00001\ncn: A Bulk\nsn: Bulk\n\n"
	e := newEnv(t, slapdtest.WithLDIF(manyUsers(3000)+late))
	dry := e.sync(t, bridge.Options{DryRun: true})
	if dry.Status != bridge.StatusSucceeded {
		t.Fatalf("dry run %s: %s", dry.Status, dry.Error)
	}
	if users, _, err := e.db.Counts(context.Background()); err != nil || users != 0 || countChanges(t, e.db) != 0 {
		t.Fatalf("dry run wrote %d users (%v)", users, err)
	}
	real := e.mustSucceed(t)
	if cd, cr := countsOf(dry), countsOf(real); cd != cr || cr.UsersCreated != 3009 || cr.Skipped != 3 {
		t.Fatalf("dry run counts %+v, the run's %+v; want equal, 3009 created, 3 skipped", cd, cr)
	}
	if !reflect.DeepEqual(dry.SkippedEntries, real.SkippedEntries) {
		t.Fatalf("skipped entries differ:\ndry run %+v\nrun     %+v", dry.SkippedEntries, real.SkippedEntries)
	}
	want := bridge.SkippedEntry{DN: "uid=bulk00001,ou=people,dc=example,dc=com",
		Reason: `duplicate username "bulk00001": already used by cn=a bulk,ou=people,dc=example,dc=com`}
	if !slices.Contains(real.SkippedEntries, want) {
		t.Fatalf("skipped entries %+v lack %+v", real.SkippedEntries, want)
	}
	s := e.state(t)
	if u, ok := s.users["BULK00001"]; !ok || u.DN != "cn=A Bulk,ou=people,dc=example,dc=com" || len(s.users) != 3009 {
		t.Fatalf("%d users; BULK00001 = %+v (%v)", len(s.users), u.User, ok)
	}
	if n := countChanges(t, e.db); n != 3009+8 {
		t.Fatalf("%d changes, want one per user and group created", n)
	}
}

// An entry renamed since the last sync that then loses its username to an
// entry read later is skipped, and the stored user it is stays as it was,
// in its groups: the groups now name the entry's new DN.
func TestRenamedEntryLosingItsNameKeepsTheStoredUser(t *testing.T) {
	e := newEnv(t)
	e.mustSucceed(t)
	before := e.state(t)
	e.srv.Load(t, `dn: uid=bob,ou=people,dc=example,dc=com
changetype: modrdn
newrdn: uid=robert
deleteoldrdn: 1

`+
		person("aaa", "uid: robert"))
	r := e.mustSucceed(t)
	if got, want := countsOf(r), (counts{Users: 9, Groups: 8, UsersCreated: 1, Skipped: 3, Dangling: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if r.KeptUnchanged != 1 {
		t.Errorf("keptUnchanged = %d, want 1 (bob)", r.KeptUnchanged)
	}
	want := bridge.SkippedEntry{DN: "uid=robert,ou=people,dc=example,dc=com",
		Reason: `duplicate username "robert": already used by cn=aaa,ou=people,dc=example,dc=com`}
	if !slices.Contains(r.SkippedEntries, want) {
		t.Errorf("skipped %+v, want it to hold %+v", r.SkippedEntries, want)
	}
	after := e.state(t)
	if after.users["bob"].ID != before.users["bob"].ID || after.users["bob"].Version != before.users["bob"].Version {
		t.Errorf("bob changed: %+v", after.users["bob"].UserRow)
	}
	if !reflect.DeepEqual(after.groupMembers, before.groupMembers) || !reflect.DeepEqual(after.userGroups["bob"], before.userGroups["bob"]) {
		t.Errorf("memberships changed:\nbefore %v\nafter  %v", before.groupMembers, after.groupMembers)
	}
	if u := after.users["robert"]; u.DN != "cn=aaa,ou=people,dc=example,dc=com" {
		t.Errorf("robert = %+v", u.User)
	}
	if got, want := changesOf(t, e.db, r.ID), []string{"User create robert"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

// slowCommitStore is a fake named for what it is: the real store, whose run
// transaction's commit moves the syncer's clock on by an hour, as a long
// COMMIT of a million rows does, without a test waiting for one.
type slowCommitStore struct {
	*store.DB
	advance func()
}

func (s slowCommitStore) Begin(ctx context.Context, changeLog bool) (bridge.Tx, error) {
	tx, err := s.DB.Begin(ctx, changeLog)
	if err != nil {
		return nil, err
	}
	return slowCommitTx{Tx: tx, advance: s.advance}, nil
}

type slowCommitTx struct {
	bridge.Tx
	advance func()
}

func (t slowCommitTx) Commit(p *bridge.Plan, r *bridge.Report) error {
	if err := t.Tx.Commit(p, r); err != nil {
		return err
	}
	t.advance()
	return nil
}

// durationMs counts the run's commit, in the report returned and in the one
// recorded, streamed or not.
func TestDurationCountsTheCommit(t *testing.T) {
	for _, streamMin := range []int{1, bridge.DefaultStreamMin} {
		t.Run(fmt.Sprint("streamMin=", streamMin), func(t *testing.T) {
			e := newEnv(t)
			clock := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
			sy := bridge.NewSyncer(slowCommitStore{e.db, func() { clock = clock.Add(time.Hour) }}, ldapsource.Dial, quietLog())
			bridge.SetStreamMin(sy, streamMin)
			bridge.SetClock(sy, func() time.Time { return clock })
			r, err := sy.Run(context.Background(), e.set, bridge.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != bridge.StatusSucceeded || r.UsersCreated == 0 {
				t.Fatalf("status %s (%s), %d users created: want a first sync that succeeded", r.Status, r.Error, r.UsersCreated)
			}
			if want := time.Hour.Milliseconds(); r.DurationMs != want {
				t.Errorf("durationMs = %d, want %d (the commit's hour)", r.DurationMs, want)
			}
			stored, found, err := e.db.Run(context.Background(), r.ID)
			if err != nil || !found {
				t.Fatalf("run %d: found %v, %v", r.ID, found, err)
			}
			if stored.DurationMs != r.DurationMs || !stored.FinishedAt.Equal(r.FinishedAt) {
				t.Errorf("recorded durationMs %d, finishedAt %v; want %d, %v", stored.DurationMs, stored.FinishedAt, r.DurationMs, r.FinishedAt)
			}
		})
	}
}
