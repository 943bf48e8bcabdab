package push

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/store"
)

// engine is one push run: it decides, per resource, what the target lacks
// compared with the store and the bookkeeping, and sends exactly that.
type engine struct {
	db     *store.DB
	cfg    *config
	http   *doer
	dry    io.Writer // non-nil: print requests instead of sending them
	patch  bool      // the target accepts PATCH (profile rfc, per /ServiceProviderConfig)
	remote *remoteSnap

	mu      sync.Mutex
	rep     Report
	abort   error
	users   map[string]*store.PushUser  // affected users that exist in the store
	groups  map[string]*store.PushGroup // affected groups that exist in the store
	ustate  map[string]*store.PushState
	gstate  map[string]*store.PushState
	members map[string]map[string]bool // group id -> remote member ids delivered
	want    map[string][]member        // group id -> desired members (phase 2)
	uaff    map[string]bool            // every user this run looks at
	moved   map[string]bool            // users whose remote id appeared or went away
	gone    []string                   // remote user ids that went away
	newIDs  int
	touched map[string]bool // groups counted as created or updated

	scopeRoots  map[string]bool // the named scope groups; nil: everyone is in scope
	scopeGroups map[string]bool // scope groups and the groups nested in them
}

// remoteSnap is the target's whole state, read by a full reconcile.
type remoteSnap struct {
	users, groups           map[string]json.RawMessage // by remote id
	userByName, groupByName map[string]string          // folded name -> remote id
}

func (e *engine) aborted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.abort != nil
}

// send sends one request, or in a dry run prints it and makes up an answer.
func (e *engine) send(ctx context.Context, method, path string, q url.Values, body any) (*response, error) {
	if e.dry == nil {
		return e.http.do(ctx, method, path, q, body)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	line := method + " " + path
	if len(q) > 0 {
		line += "?" + q.Encode()
	}
	if body != nil {
		b, _ := json.Marshal(body)
		line += " " + string(b)
	}
	fmt.Fprintln(e.dry, line)
	e.rep.Sent++
	switch method {
	case http.MethodGet:
		return &response{status: 200, body: []byte(`{"totalResults":0,"Resources":[]}`)}, nil
	case http.MethodPost:
		e.newIDs++
		return &response{status: 201, body: fmt.Appendf(nil, `{"id":"(new-%d)"}`, e.newIDs)}, nil
	}
	return &response{status: 200, body: []byte(`{}`)}, nil
}

func isStatus(err error, codes ...int) bool {
	var se *StatusError
	if errors.As(err, &se) {
		for _, c := range codes {
			if se.Status == c {
				return true
			}
		}
	}
	return false
}

// each runs fn for every id with bounded concurrency, stopping early once the
// target is unreachable.
func (e *engine) each(ctx context.Context, ids []string, fn func(context.Context, string)) {
	sem := make(chan struct{}, e.cfg.concurrency)
	var wg sync.WaitGroup
	for _, id := range ids {
		if e.aborted() || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, id)
		}()
	}
	wg.Wait()
}

// save persists a resource's bookkeeping (not in a dry run).
func (e *engine) save(ctx context.Context, st *store.PushState) error {
	if e.dry != nil {
		return nil
	}
	// An answer received is recorded even when the run is being cancelled.
	return e.db.SavePushState(context.WithoutCancel(ctx), st)
}

func (e *engine) forget(ctx context.Context, typ, id string) error {
	e.mu.Lock()
	if typ == bridge.MemberUser {
		delete(e.ustate, id)
	} else {
		delete(e.gstate, id)
		delete(e.members, id)
	}
	e.mu.Unlock()
	if e.dry != nil {
		return nil
	}
	return e.db.DeletePushState(context.WithoutCancel(ctx), typ, id)
}

// failed records a resource whose request failed: marked failed with the
// reason and retried next run; an unreachable target stops the run instead.
func (e *engine) failed(ctx context.Context, st *store.PushState, err error) {
	var ue *UnreachableError
	e.mu.Lock()
	if errors.As(err, &ue) || ctx.Err() != nil {
		if e.abort == nil {
			e.abort = err
		}
		e.mu.Unlock()
		return
	}
	f := Failure{Type: st.ResourceType, ID: st.ResourceID, Name: st.Name, Error: err.Error()}
	var se *StatusError
	if errors.As(err, &se) {
		f.Status = se.Status
	}
	e.rep.Failed++
	if len(e.rep.Failures) < maxFailuresListed {
		e.rep.Failures = append(e.rep.Failures, f)
	}
	st.Status, st.LastError = store.PushFailed, err.Error()
	st.Attempts++
	e.mu.Unlock()
	if serr := e.save(context.WithoutCancel(ctx), st); serr != nil {
		e.mu.Lock()
		e.abort = serr
		e.mu.Unlock()
	}
}

func (e *engine) count(created, updated, deleted int) {
	e.mu.Lock()
	e.rep.Created += created
	e.rep.Updated += updated
	e.rep.Deleted += deleted
	e.mu.Unlock()
}

// lookup finds a resource by userName or displayName: in the reconcile
// snapshot, or with a filtered GET.
func (e *engine) lookup(ctx context.Context, kind, attr, value string) (json.RawMessage, bool, error) {
	if e.remote != nil {
		if kind == "Users" {
			id, ok := e.remote.userByName[strings.ToLower(value)]
			return e.remote.users[id], ok, nil
		}
		id, ok := e.remote.groupByName[strings.ToLower(value)]
		return e.remote.groups[id], ok, nil
	}
	lit, _ := json.Marshal(value) // a SCIM string literal is a JSON string
	q := url.Values{"filter": {attr + " eq " + string(lit)}, "startIndex": {"1"}, "count": {"10"}}
	resp, err := e.send(ctx, http.MethodGet, "/"+kind, q, nil)
	if err != nil {
		return nil, false, fmt.Errorf("look up %s %q: %w", kind, value, err)
	}
	var list struct {
		Resources []json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(resp.body, &list); err != nil {
		return nil, false, fmt.Errorf("look up %s %q: decode list: %w", kind, value, err)
	}
	for _, r := range list.Resources {
		var v map[string]any
		if json.Unmarshal(r, &v) == nil {
			if s, _ := v[attr].(string); strings.EqualFold(s, value) {
				return r, true, nil
			}
		}
	}
	return nil, false, nil
}

// listAll reads every resource of a kind with paging.
func (e *engine) listAll(ctx context.Context, kind string) ([]json.RawMessage, error) {
	const page = 100
	var out []json.RawMessage
	for start := 1; ; {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(page)}}
		resp, err := e.send(ctx, http.MethodGet, "/"+kind, q, nil)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", kind, err)
		}
		var list struct {
			TotalResults int               `json:"totalResults"`
			Resources    []json.RawMessage `json:"Resources"`
		}
		if err := json.Unmarshal(resp.body, &list); err != nil {
			return nil, fmt.Errorf("list %s: decode page at %d: %w", kind, start, err)
		}
		out = append(out, list.Resources...)
		start += len(list.Resources)
		if len(list.Resources) == 0 || start > list.TotalResults {
			return out, nil
		}
	}
}

func (e *engine) snapshot(ctx context.Context) error {
	users, err := e.listAll(ctx, "Users")
	if err != nil {
		return err
	}
	groups, err := e.listAll(ctx, "Groups")
	if err != nil {
		return err
	}
	s := &remoteSnap{users: map[string]json.RawMessage{}, groups: map[string]json.RawMessage{},
		userByName: map[string]string{}, groupByName: map[string]string{}}
	for _, r := range users {
		b, id := projectUser(r)
		if e.cfg.iomete && id == "" {
			id = b.UserName
		}
		s.users[id] = r
		s.userByName[strings.ToLower(b.UserName)] = id
	}
	for _, r := range groups {
		b, id, _ := projectGroup(r)
		if e.cfg.iomete && id == "" {
			id = b.DisplayName
		}
		s.groups[id] = r
		s.groupByName[strings.ToLower(b.DisplayName)] = id
	}
	e.remote = s
	return nil
}

// alignWithSnapshot replaces the bookkeeping of each loaded resource with what
// the target really holds, so the phases repair any drift.
func (e *engine) alignWithSnapshot(typ string) {
	if e.remote == nil {
		return
	}
	states, all := e.ustate, e.remote.users
	if typ == bridge.MemberGroup {
		states, all = e.gstate, e.remote.groups
	}
	for id, st := range states {
		raw, ok := all[st.RemoteID]
		if st.RemoteID == "" || !ok {
			st.RemoteID, st.PushedBody, st.PushedHash = "", "", ""
			if typ == bridge.MemberGroup {
				e.members[id] = map[string]bool{}
			}
			continue
		}
		if typ == bridge.MemberUser {
			b, _ := projectUser(raw)
			st.PushedHash, st.PushedBody = hashOf(b)
			continue
		}
		b, _, ms := projectGroup(raw)
		st.PushedHash, st.PushedBody = hashOf(b.attrs())
		set := map[string]bool{}
		for _, m := range ms {
			set[m] = true
		}
		e.members[id] = set
	}
}

func (e *engine) inScopeUser(u *store.PushUser) bool {
	if e.scopeRoots == nil {
		return true
	}
	for _, m := range u.Groups {
		if e.scopeRoots[m.GroupID] {
			return true
		}
	}
	return false
}

// wantUser reports whether a user should exist at the target.
func (e *engine) wantUser(id string) bool {
	u := e.users[id]
	if u == nil || !e.inScopeUser(u) {
		return false
	}
	// IOMETE deletes a user PUT with active:false, so an inactive user is one it must not have.
	return u.Active || !e.cfg.iomete
}

func (e *engine) wantGroup(id string) bool {
	return e.groups[id] != nil && (e.scopeGroups == nil || e.scopeGroups[id])
}

func (e *engine) userState(u *store.PushUser) *store.PushState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.ustate[u.ID]
	if st == nil {
		st = &store.PushState{ResourceType: bridge.MemberUser, ResourceID: u.ID, Name: u.UserName}
		e.ustate[u.ID] = st
	}
	return st
}

func (e *engine) groupState(g *store.PushGroup) *store.PushState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.gstate[g.ID]
	if st == nil {
		st = &store.PushState{ResourceType: bridge.MemberGroup, ResourceID: g.ID, Name: g.Name}
		e.gstate[g.ID] = st
	}
	return st
}

// remoteID is the id the target gave a resource. IOMETE's SCIM API may
// answer without one and names resources by name instead.
func (e *engine) remoteID(id, name string) string {
	if id == "" && e.cfg.iomete {
		return name
	}
	return id
}

func (e *engine) moveUser(id, oldRemote string) {
	e.mu.Lock()
	e.moved[id] = true
	if oldRemote != "" {
		e.gone = append(e.gone, oldRemote)
	}
	e.mu.Unlock()
}

// ensureUser makes the target hold user u as the store has it.
func (e *engine) ensureUser(ctx context.Context, u *store.PushUser) error {
	st := e.userState(u)
	want := newUserBody(u)
	h, js := hashOf(want.attrs())
	if e.cfg.iomete && st.RemoteID != "" && st.RemoteID != u.UserName {
		// IOMETE names users by userName: a renamed user is a new one.
		if err := e.deleteRemote(ctx, "Users", st.RemoteID); err != nil {
			return err
		}
		e.moveUser(u.ID, st.RemoteID)
		st.RemoteID, st.PushedBody, st.PushedHash = "", "", ""
	}
	if st.RemoteID != "" && st.Status == store.PushDelivered && st.PushedHash == h {
		return nil
	}
	created := false
	if st.RemoteID == "" {
		raw, isNew, err := e.findOrCreate(ctx, st, "Users", "userName", u.UserName, want.wire())
		if err != nil {
			return err
		}
		b, id := projectUser(raw)
		if isNew {
			id = e.remoteID(id, u.UserName)
			if id == "" {
				return fmt.Errorf("create user %q: the target returned no id", u.UserName)
			}
			st.RemoteID, st.PushedHash, st.PushedBody = id, h, js
		} else {
			if err := e.adopt(ctx, st, e.remoteID(id, b.UserName)); err != nil {
				return err
			}
			st.PushedHash, st.PushedBody = hashOf(b)
		}
		created = isNew
		e.moveUser(u.ID, "")
	}
	updated := false
	if st.PushedHash != h {
		if err := e.updateUser(ctx, st, want); err != nil {
			if !isStatus(err, http.StatusNotFound) || created {
				return err
			}
			// Deleted at the target by hand: create it again.
			st.RemoteID, st.PushedHash, st.PushedBody = "", "", ""
			return e.ensureUser(ctx, u)
		}
		st.PushedHash, st.PushedBody = h, js
		updated = true
	}
	st.Status, st.Name, st.LastError, st.Attempts = store.PushDelivered, u.UserName, "", 0
	if err := e.save(ctx, st); err != nil {
		return err
	}
	switch {
	case created:
		e.count(1, 0, 0)
	case updated:
		e.count(0, 1, 0)
	}
	return nil
}

func (e *engine) updateUser(ctx context.Context, st *store.PushState, want *userBody) error {
	path := "/Users/" + url.PathEscape(st.RemoteID)
	if e.patch {
		var old *userBody
		if st.PushedBody != "" {
			old = &userBody{}
			if json.Unmarshal([]byte(st.PushedBody), old) != nil {
				old = nil
			}
		}
		ops := userPatch(old, want)
		if len(ops) == 0 {
			return nil
		}
		_, err := e.send(ctx, http.MethodPatch, path, nil, newPatch(ops))
		return err
	}
	body := want.wire()
	body.ID = st.RemoteID
	_, err := e.send(ctx, http.MethodPut, path, nil, body)
	return err
}

func (e *engine) deleteRemote(ctx context.Context, kind, id string) error {
	_, err := e.send(ctx, http.MethodDelete, "/"+kind+"/"+url.PathEscape(id), nil, nil)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

// findOrCreate looks st's resource up at the target by name (its attr of
// kind) and, when the target lacks it, creates it with body, recording the
// intent first so that after a crash the next run looks it up. It returns the
// resource the target holds, or with isNew the target's answer to the create.
func (e *engine) findOrCreate(ctx context.Context, st *store.PushState, kind, attr, name string, body any) (raw json.RawMessage, isNew bool, err error) {
	raw, found, err := e.lookup(ctx, kind, attr, name)
	if err != nil || found {
		return raw, false, err
	}
	if st.Status == "" {
		st.Status = store.PushPending
		if err := e.save(ctx, st); err != nil {
			return nil, false, err
		}
	}
	resp, err := e.send(ctx, http.MethodPost, "/"+kind, nil, body)
	switch {
	case isStatus(err, http.StatusConflict):
		raw, found, err := e.lookup(ctx, kind, attr, name)
		if err != nil {
			return nil, false, err
		}
		if !found {
			noun := strings.ToLower(st.ResourceType)
			return nil, false, fmt.Errorf("create %s %q: the target reports a conflict but no %s of that %s", noun, name, noun, attr)
		}
		return raw, false, nil
	case err != nil:
		return nil, false, err
	}
	return resp.body, true, nil
}

// adopt records remoteID, found at the target by name, as st's remote
// resource. Push states of resources no longer stored that hold it are
// forgotten: their entry was deleted and re-created under the same name, and
// the remote resource is now the new entry's, not one to deprovision. The
// state of another stored resource holding it makes adoption fail (two
// stored resources must not share one remote resource); it is retried next run.
func (e *engine) adopt(ctx context.Context, st *store.PushState, remoteID string) error {
	holders, err := e.db.PushHolders(ctx, st.ResourceType, remoteID)
	if err != nil {
		return err
	}
	for _, h := range holders {
		if h.ResourceID != st.ResourceID && h.Stored {
			return fmt.Errorf("adopt the target's %s %q (id %s) for %s: it is already pushed for the stored %s %s",
				strings.ToLower(st.ResourceType), st.Name, remoteID, st.ResourceID, strings.ToLower(st.ResourceType), h.ResourceID)
		}
	}
	for _, h := range holders {
		if h.ResourceID != st.ResourceID {
			if err := e.forget(ctx, st.ResourceType, h.ResourceID); err != nil {
				return err
			}
		}
	}
	st.RemoteID = remoteID
	return nil
}

// removable prepares the removal of st's remote resource (phases 4 and 5, and
// Deprovision). Without a recorded remote id (a create whose answer a crash
// lost) it looks the resource up by name. It reports false, having forgotten
// st, when there is nothing to remove: the target lacks the resource, or a
// stored resource's push state holds it now (adopted after the entry was
// deleted and re-created under the same name).
func (e *engine) removable(ctx context.Context, st *store.PushState) (bool, error) {
	if st.RemoteID == "" {
		kind, attr := "Users", "userName"
		if st.ResourceType == bridge.MemberGroup {
			kind, attr = "Groups", "displayName"
		}
		raw, found, err := e.lookup(ctx, kind, attr, st.Name)
		if err != nil {
			return false, err
		}
		if !found {
			return false, e.forget(ctx, st.ResourceType, st.ResourceID)
		}
		if st.ResourceType == bridge.MemberUser {
			b, id := projectUser(raw)
			st.RemoteID = cmp.Or(id, b.UserName)
			st.PushedHash, st.PushedBody = hashOf(b)
		} else {
			b, id, _ := projectGroup(raw)
			st.RemoteID = cmp.Or(id, b.DisplayName)
			st.PushedHash, st.PushedBody = hashOf(b.attrs())
		}
	}
	holders, err := e.db.PushHolders(ctx, st.ResourceType, st.RemoteID)
	if err != nil {
		return false, err
	}
	for _, h := range holders {
		if h.ResourceID != st.ResourceID && h.Stored {
			return false, e.forget(ctx, st.ResourceType, st.ResourceID)
		}
	}
	return true, nil
}

// deprovisionUser removes (or deactivates) a user the target must no longer have.
func (e *engine) deprovisionUser(ctx context.Context, st *store.PushState) error {
	if ok, err := e.removable(ctx, st); !ok || err != nil {
		return err
	}
	inStore := e.users[st.ResourceID] != nil
	if e.cfg.deprovision == deprovisionDelete || e.cfg.iomete {
		if err := e.deleteRemote(ctx, "Users", st.RemoteID); err != nil {
			return err
		}
		e.count(0, 0, 1)
		return e.forget(ctx, bridge.MemberUser, st.ResourceID)
	}
	old := &userBody{UserName: st.Name}
	if st.PushedBody != "" {
		_ = json.Unmarshal([]byte(st.PushedBody), old)
	} else {
		old.Active = true
	}
	if st.Status != store.PushDeprovisioned {
		path := "/Users/" + url.PathEscape(st.RemoteID)
		var err error
		if e.patch {
			_, err = e.send(ctx, http.MethodPatch, path, nil, newPatch([]patchOp{{Op: "replace", Path: "active", Value: false}}))
		} else {
			body := old.wire()
			body.ID, body.Active = st.RemoteID, false
			_, err = e.send(ctx, http.MethodPut, path, nil, body)
		}
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return err
		}
		e.count(0, 0, 1)
	}
	if !inStore {
		return e.forget(ctx, bridge.MemberUser, st.ResourceID)
	}
	old.Active = false
	st.PushedHash, st.PushedBody = hashOf(old.attrs())
	st.Status, st.LastError, st.Attempts = store.PushDeprovisioned, "", 0
	return e.save(ctx, st)
}
