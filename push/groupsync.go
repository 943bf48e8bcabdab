package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/store"
)

// The engine's work on groups: their members, creation, update and deletion at the target.

// desiredMembers lists the remote members group g should have: in flatten
// mode every user in it at any depth, in nested mode its direct users and
// groups. Members not (yet) at the target are left out.
func (e *engine) desiredMembers(g *store.PushGroup) []member {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []member
	addUser := func(id string) {
		if e.uaff[id] && !e.wantUser(id) {
			return
		}
		st := e.ustate[id]
		if st != nil && st.RemoteID != "" && (st.Status == store.PushDelivered || st.Status == store.PushFailed) {
			out = append(out, member{Value: st.RemoteID, Type: bridge.MemberUser})
		}
	}
	if e.cfg.members == membersNested {
		for _, m := range g.Members {
			if m.Type == bridge.MemberUser {
				addUser(m.ID)
			} else if e.scopeGroups == nil || e.scopeGroups[m.ID] {
				if st := e.gstate[m.ID]; st != nil && st.RemoteID != "" && st.Status != store.PushPending {
					out = append(out, member{Value: st.RemoteID, Type: bridge.MemberGroup})
				}
			}
		}
	} else {
		for _, id := range g.Users {
			addUser(id)
		}
	}
	return out
}

// ensureGroup makes the target hold group g with its attributes and at least
// its desired members; removals wait for phase 3 when PATCH is used.
func (e *engine) ensureGroup(ctx context.Context, g *store.PushGroup) error {
	st := e.groupState(g)
	want := newGroupBody(g.Name, g.ExternalID)
	h, js := hashOf(want.attrs())
	if e.cfg.iomete && st.RemoteID != "" && st.RemoteID != g.Name {
		// IOMETE names groups by displayName: a renamed group is a new one.
		if err := e.deleteRemote(ctx, "Groups", st.RemoteID); err != nil {
			return err
		}
		st.RemoteID, st.PushedBody, st.PushedHash = "", "", ""
		if err := e.setMembers(ctx, g.ID, true, nil, nil); err != nil {
			return err
		}
	}
	desired := e.desiredMembers(g)
	e.mu.Lock()
	e.want[g.ID] = desired
	e.mu.Unlock()
	created := false
	if st.RemoteID == "" {
		raw, isNew, err := e.findOrCreate(ctx, st, "Groups", "displayName", g.Name, want.wire(desired))
		if err != nil {
			return err
		}
		b, id, ms := projectGroup(raw)
		if isNew {
			id = e.remoteID(id, g.Name)
			if id == "" {
				return fmt.Errorf("create group %q: the target returned no id", g.Name)
			}
			st.RemoteID, st.PushedHash, st.PushedBody = id, h, js
			ms = values(desired)
		} else {
			if err := e.adopt(ctx, st, e.remoteID(id, b.DisplayName)); err != nil {
				return err
			}
			st.PushedHash, st.PushedBody = hashOf(b.attrs())
		}
		created = isNew
		if err := e.setMembers(ctx, g.ID, true, ms, nil); err != nil {
			return err
		}
	}
	add, remove := e.memberDiff(g.ID, desired)
	changed := st.PushedHash != h
	if changed || len(add) > 0 || (len(remove) > 0 && !e.patch) {
		if err := e.updateGroup(ctx, st, g, want, changed, desired, add); err != nil {
			if !isStatus(err, http.StatusNotFound) || created {
				return err
			}
			st.RemoteID, st.PushedHash, st.PushedBody = "", "", ""
			if err := e.setMembers(ctx, g.ID, true, nil, nil); err != nil {
				return err
			}
			return e.ensureGroup(ctx, g)
		}
		st.PushedHash, st.PushedBody = h, js
	}
	st.Status, st.Name, st.LastError, st.Attempts = store.PushDelivered, g.Name, "", 0
	if err := e.save(ctx, st); err != nil {
		return err
	}
	switch {
	case created:
		e.touchGroup(g.ID, true)
	case changed || len(add) > 0 || (len(remove) > 0 && !e.patch):
		e.touchGroup(g.ID, false)
	}
	return nil
}

// touchGroup counts a group as created or updated, once per run.
func (e *engine) touchGroup(id string, created bool) {
	e.mu.Lock()
	seen := e.touched[id]
	e.touched[id] = true
	e.mu.Unlock()
	switch {
	case seen:
	case created:
		e.count(1, 0, 0)
	default:
		e.count(0, 1, 0)
	}
}

func values(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Value
	}
	return out
}

// memberDiff returns the desired members the target lacks, and the remote
// ids it has that are not desired.
func (e *engine) memberDiff(gid string, desired []member) (add []member, remove []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	have := e.members[gid]
	want := make(map[string]bool, len(desired))
	for _, m := range desired {
		want[m.Value] = true
		if !have[m.Value] {
			add = append(add, m)
		}
	}
	for id := range have {
		if !want[id] {
			remove = append(remove, id)
		}
	}
	sort.Strings(remove)
	return add, remove
}

// setMembers records delivered members: with replace the set becomes add.
func (e *engine) setMembers(ctx context.Context, gid string, replace bool, add, remove []string) error {
	e.mu.Lock()
	set := e.members[gid]
	if replace || set == nil {
		set = map[string]bool{}
		e.members[gid] = set
	}
	for _, id := range add {
		set[id] = true
	}
	for _, id := range remove {
		delete(set, id)
	}
	e.mu.Unlock()
	if e.dry != nil {
		return nil
	}
	return e.db.UpdatePushMembers(context.WithoutCancel(ctx), gid, replace, add, remove)
}

// maxOpsPerPatch bounds one PATCH's operations (and member values per add).
const maxOpsPerPatch = 500

func (e *engine) updateGroup(ctx context.Context, st *store.PushState, g *store.PushGroup, want *groupBody, changed bool, desired, add []member) error {
	path := "/Groups/" + url.PathEscape(st.RemoteID)
	if !e.patch {
		// The whole group with its complete member list (IOMETE's rule).
		body := want.wire(desired)
		body.ID = st.RemoteID
		if _, err := e.send(ctx, http.MethodPut, path, nil, body); err != nil {
			return err
		}
		return e.setMembers(ctx, g.ID, true, values(desired), nil)
	}
	var ops []patchOp
	if changed {
		ops = append(ops, patchOp{Op: "replace", Path: "displayName", Value: want.DisplayName})
		if want.ExternalID != "" {
			ops = append(ops, patchOp{Op: "replace", Path: "externalId", Value: want.ExternalID})
		} else if st.PushedBody != "" && strings.Contains(st.PushedBody, `"externalId"`) {
			ops = append(ops, patchOp{Op: "remove", Path: "externalId"})
		}
	}
	for len(ops) > 0 || len(add) > 0 {
		n := min(len(add), maxOpsPerPatch)
		chunk := add[:n]
		add = add[n:]
		if n > 0 {
			ops = append(ops, patchOp{Op: "add", Path: "members", Value: chunk})
		}
		if _, err := e.send(ctx, http.MethodPatch, path, nil, newPatch(ops)); err != nil {
			return err
		}
		ops = nil
		if err := e.setMembers(ctx, g.ID, false, values(chunk), nil); err != nil {
			return err
		}
	}
	return nil
}

// removeMembers sends the member removals of a group (phase 3, PATCH only).
func (e *engine) removeMembers(ctx context.Context, g *store.PushGroup) error {
	e.mu.Lock()
	st, desired := e.gstate[g.ID], e.want[g.ID]
	e.mu.Unlock()
	if st == nil || st.RemoteID == "" || st.Status != store.PushDelivered {
		return nil
	}
	_, remove := e.memberDiff(g.ID, desired)
	path := "/Groups/" + url.PathEscape(st.RemoteID)
	for len(remove) > 0 {
		n := min(len(remove), maxOpsPerPatch)
		ops := make([]patchOp, n)
		for i, id := range remove[:n] {
			lit, _ := json.Marshal(id)
			ops[i] = patchOp{Op: "remove", Path: "members[value eq " + string(lit) + "]"}
		}
		_, err := e.send(ctx, http.MethodPatch, path, nil, newPatch(ops))
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return err
		}
		if err := e.setMembers(ctx, g.ID, false, nil, remove[:n]); err != nil {
			return err
		}
		e.touchGroup(g.ID, false)
		remove = remove[n:]
	}
	return nil
}

// deleteGroup removes a group the target must no longer have.
func (e *engine) deleteGroup(ctx context.Context, st *store.PushState) error {
	if ok, err := e.removable(ctx, st); !ok || err != nil {
		return err
	}
	if err := e.deleteRemote(ctx, "Groups", st.RemoteID); err != nil {
		return err
	}
	e.count(0, 0, 1)
	return e.forget(ctx, bridge.MemberGroup, st.ResourceID)
}
