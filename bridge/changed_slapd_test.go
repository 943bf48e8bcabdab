package bridge_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
)

const (
	people = ",ou=people,dc=example,dc=com"
	groups = ",ou=groups,dc=example,dc=com"
)

// slapdStep is one change to the base fixture and whether the mechanism sees it.
type slapdStep struct {
	name     string
	ldif     string
	deletion bool // modifyTimestamp passes do not see deletions (full syncs find them)
	// refint: slapd's memberof-refint rewrites the groups naming the renamed
	// entry below the overlays, so syncprov never reports those groups
	// (reported to ldapsource/slapdtest: refint's own overlay would be seen).
	refint bool
	// restart: slapd restarts before the change. It may no longer accept a
	// syncrepl cookie (its session log is in memory): a full sync then runs.
	restart bool
}

var slapdSteps = []slapdStep{
	{name: "add a user and list it in a group", ldif: "dn: uid=newbie" + people + "\nobjectClass: inetOrgPerson\nuid: newbie\ncn: New Bie\nsn: Bie\nmail: newbie@example.com\n\n" +
		"dn: cn=sre" + groups + "\nchangetype: modify\nadd: member\nmember: uid=newbie" + people + "\n"},
	{name: "modify a user", ldif: "dn: uid=alice" + people + "\nchangetype: modify\nreplace: mail\nmail: alice@new.example.com\n"},
	{name: "rename a user (modrdn)", ldif: "dn: uid=ivan,ou=interns" + people + "\nchangetype: modrdn\nnewrdn: uid=ivan2\ndeleteoldrdn: 1\n"},
	{name: "remove a group member", ldif: "dn: cn=design" + groups + "\nchangetype: modify\ndelete: member\nmember: uid=frank" + people + "\n"},
	{name: "nest a group", ldif: "dn: cn=engineers" + groups + "\nchangetype: modify\nadd: member\nmember: cn=design" + groups + "\n"},
	{name: "delete a user", ldif: "dn: uid=carol" + people + "\nchangetype: delete\n", deletion: true},
	{name: "move a user out of scope", ldif: "dn: uid=dave" + people + "\nchangetype: modrdn\nnewrdn: uid=dave\ndeleteoldrdn: 1\nnewsuperior: ou=contractors,dc=example,dc=com\n", deletion: true},
	{name: "slapd restarts, then a user changes", ldif: "dn: uid=frank" + people + "\nchangetype: modify\nreplace: mail\nmail: frank@restarted.example.com\n", restart: true},
	// Last: with syncrepl the store then differs from the directory.
	{name: "rename a user a group lists", ldif: "dn: uid=erin" + people + "\nchangetype: modrdn\nnewrdn: uid=erin2\ndeleteoldrdn: 1\n", refint: true},
}

// TestChangedPassesOnSlapd runs changed-entries passes against a real slapd:
// modifyTimestamp passes without syncprov, syncrepl with it. After each
// change the store serves exactly what a full sync of the same directory
// gives on a new store, a pass with no change records no run, and a slapd
// restart loses nothing.
func TestChangedPassesOnSlapd(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []slapdtest.Option
		live bool
		mech string
	}{
		{"timestamps", nil, false, ldapsource.MechanismTimestamps},
		{"syncrepl", []slapdtest.Option{slapdtest.WithSyncprov()}, true, ldapsource.MechanismSyncrepl},
	} {
		t.Run(mode.name, func(t *testing.T) {
			srv := slapdtest.Start(t, mode.opts...)
			db, _, sy := bridgetest.ChangeSyncer(t)
			set := srv.Settings()
			set.Sync.ChangedSyncIntervalSeconds, set.Sync.Live = 60, mode.live
			if r, err := sy.Run(context.Background(), set, bridge.Options{}); err != nil || r.Status != bridge.StatusSucceeded {
				t.Fatalf("first sync: %v %+v", err, r)
			}
			pass := func(step string, restart bool) {
				res, err := sy.RunChanged(context.Background(), set, bridge.Options{})
				if err != nil {
					t.Fatalf("%s: RunChanged: %v", step, err)
				}
				if res.Mechanism != mode.mech {
					t.Fatalf("%s: mechanism %q, want %q", step, res.Mechanism, mode.mech)
				}
				for _, r := range res.Runs {
					expired := restart && strings.HasPrefix(r.FullSyncReason, "the directory no longer accepts the saved change position")
					if r.Status != bridge.StatusSucceeded || r.FullSyncReason != "" && !expired || r.Trigger != bridge.TriggerChanged {
						t.Fatalf("%s: run %s %q full sync %q", step, r.Status, r.Error, r.FullSyncReason)
					}
				}
			}
			for _, step := range slapdSteps {
				if step.restart {
					srv.Restart(t)
				}
				srv.Load(t, step.ldif)
				pass(step.name, step.restart)
				if step.refint && mode.mech == ldapsource.MechanismSyncrepl {
					continue
				}
				if step.deletion && mode.mech == ldapsource.MechanismTimestamps {
					// The full sync finds what the passes cannot see.
					if r, err := sy.Run(context.Background(), set, bridge.Options{}); err != nil || r.Status != bridge.StatusSucceeded || r.UsersDeleted != 1 {
						t.Fatalf("%s: full sync: %v %+v", step.name, err, r)
					}
				}
				want := bridgetest.FullSync(t, ldapsource.Dial, set, nil)
				got := bridgetest.Served(t, db, nil)
				// slapd's refint overlay rewrites the groups naming a renamed
				// entry after the rename returns: its change may come in a
				// later pass, within the interval the issue allows (1 s).
				for i := 0; i < 10 && !reflect.DeepEqual(got, want); i++ {
					time.Sleep(100 * time.Millisecond)
					pass(step.name+" (again)", step.restart)
					got = bridgetest.Served(t, db, nil)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: the store serves\n%s\nwant (a full sync)\n%s", step.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			if mode.mech == ldapsource.MechanismSyncrepl {
				if res, err := sy.RunChanged(context.Background(), set, bridge.Options{}); err != nil || len(res.Runs) != 0 {
					t.Fatalf("a pass with no change: %v %+v", err, res)
				}
			}
		})
	}
}

// TestTimestampPassesDeliverAnEntryOnce: a modifyTimestamp pass reads every
// entry changed within its overlap window (five minutes) again, and only
// delivers those it has not delivered yet, from pass to pass of one syncer;
// a new syncer (a restarted process) delivers them once more, and applying
// them changes nothing.
func TestTimestampPassesDeliverAnEntryOnce(t *testing.T) {
	srv := slapdtest.Start(t)
	db, _, sy := bridgetest.ChangeSyncer(t)
	set := srv.Settings()
	set.Sync.ChangedSyncIntervalSeconds = 60
	if r, err := sy.Run(context.Background(), set, bridge.Options{}); err != nil || r.Status != bridge.StatusSucceeded {
		t.Fatalf("first sync: %v %+v", err, r)
	}
	pass := func(sy *bridge.Syncer, step string) *bridge.ChangedResult {
		t.Helper()
		res, err := sy.RunChanged(context.Background(), set, bridge.Options{})
		if err != nil || res.Mechanism != ldapsource.MechanismTimestamps {
			t.Fatalf("%s: %v %+v", step, err, res)
		}
		return res
	}
	// The fixture was loaded moments ago: all of it is within the window.
	first := pass(sy, "first pass")
	if first.Changes == 0 || len(first.Runs) != 0 {
		t.Fatalf("first pass: %d entries delivered, runs %+v; want the whole fixture, nothing to apply", first.Changes, first.Runs)
	}
	if res := pass(sy, "pass with no change"); res.Changes != 0 || len(res.Runs) != 0 {
		t.Fatalf("pass with no change: %d entries delivered, runs %+v; want none", res.Changes, res.Runs)
	}
	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@once.example.com\n")
	res := pass(sy, "pass after one modify")
	if res.Changes != 1 || len(res.Runs) != 1 || res.Runs[0].UsersUpdated != 1 {
		t.Fatalf("pass after one modify: %d entries delivered, runs %+v; want alice alone, one run updating her", res.Changes, res.Runs)
	}
	if res := pass(sy, "the pass after"); res.Changes != 0 || len(res.Runs) != 0 {
		t.Fatalf("the pass after: %d entries delivered, runs %+v; want none", res.Changes, res.Runs)
	}
	restarted := bridge.NewSyncer(db, ldapsource.Dial, quietLog())
	restarted.SetChangeDialer(ldapsource.DialChanges)
	if res := pass(restarted, "a restarted process's pass"); res.Changes != first.Changes || len(res.Runs) != 0 {
		t.Fatalf("a restarted process's pass: %d entries delivered, runs %+v; want the %d of the window again, nothing to apply",
			res.Changes, res.Runs, first.Changes)
	}
	if got := bridgetest.Served(t, db, nil); !reflect.DeepEqual(got, bridgetest.FullSync(t, ldapsource.Dial, set, nil)) {
		t.Fatalf("the store serves\n%s", strings.Join(got, "\n"))
	}
}
