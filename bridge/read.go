package bridge

import (
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/keyindex"
	"github.com/scimbridge/scimbridge/internal/strpool"
	"github.com/scimbridge/scimbridge/schema"
)

// The user side of a run's read. Each user entry becomes a candidate as it
// arrives: mapped, matched to its stored user and diffed, so that an
// unchanged one leaves 16 bytes behind. Duplicates are decided after the
// read (decide); only the externalId, the first key of the rule, is decided
// as entries arrive, because its winner depends on nothing else: a loser's
// row is never held. New users whose username nobody else has yet stream
// into the run's open transaction while the read goes on; one that loses
// later is taken back once at the end.

// DefaultStreamMin is how many new users a run buffers before it opens its
// write transaction and writes them while the directory is still being read.
// Fewer are written at commit, so that a run with a small change holds the
// store's writer only for a moment.
const DefaultStreamMin = 10_000

// streamBatch is how many new users go to the writer at a time once streaming.
const streamBatch = 1024

// userState is what a candidate is to the store.
type userState uint8

const (
	userUnchanged userState = iota
	userUpdated
	userCreated
	userBad // skipped for a bad value
)

// userCand is one user entry read. A run holds one for every entry, so an
// unchanged one is small (16 bytes, no pointer): its stored user has the rest.
type userCand struct {
	meta   metaID   // noMeta while unchanged: its keys are its stored user's
	stored storedID // its stored user as matched alone (decide settles it)
	slot   slotID   // its DN slot, or its member key's slot in memberUid mode
	state  userState
	// lostExt says it lost its externalId while the directory was read.
	lostExt bool
	// dropped says its row went (it lost).
	dropped bool
}

// metaID indexes a stream's userMetas, plus one: the zero metaID is none.
type metaID int32

const noMeta metaID = 0

// userMeta is what the run keeps of a candidate that is not unchanged
// besides its row, which waits in a buffer or has been written. Its strings
// are in the group index's arena (a value equal to another is kept once),
// its folded DN is its DN slot's value: no pointer for the collector.
type userMeta struct {
	dn        strpool.Ref // as read; zero when it is its folded DN already
	ext       strpool.Ref
	userName  strpool.Ref
	nameNorm  strpool.Ref
	memberKey strpool.Ref // folded
	dnSlot    slotID      // its folded DN's slot
	row       int32       // index of its row in updates, pending or held
	seq       uint32      // a new random id's counter (idGen.at)
	digest    Digest      // of the mapped attributes
	// nameID says a new user's id follows from its externalId.
	nameID       bool
	attrsChanged bool // besides its groups (an update change)
	streamed     bool // written to the open transaction (or let go, in a dry run)
	held         bool // its row waits in held, for commit
}

// metaSlab is how many userMetas share one allocation.
const metaSlab = 4096

// keyPair is a key value's stored resource and the first candidate read with it.
type keyPair struct {
	stored storedID
	cand   candID
}

// userStream consumes one read of the users.
type userStream struct {
	settings *schema.Settings
	r        *Report
	snap     *Snapshot
	now      time.Time
	ids      *idGen
	h        hasher
	progress *progress
	byUID    bool
	groups   *groupIndex

	cands []userCand
	metas [][]userMeta // slabs of metaSlab (newMeta)
	// The indexes keep no key: a pair's key is its stored user's, else its
	// candidate's.
	exts   *keyindex.Index // externalId → pair (cand: the best so far)
	names  *keyindex.Index // folded userName → pair (cand: the first read)
	pairs  []keyPair
	more   map[keyKind]map[string][]candID // second and later candidates sharing a name, DN or member key
	badWhy map[candID]string
	strs   *strpool.Arena // the group index's: strings kept for candidates

	updates  []UserRow
	pending  []UserRow // new users with a username nobody else had when read, not written yet
	pendCand []candID
	held     []UserRow // other new users: written at commit if they win
	idMemo   []string  // kept candidates' ids, once the read is over
	changed  map[candID][]Membership
	md       *membershipDelta
	created  int
	// dangling collects the member values that name nobody, when
	// trackDangling says change tracking keeps them (ChangeState).
	dangling      []DanglingRef
	trackDangling bool

	streamMin int
	open      func() (Tx, error) // opens the run's transaction; nil for a dry run
	tx        Tx
	out       *userWriter
}

func newUserStream(settings *schema.Settings, r *Report, snap *Snapshot, gi *groupIndex, now time.Time, ids *idGen) *userStream {
	n := len(snap.Users)
	st := &userStream{settings: settings, r: r, snap: snap, now: now, ids: ids, groups: gi, strs: &gi.strs,
		byUID:  byUID(settings),
		pairs:  make([]keyPair, 0, 2*n),
		more:   map[keyKind]map[string][]candID{keyDN: {}, keyName: {}, keyMember: {}},
		badWhy: map[candID]string{}, changed: map[candID][]Membership{},
		md: &membershipDelta{created: map[string]int32{}, changed: map[string][]Membership{}}}
	st.exts = keyindex.New(n, func(p int32) string { return st.pairKey(p, keyExternalID) })
	st.names = keyindex.New(n, func(p int32) string { return st.pairKey(p, keyName) })
	for i := range snap.Users {
		u := &snap.Users[i]
		if u.ExternalID != "" {
			st.pairs[st.pair(st.exts, u.ExternalID)].stored = storedID(i)
		}
		st.pairs[st.pair(st.names, u.UserNameNorm)].stored = storedID(i)
	}
	return st
}

// byUID says the groups list their users by member key (memberUid).
func byUID(settings *schema.Settings) bool {
	return settings.Groups.Attributes.MembershipAttributeType == schema.MembershipUID
}

// pair returns the pair of key in x, adding an empty one, whose stored
// resource or candidate the caller sets at once: its key is theirs.
func (st *userStream) pair(x *keyindex.Index, key string) int32 {
	i, added := x.Add(key, int32(len(st.pairs)))
	if added {
		st.pairs = append(st.pairs, keyPair{stored: noStored, cand: noCand})
	}
	return i
}

// pairKey returns the key of pair p in the index of key k.
func (st *userStream) pairKey(p int32, k keyKind) string {
	if s := st.pairs[p].stored; s != noStored {
		return st.storedKey(s, k)
	}
	return st.key(st.pairs[p].cand, k)
}

// add maps one user entry and takes it in as a candidate.
func (st *userStream) add(e *schema.Entry) error {
	if st.out != nil && st.out.failed.Load() {
		return &writeError{st.out.wait()}
	}
	st.progress.tick()
	u, err := schema.MapUser(e, st.settings)
	if err != nil {
		st.addBad(e, entryReason(err))
		return nil
	}
	row := &UserRow{User: u, DNNorm: NormalizeDN(u.DN), UserNameNorm: strings.ToLower(u.UserName)}
	c := candID(len(st.cands))
	memberKey := strings.ToLower(strings.TrimSpace(u.MemberKey))
	cand := userCand{stored: st.find(u.ExternalID, row.DNNorm), slot: noSlot}
	ms, groupsHash := st.groups.memberships(st.groups.of(st.lookupSlot(row.DNNorm, memberKey)))
	hash := st.h.user(&u)
	var old *StoredUser
	if cand.stored != noStored {
		old = &st.snap.Users[cand.stored]
		if old.Hash == hash && old.GroupsHash == groupsHash {
			st.cands = append(st.cands, cand)
			return st.register(c)
		}
	}
	cand.state = userCreated
	if old != nil {
		cand.state = userUpdated
	}
	if best := st.extBest(u.ExternalID); best != noCand {
		r := rank{holds: old != nil && old.ExternalID == u.ExternalID, dnNorm: row.DNNorm, digest: hash}
		if !r.beats(st.rank(best, keyExternalID)) {
			st.loseOnArrival(cand, u.DN, row.DNNorm, u.ExternalID, hash, best)
			return nil
		}
	}
	cand.meta = st.newMeta()
	m := st.meta(cand.meta)
	st.keepKeys(m, u.DN, row.DNNorm, u.ExternalID)
	// A value equal to another is kept once: the username is often folded
	// already, and the member key often the folded username (uid).
	m.nameNorm = st.strs.Keep(row.UserNameNorm)
	m.userName, m.memberKey = m.nameNorm, m.nameNorm
	if u.UserName != row.UserNameNorm {
		m.userName = st.strs.Keep(u.UserName)
	}
	if memberKey != row.UserNameNorm {
		m.memberKey = st.strs.Keep(memberKey)
	}
	m.digest = hash
	st.cands = append(st.cands, cand)
	if err := st.register(c); err != nil {
		return err
	}
	if st.cands[c].lostExt {
		return nil // lost its externalId on arrival: its row is never held
	}
	row.Hash, row.GroupsHash = hash.String(), groupsHash.String()
	row.Version = st.h.version(row.Hash, row.GroupsHash)
	row.LastModified = st.now
	if old != nil {
		m.row, m.attrsChanged = int32(len(st.updates)), old.Hash != hash
		row.ID = old.ID
		if old.GroupsHash != groupsHash {
			st.changed[c] = ms
		}
		st.updates = append(st.updates, *row)
		return nil
	}
	st.created++
	st.md.addCreated(ms, 1)
	row.ID, m.nameID, m.seq = st.newID(u.ExternalID)
	row.Created = st.now
	// A username that a stored user or an earlier entry has cannot go into
	// the open transaction: the store keeps usernames unique.
	if k, _ := st.names.Get(row.UserNameNorm); st.pairs[k].stored != noStored || st.pairs[k].cand != c {
		m.held, m.row = true, int32(len(st.held))
		st.held = append(st.held, *row)
		return nil
	}
	m.row = int32(len(st.pending))
	st.pending = append(st.pending, *row)
	st.pendCand = append(st.pendCand, c)
	return st.maybeFlush()
}

// newID returns a new user's id: from its externalId unless a stored user
// has that id already (its externalId changed since), else random.
func (st *userStream) newID(ext string) (id string, fromExt bool, seq uint32) {
	if ext != "" {
		if id := NameID(MemberUser, ext); !st.storedHasID(id) {
			return id, true, 0
		}
	}
	id, seq = st.ids.next()
	return id, false, seq
}

// storedHasID says a stored user has id (the snapshot is in id order).
func (st *userStream) storedHasID(id string) bool {
	us := st.snap.Users
	lo, hi := 0, len(us)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if us[mid].ID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(us) && us[lo].ID == id
}

// extBest returns the candidate that holds externalId ext so far, if any.
func (st *userStream) extBest(ext string) candID {
	if ext == "" {
		return noCand
	}
	if k, ok := st.exts.Get(ext); ok {
		return st.pairs[k].cand
	}
	return noCand
}

// loseOnArrival takes in a candidate that loses its externalId to
// candidate best as it arrives: it keeps only what the report and the
// groups that name it need.
func (st *userStream) loseOnArrival(cand userCand, dn, dnNorm, ext string, digest Digest, best candID) {
	c := candID(len(st.cands))
	cand.meta, cand.dropped, cand.lostExt = st.newMeta(), true, true
	m := st.meta(cand.meta)
	st.keepKeys(m, dn, dnNorm, ext)
	m.digest = digest
	st.cands = append(st.cands, cand)
	st.registerSlots(c)
}

// addBad takes in an entry with a bad value: skipped, but the stored user it
// is stays as it is, and the groups that name it keep that user.
func (st *userStream) addBad(e *schema.Entry, reason string) {
	ext, memberKey := schema.UserKeys(e, st.settings)
	memberKey = strings.ToLower(strings.TrimSpace(memberKey))
	dnNorm := NormalizeDN(e.DN)
	c := candID(len(st.cands))
	mi := st.newMeta()
	m := st.meta(mi)
	st.keepKeys(m, e.DN, dnNorm, ext)
	m.memberKey = st.strs.Keep(memberKey)
	st.cands = append(st.cands, userCand{meta: mi, stored: st.find(ext, dnNorm), slot: noSlot, state: userBad})
	st.badWhy[c] = reason
	st.registerSlots(c)
}

// register records candidate c under its keys (the strings st.key returns,
// which the stream keeps: index keys are never copied again). Its
// externalId is decided at once: of two candidates with one, the loser is
// out for good.
func (st *userStream) register(c candID) error {
	if ext := st.key(c, keyExternalID); ext != "" {
		k := st.pair(st.exts, ext)
		best := st.pairs[k].cand
		switch {
		case best == noCand:
			st.pairs[k].cand = c
		case wins(st, c, best, keyExternalID):
			st.pairs[k].cand = c
			if err := st.lose(best); err != nil {
				return err
			}
		default:
			// Out on arrival: its row is never made. The groups that name
			// it may keep its stored user (see join).
			st.cands[c].lostExt, st.cands[c].dropped = true, true
			st.registerSlots(c)
			return nil
		}
	}
	st.registerSlots(c)
	name := st.key(c, keyName)
	if k := st.pair(st.names, name); st.pairs[k].cand == noCand {
		st.pairs[k].cand = c
	} else {
		st.share(st.more[keyName], name, c)
	}
	return nil
}

// registerSlots records candidate c in the slots of its DN and, in
// memberUid mode, its member key; the one its groups come from is its slot.
func (st *userStream) registerSlots(c candID) {
	cand := &st.cands[c]
	var dn slotID
	if cand.meta != noMeta {
		dn = st.meta(cand.meta).dnSlot
	} else {
		dn = st.groups.slot(st.groups.dns, st.snap.Users[cand.stored].DNNorm)
	}
	cand.slot = st.inSlot(dn, keyDN, c)
	if st.byUID {
		cand.slot = noSlot
		if key := st.key(c, keyMember); key != "" {
			cand.slot = st.inSlot(st.groups.slot(st.groups.keys, key), keyMember, c)
		}
	}
}

// inSlot records candidate c in slot s of key k (DN or member key), whose
// first candidate the slot holds, and returns the slot.
func (st *userStream) inSlot(s slotID, k keyKind, c candID) slotID {
	if st.groups.slots[s].first == noCand {
		st.groups.slots[s].first = c
	} else {
		st.share(st.more[k], st.groups.slotKey(int32(s)), c)
	}
	return s
}

// share records candidate c under value v of a key in m, beside the
// candidate the index holds first.
func (st *userStream) share(m map[string][]candID, v string, c candID) {
	m[v] = append(m[v], c)
}

// lose takes candidate c out for its externalId, won by another. Its
// row goes: a new user already written is taken back at once, since the
// winner has the same id.
func (st *userStream) lose(c candID) error {
	st.cands[c].lostExt = true
	return st.dropRow(c)
}

// dropRow lets a lost candidate's row go.
func (st *userStream) dropRow(c candID) error {
	if id := st.dropLost(c); id != "" {
		return st.out.send(writeOp{del: []string{id}})
	}
	return nil
}

// find returns the stored user an entry is, as matched alone: by
// externalId, else by DN when one side has no externalId (so that an entry
// deleted and re-created under the same DN is a new user).
func (st *userStream) find(ext, dnNorm string) storedID {
	if ext != "" {
		if k, ok := st.exts.Get(ext); ok && st.pairs[k].stored != noStored {
			return st.pairs[k].stored
		}
	}
	if si, ok := st.groups.lookup(st.groups.dns, dnNorm); ok {
		if s := st.groups.slots[si].stored; s != noStored && (ext == "" || st.snap.Users[s].ExternalID == "") {
			return s
		}
	}
	return noStored
}

// lookupSlot returns the slot whose groups an entry is in, if any: its
// DN's, or in memberUid mode its member key's.
func (st *userStream) lookupSlot(dnNorm, memberKey string) slotID {
	m, v := st.groups.dns, dnNorm
	if st.byUID {
		m, v = st.groups.keys, memberKey
	}
	if s, ok := st.groups.lookup(m, v); ok && v != "" {
		return s
	}
	return noSlot
}

// newMeta adds a zero userMeta, from a slab: a million of them are a few
// hundred objects for the collector, which it does not scan.
func (st *userStream) newMeta() metaID {
	last := len(st.metas) - 1
	if last < 0 || len(st.metas[last]) == metaSlab {
		st.metas = append(st.metas, make([]userMeta, 0, metaSlab))
		last++
	}
	st.metas[last] = append(st.metas[last], userMeta{})
	return metaID(last*metaSlab + len(st.metas[last]))
}

// meta returns the userMeta of i (slabs never move: the pointer stays good).
func (st *userStream) meta(i metaID) *userMeta {
	return &st.metas[(i-1)/metaSlab][(i-1)%metaSlab]
}

// keepKeys keeps a candidate's DN and externalId in m; its folded DN is
// its DN slot's value (a new slot when nobody has it yet).
func (st *userStream) keepKeys(m *userMeta, dn, dnNorm, ext string) {
	m.dnSlot = st.groups.slot(st.groups.dns, dnNorm)
	if dn != dnNorm {
		m.dn = st.strs.Keep(dn)
	}
	m.ext = st.strs.Keep(ext)
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
	if (st.out == nil && len(st.pending) < st.streamMin) || (st.out != nil && len(st.pending) < streamBatch) {
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
		st.meta(st.cands[st.pendCand[k]].meta).streamed = true
		rows = append(rows, st.pending[k])
	}
	st.pending, st.pendCand = st.pending[:0], st.pendCand[:0]
	return rows
}
