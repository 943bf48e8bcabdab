package bridge_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/childtest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

func TestMain(m *testing.M) { childtest.Main(m, "changed", changedChild) }

// changedChild runs changed-entries passes, one after the other, until it
// is killed.
func changedChild(ctx context.Context, db *store.DB, s *schema.Settings) int {
	sy := bridge.NewSyncer(db, ldapsource.Dial, nil)
	sy.SetChangeDialer(ldapsource.DialChanges)
	for {
		if _, err := sy.RunChanged(ctx, s, bridge.Options{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// TestChangedPassKilled: scimbridge is killed (SIGKILL) while it applies a
// stream of changes; the next pass resumes from the stored position, and
// the store then serves exactly what a full sync gives, with every user
// created once in the change log (nothing lost, nothing applied twice).
func TestChangedPassKilled(t *testing.T) {
	srv := slapdtest.Start(t)
	db, path, sy := bridgetest.ChangeSyncer(t)
	set := logged(srv.Settings())
	set.Sync.ChangedSyncIntervalSeconds = 60
	if r, err := sy.Run(context.Background(), set, bridge.Options{}); err != nil || r.Status != bridge.StatusSucceeded {
		t.Fatalf("first sync: %v %+v", err, r)
	}
	child := childtest.Start(t, "changed", path, set)
	const n = 60
	add := func(i int) {
		srv.Load(t, fmt.Sprintf("dn: uid=k%02d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: k%02d\ncn: K %d\nsn: K\n\n"+
			"dn: cn=design,ou=groups,dc=example,dc=com\nchangetype: modify\nadd: member\nmember: uid=k%02d,ou=people,dc=example,dc=com\n", i, i, i, i))
	}
	i := 0
	deadline := time.Now().Add(30 * time.Second)
	// Changes go on while the child applies them; it is killed once it has
	// applied some, with more pending.
	for ; i < n; i++ {
		add(i)
		if i >= 10 && created(t, path) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child applied %d users in 30 s", created(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Kill()
	applied := created(t, path)
	for i++; i < n; i++ {
		add(i)
	}
	if applied >= n {
		t.Fatalf("the child applied every change (%d) before it was killed", applied)
	}
	res, err := sy.RunChanged(context.Background(), set, bridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Runs {
		if r.FullSyncReason != "" || r.Status != bridge.StatusSucceeded {
			t.Fatalf("the pass after the kill: %+v", r)
		}
	}
	if got, want := bridgetest.Served(t, db, nil), bridgetest.FullSync(t, ldapsource.Dial, set, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the kill the store serves\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := created(t, path); got != n {
		t.Fatalf("the change log has %d user creations for %d new users", got, n)
	}
	var dup int
	raw := openRaw(t, path)
	if err := raw.QueryRow(`SELECT count(*) FROM (SELECT resource_id FROM changes WHERE op = 'create'
		GROUP BY resource_type, resource_id HAVING count(*) > 1)`).Scan(&dup); err != nil || dup != 0 {
		t.Fatalf("resources created twice: %d (%v)", dup, err)
	}
	t.Logf("killed after %d of %d users were applied", applied, n)
}

// created counts the user creations the change log holds after the first sync.
func created(t *testing.T, path string) int {
	t.Helper()
	var c int
	if err := openRaw(t, path).QueryRow(`SELECT count(*) FROM changes WHERE op = 'create' AND resource_type = 'User'
		AND run_id > (SELECT min(id) FROM sync_runs)`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
