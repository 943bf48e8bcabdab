package bridge

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/internal/strpool"
	"github.com/scimbridge/scimbridge/schema"
)

// The user side of a run. Users are deduplicated, matched to the stored users
// and diffed one at a time, as the directory streams them (the groups were
// read before): an unchanged user leaves nothing behind but its place in the
// accepted list, and once more than streamMin users are new, their rows go
// into the run's open write transaction while the read goes on, written by a
// goroutine of their own.

// DefaultStreamMin is how many new users a run buffers before it opens its
// write transaction and writes them while the directory is still being read.
// Fewer are written at commit, so that a run with a small change holds the
// store's writer only for a moment.
const DefaultStreamMin = 10_000

// streamBatch is how many new users go to the writer at a time once streaming.
const streamBatch = 1024

// userState is what the run does with an accepted user entry.
type userState uint8

const (
	userUnchanged userState = iota
	userUpdated
	userCreated
	userGone // accepted, then it lost its username to an entry read later
)

// accepted is a user entry that passed deduplication. A run holds one for
// every user read, so an unchanged one is 16 bytes: the stored user has the rest.
type accepted struct {
	meta   *userMeta // nil while unchanged
	stored int32     // the stored user it is, or -1
	state  userState
}

// userMeta is what the run keeps of a new or changed user besides its row,
// which waits in a buffer or has been written.
type userMeta struct {
	dn, ext, userName, memberKey string // dn as read
	seq                          uint32 // a new user's place in the run's ids (idGen.at)
	attrsChanged                 bool   // besides its groups (an update change)
	deferred                     bool   // its username was held by a stored user: written at commit
	streamed                     bool   // written to the open transaction
	row                          int32  // index of its row in updates, pending or deferred
}

// dnSlot is what one folded DN is in a run: a stored user, an accepted user
// entry, and the groups that list it as a member. In memberUid mode slots
// are also kept by folded member key.
type dnSlot struct {
	stored int32 // the stored user with this DN, or -1
	acc    int32 // the accepted entry with it (the one claiming this key), or -1
	refs   int32 // member values naming it, counted as dangling when nobody claims it
}

// userStream consumes one read of the users.
type userStream struct {
	settings *schema.Settings
	r        *Report
	snap     *Snapshot
	groups   []mappedGroup
	anc      [][]int32
	byUID    bool
	protect  map[string]bool
	now      time.Time
	ids      *idGen
	h        hasher
	progress *progress

	used  []bool // stored users matched so far
	slots []dnSlot
	// The groups that list each slot, each once: slot s has
	// slotGroups[groupsAt[s]:groupsAt[s+1]]; slots added after the groups
	// were linked have none.
	slotGroups []int32
	groupsAt   []int32
	dns        map[string]int32 // folded DN → slot
	keys       map[string]int32 // memberUid mode: folded member key → slot
	// The maps below are only ever added to: assigning to a string key
	// already there would keep the new copy of the key, one per user read.
	exts  map[string]int32 // externalId → pair
	names map[string]int32 // folded userName → pair
	pairs [][2]int32       // stored user (holding the name), accepted entry; -1: none

	acc         []accepted
	updates     []UserRow
	pending     []UserRow        // new users not written yet
	pendingAcc  []int32          // their accepted entries
	pendingLive int              // pending rows not dropped since
	keptAs      map[string]int32 // folded DN of a dropped entry → the stored user it matched
	waiting     []UserRow        // entries whose DN or externalId was taken when read (see accept)
	waitDN      map[string]bool  // their DNs
	waitExt     map[string]bool  // their externalIds
	final       bool             // the read is over: nothing waits any more
	deferred    []UserRow        // new users whose usernames stored users hold
	created     int
	idMemo      []string     // new users' ids once the read is over
	metas       []userMeta   // the current slab (newMeta)
	pool        strpool.Pool // strings kept for new and changed users and new index keys
	md          *membershipDelta

	streamMin int
	open      func() (Tx, error) // opens the run's transaction; nil for a dry run
	tx        Tx
	out       *userWriter
}

func newUserStream(settings *schema.Settings, r *Report, snap *Snapshot, d *directory, anc [][]int32, now time.Time, ids *idGen) *userStream {
	n := len(snap.Users)
	st := &userStream{settings: settings, r: r, snap: snap, groups: d.groups, anc: anc, protect: d.protect, now: now, ids: ids,
		byUID: settings.Groups.Attributes.MembershipAttributeType == schema.MembershipUID,
		used:  make([]bool, n), slots: make([]dnSlot, 0, n), dns: make(map[string]int32, n),
		keys: map[string]int32{}, keptAs: map[string]int32{}, waitDN: map[string]bool{}, waitExt: map[string]bool{}, exts: make(map[string]int32, n), names: make(map[string]int32, n), pairs: make([][2]int32, 0, 2*n),
		md: &membershipDelta{created: map[string]int32{}, changed: map[string][]Membership{}}}
	for i := range snap.Users {
		u := &snap.Users[i]
		st.slots[st.slot(st.dns, u.DNNorm, true)].stored = int32(i)
		if u.ExternalID != "" {
			k, _ := st.pair(st.exts, u.ExternalID, true)
			st.pairs[k][0] = int32(i)
		}
		k, _ := st.pair(st.names, u.UserNameNorm, true)
		st.pairs[k][0] = int32(i)
	}
	return st
}

// slot returns the slot of key in m, adding an empty one.
func (st *userStream) slot(m map[string]int32, key string, kept bool) int32 {
	i, _ := st.index(m, key, kept, func() int32 {
		st.slots = append(st.slots, dnSlot{stored: -1, acc: -1})
		return int32(len(st.slots) - 1)
	})
	return i
}

// pair returns the pair of key in m, adding {-1, -1}, and the key as kept
// when it was new (else key itself).
func (st *userStream) pair(m map[string]int32, key string, kept bool) (int32, string) {
	return st.index(m, key, kept, func() int32 {
		st.pairs = append(st.pairs, [2]int32{-1, -1})
		return int32(len(st.pairs) - 1)
	})
}

// index returns the index of key in m. A new key gets the index of the
// element add appends, under a pooled copy of key unless the key is
// already kept elsewhere; index returns the key as kept then.
func (st *userStream) index(m map[string]int32, key string, kept bool, add func() int32) (int32, string) {
	if i, ok := m[key]; ok {
		return i, key
	}
	if !kept {
		key = st.pool.String(key)
	}
	i := add()
	m[key] = i
	return i, key
}

// linkGroups resolves the groups' member values: groups become nesting,
// kept groups (stored groups whose entries were skipped) stay members, and
// everything else becomes a reference that a user read later may claim.
func (st *userStream) linkGroups(keptGroups map[string]Member) {
	var refs []ref
	refer := func(si int32, gi int) {
		st.slots[si].refs++
		refs = append(refs, ref{si, int32(gi)})
	}
	defer func() { st.indexGroups(refs) }()
	byDN := make(map[string]int32, len(st.groups))
	for i := range st.groups {
		byDN[st.groups[i].dnNorm] = int32(i)
	}
	for gi := range st.groups {
		g := &st.groups[gi]
		seenG := map[int32]bool{}
		for _, m := range g.Members {
			if st.byUID {
				refer(st.slot(st.keys, strings.ToLower(strings.TrimSpace(m)), false), gi)
				continue
			}
			n := NormalizeDN(m)
			if ci, ok := byDN[n]; ok {
				if ci != int32(gi) && !seenG[ci] {
					seenG[ci] = true
					g.children = append(g.children, ci)
					st.groups[ci].parents = append(st.groups[ci].parents, int32(gi))
				}
				continue
			}
			if km, ok := keptGroups[n]; ok {
				g.keep(km)
				continue
			}
			refer(st.slot(st.dns, n, false), gi)
		}
		g.Members = nil // resolved; free the raw values
	}
}

// ref is one member value of group gi naming slot si.
type ref struct{ si, gi int32 }

// indexGroups lays the references out by slot (a counting sort: they come
// group by group, so a slot's repeats are adjacent and dropped).
func (st *userStream) indexGroups(refs []ref) {
	at := make([]int32, len(st.slots)+1)
	for _, r := range refs {
		at[r.si+1]++
	}
	for s := 1; s < len(at); s++ {
		at[s] += at[s-1]
	}
	out := make([]int32, len(refs))
	next := slices.Clone(at[:len(at)-1])
	for _, r := range refs {
		out[next[r.si]] = r.gi
		next[r.si]++
	}
	// Drop repeats within each slot and close the gaps.
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
	st.slotGroups, st.groupsAt = out[:w:w], at
}

// groupsOf returns the groups that list slot si.
func (st *userStream) groupsOf(si int32) []int32 {
	if int(si)+1 >= len(st.groupsAt) {
		return nil
	}
	return st.slotGroups[st.groupsAt[si]:st.groupsAt[si+1]]
}

func (g *mappedGroup) keep(m Member) {
	for _, k := range g.kept {
		if k.ID == m.ID {
			return
		}
	}
	g.kept = append(g.kept, m)
}

// add maps one user entry and takes it in.
func (st *userStream) add(e *schema.Entry) error {
	if st.out != nil && st.out.failed.Load() {
		return &writeError{st.out.wait()}
	}
	st.progress.tick()
	u, err := schema.MapUser(e, st.settings)
	if err != nil {
		dnNorm := NormalizeDN(e.DN)
		st.skip(e.DN, dnNorm, entryReason(err))
		// The stored user it is stays as it is, also when it was renamed.
		ext, memberKey := schema.UserKeys(e, st.settings)
		if si := st.find(ext, st.slot(st.dns, dnNorm, false)); si >= 0 {
			st.keep(si, dnNorm, memberKey)
		}
		return nil
	}
	return st.accept(&UserRow{User: u, DNNorm: NormalizeDN(u.DN), UserNameNorm: strings.ToLower(u.UserName)})
}

// skip reports an entry as skipped; the stored user it is stays as it is.
func (st *userStream) skip(dn, dnNorm, reason string) {
	st.r.skip(dn, reason)
	st.protect[dnNorm] = true
}

func dupReason(userName, by string) string {
	return fmt.Sprintf("duplicate username %q: already used by %s", userName, by)
}

// accept deduplicates, matches and diffs one mapped user. Of two entries
// with one DN or externalId the first read stays. Of entries sharing a
// folded userName, the one the store already holds under it keeps it;
// otherwise the one whose folded DN sorts first, so an entry accepted
// earlier may lose its place to one read later.
func (st *userStream) accept(u *UserRow) error {
	ds := st.slot(st.dns, u.DNNorm, false)
	if reason := st.taken(u, ds); reason != "" {
		if !st.final {
			// The entry holding it may still lose its username to an
			// entry read later: this one waits for the end of the read,
			// and so does every later entry with its DN or externalId.
			st.waiting = append(st.waiting, *u)
			st.waitDN[u.DNNorm] = true
			if u.ExternalID != "" {
				st.waitExt[u.ExternalID] = true
			}
			return nil
		}
		st.skip(u.DN, u.DNNorm, reason)
		return nil
	}
	holder := int32(-1)
	if k, ok := st.names[u.UserNameNorm]; ok {
		holder = st.pairs[k][0]
		if prev := st.pairs[k][1]; prev >= 0 {
			pext, pdn := st.keysOf(prev)
			if !st.beats(holder, u.ExternalID, u.DNNorm, pext, pdn) {
				st.skip(u.DN, u.DNNorm, dupReason(u.UserName, st.dnOf(prev)))
				if si := st.find(u.ExternalID, ds); si >= 0 {
					st.keep(si, u.DNNorm, u.MemberKey)
				}
				return nil
			}
			if err := st.drop(prev, u.DN); err != nil {
				return err
			}
		}
	}

	i := int32(len(st.acc))
	si := st.match(u.ExternalID, ds)
	st.slots[ds].acc = i
	ext, nameNorm := st.register(i, holder, u.ExternalID, u.UserNameNorm)
	direct := st.claim(i, ds, u.MemberKey)
	ms := userMemberships(direct, st.groups, st.anc)
	hash, groupsHash := st.h.user(&u.User), st.h.memberships(ms)
	a := accepted{stored: si}
	var old *StoredUser
	if si >= 0 {
		old = &st.snap.Users[si]
		if old.Hash == hash && old.GroupsHash == groupsHash {
			st.acc = append(st.acc, a)
			return nil
		}
	}
	u.Hash, u.GroupsHash = hash.String(), groupsHash.String()
	u.Version = st.h.version(u.Hash, u.GroupsHash)
	u.LastModified = st.now
	// What stays of a new or changed user lives in pooled chunks: the row
	// itself is gone once written.
	m := st.newMeta()
	m.dn, m.ext, m.userName, m.memberKey = st.pool.String(u.DN), ext, nameNorm, st.pool.String(u.MemberKey)
	if u.UserName != u.UserNameNorm {
		m.userName = st.pool.String(u.UserName)
	}
	a.meta = m
	if old != nil {
		u.ID = old.ID
		m.attrsChanged = old.Hash != hash
		if old.GroupsHash != groupsHash {
			st.md.changed[u.ID] = ms
		}
		a.state, m.row = userUpdated, int32(len(st.updates))
		st.updates = append(st.updates, *u)
		st.acc = append(st.acc, a)
		return nil
	}
	m.seq = st.ids.seq
	u.ID, u.Created = st.ids.next(), st.now
	st.md.addCreated(ms, 1)
	a.state = userCreated
	st.created++
	st.acc = append(st.acc, a)
	if holder >= 0 {
		m.deferred, m.row = true, int32(len(st.deferred))
		st.deferred = append(st.deferred, *u)
		return nil
	}
	m.row = int32(len(st.pending))
	st.pending = append(st.pending, *u)
	st.pendingAcc = append(st.pendingAcc, i)
	st.pendingLive++
	return st.maybeFlush()
}

// register records accepted entry i under its externalId and folded
// userName (holder is the stored user holding the name, or -1). Keys new
// to the indexes are pooled; it returns the keys as kept.
func (st *userStream) register(i, holder int32, ext, nameNorm string) (string, string) {
	if ext != "" {
		var k int32
		k, ext = st.pair(st.exts, ext, false)
		st.pairs[k][1] = i
	}
	k, nameNorm := st.pair(st.names, nameNorm, false)
	st.pairs[k] = [2]int32{holder, i}
	return ext, nameNorm
}

// newMeta returns a zero userMeta from a slab: a million of them are a few
// hundred objects for the collector.
func (st *userStream) newMeta() *userMeta {
	if len(st.metas) == cap(st.metas) {
		st.metas = make([]userMeta, 0, 4096) // the full slab stays with the metas made from it
	}
	st.metas = append(st.metas, userMeta{})
	return &st.metas[len(st.metas)-1]
}

// taken says whether an accepted entry already has u's DN or externalId,
// or an entry read before it waits for them.
func (st *userStream) taken(u *UserRow, ds int32) string {
	if st.slots[ds].acc >= 0 || st.waitDN[u.DNNorm] {
		return "duplicate DN"
	}
	if u.ExternalID != "" {
		if k, ok := st.exts[u.ExternalID]; (ok && st.pairs[k][1] >= 0) || st.waitExt[u.ExternalID] {
			return fmt.Sprintf("duplicate externalId %q", u.ExternalID)
		}
	}
	return ""
}

// keysOf returns an accepted entry's externalId and folded DN.
func (st *userStream) keysOf(i int32) (ext, dnNorm string) {
	a := &st.acc[i]
	if a.meta != nil {
		return a.meta.ext, NormalizeDN(a.meta.dn)
	}
	s := &st.snap.Users[a.stored]
	return s.ExternalID, s.DNNorm
}

// beats says whether a new entry takes a folded userName from the entry
// accepted with it so far; holder is the stored user holding it, or -1.
func (st *userStream) beats(holder int32, ext, dnNorm, pext, pdnNorm string) bool {
	holds := func(ext, dn string) bool {
		if holder < 0 {
			return false
		}
		s := &st.snap.Users[holder]
		if s.ExternalID != "" {
			return ext == s.ExternalID
		}
		return dn == s.DNNorm
	}
	if hn, hp := holds(ext, dnNorm), holds(pext, pdnNorm); hn != hp {
		return hn
	}
	return dnNorm < pdnNorm
}

// match finds the stored user an entry is: by externalId, then by DN (the DN
// only when one side has no externalId, so that an entry deleted and
// re-created under the same DN is a new user).
func (st *userStream) match(ext string, ds int32) int32 {
	si := st.find(ext, ds)
	if si >= 0 {
		st.used[si] = true
	}
	return si
}

// find is match without taking the stored user.
func (st *userStream) find(ext string, ds int32) int32 {
	if ext != "" {
		if k, ok := st.exts[ext]; ok {
			if si := st.pairs[k][0]; si >= 0 && !st.used[si] {
				return si
			}
		}
	}
	if si := st.slots[ds].stored; si >= 0 && !st.used[si] && (ext == "" || st.snap.Users[si].ExternalID == "") {
		return si
	}
	return -1
}

// keep keeps stored user si as it is for an entry that is skipped (its
// DN, or member key in memberUid mode, given): it is not deleted, and the
// groups that name the entry keep it while no other entry matches it.
func (st *userStream) keep(si int32, dnNorm, memberKey string) {
	st.protect[st.snap.Users[si].DNNorm] = true
	if !st.byUID {
		st.keptAs[dnNorm] = si
	} else if memberKey != "" {
		st.keptAs[strings.ToLower(memberKey)] = si
	}
}

// claim makes accepted entry i a member of the groups that list it and
// returns those groups. In memberUid mode the first entry with a member key
// claims it.
func (st *userStream) claim(i, ds int32, memberKey string) []int32 {
	si := ds
	if st.byUID {
		key := strings.ToLower(memberKey)
		k, ok := st.keys[key]
		if key == "" || !ok || st.slots[k].acc >= 0 {
			return nil
		}
		st.slots[k].acc = i
		si = k
	}
	direct := st.groupsOf(si)
	for _, gi := range direct {
		st.groups[gi].users = append(st.groups[gi].users, i)
	}
	return direct
}

// drop takes back accepted entry i, which loses its username to the entry
// with DN by: it is skipped, the stored user it matched stays as it is, and
// a new user already written is deleted again.
func (st *userStream) drop(i int32, by string) error {
	a := &st.acc[i]
	ext, dnNorm := st.keysOf(i)
	userName := st.userNameOf(i)
	st.skip(st.dnOf(i), dnNorm, dupReason(userName, by))
	ds := st.dns[dnNorm]
	st.slots[ds].acc = -1
	if ext != "" {
		st.pairs[st.exts[ext]][1] = -1
	}
	if a.stored >= 0 {
		// The stored user it matched stays as it is, also when the entry
		// was renamed: protection goes by the stored DN.
		st.used[a.stored] = false
	}
	// Its memberships.
	memberKey := ""
	if a.meta != nil {
		memberKey = a.meta.memberKey
	} else {
		memberKey = st.snap.Users[a.stored].MemberKey
	}
	if a.stored >= 0 {
		st.keep(a.stored, dnNorm, memberKey)
	}
	si := ds
	if st.byUID {
		k, ok := st.keys[strings.ToLower(memberKey)]
		if !ok || st.slots[k].acc != i {
			si = -1
		} else {
			si = k // the key stays with this entry for the run: nobody else claims it
		}
	}
	var direct []int32
	if si >= 0 {
		direct = st.groupsOf(si)
		for _, gi := range direct {
			g := &st.groups[gi]
			g.users = slices.DeleteFunc(g.users, func(u int32) bool { return u == i })
		}
	}
	state := a.state
	a.state = userGone
	switch state {
	case userUpdated:
		st.updates[a.meta.row].ID = "" // dropped at the end
		delete(st.md.changed, st.id(i))
	case userCreated:
		st.created--
		st.md.addCreated(userMemberships(direct, st.groups, st.anc), -1)
		switch m := a.meta; {
		case m.deferred:
			st.deferred[m.row].ID = ""
		case m.streamed && st.out == nil: // a dry run's: never written
		case m.streamed:
			return st.out.send(writeOp{del: []string{st.id(i)}})
		default:
			st.pending[m.row].ID = ""
			st.pendingLive--
		}
	}
	return nil
}

// dnOf returns accepted entry i's DN: as read, or folded when the entry is
// an unchanged stored user (whose DN as read is not kept).
func (st *userStream) dnOf(i int32) string {
	if m := st.acc[i].meta; m != nil {
		return m.dn
	}
	return st.snap.Users[st.acc[i].stored].DNNorm
}

// userNameOf returns accepted entry i's userName as read (folded when it
// is an unchanged stored user, whose name as read is not kept).
func (st *userStream) userNameOf(i int32) string {
	if m := st.acc[i].meta; m != nil {
		return m.userName
	}
	return st.snap.Users[st.acc[i].stored].UserNameNorm
}

// id returns accepted entry i's user id.
func (st *userStream) id(i int32) string {
	a := &st.acc[i]
	if a.stored >= 0 {
		return st.snap.Users[a.stored].ID
	}
	if st.idMemo == nil {
		return st.ids.at(a.meta.seq)
	}
	if st.idMemo[i] == "" {
		st.idMemo[i] = st.ids.at(a.meta.seq)
	}
	return st.idMemo[i]
}

// maybeFlush hands the buffered new users to the writer once there are
// enough of them (streamMin to start, streamBatch after that).
// A dry run writes nothing: it lets them go in batches instead, so that it
// holds no more than a real run.
func (st *userStream) maybeFlush() error {
	if st.open == nil {
		if len(st.pending) >= streamBatch {
			st.take()
		}
		return nil
	}
	// The first batch has streamMin rows at least, so that the store sees a
	// bulk load coming.
	if (st.out == nil && st.pendingLive < st.streamMin) || (st.out != nil && len(st.pending) < streamBatch) {
		return nil
	}
	return st.flush()
}

// flush writes the buffered new users.
func (st *userStream) flush() error {
	if st.out == nil {
		tx, err := st.open()
		if err != nil {
			return &writeError{err}
		}
		st.tx, st.out = tx, startWriter(tx)
	}
	if rows := st.take(); len(rows) > 0 {
		return st.out.send(writeOp{runID: st.r.ID, rows: rows})
	}
	return nil
}

// take empties the buffer of new users and returns their rows (dropped
// ones left out); the users count as written from now on.
func (st *userStream) take() []UserRow {
	rows := make([]UserRow, 0, len(st.pending))
	for k := range st.pending {
		if st.pending[k].ID == "" {
			continue
		}
		st.acc[st.pendingAcc[k]].meta.streamed = true
		rows = append(rows, st.pending[k])
	}
	st.pending, st.pendingAcc, st.pendingLive = st.pending[:0], st.pendingAcc[:0], 0
	return rows
}

// finish ends the read: the writer writes what is left and stops, and the
// member values no user claimed become kept members or dangling ones.
func (st *userStream) finish() (dangling int, err error) {
	// The entries that waited are taken in, in the order read, pass after
	// pass while one that is taken in frees a place (it may drop a holder);
	// what is still taken then is skipped.
	for len(st.waiting) > 0 {
		rows := st.waiting
		st.waiting = nil
		clear(st.waitDN)
		clear(st.waitExt)
		for k := range rows {
			if err := st.accept(&rows[k]); err != nil {
				return 0, err
			}
		}
		if len(st.waiting) == len(rows) { // none taken in: no place freed
			break
		}
	}
	st.final = true
	clear(st.waitDN)
	clear(st.waitExt)
	for k := range st.waiting {
		if err := st.accept(&st.waiting[k]); err != nil {
			return 0, err
		}
	}
	st.waiting = nil
	// A stored user kept as it is (its entry skipped) keeps its username:
	// an entry that took the name meanwhile is skipped after all. Such an
	// entry is new and deferred, or an update, so nothing was written yet.
	// Such a skip keeps another stored user in turn: repeat until none.
	for dropped := true; dropped; {
		dropped = false
		for _, k := range st.names {
			h, i := st.pairs[k][0], st.pairs[k][1]
			if h < 0 || i < 0 || st.acc[i].state == userGone || st.acc[i].stored == h || st.used[h] ||
				!st.protect[st.snap.Users[h].DNNorm] {
				continue
			}
			if err := st.drop(i, st.snap.Users[h].DNNorm); err != nil {
				return 0, err
			}
			dropped = true
		}
	}
	if st.out != nil {
		if err := st.flush(); err != nil {
			return 0, err
		}
		if err := st.out.wait(); err != nil {
			return 0, &writeError{err}
		}
	}
	defer func() {
		// The read is over: the indexes go, and ids are made once each from here on.
		st.slots, st.dns, st.keys, st.exts, st.names, st.pairs = nil, nil, nil, nil, nil, nil
		st.slotGroups, st.groupsAt = nil, nil
		st.idMemo = make([]string, len(st.acc))
	}()
	// Stored users whose entries were skipped, and that no other entry
	// turned out to be, stay members of their groups.
	var byKey map[string]Member
	if st.byUID {
		byKey = map[string]Member{}
		for i := range st.snap.Users {
			if u := &st.snap.Users[i]; st.protect[u.DNNorm] && !st.used[i] && u.MemberKey != "" {
				byKey[strings.ToLower(u.MemberKey)] = Member{ID: u.ID, Type: MemberUser}
			}
		}
	}
	refs := st.dns
	if st.byUID {
		refs = st.keys
	}
	for key, si := range refs {
		s := &st.slots[si]
		if (s.acc >= 0 && st.acc[s.acc].state != userGone) || s.refs == 0 {
			continue
		}
		var km Member
		var ok bool
		// The stored user a dropped entry with this DN matched comes first:
		// the stored user that has the DN may be another one since renamed.
		if k, kept := st.keptAs[key]; kept && !st.used[k] {
			km, ok = Member{ID: st.snap.Users[k].ID, Type: MemberUser}, true
		} else if st.byUID {
			km, ok = byKey[key]
		} else if s.stored >= 0 && st.protect[key] && !st.used[s.stored] {
			km, ok = Member{ID: st.snap.Users[s.stored].ID, Type: MemberUser}, true
		}
		if !ok {
			dangling += int(s.refs)
			continue
		}
		for _, gi := range st.groupsOf(si) {
			st.groups[gi].keep(km)
		}
	}
	return dangling, nil
}

// plan fills p with the users' part of the run: updates, the new users not
// written yet, deletions, and every user change; it returns the number of
// stored users kept because their entries were skipped.
func (st *userStream) plan(p *Plan) (kept int) {
	for k := range st.updates {
		if st.updates[k].ID != "" {
			p.UpdateUsers = append(p.UpdateUsers, st.updates[k])
		}
	}
	for _, rows := range [][]UserRow{st.pending, st.deferred} {
		for k := range rows {
			if rows[k].ID != "" {
				p.CreateUsers = append(p.CreateUsers, rows[k])
			}
		}
	}
	for i := range st.acc {
		a := &st.acc[i]
		switch {
		case a.state == userCreated && a.meta.streamed:
			// Its change was written with it.
		case a.state == userCreated:
			p.Changes = append(p.Changes, Change{ResourceType: MemberUser, ResourceID: st.id(int32(i)), Op: OpCreate, Name: a.meta.userName})
		case a.state == userUpdated && a.meta.attrsChanged:
			p.Changes = append(p.Changes, Change{ResourceType: MemberUser, ResourceID: st.id(int32(i)), Op: OpUpdate, Name: a.meta.userName})
		}
	}
	for i, used := range st.used {
		if used {
			continue
		}
		u := &st.snap.Users[i]
		if st.protect[u.DNNorm] {
			kept++
			continue
		}
		p.DeleteUsers = append(p.DeleteUsers, u.ID)
		p.Changes = append(p.Changes, Change{ResourceType: MemberUser, ResourceID: u.ID, Op: OpDelete, Name: u.UserNameNorm})
	}
	return kept
}

// release drops everything the stream holds but its transaction and the
// membership delta, once the plan has been made.
func (st *userStream) release() {
	st.snap, st.groups, st.anc, st.used, st.ids = nil, nil, nil, nil, nil
	st.acc, st.updates, st.pending, st.pendingAcc, st.deferred, st.idMemo, st.metas = nil, nil, nil, nil, nil, nil, nil
	st.pool = strpool.Pool{}
}

// users returns the number of users the run read and kept.
func (st *userStream) users() int {
	n := 0
	for i := range st.acc {
		if st.acc[i].state != userGone {
			n++
		}
	}
	return n
}

// writeOp is one step for the writer: rows to insert, or ids to take back.
type writeOp struct {
	runID int64
	rows  []UserRow
	del   []string
}

// userWriter writes new users into the run's transaction on a goroutine of
// its own, so that SQLite works while the directory is still being read.
// After the first error it writes nothing more; wait returns the error.
type userWriter struct {
	ops    chan writeOp
	done   chan struct{}
	failed atomic.Bool
	err    error // set before done is closed
	once   sync.Once
}

func startWriter(tx Tx) *userWriter {
	w := &userWriter{ops: make(chan writeOp, 4), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for op := range w.ops {
			if w.err != nil {
				continue
			}
			if op.rows != nil {
				w.err = tx.CreateUsers(op.runID, op.rows)
			} else {
				w.err = tx.DeleteCreated(op.del)
			}
			if w.err != nil {
				w.failed.Store(true)
			}
		}
	}()
	return w
}

func (w *userWriter) send(op writeOp) error {
	if w.failed.Load() {
		return &writeError{w.wait()}
	}
	w.ops <- op
	return nil
}

// wait stops the writer once it has written everything sent, and returns
// its error. The transaction is the caller's again afterwards.
func (w *userWriter) wait() error {
	w.once.Do(func() { close(w.ops) })
	<-w.done
	return w.err
}

// idGen makes the new resource ids of one run: UUIDv7 (RFC 9562) with the
// run's millisecond, then a counter in the next 32 bits, so that ids ascend
// in the order they are made and append to the store's indexes, then 42
// bits mixed from the counter and a random salt of the run. An id is thus
// known from its counter alone (at), and a run keeps no id strings.
type idGen struct {
	ms   uint64
	salt uint64
	seq  uint32
}

func newIDGen(now time.Time) *idGen {
	var b [8]byte
	_, _ = randRead(b[:])
	return &idGen{ms: uint64(now.UnixMilli()), salt: binary.LittleEndian.Uint64(b[:])}
}

// next returns a new id.
func (g *idGen) next() string {
	id := g.at(g.seq)
	g.seq++
	return id
}

// at returns the id next returned (or will return) for counter s.
func (g *idGen) at(s uint32) string {
	var b [16]byte
	for i := 0; i < 6; i++ {
		b[i] = byte(g.ms >> (40 - 8*i))
	}
	binary.BigEndian.PutUint64(b[8:], splitmix64(g.salt+uint64(s)))
	b[6] = 0x70 | byte(s>>28)&0x0f
	b[7] = byte(s >> 20)
	b[8] = 0x80 | byte(s>>14)&0x3f
	b[9] = byte(s >> 6)
	b[10] = byte(s<<2) | b[10]&0x03
	return formatUUID(&b)
}

// splitmix64 is a bijective 64-bit mix (Steele, Lea, Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
