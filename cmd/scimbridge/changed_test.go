package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
)

// TestSyncChangedRunsOnePass: `scimbridge sync --changed` takes the first
// position with a full sync, then applies only what changed, one JSON line
// each time; with nothing changed it records no run.
func TestSyncChangedRunsOnePass(t *testing.T) {
	srv := slapdtest.Start(t)
	settings := writeSettings(t, srv.Settings())
	db := filepath.Join(t.TempDir(), "state.db")
	pass := func() map[string]any {
		t.Helper()
		res := runCmd(t, nil, "sync", "--settings", settings, "--db", db, "--changed")
		if res.code != 0 || strings.Count(res.stdout, "\n") != 1 {
			t.Fatalf("exit %d, stdout %q: %s", res.code, res.stdout, res.stderr)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := pass()
	runs := first["runs"].([]any)
	if first["status"] != "succeeded" || first["mechanism"] != "timestamps" || len(runs) != 1 ||
		runs[0].(map[string]any)["fullSyncReason"] != "no saved change position: a full sync takes the first one" ||
		runs[0].(map[string]any)["usersCreated"] != 9.0 {
		t.Fatalf("first pass %v", first)
	}
	srv.Load(t, "dn: uid=alice,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: mail\nmail: alice@changed.example.com\n")
	second := pass()
	runs = second["runs"].([]any)
	var updated float64
	for _, r := range runs {
		m := r.(map[string]any)
		if m["status"] != "succeeded" || m["fullSyncReason"] != nil {
			t.Fatalf("second pass run %v", m)
		}
		updated += m["usersUpdated"].(float64)
	}
	if second["status"] != "succeeded" || updated != 1 {
		t.Fatalf("second pass %v, want alice updated once", second)
	}
	// Within the overlap window the same entries come again and change nothing.
	third := pass()
	if !reflect.DeepEqual(third["runs"], []any{}) || third["status"] != "succeeded" {
		t.Fatalf("third pass %v", third)
	}
	if res := runCmd(t, nil, "sync", "--settings", settings, "--db", db, "--changed", "--dry-run"); res.code != 2 {
		t.Fatalf("--changed --dry-run: exit %d", res.code)
	}
}
