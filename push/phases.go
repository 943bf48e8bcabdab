package push

import (
	"context"
	"slices"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/store"
)

// The phases of one push run (runEngine), in order.

// runEngine is one push run, in its phases: plan (what to look at, and
// whether a full pass is due), then users the target must have, groups with
// their added members (nested groups first), removed members, deleted groups
// and deprovisioned users, and last the cursor moved past what was drained.
// A phase that aborts the run ends it; e.abort says why.
func (c *Client) runEngine(ctx context.Context, e *engine, mode int) error {
	p, err := c.plan(ctx, e, mode)
	if err != nil {
		return err
	}
	uids, gids, err := e.affected(ctx, p)
	if err != nil {
		return err
	}
	absent, err := e.ensureUsers(ctx, uids)
	if err != nil || e.aborted() {
		return err
	}
	if err := e.affectedGroups(ctx, gids, absent); err != nil {
		return err
	}
	present, gone := e.splitGroups(gids)
	if !e.ensureGroups(ctx, present) || !e.removeMembersOf(ctx, present) ||
		!e.deleteGroups(ctx, gone) || !e.deprovisionUsers(ctx, absent) || mode == modeDry {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.commit(ctx, e, p.maxSeq)
}

// plan is what a run starts from.
type plan struct {
	changes []store.PushChange // the change log after the cursor
	maxSeq  int64              // where the cursor moves once they are drained
	full    bool               // look at everything, not only the changes
}

// plan resolves the scope (before anything is sent: a scope that cannot be
// resolved stops the run), reads the change log after the cursor, decides
// whether a full pass is due (a reconcile, another target or another shape),
// forgets the remote ids of another target and finds out whether the target
// takes PATCH.
func (c *Client) plan(ctx context.Context, e *engine, mode int) (*plan, error) {
	db, cfg := c.db, e.cfg
	if err := e.resolveScope(ctx); err != nil {
		return nil, err
	}
	cursor, err := db.PushCursor(ctx)
	if err != nil {
		return nil, err
	}
	changes, err := db.PushChanges(ctx, cursor)
	if err != nil {
		return nil, err
	}
	maxSeq := cursor
	if len(changes) > 0 {
		maxSeq = changes[len(changes)-1].Seq
	}
	oldTarget, err := db.PushMeta(ctx, "target")
	if err != nil {
		return nil, err
	}
	oldShape, err := db.PushMeta(ctx, store.PushMetaShape)
	if err != nil {
		return nil, err
	}
	full := mode == modeReconcile || oldTarget != cfg.target() || oldShape != cfg.shape()
	if oldTarget != "" && oldTarget != cfg.target() && mode != modeDry {
		// Another target: the remote ids kept are not its ids.
		if err := db.ResetPush(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.iomete {
		e.patch = false
	} else if mode == modeDry {
		e.patch = true
	} else if e.patch, err = c.patchSupported(ctx, e.http); err != nil {
		return nil, err
	}
	return &plan{changes: changes, maxSeq: maxSeq, full: full}, nil
}

// affected returns the users and groups a run looks at: every one on a full
// pass (after a snapshot of the target); otherwise those the changes name,
// those pending or failed, and those entering or leaving the scope. The
// groups that contain an affected group are affected too.
func (e *engine) affected(ctx context.Context, p *plan) (uids, gids map[string]bool, err error) {
	db := e.db
	uids, gids = map[string]bool{}, map[string]bool{}
	if p.full {
		if err := e.snapshot(ctx); err != nil {
			return nil, nil, err
		}
		if err := addAll(ctx, db, uids, gids); err != nil {
			return nil, nil, err
		}
	} else {
		groupChanged := false
		for _, ch := range p.changes {
			if ch.ResourceType == bridge.MemberUser {
				uids[ch.ResourceID] = true
			} else {
				gids[ch.ResourceID] = true
				groupChanged = true
			}
		}
		retry, err := db.ListPushStates(ctx, "", store.PushPending, store.PushFailed)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range retry {
			if s.ResourceType == bridge.MemberUser {
				uids[s.ResourceID] = true
			} else {
				gids[s.ResourceID] = true
			}
		}
		if e.scopeRoots != nil && groupChanged {
			if err := e.scopeDrift(ctx, uids, gids); err != nil {
				return nil, nil, err
			}
		}
	}
	anc, err := db.GroupAncestors(ctx, keys(gids))
	if err != nil {
		return nil, nil, err
	}
	for _, id := range anc {
		gids[id] = true
	}
	return uids, gids, nil
}

// ensureUsers is phase 1: it loads the affected users and their
// bookkeeping, creates or updates those the target must have, and returns
// those it must lose (deprovisioned in phase 5).
func (e *engine) ensureUsers(ctx context.Context, uids map[string]bool) (absent []string, err error) {
	db := e.db
	e.uaff = uids
	if e.users, err = db.PushUsers(ctx, keys(uids)); err != nil {
		return nil, err
	}
	if e.ustate, err = db.PushStates(ctx, bridge.MemberUser, keys(uids)); err != nil {
		return nil, err
	}
	e.alignWithSnapshot(bridge.MemberUser)
	var present []string
	for _, id := range keys(uids) {
		if e.wantUser(id) {
			present = append(present, id)
		} else if st := e.ustate[id]; st != nil && !(st.Status == store.PushDeprovisioned && e.users[id] != nil) {
			absent = append(absent, id)
		}
	}
	e.each(ctx, present, func(ctx context.Context, id string) {
		u := e.users[id]
		if err := e.ensureUser(ctx, u); err != nil {
			e.failed(ctx, e.userState(u), err)
		}
	})
	return absent, nil
}

// affectedGroups adds to gids the groups whose members may change because
// users appeared or are going away, and loads them all.
func (e *engine) affectedGroups(ctx context.Context, gids map[string]bool, absent []string) error {
	gone := slices.Clone(e.gone)
	for id := range e.moved {
		if u := e.users[id]; u != nil {
			for _, m := range u.Groups {
				gids[m.GroupID] = true
			}
		}
	}
	for _, id := range absent {
		if st := e.ustate[id]; st != nil && st.RemoteID != "" {
			gone = append(gone, st.RemoteID)
		}
	}
	if len(gone) > 0 {
		had, err := e.db.GroupsWithPushedMember(ctx, gone)
		if err != nil {
			return err
		}
		for _, id := range had {
			gids[id] = true
		}
	}
	return e.loadGroups(ctx, gids)
}

// splitGroups divides the affected groups into those the target must have
// and those it must lose.
func (e *engine) splitGroups(gids map[string]bool) (present, absent []string) {
	for _, id := range keys(gids) {
		if e.wantGroup(id) {
			present = append(present, id)
		} else if e.gstate[id] != nil {
			absent = append(absent, id)
		}
	}
	return present, absent
}

// ensureGroups is phase 2: groups the target must have, with added members;
// nested groups before the groups that contain them. It reports whether the
// run goes on.
func (e *engine) ensureGroups(ctx context.Context, ids []string) bool {
	ensure := func(ctx context.Context, id string) {
		g := e.groups[id]
		if err := e.ensureGroup(ctx, g); err != nil {
			e.failed(ctx, e.groupState(g), err)
		}
	}
	levels, cyclic := e.levels(ids)
	for _, level := range levels {
		e.each(ctx, level, ensure)
		if e.aborted() {
			return false
		}
	}
	// Groups in a nesting cycle (and those containing one) list each other:
	// they go one at a time, each seeing the remote ids set before it, and
	// twice, the second pass adding the members created in the first.
	for range 2 {
		for _, id := range cyclic {
			e.each(ctx, []string{id}, ensure)
			if e.aborted() {
				return false
			}
		}
	}
	return true
}

// removeMembersOf is phase 3: removed members (only where PATCH can remove
// them; a PUT in phase 2 already set the whole list). It reports whether the
// run goes on.
func (e *engine) removeMembersOf(ctx context.Context, ids []string) bool {
	if !e.patch {
		return true
	}
	e.each(ctx, ids, func(ctx context.Context, id string) {
		g := e.groups[id]
		if err := e.removeMembers(ctx, g); err != nil {
			e.failed(ctx, e.groupState(g), err)
		}
	})
	return !e.aborted()
}

// deleteGroups is phase 4: deleted groups. A state gone by now was handed
// over to the resource that adopted its remote id. It reports whether the
// run goes on.
func (e *engine) deleteGroups(ctx context.Context, ids []string) bool {
	e.each(ctx, ids, func(ctx context.Context, id string) {
		e.mu.Lock()
		st := e.gstate[id]
		e.mu.Unlock()
		if st == nil {
			return
		}
		if err := e.deleteGroup(ctx, st); err != nil {
			e.failed(ctx, st, err)
		}
	})
	return !e.aborted()
}

// deprovisionUsers is phase 5: deprovisioned users, as deleteGroups. It
// reports whether the run goes on.
func (e *engine) deprovisionUsers(ctx context.Context, ids []string) bool {
	e.each(ctx, ids, func(ctx context.Context, id string) {
		e.mu.Lock()
		st := e.ustate[id]
		e.mu.Unlock()
		if st == nil {
			return
		}
		if err := e.deprovisionUser(ctx, st); err != nil {
			e.failed(ctx, st, err)
		}
	})
	return !e.aborted()
}

// commit moves the cursor past the changes drained and records the target
// and shape they were delivered to.
func (c *Client) commit(ctx context.Context, e *engine, maxSeq int64) error {
	if err := c.db.SetPushCursor(ctx, maxSeq); err != nil {
		return err
	}
	if err := c.db.SetPushMeta(ctx, "target", e.cfg.target()); err != nil {
		return err
	}
	return c.db.SetPushMeta(ctx, store.PushMetaShape, e.cfg.shape())
}
