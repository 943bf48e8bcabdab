package bridge

import (
	"bytes"
	"fmt"
)

// The duplicate rule, for users and groups alike. It is decided once, after
// the read, by decide: a pure function of what was read and what is stored,
// so that the result never depends on the order the directory returns
// entries in (LDAP defines none).
//
//  1. An entry with a bad value is skipped; the stored resource it is (by
//     externalId, else DN) is kept unchanged.
//  2. For each key in this order: externalId, DN, folded name (userName or
//     group displayName), folded member key (memberUid mode): among the
//     entries still in that share a value, the winner is the one whose
//     stored resource already holds that value; otherwise, or among several
//     such, the one whose normalized DN sorts first. The others are skipped,
//     and a skipped entry never comes back.
//  3. An entry matches a stored resource by externalId, else by DN when one
//     side has no externalId; a match by externalId takes precedence over a
//     match by DN of another entry.
//  4. A stored resource that a skipped entry matched, and that no kept entry
//     matched, is kept unchanged and keeps its name: an entry that claims
//     that name is skipped in turn (and the stored resource it matched is
//     kept); repeat until nothing changes.

// keyKind is one of the keys that must be unique among the entries a run
// keeps, in the order the rule decides them.
type keyKind uint8

const (
	keyExternalID keyKind = iota
	keyDN
	keyName   // folded userName or group displayName
	keyMember // folded memberUid key (users in memberUid mode)
	numKeys
)

// candID indexes the entries one run read (its candidates).
type candID int32

// storedID indexes the stored resources of the run's snapshot.
type storedID int32

// noStored stands for no stored resource.
const noStored storedID = -1

// ballot is what decide reads of one run.
type ballot interface {
	// shared returns, for key k, every set of two or more candidates that
	// have the same value, each candidate once per set.
	shared(k keyKind) [][]candID
	// withKey returns the candidates whose key k has value v.
	withKey(k keyKind, v string) []candID
	key(c candID, k keyKind) string
	storedKey(s storedID, k keyKind) string
	// match is the candidate's stored resource as matched alone: by
	// externalId, else by DN (noStored for none).
	match(c candID) storedID
	// rank is what decides between candidates that share key k.
	rank(c candID, k keyKind) rank
	// skipped says the candidate was skipped before decide: for a bad value,
	// or (users) for an externalId decided while reading, by the same wins.
	skipped(c candID) bool
	count() int
	storedCount() int
}

// loss says why a candidate was skipped: it lost key to candidate by, or
// (by == noCand) to stored resource kept, which keeps its name.
type loss struct {
	key  keyKind
	by   candID
	kept storedID
}

const noCand candID = -1

// verdict is what decide decided.
type verdict struct {
	// lost holds every candidate decide skipped (not those out before).
	lost map[candID]loss
	// unmatched holds the candidates that keep no stored resource although
	// match found one: another candidate matched it by externalId.
	unmatched map[candID]bool
	// kept maps each stored resource kept unchanged to the skipped
	// candidate it is.
	kept map[storedID]candID
	// taken says which stored resources a kept candidate is.
	taken []bool
}

// in says candidate c is kept.
func (v *verdict) in(b ballot, c candID) bool {
	_, lost := v.lost[c]
	return !lost && !b.skipped(c)
}

// final returns kept candidate c's stored resource, or noStored.
func (v *verdict) final(b ballot, c candID) storedID {
	if v.unmatched[c] {
		return noStored
	}
	return b.match(c)
}

// rank is what decides between two candidates that share a key's value.
type rank struct {
	holds  bool   // the candidate's stored resource already holds the value
	dnNorm string // then the normalized DN that sorts first
	digest Digest // then the content, so that the order is total
}

// beats says a candidate ranked a wins over one ranked b.
func (a rank) beats(b rank) bool {
	if a.holds != b.holds {
		return a.holds
	}
	if a.dnNorm != b.dnNorm {
		return a.dnNorm < b.dnNorm
	}
	return bytes.Compare(a.digest[:], b.digest[:]) < 0
}

// wins says candidate a beats candidate b for a value of key k they share.
func wins(bl ballot, a, b candID, k keyKind) bool { return bl.rank(a, k).beats(bl.rank(b, k)) }

// before is the order of candidates outside any key.
func before(bl ballot, a, b candID) bool { return wins(bl, a, b, numKeys) }

// decide applies the rule.
func decide(b ballot) *verdict {
	v := &verdict{lost: map[candID]loss{}, unmatched: map[candID]bool{}, kept: map[storedID]candID{}}
	for k := keyKind(0); k < numKeys; k++ {
		for _, set := range b.shared(k) {
			w := noCand
			for _, c := range set {
				if v.in(b, c) && (w == noCand || wins(b, c, w, k)) {
					w = c
				}
			}
			for _, c := range set {
				if c != w && v.in(b, c) {
					v.lost[c] = loss{key: k, by: w, kept: noStored}
				}
			}
		}
	}
	v.settleMatches(b)
	v.keepStored(b)
	return v
}

// settleMatches gives each stored resource to at most one kept candidate:
// a match by externalId beats another candidate's match by DN. Two kept
// candidates never match one stored resource by DN: they would share it.
func (v *verdict) settleMatches(b ballot) {
	v.taken = make([]bool, b.storedCount())
	var byDN []candID
	for c := candID(0); int(c) < b.count(); c++ {
		s := b.match(c)
		if s == noStored || !v.in(b, c) {
			continue
		}
		if ext := b.key(c, keyExternalID); ext != "" && b.storedKey(s, keyExternalID) == ext {
			v.taken[s] = true
			continue
		}
		byDN = append(byDN, c)
	}
	for _, c := range byDN {
		s := b.match(c)
		if v.taken[s] {
			v.unmatched[c] = true
			continue
		}
		v.taken[s] = true
	}
}

// keepStored keeps the stored resources of skipped candidates that no kept
// candidate is, and applies rule 4 until nothing changes.
func (v *verdict) keepStored(b ballot) {
	var queue []storedID
	keep := func(s storedID, c candID) {
		if s == noStored || v.taken[s] {
			return
		}
		if prev, ok := v.kept[s]; ok {
			if before(b, prev, c) {
				return
			}
		} else {
			queue = append(queue, s)
		}
		v.kept[s] = c
	}
	for c := candID(0); int(c) < b.count(); c++ {
		if _, lost := v.lost[c]; lost || b.skipped(c) {
			keep(b.match(c), c)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		name := b.storedKey(s, keyName)
		if name == "" {
			continue
		}
		for _, c := range b.withKey(keyName, name) {
			if !v.in(b, c) || v.final(b, c) == s {
				continue
			}
			v.lost[c] = loss{key: keyName, by: noCand, kept: s}
			if t := v.final(b, c); t != noStored {
				v.taken[t] = false
				keep(t, c)
			}
		}
	}
}

// reason says in words why candidate c lost. dn names the winning
// candidate, storedDN a stored resource, by folded DN (the same in every run); name is c's name (or member
// key) as read; what names the name key ("username", "group name").
func (l loss) reason(b ballot, c candID, what, name string, dn func(candID) string, storedDN func(storedID) string) string {
	switch {
	case l.by == noCand:
		return fmt.Sprintf("duplicate %s %q: already used by %s", what, name, storedDN(l.kept))
	case l.key == keyExternalID:
		return fmt.Sprintf("duplicate externalId %q: already used by %s", b.key(c, keyExternalID), dn(l.by))
	case l.key == keyDN:
		return fmt.Sprintf("duplicate DN: already used by %s", dn(l.by))
	case l.key == keyName:
		return fmt.Sprintf("duplicate %s %q: already used by %s", what, name, dn(l.by))
	}
	return fmt.Sprintf("duplicate member key %q: already used by %s", b.key(c, keyMember), dn(l.by))
}
