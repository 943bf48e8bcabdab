package push_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// harness is the whole chain: real slapd → bridge → SQLite store → push → a
// real SCIM target (SCIMMY).
type harness struct {
	t        *testing.T
	ctx      context.Context
	ldap     *slapdtest.Server
	target   *scimmytest.Server
	db       *store.DB
	dbPath   string
	syncer   *bridge.Syncer
	client   *push.Client
	settings *schema.Settings
}

func newHarness(t *testing.T, opts ...slapdtest.Option) *harness {
	t.Helper()
	h := newChain(t, opts...)
	h.target = scimmytest.Start(t)
	h.settings.Push.URL, h.settings.Push.Token = h.target.URL, h.target.Token
	return h
}

// newChain is a harness without a target; the caller sets push.url and push.token.
func newChain(t *testing.T, opts ...slapdtest.Option) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, ctx: ctx, ldap: slapdtest.Start(t, opts...)}
	h.dbPath = filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(ctx, h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.syncer = bridge.NewSyncer(db, ldapsource.Dial, log)
	h.client = push.New(db, log)
	h.client.BaseBackoff, h.client.MaxBackoff = 20*time.Millisecond, 3*time.Second
	h.syncer.SetPusher(h.client)
	h.settings = h.ldap.Settings()
	h.settings.Push.Enabled = true
	return h
}

// syncOnly runs one sync without pushing: push stays configured (the
// change log is kept), but this syncer has no pusher.
func (h *harness) syncOnly() {
	h.t.Helper()
	h.syncWithout(bridge.NewSyncer(h.db, ldapsource.Dial, slog.New(slog.NewTextHandler(io.Discard, nil))), *h.settings)
}

// syncPushOff runs one sync with push turned off in the settings.
func (h *harness) syncPushOff() {
	h.t.Helper()
	s := *h.settings
	s.Push.Enabled = false
	h.syncWithout(h.syncer, s)
}

func (h *harness) syncWithout(sy *bridge.Syncer, s schema.Settings) {
	h.t.Helper()
	r, err := sy.Run(h.ctx, &s, bridge.Options{Trigger: bridge.TriggerManual})
	if err != nil || r.Status != bridge.StatusSucceeded || r.Push != nil {
		h.t.Fatalf("sync: %v %+v", err, r)
	}
}

// scim sends one request to the SCIMMY target "by hand" and decodes the answer.
func (h *harness) scim(method, path string, body any) map[string]any {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, h.target.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.target.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("%s %s: %s %s", method, path, resp.Status, msg)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// remoteID finds a resource's id at the SCIMMY target by name.
func (h *harness) remoteID(kind, attr, value string) string {
	h.t.Helper()
	lit, _ := json.Marshal(value)
	out := h.scim(http.MethodGet, "/"+kind+"?filter="+url.QueryEscape(attr+" eq "+string(lit)), nil)
	res, _ := out["Resources"].([]any)
	if len(res) != 1 {
		h.t.Fatalf("%s %s=%q: %d found", kind, attr, value, len(res))
	}
	return res[0].(map[string]any)["id"].(string)
}

// sync runs one sync (which pushes) and returns the push report.
func (h *harness) sync() push.Report {
	h.t.Helper()
	return h.syncWith(bridge.Options{})
}

// syncWith runs one manual sync with the given options and returns the push report.
func (h *harness) syncWith(opt bridge.Options) push.Report {
	h.t.Helper()
	opt.Trigger = bridge.TriggerManual
	r, err := h.syncer.Run(h.ctx, h.settings, opt)
	if err != nil {
		h.t.Fatalf("sync: %v", err)
	}
	if r.Status != bridge.StatusSucceeded {
		h.t.Fatalf("sync status %s: %s", r.Status, r.Error)
	}
	var rep push.Report
	if r.Push != nil {
		if err := json.Unmarshal(r.Push, &rep); err != nil {
			h.t.Fatalf("push report %s: %v", r.Push, err)
		}
	}
	return rep
}

// targetState is what the target holds: users by userName, and groups by
// displayName with their members' userNames (or "group:<name>"), sorted.
type targetState struct {
	Users  map[string]targetUser
	Groups map[string][]string
}

type targetUser struct {
	Email  string
	Active bool
}

func (h *harness) state() targetState {
	h.t.Helper()
	return fetchState(h.t, h.target.URL, "Bearer "+h.target.Token)
}

func fetchState(t *testing.T, base, auth string) targetState {
	t.Helper()
	get := func(kind string) []map[string]any {
		req, _ := http.NewRequest(http.MethodGet, base+"/"+kind+"?startIndex=1&count=100000", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Resources []map[string]any
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
		return list.Resources
	}
	st := targetState{Users: map[string]targetUser{}, Groups: map[string][]string{}}
	names := map[string]string{}
	for _, u := range get("Users") {
		name := u["userName"].(string)
		if _, dup := st.Users[name]; dup {
			t.Fatalf("user %q exists twice at the target", name)
		}
		tu := targetUser{Active: u["active"] == true}
		if es, ok := u["emails"].([]any); ok && len(es) > 0 {
			tu.Email, _ = es[0].(map[string]any)["value"].(string)
		}
		st.Users[name] = tu
		names[u["id"].(string)] = name
	}
	groups := get("Groups")
	for _, g := range groups {
		names[g["id"].(string)] = "group:" + g["displayName"].(string)
	}
	for _, g := range groups {
		name := g["displayName"].(string)
		if _, dup := st.Groups[name]; dup {
			t.Fatalf("group %q exists twice at the target", name)
		}
		ms := []string{}
		if list, ok := g["members"].([]any); ok {
			for _, m := range list {
				v := m.(map[string]any)["value"].(string)
				n, ok := names[v]
				if !ok {
					n = "?" + v
				}
				ms = append(ms, n)
			}
		}
		sort.Strings(ms)
		st.Groups[name] = ms
	}
	return st
}

// baseUsers is what a sync of the base fixture holds (testdata/ldif/base.ldif).
func baseUsers() map[string]targetUser {
	u := func(mail string) targetUser { return targetUser{Email: mail, Active: true} }
	return map[string]targetUser{
		"alice": u("alice@example.com"), "bob": u("bob@example.com"), "carol": u("carol@example.com"),
		"dave": u("dave@example.com"), "erin": u("erin@example.com"), "frank": u(""),
		"gina": u("gina.green@example.com"), "ivan": u("ivan@example.com"), "zoe": u("zoe@example.com"),
	}
}

// baseGroups are the base fixture's groups, flattened.
func baseGroups() map[string][]string {
	return map[string][]string{
		"engineers": {"alice", "bob", "carol", "dave", "zoe"},
		"backend":   {"bob", "carol", "dave", "zoe"},
		"platform":  {"carol", "dave", "zoe"},
		"sre":       {"dave"},
		"cycle-a":   {"erin"},
		"cycle-b":   {"erin"},
		"design":    {"frank", "gina", "zoe"},
		"ghosts":    {},
	}
}

func assertState(t *testing.T, got targetState, users map[string]targetUser, groups map[string][]string) {
	t.Helper()
	if !mapsEqual(got.Users, users) {
		t.Errorf("target users:\n got %v\nwant %v", got.Users, users)
	}
	for k, v := range groups {
		if v == nil {
			groups[k] = []string{}
		}
		sort.Strings(groups[k])
	}
	if !mapsEqual(got.Groups, groups) {
		t.Errorf("target groups:\n got %v\nwant %v", got.Groups, groups)
	}
}

func mapsEqual[V any](a, b map[string]V) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// writes counts the requests that change the target, by "METHOD /Kind".
func writes(reqs []scimmytest.Request) map[string]int {
	out := map[string]int{}
	for k, n := range scimmytest.Counts(reqs) {
		if !strings.HasPrefix(k, "GET ") {
			out[k] = n
		}
	}
	return out
}

// oneModLDIF drops the "-" separator lines of change records that each hold
// one modification (slapdtest's parser does not accept them yet).
func oneModLDIF(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l != "-" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
