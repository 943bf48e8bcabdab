package bridge

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/schema"
)

// The group side of a pass: every stored group competes (there are few),
// the changed group entries among them; then the members of the groups a
// change reaches are resolved as a full sync resolves them, the nesting
// closure is recomputed, and the users whose groups change get new hashes.

// groupWorld is a pass's groups.
type groupWorld struct {
	rows     []GroupRow // every stored group, in id order
	edges    []GroupEdge
	snap     *Snapshot
	gr       *groupRead // cands[:changedN] are the changed entries
	changedN int
	touched  map[storedID]bool // stored groups a change names (or displaces)
	uuids    []string          // the directory UUIDs of gr.cands[:changedN]
	side     *groupSide
}

// readGroupWorld loads the stored groups and makes the changed group
// entries and the stored groups no change names the candidates.
func readGroupWorld(ctx context.Context, cs ChangeStore, settings *schema.Settings, changes []schema.Change) (*groupWorld, error) {
	g := &groupWorld{gr: &groupRead{}, touched: map[storedID]bool{}, snap: &Snapshot{}}
	if !settings.Groups.Enabled {
		return g, nil
	}
	var err error
	if g.rows, g.edges, err = cs.GroupGraph(ctx); err != nil {
		return nil, fmt.Errorf("read the stored groups: %w", err)
	}
	sort.Slice(g.rows, func(i, j int) bool { return g.rows[i].ID < g.rows[j].ID })
	var goneUUIDs []string
	for _, ch := range changes {
		if ch.Kind == schema.ChangeGone && ch.UUID != "" {
			goneUUIDs = append(goneUUIDs, ch.UUID)
		}
	}
	byUUID, err := cs.IDsByUUID(ctx, MemberGroup, goneUUIDs)
	if err != nil {
		return nil, err
	}
	byExt, byDN, byID := map[string]storedID{}, map[string]storedID{}, map[string]storedID{}
	for i := range g.rows {
		r := &g.rows[i]
		byID[r.ID] = storedID(i)
		g.snap.Groups = append(g.snap.Groups, StoredGroup{ID: r.ID, ExternalID: r.ExternalID, DNNorm: r.DNNorm,
			NameNorm: r.NameNorm, Hash: r.Hash, MembersHash: r.MembersHash, Created: r.Created})
		if r.ExternalID != "" {
			byExt[r.ExternalID] = storedID(i)
		}
		byDN[r.DNNorm] = storedID(i)
	}
	var h hasher
	dnTaken := map[string]bool{}
	for _, ch := range changes {
		if ch.Kind == schema.ChangeGone {
			// By externalId, else by the UUID a pass recorded, else by DN.
			s, ok := byExt[ch.UUID]
			if !ok || ch.UUID == "" {
				s, ok = byID[byUUID[ch.UUID]]
			}
			if !ok && ch.Entry.DN != "" {
				s, ok = byDN[NormalizeDN(ch.Entry.DN)]
			}
			if ok {
				g.touched[s] = true
			}
			continue
		}
		var gc groupCand
		mg, err := schema.MapGroup(ch.Entry, settings)
		if err != nil {
			gc = groupCand{bad: entryReason(err), g: mappedGroup{Group: schema.Group{DN: ch.Entry.DN,
				ExternalID: schema.GroupKeys(ch.Entry, settings)}, dnNorm: NormalizeDN(ch.Entry.DN)}}
		} else {
			m := mappedGroup{Group: mg, dnNorm: NormalizeDN(mg.DN), nameNorm: strings.ToLower(mg.Name)}
			gc = groupCand{g: m, digest: h.groupDigest(&m)}
		}
		ext, dn := gc.g.ExternalID, gc.g.dnNorm
		if s, ok := byExt[ext]; ok && ext != "" {
			g.touched[s] = true
		} else if s, ok := byDN[dn]; ok && (ext == "" || g.rows[s].ExternalID == "") {
			g.touched[s] = true
		}
		dnTaken[dn] = true
		g.gr.cands = append(g.gr.cands, gc)
		g.uuids = append(g.uuids, ch.UUID)
	}
	g.changedN = len(g.gr.cands)
	for i := range g.rows {
		r := &g.rows[i]
		if g.touched[storedID(i)] || dnTaken[r.DNNorm] {
			g.touched[storedID(i)] = true
			continue
		}
		dg, _ := ParseDigest([]byte(r.Hash))
		g.gr.cands = append(g.gr.cands, groupCand{digest: dg,
			g: mappedGroup{Group: schema.Group{DN: r.DN, ExternalID: r.ExternalID, Name: r.Name}, dnNorm: r.DNNorm, nameNorm: r.NameNorm}})
	}
	return g, nil
}

// kept says changed group candidate c is kept, and at which index of side.groups.
func (g *groupWorld) kept(c int) (int, bool) {
	gc := &g.gr.cands[c]
	if gc.bad != "" {
		return 0, false
	}
	gs := g.side.groups
	i := sort.Search(len(gs), func(i int) bool { return gs[i].dnNorm >= gc.g.dnNorm })
	for ; i < len(gs) && gs[i].dnNorm == gc.g.dnNorm; i++ {
		if gs[i].ExternalID == gc.g.ExternalID && gs[i].Name == gc.g.Name {
			return i, true
		}
	}
	return 0, false
}

// moved returns the stored users and groups a change touches whose groups
// may list them differently now: all but those kept under the same id and
// the same name (DN, or member key), whose groups are as they were.
func (w *deltaWorld) moved(touchedGroups []string, changed map[int]bool) []string {
	stable := map[string]bool{}
	for c, id := range w.userID {
		if s := w.uv.final(w.d, c); s != noStored && w.d.rows[s].ID == id && w.d.storedRef(s) == w.d.ref(c) {
			stable[id] = true
		}
	}
	for i := range changed {
		if s := w.g.side.stored[i]; s != noStored && w.g.snap.Groups[s].DNNorm == w.g.side.groups[i].dnNorm {
			stable[w.g.side.groups[i].id] = true
		}
	}
	var out []string
	for _, id := range append(slices.Clone(w.touchedIDs), touchedGroups...) {
		if !stable[id] {
			out = append(out, id)
		}
	}
	return out
}

// groupRow adds processed group i to the plan when it changed.
func (w *deltaWorld) groupRow(i int, changed bool, ms []Member) {
	g := w.g
	grp := &g.side.groups[i]
	row := GroupRow{ID: grp.id, ExternalID: grp.ExternalID, DN: grp.DN, DNNorm: grp.dnNorm, Name: grp.Name,
		NameNorm: grp.nameNorm, Hash: w.h.group(grp), MembersHash: w.h.members(ms), Created: w.now, LastModified: w.now}
	var old *StoredGroup
	if s := g.side.stored[i]; s != noStored {
		old = &g.snap.Groups[s]
		if !changed {
			row.Hash = old.Hash
		}
	}
	row.Version = w.h.version(row.Hash, row.MembersHash)
	planGroup(w.dp.p, row, ms, old)
}

// closure computes the nesting closure before and after the pass, from the
// stored edges and the processed groups' new members (by the full sync's
// own function, so the one before is the stored one); the plan replaces it
// when it changed.
func (w *deltaWorld) closure(deleted map[string]bool) {
	g := w.g
	var before, after []string
	for i := range g.rows {
		before = append(before, g.rows[i].ID)
	}
	for i := range g.side.groups {
		after = append(after, g.side.groups[i].id)
	}
	for s := range g.side.keptStored {
		after = append(after, g.rows[s].ID)
	}
	var oldEdges, newEdges []GroupEdge
	for _, e := range g.edges {
		oldEdges = append(oldEdges, e)
		if !w.processed[e.Parent] && !deleted[e.Parent] && !deleted[e.Child] {
			newEdges = append(newEdges, e)
		}
	}
	for parent, ms := range w.newMembers {
		for _, m := range ms {
			if m.Type == MemberGroup {
				newEdges = append(newEdges, GroupEdge{Parent: parent, Child: m.ID})
			}
		}
	}
	old := closureOf(before, oldEdges)
	w.ancestors = closureOf(after, newEdges)
	w.ancChanged = map[string]bool{}
	for id, as := range w.ancestors {
		if !slices.Equal(as, old[id]) {
			w.ancChanged[id] = true
		}
	}
	for id := range old {
		if _, ok := w.ancestors[id]; !ok && !deleted[id] {
			w.ancChanged[id] = true
		}
	}
	if len(w.ancChanged) > 0 {
		w.dp.p.Ancestors = w.ancestors
	}
}

// closureOf returns each group's ancestors (sorted ids) through edges
// between the groups ids, as a full sync computes them (nesting.go).
func closureOf(ids []string, edges []GroupEdge) map[string][]string {
	at := make(map[string]int32, len(ids))
	all := make([]mappedGroup, 0, len(ids))
	for _, id := range ids {
		if _, ok := at[id]; !ok {
			at[id] = int32(len(all))
			all = append(all, mappedGroup{id: id})
		}
	}
	for _, e := range edges {
		p, ok1 := at[e.Parent]
		c, ok2 := at[e.Child]
		if ok1 && ok2 && p != c {
			all[c].parents = append(all[c].parents, p)
		}
	}
	out := map[string][]string{}
	for i, as := range ancestors(all) {
		if len(as) == 0 {
			continue
		}
		ids := make([]string, len(as))
		for k, a := range as {
			ids[k] = all[a].id
		}
		sort.Strings(ids)
		out[all[i].id] = ids
	}
	return out
}

// memberships gives every user whose groups may have changed its new
// memberships and hash, and writes the users' part of the plan.
func (w *deltaWorld) memberships(ctx context.Context) error {
	p := w.dp.p
	w.md = &membershipDelta{created: map[string]int32{}, changed: map[string][]Membership{}}
	// Users whose direct groups or whose groups' ancestors changed.
	reach := map[string]bool{}
	inNew := map[string][]string{} // user → processed groups listing it now
	for gid, ms := range w.newMembers {
		now := map[string]bool{}
		for _, m := range ms {
			if m.Type == MemberUser {
				now[m.ID] = true
				inNew[m.ID] = append(inNew[m.ID], gid)
				if w.ancChanged[gid] {
					reach[m.ID] = true
				}
			}
		}
		was := map[string]bool{}
		for _, m := range w.oldMembers[gid] {
			if m.Type == MemberUser && m.ID != "" {
				was[m.ID] = true
			}
		}
		for id := range now {
			if !was[id] {
				reach[id] = true
			}
		}
		for id := range was {
			if !now[id] {
				reach[id] = true
			}
		}
	}
	var ancOnly []string // and the groups deleted
	for gid := range w.ancChanged {
		if !w.processed[gid] {
			ancOnly = append(ancOnly, gid)
		}
	}
	for gid := range w.deletedGroup {
		ancOnly = append(ancOnly, gid)
	}
	if len(ancOnly) > 0 {
		sort.Strings(ancOnly)
		more, err := w.cs.MembersOf(ctx, ancOnly)
		if err != nil {
			return fmt.Errorf("read the members of %d groups whose nesting changed: %w", len(ancOnly), err)
		}
		for _, ms := range more {
			for _, m := range ms {
				if m.Type == MemberUser && m.ID != "" {
					reach[m.ID] = true
				}
			}
		}
	}
	for id := range w.changedRows {
		reach[id] = true
	}
	var existing []string
	for id := range reach {
		if !w.created[id] && !w.deletedUser[id] {
			existing = append(existing, id)
		}
	}
	sort.Strings(existing)
	direct, err := w.cs.DirectGroups(ctx, existing)
	if err != nil {
		return fmt.Errorf("read the direct groups of %d users: %w", len(existing), err)
	}
	membershipsOf := func(id string) ([]Membership, Digest) {
		set := map[string]bool{}
		for _, gid := range direct[id] {
			if !w.processed[gid] && !w.deletedGroup[gid] {
				set[gid] = true
			}
		}
		for _, gid := range inNew[id] {
			set[gid] = true
		}
		all := map[string]bool{}
		for gid := range set {
			all[gid] = true
		}
		for gid := range set {
			for _, a := range w.ancestors[gid] {
				if !set[a] {
					all[a] = false
				}
			}
		}
		ms := make([]Membership, 0, len(all))
		for gid, d := range all {
			ms = append(ms, Membership{GroupID: gid, Direct: d})
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].GroupID < ms[j].GroupID })
		if len(ms) == 0 {
			ms = nil
		}
		return ms, w.h.memberships(ms)
	}
	var others []string
	for _, id := range existing {
		if _, ok := w.changedRows[id]; !ok {
			others = append(others, id)
		}
	}
	ids := make([]string, 0, len(w.changedRows))
	for id := range w.changedRows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		row := w.changedRows[id]
		ms, dg := membershipsOf(id)
		row.GroupsHash = dg.String()
		row.Version = w.h.version(row.Hash, row.GroupsHash)
		if w.created[id] {
			p.CreateUsers = append(p.CreateUsers, row)
			p.Changes = append(p.Changes, Change{ResourceType: MemberUser, ResourceID: id, Op: OpCreate, Name: row.UserName})
			w.md.addCreated(ms, 1)
			continue
		}
		old := w.oldRows[id]
		if old.Hash == row.Hash && old.GroupsHash == row.GroupsHash {
			continue
		}
		p.UpdateUsers = append(p.UpdateUsers, row)
		if old.Hash != row.Hash {
			p.Changes = append(p.Changes, Change{ResourceType: MemberUser, ResourceID: id, Op: OpUpdate, Name: row.UserName})
		}
		if old.GroupsHash != row.GroupsHash {
			w.md.changed[id] = ms
		}
	}
	if len(others) == 0 {
		return nil
	}
	rows, err := w.cs.UsersByID(ctx, others)
	if err != nil {
		return fmt.Errorf("read %d users whose groups changed: %w", len(others), err)
	}
	for _, row := range rows {
		ms, dg := membershipsOf(row.ID)
		if row.GroupsHash == dg.String() {
			continue
		}
		row.GroupsHash = dg.String()
		row.Version = w.h.version(row.Hash, row.GroupsHash)
		row.LastModified = w.now
		p.UpdateUsers = append(p.UpdateUsers, row)
		w.md.changed[row.ID] = ms
	}
	return nil
}

// groupNames are the groups after the pass, for the members changes' names.
func (w *deltaWorld) groupNames() []mappedGroup {
	if w.g.side == nil {
		return nil
	}
	return w.g.side.groups
}
