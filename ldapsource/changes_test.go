package ldapsource_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// describe spells a change as "present user uid=alice,…" for comparisons;
// gone changes without a DN show their UUID's presence instead.
func describe(ch schema.Change) string {
	kind := map[schema.ChangeKind]string{schema.ChangePresent: "present", schema.ChangeGone: "gone"}[ch.Kind]
	what := "user"
	if ch.Group {
		what = "group"
	}
	dn := strings.ToLower(ch.Entry.DN)
	if dn == "" {
		dn = "(uuid only)"
	}
	if ch.UUID == "" {
		dn += " (no uuid)"
	}
	if debugChanges {
		fmt.Println("DEBUG", kind, what, dn, ch.UUID)
	}
	return kind + " " + what + " " + dn
}

// liveStream runs src.Changes live in the background and hands each batch to
// the returned channel.
func liveStream(t *testing.T, src bridge.ChangeSource, pos []byte) (<-chan schema.ChangeBatch, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	batches := make(chan schema.ChangeBatch, 100)
	done := make(chan error, 1)
	go func() {
		done <- src.Changes(ctx, pos, true, func(b schema.ChangeBatch) error {
			batches <- b
			return nil
		})
	}()
	t.Cleanup(cancel)
	return batches, done
}

// await collects batches until the changes seen equal want (sorted), or
// fails after 10 s; then it waits settle for anything more, which fails
// the test too. It returns the position of the last batch.
func await(t *testing.T, batches <-chan schema.ChangeBatch, settle time.Duration, want ...string) []byte {
	t.Helper()
	slices.Sort(want)
	var got []string
	var pos []byte
	deadline := time.After(10 * time.Second)
	for !slices.Equal(got, want) {
		select {
		case b := <-batches:
			for _, ch := range b.Changes {
				got = append(got, describe(ch))
			}
			slices.Sort(got)
			pos = b.Position
		case <-deadline:
			t.Fatalf("changes after 10 s:\n got  %q\n want %q", got, want)
		}
	}
	select {
	case b := <-batches:
		t.Fatalf("more changes than expected: %d more, first %q", len(b.Changes), describe(b.Changes[0]))
	case <-time.After(settle):
	}
	return pos
}

// warmUp waits for the change want and then for settle, accepting only
// the change maybe besides it.
func warmUp(t *testing.T, batches <-chan schema.ChangeBatch, settle time.Duration, want, maybe string) {
	t.Helper()
	seen := false
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-batches:
			for _, ch := range b.Changes {
				switch d := describe(ch); d {
				case want:
					seen = true
				case maybe:
				default:
					t.Fatalf("warm-up: unexpected change %q", d)
				}
			}
		case <-time.After(settle):
			if seen {
				return
			}
		case <-deadline:
			t.Fatalf("warm-up: no %q within 10 s", want)
		}
	}
}

func dialChanges(t *testing.T, s *schema.Settings, live bool, mechanism string) bridge.ChangeSource {
	t.Helper()
	src, err := ldapsource.DialChanges(context.Background(), s, live)
	if err != nil {
		t.Fatalf("DialChanges: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	if got := src.Mechanism(); got != mechanism {
		t.Fatalf("mechanism %q, want %q", got, mechanism)
	}
	return src
}

func start(t *testing.T, src bridge.ChangeSource) []byte {
	t.Helper()
	pos, err := src.Start(context.Background())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return pos
}

// once runs one changed-entries pass from pos and returns its changes
// (sorted descriptions) and the last position (pos when nothing came).
func once(t *testing.T, src bridge.ChangeSource, pos []byte) ([]string, []byte) {
	t.Helper()
	return bridgetest.Pass(t, src, pos, func(ch schema.Change) (string, error) { return describe(ch), nil })
}

const debugChanges = false

const newbie = `dn: uid=newbie,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: newbie
cn: New Bie
sn: Bie
mail: newbie@example.com
`

// TestSyncreplLive follows slapd's syncprov as changes happen: each add,
// modify, rename, delete, member change and move out of scope arrives as
// exactly the changes it makes to the users and groups in scope (the
// memberof overlay's and refint's own modifications included).
func TestSyncreplLive(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.WithSyncprov())
	src := dialChanges(t, srv.Settings(), true, ldapsource.MechanismSyncrepl)
	batches, done := liveStream(t, src, start(t, src))
	settle := 300 * time.Millisecond

	// A change made while the streams still refresh from the start position
	// comes in that refresh, where syncprov also lists it as deleted from the
	// groups' search (its session log cannot tell); once bob arrived, both
	// streams are past their refresh and each change comes alone.
	srv.Load(t, "dn: uid=bob"+people+"\nchangetype: modify\nreplace: mail\nmail: bob@new.example.com\n")
	warmUp(t, batches, settle, "present user uid=bob"+people, "gone group (uuid only)")

	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@new.example.com\n")
	await(t, batches, settle, "present user uid=alice"+people)

	srv.Load(t, newbie)
	await(t, batches, settle, "present user uid=newbie"+people)

	srv.Load(t, "dn: cn=sre"+groups+"\nchangetype: modify\nadd: member\nmember: uid=newbie"+people+"\n")
	await(t, batches, settle, "present group cn=sre"+groups)

	srv.Load(t, "dn: uid=erin"+people+"\nchangetype: modrdn\nnewrdn: uid=erin2\ndeleteoldrdn: 1\n")
	await(t, batches, settle, "present user uid=erin2"+people)

	srv.Load(t, "dn: uid=carol"+people+"\nchangetype: delete\n")
	await(t, batches, settle, "gone user uid=carol"+people)

	srv.Load(t, "dn: uid=dave"+people+"\nchangetype: modrdn\nnewrdn: uid=dave\ndeleteoldrdn: 1\nnewsuperior: ou=contractors,dc=example,dc=com\n")
	// The gone entry carries its new DN: the UUID is what names it.
	await(t, batches, settle, "gone user uid=dave,ou=contractors,dc=example,dc=com")

	// The directory going away ends the stream with an error (the engine
	// reconnects and resumes from its stored position); it is not an
	// expired position.
	srv.Stop()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, schema.ErrPositionExpired) {
			t.Fatalf("the stream ended with %v, want a read error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end within 10 s of slapd stopping")
	}
}

// TestSyncreplResume: changes made while nobody listens arrive, deletes
// included, when the stream starts again from the stored position, also
// after slapd restarted; the same position read twice gives the same
// changes; and a position the session log no longer covers is expired.
func TestSyncreplResume(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.WithSyncprov())
	s := srv.Settings()
	src := dialChanges(t, s, true, ldapsource.MechanismSyncrepl)
	pos := start(t, src)

	srv.Load(t, newbie)
	srv.Load(t, "dn: uid=carol"+people+"\nchangetype: delete\n")
	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@new.example.com\n")
	// syncprov's session log lists carol's and alice's ids as deleted from
	// the groups' search too (it cannot tell they never matched it), and
	// the memberof overlay's removal of carol from platform is not seen.
	want := []string{"gone group (uuid only)", "gone group (uuid only)", "gone user (uuid only)",
		"present user uid=alice" + people, "present user uid=newbie" + people}
	got, next := once(t, src, pos)
	if !slices.Equal(got, want) {
		t.Fatalf("refresh from the position:\n got  %q\n want %q", got, want)
	}
	if again, _ := once(t, src, pos); !slices.Equal(again, want) {
		t.Fatalf("the same position read again:\n got  %q\n want %q", again, want)
	}

	// A live stream stops when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- src.Changes(ctx, next, true, func(schema.ChangeBatch) error { return nil }) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled live stream returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the live stream did not stop within 10 s of its context ending")
	}

	srv.Restart(t)
	src2 := dialChanges(t, s, true, ldapsource.MechanismSyncrepl)
	if got, last := once(t, src2, next); len(got) != 0 || string(last) != string(next) {
		t.Fatalf("after a restart, nothing changed: got %q, position moved %v", got, string(last) != string(next))
	}
	srv.Load(t, "dn: uid=bob"+people+"\nchangetype: modify\nreplace: mail\nmail: bob@new.example.com\n")
	if got, _ := once(t, src2, next); !slices.Equal(got, []string{"gone group (uuid only)", "present user uid=bob" + people}) {
		t.Fatalf("after a restart and a modify: %q", got)
	}

	stale := []byte(fmt.Sprintf(`{"m":"syncrepl","s":%q,"c":["%s","%s"]}`, scopeOf(t, next),
		"cmlkPTAwMCxjc249MjAwMDAxMDEwMDAwMDAuMDAwMDAwWiMwMDAwMDAjMDAwIzAwMDAwMA==",
		"cmlkPTAwMCxjc249MjAwMDAxMDEwMDAwMDAuMDAwMDAwWiMwMDAwMDAjMDAwIzAwMDAwMA=="))
	err := src2.Changes(context.Background(), stale, false, func(schema.ChangeBatch) error { return nil })
	if !errors.Is(err, schema.ErrPositionExpired) {
		t.Fatalf("a cookie from 2000: %v, want ErrPositionExpired", err)
	}
}

// scopeOf returns the searches' fingerprint a position carries.
func scopeOf(t *testing.T, pos []byte) string {
	t.Helper()
	s := string(pos)
	i := strings.Index(s, `"s":"`)
	if i < 0 {
		t.Fatalf("position %s has no scope", s)
	}
	s = s[i+5:]
	return s[:strings.IndexByte(s, '"')]
}

// TestTimestampsPass: without syncprov the changed-entries pass reads what
// modifyTimestamp says changed since the position, once; a live source
// falls back to it; a position for other searches is expired.
func TestTimestampsPass(t *testing.T) {
	defer ldapsource.SetTimestampOverlap(0)()
	srv := slapdtest.Start(t, slapdtest.WithDatabaseConfig("index modifyTimestamp eq"))
	s := srv.Settings()
	dialChanges(t, s, true, ldapsource.MechanismTimestamps)
	src := dialChanges(t, s, false, ldapsource.MechanismTimestamps)
	time.Sleep(1100 * time.Millisecond) // the fixture's own second is over
	pos := start(t, src)
	if got, _ := once(t, src, pos); len(got) != 0 {
		t.Fatalf("nothing changed yet: %q", got)
	}
	time.Sleep(1100 * time.Millisecond) // the changes are stamped after the position's second
	srv.Load(t, newbie)
	srv.Load(t, "dn: cn=sre"+groups+"\nchangetype: modify\nadd: member\nmember: uid=newbie"+people+"\n")
	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@new.example.com\n")
	want := []string{"present group cn=sre" + groups, "present user uid=alice" + people, "present user uid=newbie" + people}
	got, next := once(t, src, pos)
	if !slices.Equal(got, want) {
		t.Fatalf("changed entries:\n got  %q\n want %q", got, want)
	}
	if got, last := once(t, src, next); len(got) != 0 || string(last) != string(next) {
		t.Fatalf("a second pass delivered %q again", got)
	}
	srv.Load(t, "dn: uid=alice"+people+"\nchangetype: modify\nreplace: mail\nmail: alice@newer.example.com\n")
	if got, _ := once(t, src, next); !slices.Equal(got, []string{"present user uid=alice" + people}) {
		t.Fatalf("a change in the same second as the last one: %q", got)
	}

	other := srv.Settings()
	other.Users.Filter = "(mail=*)"
	src2 := dialChanges(t, other, false, ldapsource.MechanismTimestamps)
	if err := src2.Changes(context.Background(), next, false, func(schema.ChangeBatch) error { return nil }); !errors.Is(err, schema.ErrPositionExpired) {
		t.Fatalf("a position of other searches: %v, want ErrPositionExpired", err)
	}
}
