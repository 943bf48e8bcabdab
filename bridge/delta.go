package bridge

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// A batch of changes is applied by the rules of a full sync (decide.go,
// nesting.go), over a bounded world: the changed entries, the stored
// resources that share a key with them (found by the store's indexes), and
// the groups (few: all of them). A stored resource that no change names is
// its entry, unchanged, and competes as such: it holds its own keys.
//
// Two facts the store alone cannot give are kept by every run: the
// duplicates skipped (a pass whose changes touch one runs a full sync
// instead: only a read can re-decide it) and the member values that named
// nobody (a user that appears at such a DN joins that group).

// needFull says a pass cannot be decided alone: a full sync runs instead.
type needFull struct{ reason string }

func (e *needFull) Error() string { return e.reason }

// collapse keeps the last change of each entry (by UUID, else DN), in the
// order they came, users and groups apart.
func collapse(changes []schema.Change) (users, groups []schema.Change) {
	key := func(c *schema.Change) string {
		k := "dn:" + NormalizeDN(c.Entry.DN)
		if c.UUID != "" {
			k = "id:" + c.UUID
		}
		if c.Group {
			k = "g" + k
		}
		return k
	}
	last := map[string]int{}
	for i := range changes {
		last[key(&changes[i])] = i
	}
	for i, c := range changes {
		switch {
		case last[key(&c)] != i:
		case c.Group:
			groups = append(groups, c)
		default:
			users = append(users, c)
		}
	}
	return users, groups
}

// dUser is one candidate of a pass: a changed user entry, or a stored user
// no change names (row nil), which is its unchanged entry.
type dUser struct {
	keys   [numKeys]string
	stored storedID
	digest Digest
	bad    string
	row    *UserRow // the mapped entry; nil for a stored user
	uuid   string   // the directory's UUID of a changed entry
}

// deltaUsers is a pass's user ballot.
type deltaUsers struct {
	byUID    bool
	cands    []dUser
	rows     []UserRow // the stored users looked up
	byKey    [numKeys]map[string][]candID
	byExt    map[string]storedID
	byDN     map[string]storedID
	touched  []bool // stored users a change names (or displaces)
	changedN int    // cands[:changedN] are the changed entries
}

func (d *deltaUsers) count() int              { return len(d.cands) }
func (d *deltaUsers) storedCount() int        { return len(d.rows) }
func (d *deltaUsers) skipped(c candID) bool   { return d.cands[c].bad != "" }
func (d *deltaUsers) match(c candID) storedID { return d.cands[c].stored }
func (d *deltaUsers) key(c candID, k keyKind) string {
	return d.cands[c].keys[k]
}
func (d *deltaUsers) storedKey(s storedID, k keyKind) string { return userKey(&d.rows[s], k, d.byUID) }
func (d *deltaUsers) withKey(k keyKind, v string) []candID   { return d.byKey[k][v] }
func (d *deltaUsers) shared(k keyKind) [][]candID            { return sharedSets(d.byKey[k]) }
func (d *deltaUsers) rank(c candID, k keyKind) rank {
	cand := &d.cands[c]
	r := rank{dnNorm: cand.keys[keyDN], digest: cand.digest}
	if k < numKeys && cand.stored != noStored {
		v := cand.keys[k]
		r.holds = v != "" && d.storedKey(cand.stored, k) == v
	}
	return r
}

// userKey is a stored user's key k.
func userKey(u *UserRow, k keyKind, byUID bool) string {
	return storedUserKey(k, u.ExternalID, u.DNNorm, u.UserNameNorm, u.MemberKey, byUID)
}

// storedUserKey is key k of a stored user with these values (a full sync's
// snapshot record or a pass's row): the member key counts only for
// memberUid-style groups (byUID), folded.
func storedUserKey(k keyKind, externalID, dnNorm, nameNorm, memberKey string, byUID bool) string {
	switch k {
	case keyExternalID:
		return externalID
	case keyDN:
		return dnNorm
	case keyName:
		return nameNorm
	case keyMember:
		if byUID {
			return foldKey(memberKey)
		}
	}
	return ""
}

func foldKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ref is what groups name a user by: its folded DN, or its folded member key.
func (d *deltaUsers) ref(c candID) string {
	if d.byUID {
		return d.cands[c].keys[keyMember]
	}
	return d.cands[c].keys[keyDN]
}

func (d *deltaUsers) storedRef(s storedID) string {
	if d.byUID {
		return foldKey(d.rows[s].MemberKey)
	}
	return d.rows[s].DNNorm
}

// find matches an entry to a stored user as a full sync does: by
// externalId, else by DN when one side has no externalId.
func (d *deltaUsers) find(ext, dnNorm string) storedID {
	if s, ok := d.byExt[ext]; ok && ext != "" {
		return s
	}
	if s, ok := d.byDN[dnNorm]; ok && (ext == "" || d.rows[s].ExternalID == "") {
		return s
	}
	return noStored
}

// readUsers builds the user ballot of a batch: the changed entries, and
// the stored users sharing a key with them or named by a deletion.
func readUsers(ctx context.Context, cs ChangeStore, settings *schema.Settings, changes []schema.Change) (*deltaUsers, error) {
	d := &deltaUsers{byUID: settings.Groups.Attributes.MembershipAttributeType == schema.MembershipUID,
		byExt: map[string]storedID{}, byDN: map[string]storedID{}}
	var h hasher
	var keys UserKeys
	var gone []schema.Change
	var goneUUIDs []string
	for _, ch := range changes {
		if ch.Kind == schema.ChangeGone && ch.UUID != "" {
			goneUUIDs = append(goneUUIDs, ch.UUID)
		}
	}
	byUUID, err := cs.IDsByUUID(ctx, MemberUser, goneUUIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range byUUID {
		keys.IDs = append(keys.IDs, id)
	}
	for _, ch := range changes {
		if ch.Kind == schema.ChangeGone {
			gone = append(gone, ch)
			keys.ExternalIDs = append(keys.ExternalIDs, ch.UUID)
			if ch.Entry.DN != "" {
				keys.DNs = append(keys.DNs, NormalizeDN(ch.Entry.DN))
			}
			continue
		}
		var c dUser
		u, err := schema.MapUser(ch.Entry, settings)
		if err != nil {
			ext, mk := schema.UserKeys(ch.Entry, settings)
			c = dUser{bad: entryReason(err), row: &UserRow{User: schema.User{DN: ch.Entry.DN, ExternalID: ext}, DNNorm: NormalizeDN(ch.Entry.DN)}}
			c.keys[keyExternalID], c.keys[keyDN] = ext, c.row.DNNorm
			if d.byUID {
				c.keys[keyMember] = foldKey(mk)
			}
		} else {
			row := &UserRow{User: u, DNNorm: NormalizeDN(u.DN), UserNameNorm: strings.ToLower(u.UserName)}
			c = dUser{row: row, digest: h.user(&u)}
			c.keys[keyExternalID], c.keys[keyDN], c.keys[keyName] = u.ExternalID, row.DNNorm, row.UserNameNorm
			if d.byUID {
				c.keys[keyMember] = foldKey(u.MemberKey)
			}
		}
		c.uuid = ch.UUID
		d.cands = append(d.cands, c)
		keys.ExternalIDs = append(keys.ExternalIDs, c.keys[keyExternalID])
		keys.DNs = append(keys.DNs, c.keys[keyDN])
		keys.Names = append(keys.Names, c.keys[keyName])
		keys.MemberKeys = append(keys.MemberKeys, c.keys[keyMember])
	}
	d.changedN = len(d.cands)
	if len(changes) == 0 {
		return d, nil
	}
	rows, err := cs.UsersByKeys(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read the stored users the changes name: %w", err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	d.rows, d.touched = rows, make([]bool, len(rows))
	byID := map[string]storedID{}
	for i := range rows {
		byID[rows[i].ID] = storedID(i)
		if rows[i].ExternalID != "" {
			d.byExt[rows[i].ExternalID] = storedID(i)
		}
		d.byDN[rows[i].DNNorm] = storedID(i)
	}
	dnTaken := map[string]bool{}
	for i := range d.cands {
		c := &d.cands[i]
		c.stored = d.find(c.keys[keyExternalID], c.keys[keyDN])
		if c.stored != noStored {
			d.touched[c.stored] = true
		}
		dnTaken[c.keys[keyDN]] = true
	}
	for _, ch := range gone {
		// By externalId, else by the UUID a pass recorded, else by DN.
		s, ok := d.byExt[ch.UUID]
		if !ok || ch.UUID == "" {
			s, ok = byID[byUUID[ch.UUID]]
		}
		if !ok && ch.Entry.DN != "" {
			s, ok = d.byDN[NormalizeDN(ch.Entry.DN)]
		}
		if ok {
			d.touched[s] = true
		}
	}
	for i := range rows {
		// A stored user whose DN a changed entry now has is no longer
		// there: a directory holds one entry per DN.
		if d.touched[i] || dnTaken[rows[i].DNNorm] {
			d.touched[i] = true
			continue
		}
		u := &rows[i]
		c := dUser{stored: storedID(i)}
		for k := keyKind(0); k < numKeys; k++ {
			c.keys[k] = userKey(u, k, d.byUID)
		}
		if dg, err := ParseDigest([]byte(u.Hash)); err == nil {
			c.digest = dg
		}
		d.cands = append(d.cands, c)
	}
	for k := range d.byKey {
		d.byKey[k] = map[string][]candID{}
	}
	for c := range d.cands {
		for k := keyKind(0); k < numKeys; k++ {
			if v := d.cands[c].keys[k]; v != "" && d.cands[c].bad == "" {
				d.byKey[k][v] = append(d.byKey[k][v], candID(c))
			}
		}
	}
	return d, nil
}

// checkSkipped returns a needFull when a change touches a key that an
// entry skipped as a duplicate shares: only a read can re-decide it.
func checkSkipped(skipped []SkippedKeys, d *deltaUsers, g *groupWorld) error {
	if len(skipped) == 0 {
		return nil
	}
	type kv struct {
		group bool
		k     keyKind
		v     string
	}
	involved := map[kv]bool{}
	changedDN := map[kv]bool{}
	add := func(group bool, keys ...string) {
		for k, v := range keys {
			involved[kv{group, keyKind(k), v}] = true
		}
	}
	for c := 0; c < d.changedN; c++ {
		changedDN[kv{false, keyDN, d.cands[c].keys[keyDN]}] = true
		add(false, d.cands[c].keys[:]...)
	}
	for s := range d.rows {
		if d.touched[s] {
			u := &d.rows[s]
			add(false, u.ExternalID, u.DNNorm, u.UserNameNorm, userKey(u, keyMember, d.byUID))
		}
	}
	for c := 0; c < g.changedN; c++ {
		mg := &g.gr.cands[c].g
		changedDN[kv{true, keyDN, mg.dnNorm}] = true
		add(true, mg.ExternalID, mg.dnNorm, mg.nameNorm)
	}
	for s := range g.touched {
		add(true, g.rows[s].ExternalID, g.rows[s].DNNorm, g.rows[s].NameNorm)
	}
	for _, sk := range skipped {
		if changedDN[kv{sk.Group, keyDN, sk.DNNorm}] {
			continue // it is in this batch: decided as a changed entry
		}
		for k, v := range []string{sk.ExternalID, sk.DNNorm, sk.NameNorm, sk.MemberKey} {
			if v != "" && involved[kv{sk.Group, keyKind(k), v}] {
				return &needFull{reason: fmt.Sprintf("a change touches a key of %s, skipped as a duplicate: a full sync re-decides it", sk.DNNorm)}
			}
		}
	}
	return nil
}

// deltaPlan is a pass's decisions, as the plan and the state it stores.
type deltaPlan struct {
	p     *Plan
	state *ChangeState
}

// planDelta computes what a batch changes. r gets the run's counts.
func (s *Syncer) planDelta(ctx context.Context, cs ChangeStore, settings *schema.Settings, changes []schema.Change, opt Options, r *Report) (*deltaPlan, error) {
	now := s.now().UTC()
	ids := newIDGen(now)
	skips := &skipList{}
	userChanges, groupChanges := collapse(changes)
	if !settings.Groups.Enabled {
		groupChanges = nil
	}
	d, err := readUsers(ctx, cs, settings, userChanges)
	if err != nil {
		return nil, err
	}
	g, err := readGroupWorld(ctx, cs, settings, groupChanges)
	if err != nil {
		return nil, err
	}
	skipped, err := cs.SkippedEntries(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the skipped entries: %w", err)
	}
	if err := checkSkipped(skipped, d, g); err != nil {
		return nil, err
	}
	uv := decide(d)
	g.side = decideGroups(g.gr, g.snap, ids, skips)
	dp := &deltaPlan{p: &Plan{GroupMembers: map[string][]Member{}}, state: &ChangeState{}}
	w := &deltaWorld{s: s, cs: cs, settings: settings, now: now, ids: ids, d: d, uv: uv, g: g, dp: dp, skips: skips, r: r}
	if err := w.users(ctx); err != nil {
		return nil, err
	}
	if err := w.members(ctx); err != nil {
		return nil, err
	}
	if err := w.memberships(ctx); err != nil {
		return nil, err
	}
	w.finish(r)
	dp.state.Unskipped, dp.state.UnskippedGroups = skippedOnly(skipped, false, dp.state.Unskipped), skippedOnly(skipped, true, dp.state.UnskippedGroups)
	r.Users, r.Groups = len(userChanges), len(groupChanges)
	if held := deltaHold(dp.p, settings, opt); held != "" {
		r.Status, r.Error = StatusHeld, held
		return dp, nil
	}
	if err := s.membershipChanges(ctx, dp.p, w.md, w.groupNames(), r); err != nil {
		return nil, err
	}
	return dp, nil
}

// skippedOnly keeps the DNs of dns that are stored as skipped (users, or groups).
func skippedOnly(skipped []SkippedKeys, group bool, dns []string) []string {
	set := map[string]bool{}
	for _, k := range skipped {
		if k.Group == group {
			set[k.DNNorm] = true
		}
	}
	var out []string
	for _, dn := range dns {
		if set[dn] {
			out = append(out, dn)
		}
	}
	return out
}

// deltaHold says why deletion safety holds a pass, or "".
func deltaHold(p *Plan, settings *schema.Settings, opt Options) string {
	if opt.AllowDeletes {
		return ""
	}
	return overMaxDeletes(p, settings, "the changes", "approve with a full sync with --allow-deletes")
}

// deltaWorld is one pass's state between its steps.
type deltaWorld struct {
	s        *Syncer
	cs       ChangeStore
	settings *schema.Settings
	now      time.Time
	ids      *idGen
	d        *deltaUsers
	uv       *verdict
	g        *groupWorld
	dp       *deltaPlan
	skips    *skipList
	h        hasher

	userID      map[candID]string  // kept changed candidates' ids
	created     map[string]bool    // new user ids
	changedRows map[string]UserRow // kept changed users' rows, by id (group hashes still to come)
	oldRows     map[string]*UserRow
	deletedUser map[string]bool
	touchedIDs  []string // stored users a change names
	md          *membershipDelta
	r           *Report

	newMembers   map[string][]Member    // processed groups' members after the pass
	oldMembers   map[string][]MemberRef // and before
	processed    map[string]bool        // groups whose members were resolved again
	deletedGroup map[string]bool
	ancestors    map[string][]string // the closure after the pass
	ancChanged   map[string]bool     // groups whose ancestors changed
}

// users decides the user side: which changed entries create, update or are
// skipped, and which stored users go.
func (w *deltaWorld) users(ctx context.Context) error {
	d, v := w.d, w.uv
	w.userID, w.created, w.changedRows = map[candID]string{}, map[string]bool{}, map[string]UserRow{}
	w.oldRows, w.deletedUser = map[string]*UserRow{}, map[string]bool{}
	var nameIDs []string
	for c := 0; c < d.changedN; c++ {
		if v.in(d, candID(c)) && v.final(d, candID(c)) == noStored && d.cands[c].keys[keyExternalID] != "" {
			nameIDs = append(nameIDs, NameID(MemberUser, d.cands[c].keys[keyExternalID]))
		}
	}
	taken := map[string]bool{}
	if len(nameIDs) > 0 {
		rows, err := w.cs.UsersByID(ctx, nameIDs)
		if err != nil {
			return fmt.Errorf("read stored user ids: %w", err)
		}
		for i := range rows {
			taken[rows[i].ID] = true
		}
	}
	for c := 0; c < d.changedN; c++ {
		cand := &d.cands[c]
		_, lost := v.lost[candID(c)]
		switch {
		case cand.bad != "":
			w.skips.add(cand.row.DN, cand.bad)
			continue
		case lost:
			w.skips.add(cand.row.DN, v.lost[candID(c)].reason(d, candID(c), "username", cand.row.UserName,
				func(c candID) string { return d.cands[c].keys[keyDN] },
				func(s storedID) string { return d.rows[s].DNNorm }))
			w.dp.state.Skipped = append(w.dp.state.Skipped, SkippedKeys{DNNorm: cand.keys[keyDN], ExternalID: cand.keys[keyExternalID],
				NameNorm: cand.keys[keyName], MemberKey: cand.keys[keyMember]})
			continue
		}
		row := *cand.row
		row.Hash = cand.digest.String()
		row.LastModified = w.now
		if s := v.final(d, candID(c)); s != noStored {
			row.ID, row.Created = d.rows[s].ID, d.rows[s].Created
			w.oldRows[row.ID] = &d.rows[s]
		} else {
			ext := cand.keys[keyExternalID]
			if id := NameID(MemberUser, ext); ext != "" && !taken[id] {
				row.ID = id
			} else {
				row.ID, _ = w.ids.next()
			}
			row.Created = w.now
			w.created[row.ID] = true
		}
		w.userID[candID(c)] = row.ID
		w.changedRows[row.ID] = row
		if cand.uuid != "" && cand.uuid != cand.keys[keyExternalID] {
			w.dp.state.UUIDs = append(w.dp.state.UUIDs, UUIDRef{Type: MemberUser, UUID: cand.uuid, ID: row.ID})
		}
	}
	for c := 0; c < d.changedN; c++ {
		w.dp.state.Unskipped = append(w.dp.state.Unskipped, d.cands[c].keys[keyDN])
	}
	for s := range d.rows {
		if d.touched[s] {
			w.touchedIDs = append(w.touchedIDs, d.rows[s].ID)
		}
		if v.taken[s] {
			continue
		}
		if _, kept := v.kept[storedID(s)]; kept {
			w.dp.state.Unskipped = append(w.dp.state.Unskipped, d.rows[s].DNNorm)
			continue
		}
		u := &d.rows[s]
		w.deletedUser[u.ID] = true
		w.dp.p.DeleteUsers = append(w.dp.p.DeleteUsers, u.ID)
		w.dp.p.Changes = append(w.dp.p.Changes, Change{ResourceType: MemberUser, ResourceID: u.ID, Op: OpDelete, Name: u.UserNameNorm})
	}
	return nil
}

// finish sorts the plan as a full sync does and counts it.
func (w *deltaWorld) finish(r *Report) {
	p := w.dp.p
	sort.Strings(p.DeleteUsers)
	sort.Slice(p.CreateUsers, func(i, j int) bool { return p.CreateUsers[i].ID < p.CreateUsers[j].ID })
	sort.Slice(p.UpdateUsers, func(i, j int) bool { return p.UpdateUsers[i].ID < p.UpdateUsers[j].ID })
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.ResourceType != b.ResourceType {
			return a.ResourceType > b.ResourceType // groups' changes first, as a full sync writes them
		}
		return a.ResourceID < b.ResourceID
	})
	countPlan(p, r, len(p.CreateUsers))
	w.skips.report(r)
	r.KeptUnchanged = len(w.uv.kept) + len(w.g.side.keptStored)
}
