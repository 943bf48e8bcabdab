package bridge

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// The members of the groups a pass reaches, resolved as a full sync
// resolves member values (groupindex.go, users.go join): a value names a
// kept group, else a stored group kept for its skipped entry, else the user
// at that DN (or member key), else the stored user kept for a skipped entry
// there; else it dangles.

// memberPass is what members learns, phase by phase.
type memberPass struct {
	changed map[int]bool    // side.groups indexes of the changed group entries kept
	deleted map[string]bool // stored groups the pass deletes
	// touchedUser and touchedGroup name what named each stored member a
	// change touches, before the pass (folded DN or member key).
	touchedUser, touchedGroup map[string]string
	// Who a name is after the pass.
	changedUser, keptUser, storedUser map[string]string
	groupAt                           map[string]int
	process                           map[int]bool // side.groups indexes resolved again
	lists                             map[int][]listed
}

// listed is one member value of a processed group: a name to resolve, or a
// stored member that no change touches (still what its value names).
type listed struct {
	ref  string
	keep *Member
}

// members resolves the members of every group a change reaches and writes
// the groups' part of the plan.
func (w *deltaWorld) members(ctx context.Context) error {
	st := w.dp.state
	st.Skipped = append(st.Skipped, w.skips.keys...) // the groups lost (decideGroups)
	if !w.settings.Groups.Enabled {
		return nil
	}
	mp := w.groupChanges()
	refs := w.names(mp)
	if err := w.reached(ctx, mp, refs); err != nil {
		return err
	}
	old, err := w.cs.MembersOf(ctx, w.storedOf(mp.process))
	if err != nil {
		return fmt.Errorf("read the members of %d groups: %w", len(mp.process), err)
	}
	lookup := w.listValues(mp, old)
	if err := w.lookUpUsers(ctx, mp, lookup); err != nil {
		return err
	}
	w.resolveAll(mp, old)
	w.closure(mp.deleted)
	return nil
}

// groupChanges finds the changed group entries kept and the stored groups
// the pass deletes (into the plan).
func (w *deltaWorld) groupChanges() *memberPass {
	g, p, st := w.g, w.dp.p, w.dp.state
	mp := &memberPass{changed: map[int]bool{}, deleted: map[string]bool{}}
	for c := 0; c < g.changedN; c++ {
		st.UnskippedGroups = append(st.UnskippedGroups, g.gr.cands[c].g.dnNorm)
		if i, ok := g.kept(c); ok {
			mp.changed[i] = true
			if u := g.uuids[c]; u != "" && u != g.side.groups[i].ExternalID {
				st.UUIDs = append(st.UUIDs, UUIDRef{Type: MemberGroup, UUID: u, ID: g.side.groups[i].id})
			}
		}
	}
	for s := range g.rows {
		if _, kept := g.side.keptStored[storedID(s)]; kept || g.side.taken[s] {
			continue
		}
		r := &g.rows[s]
		mp.deleted[r.ID] = true
		p.DeleteGroups = append(p.DeleteGroups, r.ID)
		p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: r.ID, Op: OpDelete, Name: r.NameNorm})
	}
	sort.Strings(p.DeleteGroups)
	w.deletedGroup = mp.deleted
	return mp
}

// names records who each name is after the pass and what named the stored
// members a change touches; it returns the names the changed entries have now.
func (w *deltaWorld) names(mp *memberPass) (refs []string) {
	g, d := w.g, w.d
	mp.changedUser, mp.keptUser, mp.groupAt = map[string]string{}, map[string]string{}, map[string]int{}
	for c, id := range w.userID {
		if ref := d.ref(c); ref != "" {
			mp.changedUser[ref] = id
			refs = append(refs, ref)
		}
	}
	for s, c := range w.uv.kept {
		if ref := d.ref(c); ref != "" {
			mp.keptUser[ref] = d.rows[s].ID
		}
	}
	for i := range g.side.groups {
		mp.groupAt[g.side.groups[i].dnNorm] = i
		if mp.changed[i] && !d.byUID {
			refs = append(refs, g.side.groups[i].dnNorm)
		}
	}
	mp.touchedUser, mp.touchedGroup = map[string]string{}, map[string]string{}
	for i := range d.rows {
		if d.touched[i] {
			mp.touchedUser[d.rows[i].ID] = d.storedRef(storedID(i))
		}
	}
	for s := range g.rows {
		if g.touched[storedID(s)] || mp.deleted[g.rows[s].ID] {
			mp.touchedGroup[g.rows[s].ID] = g.rows[s].DNNorm
		}
	}
	return refs
}

// reached finds the groups to resolve again: the changed ones, those with a
// member that moved, and those with a dangling value a changed entry now has.
func (w *deltaWorld) reached(ctx context.Context, mp *memberPass, refs []string) error {
	g := w.g
	var touchedGroups []string
	for s := range g.rows {
		if g.touched[storedID(s)] {
			touchedGroups = append(touchedGroups, g.rows[s].ID)
		}
	}
	ids, err := w.cs.GroupsWith(ctx, w.moved(touchedGroups, mp.changed), refs)
	if err != nil {
		return fmt.Errorf("find the groups the changes reach: %w", err)
	}
	idAt := map[string]int{}
	for i := range g.side.groups {
		idAt[g.side.groups[i].id] = i
	}
	mp.process = map[int]bool{}
	for i := range mp.changed {
		mp.process[i] = true
	}
	for _, id := range ids {
		// A stored group kept for its skipped entry keeps its members (not in idAt).
		if i, ok := idAt[id]; ok {
			mp.process[i] = true
		}
	}
	return nil
}

// storedOf returns the stored ids of the processed groups that are stored.
func (w *deltaWorld) storedOf(process map[int]bool) []string {
	var ids []string
	for i := range process {
		if w.g.side.stored[i] != noStored {
			ids = append(ids, w.g.side.groups[i].id)
		}
	}
	sort.Strings(ids)
	return ids
}

// listValues lists the member values of each processed group: a changed
// group's as read, a stored group's from its stored members; it returns the
// names to look stored users up by.
func (w *deltaWorld) listValues(mp *memberPass, old map[string][]MemberRef) (lookup []string) {
	byUID := w.d.byUID
	mp.lists = map[int][]listed{}
	for i := range mp.process {
		grp := &w.g.side.groups[i]
		if mp.changed[i] {
			for _, v := range grp.Members {
				ref := NormalizeDN(v)
				if byUID {
					ref = foldKey(v)
				}
				mp.lists[i] = append(mp.lists[i], listed{ref: ref})
				lookup = append(lookup, ref)
			}
			continue
		}
		for _, m := range old[grp.id] {
			ref, touched := mp.touchedUser[m.ID], true
			switch {
			case m.ID == "":
				ref = m.DNNorm
			case m.Type == MemberGroup:
				ref, touched = mp.touchedGroup[m.ID]
			default:
				_, touched = mp.touchedUser[m.ID]
			}
			if m.ID != "" && !touched {
				mp.lists[i] = append(mp.lists[i], listed{keep: &Member{ID: m.ID, Type: m.Type}})
				continue
			}
			mp.lists[i] = append(mp.lists[i], listed{ref: ref})
			lookup = append(lookup, ref)
		}
	}
	return lookup
}

// lookUpUsers finds the stored users no change touches at the names listed.
func (w *deltaWorld) lookUpUsers(ctx context.Context, mp *memberPass, lookup []string) error {
	mp.storedUser = map[string]string{}
	if len(lookup) == 0 {
		return nil
	}
	byUID := w.d.byUID
	k := UserKeys{DNs: lookup}
	if byUID {
		k = UserKeys{MemberKeys: lookup}
	}
	rows, err := w.cs.UsersByKeys(ctx, k)
	if err != nil {
		return fmt.Errorf("read the users groups name: %w", err)
	}
	for i := range rows {
		if _, t := mp.touchedUser[rows[i].ID]; t {
			continue
		}
		ref := rows[i].DNNorm
		if byUID {
			ref = foldKey(rows[i].MemberKey)
		}
		mp.storedUser[ref] = rows[i].ID
	}
	return nil
}

// resolve returns what value l of group self names after the pass.
func (w *deltaWorld) resolve(mp *memberPass, self int, l listed) (Member, bool) {
	if l.keep != nil {
		return *l.keep, true
	}
	if l.ref == "" {
		return Member{}, false
	}
	if !w.d.byUID {
		if i, ok := mp.groupAt[l.ref]; ok {
			if i == self {
				return Member{}, false
			}
			return Member{ID: w.g.side.groups[i].id, Type: MemberGroup}, true
		}
		if m, ok := w.g.side.kept[l.ref]; ok {
			return m, true
		}
	}
	for _, m := range []map[string]string{mp.changedUser, mp.storedUser, mp.keptUser} {
		if id, ok := m[l.ref]; ok {
			return Member{ID: id, Type: MemberUser}, true
		}
	}
	return Member{}, false
}

// resolveAll gives each processed group its members after the pass and its
// dangling values, and writes the groups that changed into the plan.
func (w *deltaWorld) resolveAll(mp *memberPass, old map[string][]MemberRef) {
	st := w.dp.state
	w.newMembers, w.oldMembers, w.processed = map[string][]Member{}, old, map[string]bool{}
	order := make([]int, 0, len(mp.process))
	for i := range mp.process {
		order = append(order, i)
	}
	sort.Ints(order)
	for _, i := range order {
		grp := &w.g.side.groups[i]
		w.processed[grp.id] = true
		st.DanglingGroups = append(st.DanglingGroups, grp.id)
		have := map[string]bool{}
		var ms []Member
		dangling := map[string]bool{}
		for _, l := range mp.lists[i] {
			m, ok := w.resolve(mp, i, l)
			if !ok {
				if l.ref != "" && (w.d.byUID || l.ref != grp.dnNorm) {
					dangling[l.ref] = true
				}
				continue
			}
			if !have[m.ID] {
				have[m.ID] = true
				ms = append(ms, m)
			}
		}
		for _, ref := range slices.Sorted(maps.Keys(dangling)) {
			st.Dangling = append(st.Dangling, DanglingRef{GroupID: grp.id, Ref: ref})
		}
		w.r.DanglingMembers += len(dangling)
		sort.Slice(ms, func(a, b int) bool {
			if ms[a].Type != ms[b].Type {
				return ms[a].Type < ms[b].Type
			}
			return ms[a].ID < ms[b].ID
		})
		w.newMembers[grp.id] = ms
		w.groupRow(i, mp.changed[i], ms)
	}
	for id := range mp.deleted {
		st.DanglingGroups = append(st.DanglingGroups, id)
	}
	sort.Strings(st.DanglingGroups)
}
