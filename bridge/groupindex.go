package bridge

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/scimbridge/scimbridge/internal/keyindex"
	"github.com/scimbridge/scimbridge/internal/strpool"
)

// slotID indexes the slots of a run's group index.
type slotID int32

const noSlot slotID = -1

// slot is what one folded DN (or, in memberUid mode, one folded member key)
// is in a run: the stored user with that DN, the first candidate read with
// it, and how many member values name it. A million of them hold no
// pointer: the value is the stored user's DN, or kept in the index's arena.
type slot struct {
	key    strpool.Ref // the value, unless a stored user has it (stored)
	stored storedID
	first  candID
	refs   int32 // member values naming it, counted as dangling when nobody is it
}

// groupIndex is the groups a run keeps, linked: their nesting, and for each
// slot the groups that list it as a member.
type groupIndex struct {
	groups []mappedGroup
	anc    [][]int32 // each group's ancestors through nesting (nesting.go)
	slots  []slot
	dns    *keyindex.Index // folded DN → slot
	keys   *keyindex.Index // memberUid mode: folded member key → slot
	snap   *Snapshot
	// strs keeps the slots' values that no stored user has, and the
	// strings the user stream keeps of its candidates.
	strs strpool.Arena
	// The groups that list each slot, each once: slot s has
	// slotGroups[groupsAt[s]:groupsAt[s+1]]; slots added after the groups
	// were linked have none.
	slotGroups []int32
	groupsAt   []int32
	// sets caches the memberships of each distinct set of direct groups:
	// many users share one (100,000 users have a few thousand).
	sets map[string]memberSet
	h    hasher
}

// memberSet is the transitive memberships of one set of direct groups and
// their hash. Its slice is shared: never changed.
type memberSet struct {
	ms     []Membership
	digest Digest
}

// newGroupIndex indexes the kept groups and the stored users' DNs.
func newGroupIndex(groups []mappedGroup, snap *Snapshot) *groupIndex {
	n := len(snap.Users)
	gi := &groupIndex{groups: groups, slots: make([]slot, 0, n), snap: snap}
	gi.dns, gi.keys = keyindex.New(n, gi.slotKey), keyindex.New(0, gi.slotKey)
	for i := range snap.Users {
		s, added := gi.dns.Add(snap.Users[i].DNNorm, int32(len(gi.slots)))
		if added {
			gi.slots = append(gi.slots, slot{stored: storedID(i), first: noCand})
		} else {
			gi.slots[s].stored = storedID(i)
		}
	}
	return gi
}

// slotKey returns the value of slot s.
func (gi *groupIndex) slotKey(s int32) string {
	if st := gi.slots[s].stored; st != noStored {
		return gi.snap.Users[st].DNNorm
	}
	return gi.strs.At(gi.slots[s].key)
}

// slot returns the slot of value v in x, adding an empty one under a copy
// of v when there is none.
func (gi *groupIndex) slot(x *keyindex.Index, v string) slotID {
	s, added := x.Add(v, int32(len(gi.slots)))
	if added {
		gi.slots = append(gi.slots, slot{key: gi.strs.Keep(v), stored: noStored, first: noCand})
	}
	return slotID(s)
}

// dropSlots drops the slots and their indexes once the users joined their
// groups; the groups and the arena stay.
func (gi *groupIndex) dropSlots() {
	gi.slots, gi.dns, gi.keys, gi.slotGroups, gi.groupsAt, gi.sets = nil, nil, nil, nil, nil, nil
}

// lookup returns the slot of value v in x, if any.
func (gi *groupIndex) lookup(x *keyindex.Index, v string) (slotID, bool) {
	s, ok := x.Get(v)
	return slotID(s), ok
}

// link resolves the groups' member values: groups become nesting, stored
// groups kept this run stay members (kept maps the folded DN of the entry
// skipped to its stored group), and everything else becomes a reference
// to a slot that a user read later may be.
func (gi *groupIndex) link(kept map[string]Member, byUID bool) {
	var refs []ref
	refer := func(s slotID, g int) {
		gi.slots[s].refs++
		refs = append(refs, ref{s, int32(g)})
	}
	byDN := make(map[string]int32, len(gi.groups))
	for i := range gi.groups {
		byDN[gi.groups[i].dnNorm] = int32(i)
	}
	for g := range gi.groups {
		grp := &gi.groups[g]
		seen := map[int32]bool{}
		for _, m := range grp.Members {
			if byUID {
				refer(gi.slot(gi.keys, strings.ToLower(strings.TrimSpace(m))), g)
				continue
			}
			n := NormalizeDN(m)
			if c, ok := byDN[n]; ok {
				if c != int32(g) && !seen[c] {
					seen[c] = true
					grp.children = append(grp.children, c)
					gi.groups[c].parents = append(gi.groups[c].parents, int32(g))
				}
				continue
			}
			if km, ok := kept[n]; ok {
				grp.keep(km)
				continue
			}
			refer(gi.slot(gi.dns, n), g)
		}
		grp.Members = nil // resolved; free the raw values
	}
	gi.index(refs)
	gi.anc = ancestors(gi.groups)
}

// ref is one member value of group g naming slot s.
type ref struct {
	s slotID
	g int32
}

// index lays the references out by slot (a counting sort: they come group
// by group, so a slot's repeats are adjacent and dropped).
func (gi *groupIndex) index(refs []ref) {
	at := make([]int32, len(gi.slots)+1)
	for _, r := range refs {
		at[r.s+1]++
	}
	for s := 1; s < len(at); s++ {
		at[s] += at[s-1]
	}
	out := make([]int32, len(refs))
	next := slices.Clone(at[:len(at)-1])
	for _, r := range refs {
		out[next[r.s]] = r.g
		next[r.s]++
	}
	w := int32(0)
	for s := 0; s < len(at)-1; s++ {
		start := w
		for k := at[s]; k < at[s+1]; k++ {
			if w == start || out[w-1] != out[k] {
				out[w] = out[k]
				w++
			}
		}
		at[s] = start
	}
	at[len(at)-1] = w
	gi.slotGroups, gi.groupsAt = out[:w:w], at
}

// memberships returns the transitive memberships of a user in the groups
// direct and their hash.
func (gi *groupIndex) memberships(direct []int32) ([]Membership, Digest) {
	var key []byte
	if len(direct) > 0 {
		key = unsafe.Slice((*byte)(unsafe.Pointer(&direct[0])), 4*len(direct))
	}
	if set, ok := gi.sets[string(key)]; ok { // no copy of key to look up
		return set.ms, set.digest
	}
	ms := userMemberships(direct, gi)
	set := memberSet{ms: ms, digest: gi.h.memberships(ms)}
	if gi.sets == nil {
		gi.sets = map[string]memberSet{}
	}
	if len(gi.sets) < maxMemberSets {
		gi.sets[string(key)] = set
	}
	return set.ms, set.digest
}

// maxMemberSets bounds the cache of memberships: where users' sets of
// direct groups hardly repeat (each user in its own pair of groups), the
// cache would only hold memory.
const maxMemberSets = 4096

// of returns the groups that list slot s.
func (gi *groupIndex) of(s slotID) []int32 {
	if s < 0 || int(s)+1 >= len(gi.groupsAt) {
		return nil
	}
	return gi.slotGroups[gi.groupsAt[s]:gi.groupsAt[s+1]]
}
