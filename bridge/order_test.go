// The duplicate rule does not depend on the order the directory returns
// entries in: every scenario runs in forward, reverse and shuffled orders on
// an in-memory directory and a real SQLite store, with exact outcomes, and
// a second run after each step changes nothing.
package bridge_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

var entry = bridgetest.Entry

// user is a user entry under ou=people: cn, then "attr: value" lines.
func user(cn string, lines ...string) *schema.Entry {
	return entry("cn="+cn+",ou=people,dc=example,dc=com", lines...)
}

// group is a group entry under ou=groups with DN members (cn=<m>,ou=people or groups).
func group(cn string, lines ...string) *schema.Entry {
	return entry("cn="+cn+",ou=groups,dc=example,dc=com", append([]string{"cn: " + cn}, lines...)...)
}

func member(cn string) string      { return "member: cn=" + cn + ",ou=people,dc=example,dc=com" }
func groupMember(cn string) string { return "member: cn=" + cn + ",ou=groups,dc=example,dc=com" }

func peopleDN(cn string) string { return "cn=" + cn + ",ou=people,dc=example,dc=com" }

// orderSettings reads usernames from uid and externalIds from employeeNumber;
// uidMode makes groups list memberUid values (employeeID).
func orderSettings(uidMode bool) *schema.Settings {
	s := schema.Defaults("openldap")
	s.Connection.URL = "ldap://in-memory"
	s.Users.UsersDN = "ou=people,dc=example,dc=com"
	s.Users.Attributes.Username = "uid"
	s.Users.Attributes.ExternalID = "employeeNumber"
	s.Groups.Enabled = true
	s.Groups.GroupsDN = "ou=groups,dc=example,dc=com"
	s.Groups.Attributes.ExternalID = "employeeNumber"
	if uidMode {
		s.Groups.Attributes.Membership = "memberUid"
		s.Groups.Attributes.MembershipAttributeType = schema.MembershipUID
		s.Groups.Attributes.MembershipUserAttribute = "employeeID"
	}
	return &s
}

// step is one state of the directory and what a run of it must give.
type step struct {
	users, groups []*schema.Entry
	// wantUsers maps each stored userName to its DN (folded) and externalId.
	wantUsers map[string]string
	// wantMembers maps each stored group to its direct members ("User:name", "Group:name").
	wantMembers map[string][]string
	// wantSkipped lists every skipped entry as "DN: reason".
	wantSkipped []string
}

type orderScenario struct {
	name    string
	uidMode bool
	steps   []step
}

var orderScenarios = []orderScenario{
	{name: "shared externalId: the DN that sorts first keeps it", steps: []step{{
		users: []*schema.Entry{
			user("zz", "uid: pat", "employeeNumber: 7001"), user("mm", "uid: eve", "employeeNumber: 7001"),
			user("aa", "uid: pat", "employeeNumber: 7002"), user("nn", "uid: nina", "employeeNumber: 7001")},
		groups:      []*schema.Entry{group("design", member("zz"), member("mm"), member("nn"))},
		wantUsers:   map[string]string{"eve": peopleDN("mm") + " 7001", "pat": peopleDN("aa") + " 7002"},
		wantMembers: map[string][]string{"design": {"User:eve"}},
		wantSkipped: []string{
			peopleDN("nn") + `: duplicate externalId "7001": already used by ` + peopleDN("mm"),
			peopleDN("zz") + `: duplicate externalId "7001": already used by ` + peopleDN("mm"),
		},
	}}},
	{name: "shared username: the stored holder keeps it, else the DN that sorts first", steps: []step{{
		users:       []*schema.Entry{user("zz", "uid: pat"), user("mm", "uid: Pat")},
		wantUsers:   map[string]string{"Pat": peopleDN("mm") + " "},
		wantSkipped: []string{peopleDN("zz") + `: duplicate username "pat": already used by ` + peopleDN("mm")},
	}, {
		users: []*schema.Entry{user("zz", "uid: pat"), user("mm", "uid: Pat"), user("aa", "uid: PAT")},
		// mm holds the name in the store: aa, whose DN sorts first, does not get it.
		wantUsers: map[string]string{"Pat": peopleDN("mm") + " "},
		wantSkipped: []string{
			peopleDN("aa") + `: duplicate username "PAT": already used by ` + peopleDN("mm"),
			peopleDN("zz") + `: duplicate username "pat": already used by ` + peopleDN("mm"),
		},
	}}},
	{name: "usernames swapped between two entries", steps: []step{{
		users:       []*schema.Entry{user("a", "uid: x", "employeeNumber: 1"), user("b", "uid: y", "employeeNumber: 2")},
		groups:      []*schema.Entry{group("g", member("a"))},
		wantUsers:   map[string]string{"x": peopleDN("a") + " 1", "y": peopleDN("b") + " 2"},
		wantMembers: map[string][]string{"g": {"User:x"}},
	}, {
		users:       []*schema.Entry{user("a", "uid: y", "employeeNumber: 1"), user("b", "uid: x", "employeeNumber: 2")},
		groups:      []*schema.Entry{group("g", member("a"))},
		wantUsers:   map[string]string{"y": peopleDN("a") + " 1", "x": peopleDN("b") + " 2"},
		wantMembers: map[string][]string{"g": {"User:y"}},
	}}},
	{name: "a stored user whose entry is skipped keeps its username and its groups", steps: []step{{
		users:       []*schema.Entry{user("zz", "uid: pat"), user("ok", "uid: ok")},
		groups:      []*schema.Entry{group("g", member("zz"), member("dd"))},
		wantUsers:   map[string]string{"pat": peopleDN("zz") + " ", "ok": peopleDN("ok") + " "},
		wantMembers: map[string][]string{"g": {"User:pat"}},
	}, {
		users:       []*schema.Entry{user("zz"), user("dd", "uid: pat"), user("ok", "uid: ok")},
		groups:      []*schema.Entry{group("g", member("zz"), member("dd"))},
		wantUsers:   map[string]string{"pat": peopleDN("zz") + " ", "ok": peopleDN("ok") + " "},
		wantMembers: map[string][]string{"g": {"User:pat"}},
		wantSkipped: []string{
			peopleDN("dd") + `: duplicate username "pat": already used by ` + peopleDN("zz"),
			peopleDN("zz") + `: missing username attribute "uid"`,
		},
	}}},
	{name: "a chain of usernames held by kept stored users", steps: []step{{
		users:     []*schema.Entry{user("aa", "uid: pat"), user("bb", "uid: eve"), user("cc", "uid: bob"), user("ok", "uid: ok")},
		wantUsers: map[string]string{"pat": peopleDN("aa") + " ", "eve": peopleDN("bb") + " ", "bob": peopleDN("cc") + " ", "ok": peopleDN("ok") + " "},
	}, {
		users:     []*schema.Entry{user("aa", "uid: eve"), user("bb", "uid: bob"), user("cc"), user("dd", "uid: pat"), user("ok", "uid: ok")},
		wantUsers: map[string]string{"pat": peopleDN("aa") + " ", "eve": peopleDN("bb") + " ", "bob": peopleDN("cc") + " ", "ok": peopleDN("ok") + " "},
		wantSkipped: []string{
			peopleDN("aa") + `: duplicate username "eve": already used by ` + peopleDN("bb"),
			peopleDN("bb") + `: duplicate username "bob": already used by ` + peopleDN("cc"),
			peopleDN("cc") + `: missing username attribute "uid"`,
			peopleDN("dd") + `: duplicate username "pat": already used by ` + peopleDN("aa"),
		},
	}}},
	{name: "an externalId match beats another entry's DN match", steps: []step{{
		users:     []*schema.Entry{user("a", "uid: alice", "employeeNumber: 9")},
		wantUsers: map[string]string{"alice": peopleDN("a") + " 9"},
	}, {
		// cn=a lost its externalId; cn=b now has it: b is the stored user, a is new.
		users:     []*schema.Entry{user("a", "uid: alice2"), user("b", "uid: bob", "employeeNumber: 9")},
		wantUsers: map[string]string{"alice2": peopleDN("a") + " ", "bob": peopleDN("b") + " 9"},
	}}},
	{name: "memberUid keys: the DN that sorts first keeps a shared key", uidMode: true, steps: []step{{
		users: []*schema.Entry{
			user("w", "uid: wuser", "employeeID: pat", "employeeNumber: 8002"),
			user("a1", "uid: auser", "employeeID: PAT", "employeeNumber: 8001"),
			user("b", "uid: buser", "employeeID: bob", "employeeNumber: 8003")},
		groups:      []*schema.Entry{group("posix", "memberUid: pat", "memberUid: bob", "memberUid: ghost")},
		wantUsers:   map[string]string{"auser": peopleDN("a1") + " 8001", "buser": peopleDN("b") + " 8003"},
		wantMembers: map[string][]string{"posix": {"User:auser", "User:buser"}},
		wantSkipped: []string{peopleDN("w") + `: duplicate member key "pat": already used by ` + peopleDN("a1")},
	}, {
		// auser's entry loses its username: its stored user stays, in its groups.
		users: []*schema.Entry{
			user("w", "uid: wuser", "employeeID: pat", "employeeNumber: 8002"),
			user("a1", "uid: buser", "employeeID: PAT", "employeeNumber: 8001"),
			user("b", "uid: buser", "employeeID: bob", "employeeNumber: 8003")},
		groups:      []*schema.Entry{group("posix", "memberUid: pat", "memberUid: bob", "memberUid: ghost")},
		wantUsers:   map[string]string{"auser": peopleDN("a1") + " 8001", "buser": peopleDN("b") + " 8003", "wuser": peopleDN("w") + " 8002"},
		wantMembers: map[string][]string{"posix": {"User:buser", "User:wuser"}},
		wantSkipped: []string{peopleDN("a1") + `: duplicate username "buser": already used by ` + peopleDN("b")},
	}}},
	{name: "groups follow the same rule", steps: []step{{
		users: []*schema.Entry{user("u", "uid: u")},
		groups: []*schema.Entry{
			entry("cn=eng,ou=b,ou=groups,dc=example,dc=com", "cn: eng", member("u")),
			entry("cn=ENG,ou=a,ou=groups,dc=example,dc=com", "cn: ENG"),
			group("ops", "employeeNumber: 5", groupMember("eng")), group("ops2", "employeeNumber: 5"),
			group("top", groupMember("ops"), groupMember("ops2"))},
		wantUsers:   map[string]string{"u": peopleDN("u") + " "},
		wantMembers: map[string][]string{"ENG": {}, "ops": {}, "top": {"Group:ops"}},
		wantSkipped: []string{
			"cn=eng,ou=b,ou=groups,dc=example,dc=com: duplicate group name \"eng\": already used by cn=eng,ou=a,ou=groups,dc=example,dc=com",
			"cn=ops2,ou=groups,dc=example,dc=com: duplicate externalId \"5\": already used by cn=ops,ou=groups,dc=example,dc=com",
		},
	}}},
	{name: "a misconfigured externalId: ten values over many entries", steps: []step{{
		users:       misconfigured(60, 10),
		wantUsers:   misconfiguredWinners(60, 10),
		wantSkipped: misconfiguredSkipped(60, 10),
	}}},
}

func misconfigured(n, distinct int) []*schema.Entry {
	var es []*schema.Entry
	for i := 0; i < n; i++ {
		es = append(es, user(fmt.Sprintf("u%03d", i), fmt.Sprintf("uid: user%03d", i), fmt.Sprintf("employeeNumber: %d", i%distinct)))
	}
	return es
}

func misconfiguredWinners(n, distinct int) map[string]string {
	w := map[string]string{}
	for i := 0; i < distinct && i < n; i++ {
		w[fmt.Sprintf("user%03d", i)] = peopleDN(fmt.Sprintf("u%03d", i)) + fmt.Sprintf(" %d", i)
	}
	return w
}

func misconfiguredSkipped(n, distinct int) []string {
	var s []string
	for i := distinct; i < n; i++ {
		s = append(s, peopleDN(fmt.Sprintf("u%03d", i))+fmt.Sprintf(`: duplicate externalId "%d": already used by %s`, i%distinct, peopleDN(fmt.Sprintf("u%03d", i%distinct))))
	}
	return s
}

// orderRun is what one order of a scenario gave at each step.
type orderRun struct {
	ids     []map[string]string // userName or group name → id, for those with an externalId
	reports []string
}

func TestDuplicateRuleDoesNotDependOnReadOrder(t *testing.T) {
	orders := map[string]bridgetest.Order{"forward": bridgetest.Forward, "reverse": bridgetest.Reverse,
		"shuffled1": bridgetest.Shuffled(1), "shuffled2": bridgetest.Shuffled(2), "shuffled3": bridgetest.Shuffled(3)}
	for _, sc := range orderScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var first *orderRun
			for _, name := range []string{"forward", "reverse", "shuffled1", "shuffled2", "shuffled3"} {
				got := runOrder(t, sc, name, orders[name])
				if first == nil {
					first = got
					continue
				}
				if !reflect.DeepEqual(got.ids, first.ids) {
					t.Errorf("%s: ids %v, forward %v", name, got.ids, first.ids)
				}
				if !reflect.DeepEqual(got.reports, first.reports) {
					t.Errorf("%s: reports\n%v\nforward\n%v", name, got.reports, first.reports)
				}
			}
		})
	}
}

// runOrder runs every step of sc against a new store, with entries in
// order o, checks each step's exact outcome and that a second run changes
// nothing, and returns what is compared across orders.
func runOrder(t *testing.T, sc orderScenario, name string, o bridgetest.Order) *orderRun {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := bridgetest.NewDirectory(o)
	sy := bridge.NewSyncer(db, dir.Dialer(), quietLog())
	bridge.SetStreamMin(sy, 1) // new users go into the open transaction as they are read
	e := &env{db: db, syncer: sy, set: orderSettings(sc.uidMode)}
	out := &orderRun{}
	for i, st := range sc.steps {
		dir.Set(st.users, st.groups)
		r := e.mustSucceed(t)
		s := e.state(t)
		users := map[string]string{}
		ids := map[string]string{}
		for n, u := range s.users {
			users[n] = bridge.NormalizeDN(u.DN) + " " + u.ExternalID
			if u.ExternalID != "" {
				ids["User:"+n] = u.ID
				if u.ID != bridge.NameID(bridge.MemberUser, u.ExternalID) && i == 0 {
					t.Errorf("%s step %d: user %s has id %s, want the name-based id of externalId %q", name, i, n, u.ID, u.ExternalID)
				}
			}
		}
		for n, g := range s.groups {
			if g.ExternalID != "" {
				ids["Group:"+n] = g.ID
			}
		}
		if !reflect.DeepEqual(users, st.wantUsers) {
			t.Errorf("%s step %d: users\n got %v\nwant %v", name, i, users, st.wantUsers)
		}
		if want := st.wantMembers; want == nil && len(s.groupMembers) > 0 || want != nil && !reflect.DeepEqual(s.groupMembers, want) {
			t.Errorf("%s step %d: group members\n got %v\nwant %v", name, i, s.groupMembers, want)
		}
		var skipped []string
		for _, se := range r.SkippedEntries {
			skipped = append(skipped, se.DN+": "+se.Reason)
		}
		if !slices.Equal(skipped, st.wantSkipped) || r.Skipped != len(st.wantSkipped) {
			t.Errorf("%s step %d: skipped (%d)\n got %s\nwant %s", name, i, r.Skipped, strings.Join(skipped, "\n     "), strings.Join(st.wantSkipped, "\n     "))
		}
		out.ids = append(out.ids, ids)
		out.reports = append(out.reports, reportKey(r))
		e.idempotent(t)
	}
	return out
}

// reportKey is the part of a report that must not depend on the read order.
func reportKey(r *bridge.Report) string {
	c := countsOf(r)
	skipped := make([]string, len(r.SkippedEntries))
	for i, s := range r.SkippedEntries {
		skipped[i] = s.DN + ": " + s.Reason
	}
	sort.Strings(skipped)
	return fmt.Sprintf("%+v kept=%d memberships=%d skipped=%v", c, r.KeptUnchanged, r.MembershipsChanged, skipped)
}
