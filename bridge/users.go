package bridge

import (
	"sort"

	"github.com/scimbridge/scimbridge/internal/strpool"
)

// The user side of a run once the read is over: the stream is decide's
// ballot; then the losers' rows go, the kept users join their groups, and
// the plan gets the users' part.

func (st *userStream) count() int       { return len(st.cands) }
func (st *userStream) storedCount() int { return len(st.snap.Users) }
func (st *userStream) skipped(c candID) bool {
	return st.cands[c].state == userBad || st.cands[c].lostExt
}
func (st *userStream) match(c candID) storedID { return st.cands[c].stored }

func (st *userStream) key(c candID, k keyKind) string {
	if mi := st.cands[c].meta; mi != noMeta {
		m := st.meta(mi)
		switch k {
		case keyExternalID:
			return st.strs.At(m.ext)
		case keyDN:
			return st.groups.slotKey(int32(m.dnSlot))
		case keyName:
			return st.strs.At(m.nameNorm)
		case keyMember:
			if st.byUID {
				return st.strs.At(m.memberKey)
			}
		}
		return ""
	}
	return st.storedKey(st.cands[c].stored, k)
}

func (st *userStream) storedKey(s storedID, k keyKind) string {
	u := &st.snap.Users[s]
	return storedUserKey(k, u.ExternalID, u.DNNorm, u.UserNameNorm, u.MemberKey, st.byUID)
}

func (st *userStream) rank(c candID, k keyKind) rank {
	r := rank{dnNorm: st.key(c, keyDN)}
	cand := &st.cands[c]
	if cand.meta != noMeta {
		r.digest = st.meta(cand.meta).digest
	} else {
		r.digest = st.snap.Users[cand.stored].Hash
	}
	if k < numKeys && cand.stored != noStored {
		v := st.key(c, k)
		r.holds = v != "" && st.storedKey(cand.stored, k) == v
	}
	return r
}

// first returns the first candidate the index holds for value v of key k.
func (st *userStream) first(k keyKind, v string) candID {
	switch k {
	case keyExternalID:
		if i, ok := st.exts.Get(v); ok {
			return st.pairs[i].cand
		}
	case keyName:
		if i, ok := st.names.Get(v); ok {
			return st.pairs[i].cand
		}
	case keyDN:
		if s, ok := st.groups.lookup(st.groups.dns, v); ok {
			return st.groups.slots[s].first
		}
	case keyMember:
		if s, ok := st.groups.lookup(st.groups.keys, v); ok {
			return st.groups.slots[s].first
		}
	}
	return noCand
}

func (st *userStream) withKey(k keyKind, v string) []candID {
	f := st.first(k, v)
	if f == noCand {
		return nil
	}
	return append([]candID{f}, st.more[k][v]...)
}

// shared lists the names, DNs and member keys that several candidates
// have; externalIds were decided as they were read.
func (st *userStream) shared(k keyKind) [][]candID {
	var out [][]candID
	for v := range st.more[k] {
		out = append(out, st.withKey(k, v))
	}
	return out
}

// finish decides the duplicates and ends the read: the losers' rows go
// (new users already written are taken back, once), the rest of the new
// users are written, and the kept users join their groups.
func (st *userStream) finish(skips *skipList) (*verdict, int, error) {
	v := decide(st)
	var takeBack []string
	for c := range v.lost {
		if id := st.dropLost(c); id != "" {
			takeBack = append(takeBack, id)
		}
	}
	for c := range v.unmatched {
		st.unmatch(c)
	}
	if st.out != nil {
		if len(takeBack) > 0 {
			sort.Strings(takeBack)
			if err := st.out.send(writeOp{del: takeBack}); err != nil {
				return nil, 0, err
			}
		}
		if err := st.flush(); err != nil {
			return nil, 0, err
		}
		// The plan is computed while the writer ends the users' work;
		// plan waits for it before the transaction is the caller's.
		if err := st.out.end(); err != nil {
			return nil, 0, err
		}
	}
	st.report(v, skips)
	st.idMemo = make([]string, len(st.cands))
	return v, st.join(v), nil
}

// dropLost lets the row of a candidate that lost after it was read go; it
// returns the id of a new user already written, to be taken back.
func (st *userStream) dropLost(c candID) string {
	cand := &st.cands[c]
	if cand.dropped || cand.state == userUnchanged || cand.state == userBad {
		return ""
	}
	cand.dropped = true
	m := st.meta(cand.meta)
	if cand.state == userUpdated {
		st.updates[m.row].ID = ""
		delete(st.changed, c)
		return ""
	}
	st.created--
	ms, _ := st.groups.memberships(st.groups.of(cand.slot))
	st.md.addCreated(ms, -1)
	switch {
	case m.held:
		st.held[m.row].ID = ""
	case m.streamed && st.out == nil: // a dry run's: never written
	case m.streamed:
		return st.newUserID(c)
	default:
		st.pending[m.row].ID = ""
	}
	return ""
}

// unmatch makes candidate c, which matched a stored user by DN that another
// candidate is by externalId, a new user (it has no externalId: random id).
func (st *userStream) unmatch(c candID) {
	cand := &st.cands[c]
	m := st.meta(cand.meta)
	row := st.updates[m.row]
	st.updates[m.row].ID = ""
	ms, _ := st.groups.memberships(st.groups.of(cand.slot))
	delete(st.changed, c)
	row.ID, m.seq = st.ids.next()
	row.Created = st.now
	cand.state, m.held, m.row = userCreated, true, int32(len(st.held))
	st.held = append(st.held, row)
	st.created++
	st.md.addCreated(ms, 1)
}

// report lists the skipped user entries; why is put in words for those
// the report lists.
func (st *userStream) report(v *verdict, skips *skipList) {
	for c := range st.cands {
		if st.cands[c].state == userBad {
			skips.add(st.dnOf(candID(c)), st.badWhy[candID(c)])
		} else if _, lost := v.lost[candID(c)]; lost || st.cands[c].lostExt {
			skips.addLost(st.dnOf(candID(c)), candID(c))
			skips.keys = append(skips.keys, SkippedKeys{DNNorm: st.key(candID(c), keyDN), ExternalID: st.key(candID(c), keyExternalID),
				NameNorm: st.key(candID(c), keyName), MemberKey: st.key(candID(c), keyMember)})
		}
	}
	skips.explain = func(c candID) string {
		l, ok := v.lost[c]
		if !ok { // lost its externalId while reading: to the last best
			l = loss{key: keyExternalID, by: st.first(keyExternalID, st.key(c, keyExternalID)), kept: noStored}
		}
		name := st.key(c, keyName)
		if m := st.cands[c].meta; m != noMeta {
			name = st.strs.At(st.meta(m).userName)
		}
		return l.reason(st, c, "username", name,
			func(c candID) string { return st.key(c, keyDN) },
			func(s storedID) string { return st.snap.Users[s].DNNorm })
	}
}

// dnOf returns candidate c's DN as read, or folded when it is unchanged
// (its DN as read is not kept).
func (st *userStream) dnOf(c candID) string {
	if mi := st.cands[c].meta; mi != noMeta {
		if m := st.meta(mi); m.dn != 0 {
			return st.strs.At(m.dn)
		}
		return st.key(c, keyDN)
	}
	return st.snap.Users[st.cands[c].stored].DNNorm
}

// join makes the kept candidates members of the groups that list them.
// A slot that no kept candidate is keeps the stored user of a skipped
// candidate there, when that user is kept; else its member values dangle.
// It returns the number of dangling member values.
func (st *userStream) join(v *verdict) (dangling int) {
	for c := range st.cands {
		if !v.in(st, candID(c)) {
			continue
		}
		for _, g := range st.groups.of(st.cands[c].slot) {
			st.groups.groups[g].users = append(st.groups.groups[g].users, candID(c))
		}
	}
	k := keyDN
	if st.byUID {
		k = keyMember
	}
	// Member values name DN slots, or member key slots in memberUid mode:
	// the slots with references are of the mode's key.
	for si := range st.groups.slots {
		if st.groups.slots[si].refs == 0 {
			continue
		}
		val := st.groups.slotKey(int32(si))
		// The slot's candidates: its first, and any others (rare), without
		// building a slice for each of a million slots.
		keeper, in := noCand, false
		first, more := st.groups.slots[si].first, st.more[k][val]
		for i := -1; i < len(more) && first != noCand; i++ {
			c := first
			if i >= 0 {
				c = more[i]
			}
			if v.in(st, c) {
				in = true
				break
			}
			if _, kept := v.kept[st.cands[c].stored]; kept && (keeper == noCand || before(st, c, keeper)) {
				keeper = c
			}
		}
		switch {
		case in:
		case keeper != noCand:
			m := Member{ID: st.snap.Users[st.cands[keeper].stored].ID, Type: MemberUser}
			for _, g := range st.groups.of(slotID(si)) {
				st.groups.groups[g].keep(m)
			}
		default:
			dangling += int(st.groups.slots[si].refs)
			if st.trackDangling {
				for _, g := range st.groups.of(slotID(si)) {
					st.dangling = append(st.dangling, DanglingRef{GroupID: st.groups.groups[g].id, Ref: val})
				}
			}
		}
	}
	return dangling
}

// newUserID returns the id of new user candidate c.
func (st *userStream) newUserID(c candID) string {
	m := st.meta(st.cands[c].meta)
	if m.nameID {
		return NameID(MemberUser, st.strs.At(m.ext))
	}
	return st.ids.at(m.seq)
}

// id returns kept candidate c's user id, once the read is over.
func (st *userStream) id(c candID) string {
	cand := &st.cands[c]
	if cand.state != userCreated {
		return st.snap.Users[cand.stored].ID
	}
	if st.idMemo[c] == "" {
		st.idMemo[c] = st.newUserID(c)
	}
	return st.idMemo[c]
}

// plan fills p with the users' part of the run: updates, the new users not
// written yet, deletions, and every user change; it returns the number of
// stored users kept because their entries were skipped.
func (st *userStream) plan(p *Plan, v *verdict) (kept int) {
	for k := range st.updates {
		if st.updates[k].ID != "" {
			p.UpdateUsers = append(p.UpdateUsers, st.updates[k])
		}
	}
	for _, rows := range [][]UserRow{st.pending, st.held} {
		for k := range rows {
			if rows[k].ID != "" {
				p.CreateUsers = append(p.CreateUsers, rows[k])
			}
		}
	}
	var changes []Change
	for c := range st.cands {
		cand := &st.cands[c]
		if !v.in(st, candID(c)) {
			continue
		}
		if cand.meta == noMeta {
			continue // unchanged
		}
		switch m := st.meta(cand.meta); {
		case cand.state == userCreated && m.streamed:
			// Its change was written with it.
		case cand.state == userCreated:
			changes = append(changes, Change{ResourceType: MemberUser, ResourceID: st.id(candID(c)), Op: OpCreate, Name: st.strs.At(m.userName)})
		case cand.state == userUpdated:
			if ms, ok := st.changed[candID(c)]; ok {
				st.md.changed[st.id(candID(c))] = ms
			}
			if m.attrsChanged {
				changes = append(changes, Change{ResourceType: MemberUser, ResourceID: st.id(candID(c)), Op: OpUpdate, Name: st.strs.At(m.userName)})
			}
		}
	}
	for s := range st.snap.Users {
		if v.taken[s] {
			continue
		}
		if _, ok := v.kept[storedID(s)]; ok {
			kept++
			continue
		}
		u := &st.snap.Users[s]
		changes = append(changes, Change{ResourceType: MemberUser, ResourceID: u.ID, Op: OpDelete, Name: u.UserNameNorm})
		p.DeleteUsers = append(p.DeleteUsers, u.ID)
	}
	// The change log's order follows the ids, not the read.
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].ResourceID < changes[j].ResourceID })
	sort.Slice(p.CreateUsers, func(i, j int) bool { return p.CreateUsers[i].ID < p.CreateUsers[j].ID })
	sort.Slice(p.UpdateUsers, func(i, j int) bool { return p.UpdateUsers[i].ID < p.UpdateUsers[j].ID })
	p.Changes = append(p.Changes, changes...)
	return kept
}

// users returns the number of users the run keeps.
func (st *userStream) users(v *verdict) int {
	n := 0
	for c := range st.cands {
		if v.in(st, candID(c)) {
			n++
		}
	}
	return n
}

// dropIndexes drops the stream's indexes and the group index's slots once
// the candidates joined their groups and the skipped list was reported:
// the plan needs only the candidates.
func (st *userStream) dropIndexes() {
	st.exts, st.names, st.pairs, st.more = nil, nil, nil, nil
	st.groups.dropSlots()
}

// release drops everything the stream holds but its transaction and the
// membership delta, once the plan has been made.
func (st *userStream) release() {
	st.groups.dropSlots()
	st.groups.strs = strpool.Arena{}
	st.snap, st.groups, st.ids = nil, nil, nil
	st.cands, st.metas, st.updates, st.pending, st.pendCand, st.held, st.idMemo = nil, nil, nil, nil, nil, nil, nil
	st.exts, st.names, st.pairs, st.more, st.changed, st.strs = nil, nil, nil, nil, nil, nil
}
