package bridgetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// OpenStore opens a new store in the test's directory, closed when the test
// ends, and returns it with its path.
func OpenStore(t testing.TB) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// ChangeSyncer opens a new store in the test's directory, closed when the
// test ends, and a Syncer of it that reads the directory with ldapsource,
// changes included. It returns the store's path too.
func ChangeSyncer(t testing.TB) (*store.DB, string, *bridge.Syncer) {
	t.Helper()
	db, path := OpenStore(t)
	sy := bridge.NewSyncer(db, ldapsource.Dial, quiet())
	sy.SetChangeDialer(ldapsource.DialChanges)
	return db, path, sy
}

// FullSync is what a full sync through dial of the directory set describes
// gives on a new store (Served, with skip), change tracking off.
func FullSync(t testing.TB, dial bridge.Dialer, set *schema.Settings, skip func(userName string) bool) []string {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := *set
	s.Sync.ChangedSyncIntervalSeconds, s.Sync.Live = 0, false
	r, err := bridge.NewSyncer(db, dial, quiet()).Run(context.Background(), &s, bridge.Options{AllowDeletes: true})
	if err != nil || r.Status != bridge.StatusSucceeded {
		t.Fatalf("full sync: %v %+v", err, r)
	}
	return Served(t, db, skip)
}

// Served is what /scim/v2 serves of db, one line per user and group,
// sorted: ids, versions, users' groups (direct or not) and groups' members
// included. Users whose userName skip accepts are left out (nil: none).
func Served(t testing.TB, db *store.DB, skip func(userName string) bool) []string {
	t.Helper()
	ctx := context.Background()
	_, users, err := db.ListUsers(ctx, store.Query{Count: 1000000, WithGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	_, groups, err := db.ListGroups(ctx, store.Query{Count: 1000000, WithMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		if skip != nil && skip(u.UserName) {
			continue
		}
		var gs []string
		for _, g := range u.Groups {
			gs = append(gs, fmt.Sprintf("%s/%v", g.Name, g.Direct))
		}
		sort.Strings(gs)
		out = append(out, fmt.Sprintf("user %s id=%s dn=%s ext=%s mail=%s display=%s version=%s groups=%v",
			u.UserName, u.ID, u.DNNorm, u.ExternalID, u.Email, u.DisplayName, u.Version, gs))
	}
	for _, g := range groups {
		var ms []string
		for _, m := range g.Members {
			ms = append(ms, m.Type+":"+m.ID)
		}
		sort.Strings(ms)
		out = append(out, fmt.Sprintf("group %s id=%s dn=%s version=%s members=%v", g.Name, g.ID, g.DNNorm, g.Version, ms))
	}
	sort.Strings(out)
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
