package bridge

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/strpool"
	"github.com/scimbridge/scimbridge/schema"
)

// The group side of a run: groups are read first and decided at once
// (there are few), by the same rule as users (decide.go).

// groupCand is one group entry read.
type groupCand struct {
	g      mappedGroup // the mapped group; only keys for a bad one
	bad    string      // why it was skipped for a bad value
	stored storedID
	digest Digest
}

// groupRead is one run's read of the groups, and the ballot decide reads.
type groupRead struct {
	cands  []groupCand
	snap   *Snapshot
	byKey  [numKeys]map[string][]candID
	stored [numKeys]map[string]storedID // externalId and DN of the stored groups
}

// readGroups streams the groups from the directory and maps them. Any read
// error fails the whole run: a partial read must never look complete.
func readGroups(ctx context.Context, dir Directory, settings *schema.Settings, r *Report, progress *progress) (*groupRead, error) {
	gr := &groupRead{}
	var h hasher
	// The strings a group keeps go to a pool apart from its member values,
	// which go once the groups are linked: a group's name kept beside them
	// would hold their memory (at a million users, 100 MB of it).
	var pool strpool.Pool
	keep := func(s, same string) string {
		if s == same {
			return same
		}
		return pool.String(s)
	}
	err := dir.Groups(ctx, func(e *schema.Entry) error {
		progress.tick()
		g, err := schema.MapGroup(e, settings)
		if err != nil {
			ext := schema.GroupKeys(e, settings)
			gr.cands = append(gr.cands, groupCand{bad: entryReason(err),
				g: mappedGroup{Group: schema.Group{DN: e.DN, ExternalID: ext}, dnNorm: NormalizeDN(e.DN)}})
			return nil
		}
		r.DanglingMembers += g.Dropped // member values that were not valid text
		mg := mappedGroup{Group: g}
		mg.DN, mg.ExternalID, mg.Name = pool.String(g.DN), pool.String(g.ExternalID), pool.String(g.Name)
		mg.dnNorm, mg.nameNorm = keep(NormalizeDN(g.DN), mg.DN), keep(strings.ToLower(g.Name), mg.Name)
		gr.cands = append(gr.cands, groupCand{g: mg, digest: h.groupDigest(&mg)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read groups under %q: %w", settings.Groups.GroupsDN, err)
	}
	return gr, nil
}

// index matches the candidates to the stored groups and indexes their keys.
func (gr *groupRead) index(snap *Snapshot) {
	gr.snap = snap
	for k := range gr.byKey {
		gr.byKey[k] = map[string][]candID{}
		gr.stored[k] = map[string]storedID{}
	}
	for i := range snap.Groups {
		g := &snap.Groups[i]
		if g.ExternalID != "" {
			gr.stored[keyExternalID][g.ExternalID] = storedID(i)
		}
		gr.stored[keyDN][g.DNNorm] = storedID(i)
	}
	for c := range gr.cands {
		gc := &gr.cands[c]
		gc.stored = noStored
		ext, dn := gc.g.ExternalID, gc.g.dnNorm
		if s, ok := gr.stored[keyExternalID][ext]; ok && ext != "" {
			gc.stored = s
		} else if s, ok := gr.stored[keyDN][dn]; ok && (ext == "" || snap.Groups[s].ExternalID == "") {
			gc.stored = s
		}
		for k := keyKind(0); k < numKeys; k++ {
			if v := gr.key(candID(c), k); v != "" {
				gr.byKey[k][v] = append(gr.byKey[k][v], candID(c))
			}
		}
	}
}

func (gr *groupRead) count() int       { return len(gr.cands) }
func (gr *groupRead) storedCount() int { return len(gr.snap.Groups) }
func (gr *groupRead) skipped(c candID) bool {
	return gr.cands[c].bad != ""
}
func (gr *groupRead) match(c candID) storedID { return gr.cands[c].stored }

func (gr *groupRead) withKey(k keyKind, v string) []candID { return gr.byKey[k][v] }

func (gr *groupRead) shared(k keyKind) [][]candID { return sharedSets(gr.byKey[k]) }

// sharedSets returns the sets of two or more candidates in byValue.
func sharedSets(byValue map[string][]candID) [][]candID {
	var out [][]candID
	for _, cs := range byValue {
		if len(cs) > 1 {
			out = append(out, cs)
		}
	}
	return out
}

func (gr *groupRead) key(c candID, k keyKind) string {
	g := &gr.cands[c].g
	switch k {
	case keyExternalID:
		return g.ExternalID
	case keyDN:
		return g.dnNorm
	case keyName:
		return g.nameNorm
	}
	return ""
}

func (gr *groupRead) storedKey(s storedID, k keyKind) string {
	g := &gr.snap.Groups[s]
	switch k {
	case keyExternalID:
		return g.ExternalID
	case keyDN:
		return g.DNNorm
	case keyName:
		return g.NameNorm
	}
	return ""
}

func (gr *groupRead) rank(c candID, k keyKind) rank {
	s := gr.cands[c].stored
	return rank{holds: k < numKeys && s != noStored && gr.storedKey(s, k) == gr.key(c, k),
		dnNorm: gr.cands[c].g.dnNorm, digest: gr.cands[c].digest}
}

// groupSide is the decided groups of a run.
type groupSide struct {
	groups []mappedGroup
	stored []storedID // each kept group's stored group, or noStored
	// kept maps the folded DN of each skipped entry whose stored group is
	// kept to that group, which stays a member of the groups that list it.
	kept       map[string]Member
	taken      []bool              // stored groups a kept group is
	keptStored map[storedID]candID // stored groups kept because their entries were skipped
}

// decideGroups applies the duplicate rule to the groups read and assigns
// each kept group its stored group's id or a new one.
func decideGroups(gr *groupRead, snap *Snapshot, ids *idGen, skips *skipList) *groupSide {
	gr.index(snap)
	v := decide(gr)
	side := &groupSide{kept: map[string]Member{}, taken: v.taken}
	storedIDs := make(map[string]bool, len(snap.Groups))
	for i := range snap.Groups {
		storedIDs[snap.Groups[i].ID] = true
	}
	for c := range gr.cands {
		gc := &gr.cands[c]
		switch l, lost := v.lost[candID(c)]; {
		case gc.bad != "":
			skips.add(gc.g.DN, gc.bad)
			continue
		case lost:
			skips.keys = append(skips.keys, SkippedKeys{Group: true, DNNorm: gc.g.dnNorm, ExternalID: gc.g.ExternalID, NameNorm: gc.g.nameNorm})
			skips.add(gc.g.DN, l.reason(gr, candID(c), "group name", gc.g.Name,
				func(c candID) string { return gr.cands[c].g.dnNorm },
				func(s storedID) string { return snap.Groups[s].DNNorm }))
			continue
		}
		g := gc.g
		s := v.final(gr, candID(c))
		switch {
		case s != noStored:
			g.id = snap.Groups[s].ID
		case g.ExternalID != "" && !storedIDs[NameID(MemberGroup, g.ExternalID)]:
			g.id = NameID(MemberGroup, g.ExternalID)
		default:
			g.id, _ = ids.next()
		}
		side.groups = append(side.groups, g)
		side.stored = append(side.stored, s)
	}
	// Every later step sees the groups in one order, whatever the read order.
	sort.Sort(byGroupDN(*side))
	side.keptStored = v.kept
	// The groups that list a skipped entry keep the stored group it is.
	by := map[string]candID{}
	for c := range gr.cands {
		s := gr.cands[c].stored
		if _, kept := v.kept[s]; !kept || v.in(gr, candID(c)) {
			continue
		}
		dn := gr.cands[c].g.dnNorm
		if prev, ok := by[dn]; ok && before(gr, prev, candID(c)) {
			continue
		}
		by[dn] = candID(c)
		side.kept[dn] = Member{ID: snap.Groups[s].ID, Type: MemberGroup}
	}
	return side
}

// byGroupDN orders a group side's groups by folded DN.
type byGroupDN groupSide

func (b byGroupDN) Len() int           { return len(b.groups) }
func (b byGroupDN) Less(i, j int) bool { return b.groups[i].dnNorm < b.groups[j].dnNorm }
func (b byGroupDN) Swap(i, j int) {
	b.groups[i], b.groups[j] = b.groups[j], b.groups[i]
	b.stored[i], b.stored[j] = b.stored[j], b.stored[i]
}

// planGroup adds group row with its direct members to p: a create when old
// (its stored group) is nil, else an update when its attributes or members
// changed.
func planGroup(p *Plan, row GroupRow, members []Member, old *StoredGroup) {
	if old == nil {
		p.CreateGroups = append(p.CreateGroups, row)
		p.GroupMembers[row.ID] = members
		p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: row.ID, Op: OpCreate, Name: row.Name})
		return
	}
	if old.Hash == row.Hash && old.MembersHash == row.MembersHash {
		return
	}
	row.Created = old.Created
	p.UpdateGroups = append(p.UpdateGroups, row)
	if old.Hash != row.Hash {
		p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: row.ID, Op: OpUpdate, Name: row.Name})
	}
	if old.MembersHash != row.MembersHash {
		p.GroupMembers[row.ID] = members
		p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: row.ID, Op: OpMembers, Name: row.Name})
	}
}

// diffGroups adds the groups' part of the run to p once the users are
// decided (members are user ids: userID maps a kept user candidate to its id).
func diffGroups(p *Plan, side *groupSide, gi *groupIndex, snap *Snapshot, userID func(candID) string, now time.Time) {
	var h hasher
	for i := range gi.groups {
		g := &gi.groups[i]
		members := groupMembers(g, userID, gi.groups)
		row := GroupRow{ID: g.id, ExternalID: g.ExternalID, DN: g.DN, DNNorm: g.dnNorm, Name: g.Name,
			NameNorm: g.nameNorm, Hash: h.group(g), MembersHash: h.members(members), Created: now, LastModified: now}
		row.Version = h.version(row.Hash, row.MembersHash)
		var old *StoredGroup
		if si := side.stored[i]; si != noStored {
			old = &snap.Groups[si]
		}
		planGroup(p, row, members, old)
	}
	for i := range snap.Groups {
		g := &snap.Groups[i]
		if _, kept := side.keptStored[storedID(i)]; kept || side.taken[i] {
			continue
		}
		p.DeleteGroups = append(p.DeleteGroups, g.ID)
		p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: g.ID, Op: OpDelete, Name: g.NameNorm})
	}
	// A kept group's own members were not read: the nesting through it is
	// only known to the store, so the stored closure stays until it is read again.
	if len(side.keptStored) == 0 && (len(p.CreateGroups) > 0 || len(p.DeleteGroups) > 0 || len(p.GroupMembers) > 0) {
		p.Ancestors = make(map[string][]string)
		for g, as := range gi.anc {
			if len(as) == 0 {
				continue
			}
			ids := make([]string, len(as))
			for i, a := range as {
				ids[i] = gi.groups[a].id
			}
			sort.Strings(ids)
			p.Ancestors[gi.groups[g].id] = ids
		}
	}
}
