package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/scimmytest"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/schema"
)

// Rows 9 and 9b (issue 15): the live stream (syncrepl) on the N-user store,
// with push on, following config.liveChanges changes of every kind made one at a
// time: each timed from the LDAP write's answer until a GET on /scim/v2 (a
// scimserver over the same store) shows it (9) and until the push target
// holds it (9b).

// The kinds of change rows 9 and 9b make, in the order they take turns.
const (
	kindModify = "modify" // a user's mail replaced
	kindAdd    = "add"    // a user added, then listed in a scope group
	kindMember = "member" // a user in scope added to, or removed from, the other scope group
	kindDelete = "delete" // a user in scope deleted
)

var liveKinds = []string{kindModify, kindAdd, kindMember, kindDelete}

// liveChange is one timed change.
type liveChange struct {
	kind, user string
	// toSCIM is how long until GET /scim/v2 showed it; toTarget until the
	// push target held it (0 without a target).
	toSCIM, toTarget time.Duration
	// requests are the target's requests (GETs left out) from the change
	// until it held it.
	requests map[string]int
}

// liveResult is what rows 9 and 9b measured.
type liveResult struct {
	err     string
	changes []liveChange
	// scope are the two leaf groups the target is scoped to (and that the
	// member and add changes use); state the stream's state at the end;
	// runs the runs it recorded.
	scope     [2]string
	state     string
	runs      int
	pushed    bool   // a target was there
	targetErr string // why there was none
	// wrongRequests lists the changes whose requests lacked the one their
	// kind must cause (POST, DELETE or PATCH /Users, PATCH /Groups).
	wrongRequests []string
}

// liveTarget is the push target of rows 9b, with the ids it gave.
type liveTarget struct {
	*scimmy
	hc     *http.Client
	groupB string // the target's id of scope group B
}

// benchLiveKinds runs rows 9 and 9b; target may be nil (row 9 alone).
func benchLiveKinds(ctx context.Context, settings *schema.Settings, mainDB string, d *directory, target *scimmy, changes int) (liveResult, error) {
	var lr liveResult
	per := changes / len(liveKinds)
	groupA, groupB, cands, err := changeUsers(d, 2*per+(per+1)/2)
	if err != nil {
		return lr, err
	}
	lr.scope = [2]string{groupName(groupA), groupName(groupB)}
	modUsers, delUsers, memUsers := cands[:per], cands[per:2*per], cands[2*per:]

	db, sy, err := changeSyncer(ctx, mainDB)
	if err != nil {
		return lr, err
	}
	defer db.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := *settings
	s.Sync.Live, s.Sync.ChangedSyncIntervalSeconds = true, 60
	var tgt *liveTarget
	if target != nil {
		ps := pushSettings(settings, target, 4)
		ps.Push.ScopeGroups = lr.scope[:]
		s.Push = ps.Push
		sy.SetPusher(push.New(db, quiet))
		// The scope changed since row 7b: the target is brought in line
		// before the stream starts, so that no change pays for it.
		rep, err := push.New(db, quiet).Run(ctx, &s)
		if err != nil {
			return lr, fmt.Errorf("push to the scope %v: %w", lr.scope, err)
		}
		if rep.Failed != 0 {
			return lr, fmt.Errorf("push to the scope %v: %d failed: %+v", lr.scope, rep.Failed, rep.Failures)
		}
		tgt = &liveTarget{scimmy: target, hc: &http.Client{Timeout: 30 * time.Second}}
		if tgt.groupB, err = tgt.id("Groups", "displayName", groupName(groupB)); err != nil {
			return lr, err
		}
		lr.pushed = true
	}
	sc, stopSCIM, err := serveSCIM(db, 30*time.Second)
	if err != nil {
		return lr, err
	}
	defer stopSCIM()
	scimGroup, err := sc.groupIDs(ctx, groupA, groupB)
	if err != nil {
		return lr, err
	}

	live := bridge.NewLive(sy, func(context.Context) (*schema.Settings, error) { c := s; return &c, nil })
	var runs atomic.Int64
	live.OnRun = func(*bridge.Report) { runs.Add(1) }
	live.Start()
	defer live.Stop()
	deadline := time.Now().Add(5 * time.Minute)
	for live.Status().State != bridge.LiveConnected {
		if time.Now().After(deadline) {
			return lr, fmt.Errorf("not connected: %+v", live.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	runs.Store(0)
	c, err := dialAdmin(&s)
	if err != nil {
		return lr, err
	}
	defer c.Close()

	for i := range per * len(liveKinds) {
		kind, j := liveKinds[i%len(liveKinds)], i/len(liveKinds)
		var u int
		switch kind {
		case kindModify:
			u = modUsers[j]
		case kindAdd:
			u = d.n + j // beyond the generated users
		case kindMember:
			u = memUsers[j/2] // added to B, then removed at its next turn
		case kindDelete:
			u = delUsers[j]
		}
		ch := liveChange{kind: kind, user: d.userName(u)}
		var targetDone func() (bool, error)
		var scimID, targetID string
		if kind != kindAdd {
			if scimID, err = sc.id(ctx, "Users", "userName", ch.user); err != nil {
				return lr, err
			}
			if tgt != nil {
				if targetID, err = tgt.id("Users", "userName", ch.user); err != nil {
					return lr, err
				}
			}
		}
		if tgt != nil {
			if err := tgt.resetLog(); err != nil {
				return lr, err
			}
		}
		t0, err := makeChange(c, d, kind, u, j, groupA, groupB)
		if err != nil {
			return lr, err
		}
		scimDone := scimShows(ctx, sc, d, kind, u, j, scimID, scimGroup)
		if tgt != nil {
			targetDone = tgt.holds(d, kind, u, j, targetID)
		}
		errs := make(chan error, 2)
		go func() {
			var err error
			ch.toSCIM, err = waitFor(t0, scimDone, time.Millisecond)
			errs <- err
		}()
		go func() {
			var err error
			if targetDone != nil {
				ch.toTarget, err = waitFor(t0, targetDone, 2*time.Millisecond)
			}
			errs <- err
		}()
		for range 2 {
			if err := <-errs; err != nil {
				return lr, fmt.Errorf("%s of %s: %w (live %+v)", kind, ch.user, err, live.Status())
			}
		}
		if tgt != nil {
			reqs, err := tgt.Log()
			if err != nil {
				return lr, err
			}
			ch.requests = map[string]int{}
			for k, n := range scimmytest.Counts(reqs) {
				if !strings.HasPrefix(k, "GET ") {
					ch.requests[k] = n
				}
			}
			if want := map[string]string{kindModify: "PATCH /Users", kindAdd: "POST /Users", kindMember: "PATCH /Groups", kindDelete: "DELETE /Users"}[kind]; ch.requests[want] == 0 {
				lr.wrongRequests = append(lr.wrongRequests, fmt.Sprintf("%s of %s: %s", kind, ch.user, counts(ch.requests)))
			}
		}
		lr.changes = append(lr.changes, ch)
	}
	lr.state, lr.runs = live.Status().State, int(runs.Load())
	return lr, nil
}

// scimShows returns the check that GET /scim/v2 shows the j-th change of
// its kind to user u (scimID: its id, unknown for an add); group holds the
// SCIM ids of groups A and B.
func scimShows(ctx context.Context, sc *scimClient, d *directory, kind string, u, j int, scimID string, group [2]string) func() (bool, error) {
	switch kind {
	case kindModify:
		mail := d.mail(u, 9)
		return func() (bool, error) { got, _, err := sc.user(ctx, scimID); return got.mail() == mail, err }
	case kindAdd:
		return func() (bool, error) {
			id, err := sc.id(ctx, "Users", "userName", d.userName(u))
			if id == "" || err != nil {
				return false, err
			}
			got, _, err := sc.user(ctx, id)
			return slices.Contains(got.groupIDs(), group[0]), err
		}
	case kindMember:
		in := j%2 == 0
		return func() (bool, error) {
			got, _, err := sc.user(ctx, scimID)
			return slices.Contains(got.groupIDs(), group[1]) == in, err
		}
	}
	return func() (bool, error) {
		_, status, err := sc.user(ctx, scimID)
		return status == http.StatusNotFound, err
	}
}

// holds returns the check that the target holds the j-th change of its
// kind to user u (targetID: its id there, unknown for an add).
func (t *liveTarget) holds(d *directory, kind string, u, j int, targetID string) func() (bool, error) {
	switch kind {
	case kindModify:
		mail := d.mail(u, 9)
		return func() (bool, error) { got, _, err := t.user(targetID); return got.mail() == mail, err }
	case kindAdd:
		return func() (bool, error) { id, err := t.id("Users", "userName", d.userName(u)); return id != "", err }
	case kindMember:
		in := j%2 == 0
		return func() (bool, error) { ms, err := t.members(t.groupB); return slices.Contains(ms, targetID) == in, err }
	}
	return func() (bool, error) { _, status, err := t.user(targetID); return status == http.StatusNotFound, err }
}

// makeChange makes the j-th change of its kind to user u and returns when
// the directory answered its first write.
func makeChange(c *ldap.Conn, d *directory, kind string, u, j, groupA, groupB int) (time.Time, error) {
	member := func(g int, op string) error {
		req := ldap.NewModifyRequest(groupDN(g), nil)
		if op == "add" {
			req.Add("member", []string{d.userDN(u)})
		} else {
			req.Delete("member", []string{d.userDN(u)})
		}
		if err := c.Modify(req); err != nil {
			return fmt.Errorf("%s member %s of %s: %w", op, d.userDN(u), groupDN(g), err)
		}
		return nil
	}
	switch kind {
	case kindModify:
		req := ldap.NewModifyRequest(d.userDN(u), nil)
		req.Replace("mail", []string{d.mail(u, 9)})
		if err := c.Modify(req); err != nil {
			return time.Time{}, fmt.Errorf("modify %s: %w", d.userDN(u), err)
		}
	case kindAdd:
		req := ldap.NewAddRequest(d.userDN(u), nil)
		req.Attribute("objectClass", []string{"inetOrgPerson"})
		req.Attribute("uid", []string{d.userName(u)})
		req.Attribute("cn", []string{"Live " + d.userName(u)})
		req.Attribute("sn", []string{"Live"})
		req.Attribute("mail", []string{d.mail(u, 0)})
		if err := c.Add(req); err != nil {
			return time.Time{}, fmt.Errorf("add %s: %w", d.userDN(u), err)
		}
		t0 := time.Now()
		return t0, member(groupA, "add")
	case kindMember:
		op := "add"
		if j%2 == 1 {
			op = "delete"
		}
		if err := member(groupB, op); err != nil {
			return time.Time{}, err
		}
	case kindDelete:
		if err := c.Del(ldap.NewDelRequest(d.userDN(u), nil)); err != nil {
			return time.Time{}, fmt.Errorf("delete %s: %w", d.userDN(u), err)
		}
	}
	return time.Now(), nil
}

// waitFor polls done every step until it holds (30 s at most) and returns
// how long after t0 it first did.
func waitFor(t0 time.Time, done func() (bool, error), step time.Duration) (time.Duration, error) {
	for {
		ok, err := done()
		if err != nil {
			return 0, err
		}
		if ok {
			return time.Since(t0), nil
		}
		if time.Since(t0) > 30*time.Second {
			return 0, fmt.Errorf("not seen after 30 s")
		}
		time.Sleep(step)
	}
}

// changeUsers picks the groups the changes use, A (d.leafWithUsers) and
// another leaf B, and need users of A that are not in B.
func changeUsers(d *directory, need int) (groupA, groupB int, users []int, err error) {
	groupA = d.leafWithUsers()
	groupB = d.otherLeaf(groupA)
	inB := map[int32]bool{}
	for _, u := range d.users[groupB] {
		inB[u] = true
	}
	for _, u := range d.users[groupA] {
		if !inB[u] {
			users = append(users, int(u))
		}
	}
	if len(users) < need {
		return 0, 0, nil, fmt.Errorf("%s has %d users outside %s, want %d", groupName(groupA), len(users), groupName(groupB), need)
	}
	return groupA, groupB, users[:need], nil
}

// otherLeaf returns a group on a's level with users, other than a.
func (d *directory) otherLeaf(a int) int {
	for g := range d.users {
		if g != a && d.level[g] == d.level[a] && len(d.users[g]) > 0 {
			return g
		}
	}
	return -1
}

// scimUser is the part of a SCIM user the live rows look at.
type scimUser struct {
	Emails []struct {
		Value string `json:"value"`
	} `json:"emails"`
	Groups []struct {
		Value string `json:"value"`
	} `json:"groups"`
}

func (u scimUser) mail() string {
	if len(u.Emails) == 0 {
		return ""
	}
	return u.Emails[0].Value
}

func (u scimUser) groupIDs() []string {
	ids := make([]string, len(u.Groups))
	for i, g := range u.Groups {
		ids[i] = g.Value
	}
	return ids
}

// getJSON GETs base+path with a bearer token into v (when the answer is
// 200) and returns the status.
func getJSON(ctx context.Context, hc *http.Client, base, token, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(body, v); err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
	case http.StatusNotFound:
	default:
		return 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return resp.StatusCode, nil
}

// findID returns the id of the one resource of kind whose attr equals
// value ("" when none).
func findID(ctx context.Context, hc *http.Client, base, token, kind, attr, value string) (string, error) {
	lit, _ := json.Marshal(value)
	var lr struct {
		Resources []struct {
			ID string `json:"id"`
		} `json:"Resources"`
	}
	q := url.Values{"filter": {attr + " eq " + string(lit)}, "attributes": {"id"}}
	if _, err := getJSON(ctx, hc, base, token, "/"+kind+"?"+q.Encode(), &lr); err != nil {
		return "", err
	}
	switch len(lr.Resources) {
	case 0:
		return "", nil
	case 1:
		return lr.Resources[0].ID, nil
	}
	return "", fmt.Errorf("%s %s eq %s: %d resources", kind, attr, lit, len(lr.Resources))
}

func (c *scimClient) id(ctx context.Context, kind, attr, value string) (string, error) {
	return findID(ctx, c.hc, c.base, c.token, kind, attr, value)
}

// groupIDs returns the SCIM ids of groups a and b.
func (c *scimClient) groupIDs(ctx context.Context, a, b int) ([2]string, error) {
	var ids [2]string
	for i, g := range []int{a, b} {
		id, err := c.id(ctx, "Groups", "displayName", groupName(g))
		if err != nil {
			return ids, err
		}
		ids[i] = id
	}
	return ids, nil
}

func (c *scimClient) user(ctx context.Context, id string) (scimUser, int, error) {
	var u scimUser
	status, err := getJSON(ctx, c.hc, c.base, c.token, "/Users/"+id, &u)
	return u, status, err
}

func (t *liveTarget) id(kind, attr, value string) (string, error) {
	return findID(context.Background(), t.hc, t.URL, t.Token, kind, attr, value)
}

func (t *liveTarget) user(id string) (scimUser, int, error) {
	var u scimUser
	status, err := getJSON(context.Background(), t.hc, t.URL, t.Token, "/Users/"+id, &u)
	return u, status, err
}

// members returns the ids of group id's members at the target.
func (t *liveTarget) members(id string) ([]string, error) {
	var g struct {
		Members []struct {
			Value string `json:"value"`
		} `json:"members"`
	}
	if _, err := getJSON(context.Background(), t.hc, t.URL, t.Token, "/Groups/"+id, &g); err != nil {
		return nil, err
	}
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.Value
	}
	return ids, nil
}

// reportRows are rows 9 and 9b: overall, then each kind.
func (lr liveResult) reportRows() []row {
	if lr.err != "" {
		return []row{{"9", "live changes of every kind", "", "", lr.err, "", "✗"}}
	}
	count := map[string]int{}
	for _, c := range lr.changes {
		count[c.kind]++
	}
	mix := fmt.Sprintf("%d modify, %d add, %d member add/remove, %d delete", count[kindModify], count[kindAdd], count[kindMember], count[kindDelete])
	what := func(kind string) string {
		return map[string]string{
			kindModify: "a user's mail replaced",
			kindAdd:    "a user added and listed in " + lr.scope[0] + " (timed from the add)",
			kindMember: "a user of " + lr.scope[0] + " added to " + lr.scope[1] + ", or removed at its next turn",
			kindDelete: "a user of " + lr.scope[0] + " deleted",
		}[kind]
	}
	stat := func(kind string, get func(liveChange) time.Duration) (p50, p99, top time.Duration, n int) {
		var ds []time.Duration
		for _, c := range lr.changes {
			if kind == "" || c.kind == kind {
				ds = append(ds, get(c))
			}
		}
		slices.Sort(ds)
		if len(ds) == 0 {
			return 0, 0, 0, 0
		}
		return pct(ds, 50), pct(ds, 99), ds[len(ds)-1], len(ds)
	}
	var rs []row
	add := func(id, what, figures string, get func(liveChange) time.Duration, kind string) {
		p50, p99, top, n := stat(kind, get)
		rs = append(rs, row{id, what, "p50 " + ms(p50) + ", p99 " + ms(p99), "", fmt.Sprintf("%d changes, max %s", n, ms(top)) + figures,
			"p99 ≤ 1 s", mark(n > 0 && p99 <= time.Second)})
	}
	toSCIM := func(c liveChange) time.Duration { return c.toSCIM }
	add("9", fmt.Sprintf("live (syncrepl) on the store, %d changes one at a time (%s), LDAP write → visible through GET /scim/v2", len(lr.changes), mix),
		fmt.Sprintf("; stream %s, %d runs recorded (trigger live)", lr.state, lr.runs), toSCIM, "")
	for _, k := range liveKinds {
		add("9 ("+k+")", "live → GET /scim/v2: "+what(k), "", toSCIM, k)
	}
	if !lr.pushed {
		return append(rs, row{"9b", "live with push", "", "", "not measured: " + lr.targetErr, "", "✗"})
	}
	toTarget := func(c liveChange) time.Duration { return c.toTarget }
	all := map[string]int{}
	for _, c := range lr.changes {
		for k, n := range c.requests {
			all[k] += n
		}
	}
	reqs := "; requests " + counts(all) + "; each change's own request (POST, DELETE, PATCH /Users, PATCH /Groups) "
	if len(lr.wrongRequests) == 0 {
		reqs += "seen"
	} else {
		reqs += "missing for " + strings.Join(lr.wrongRequests, "; ")
	}
	add("9b", fmt.Sprintf("the same changes with push on, LDAP write → received by the push target (SCIMMY scoped to %s and %s)", lr.scope[0], lr.scope[1]),
		reqs, toTarget, "")
	if len(lr.wrongRequests) > 0 {
		rs[len(rs)-1].ok = mark(false)
	}
	for _, k := range liveKinds {
		add("9b ("+k+")", "live → the push target: "+what(k), "", toTarget, k)
	}
	return rs
}
