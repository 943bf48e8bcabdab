package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// Options are the choices of one sync run.
type Options struct {
	// Trigger is TriggerManual, TriggerScheduled or TriggerStartup.
	Trigger string
	// DryRun computes and reports the run without writing anything.
	DryRun bool
	// AllowDeletes approves a run that deletion safety would otherwise hold.
	AllowDeletes bool
	// FullPush makes the push after the run a full reconcile with the target
	// (repairing drift) instead of delivering only the change log.
	FullPush bool
}

// ErrBusy is wrapped by BusyError.
var ErrBusy = errors.New("a sync is already running")

// BusyError is returned when a sync is asked for while another one runs.
type BusyError struct {
	// RunID is the running sync's run, when this process runs it.
	RunID int64
	// OtherProcess says another process on the same store is syncing.
	OtherProcess bool
}

func (e *BusyError) Error() string {
	switch {
	case e.OtherProcess:
		return fmt.Sprintf("%v in another process", ErrBusy)
	case e.RunID == 0:
		return "an admin action that excludes syncs is running"
	}
	return fmt.Sprintf("%v (run %d)", ErrBusy, e.RunID)
}

// Unwrap makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Unwrap() error { return ErrBusy }

// Pusher delivers the store's pending changes to a SCIM target. The Syncer
// calls it after each successful run (not dry runs, not held runs) when push
// is enabled; full asks for a reconcile of the whole target instead of the
// change log alone.
type Pusher interface {
	Push(ctx context.Context, s *schema.Settings, runID int64, full bool) (json.RawMessage, error)
}

// maxSkippedListed bounds the skipped entries a report lists; the count is always complete.
const maxSkippedListed = 1000

// Syncer runs full syncs, one at a time.
type Syncer struct {
	store  Store
	dial   Dialer
	log    *slog.Logger
	pusher Pusher
	now    func() time.Time
	// streamMin is how many new users a run buffers before it writes them
	// while still reading (DefaultStreamMin).
	streamMin int

	mu      sync.Mutex   // held for the whole of a run
	running atomic.Int64 // id of the run in progress; 0 when idle
	live    live         // how far the run in progress has come
}

// NewSyncer returns a Syncer that reads with dial and writes to st.
func NewSyncer(st Store, dial Dialer, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{store: st, dial: dial, log: log, now: time.Now, streamMin: DefaultStreamMin}
}

// SetPusher sets the push client called after each applied run.
func (s *Syncer) SetPusher(p Pusher) { s.pusher = p }

// Running returns the id of the run in progress, if any.
func (s *Syncer) Running() (int64, bool) {
	id := s.running.Load()
	return id, id != 0
}

// Exclusive runs fn while no sync can run, as admin actions that change the
// store outside a sync need ("Remove imported users and groups"). It returns
// a *BusyError, without calling fn, while a sync is running.
func (s *Syncer) Exclusive(ctx context.Context, fn func(ctx context.Context) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return fn(ctx)
}

// RecoverInterrupted records runs that a stopped process left running as
// failed, unless a sync is running now (here or in another process), in
// which case nothing is changed; every run's start checks again.
func (s *Syncer) RecoverInterrupted(ctx context.Context) (int, error) {
	n := 0
	err := s.Exclusive(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.store.MarkInterruptedRuns(ctx)
		return err
	})
	if errors.Is(err, ErrBusy) {
		return 0, nil
	}
	return n, err
}

// lock takes the in-process run lock and the store's cross-process one.
func (s *Syncer) lock() (unlock func(), err error) {
	// A run that holds the lock records its id within moments; an admin
	// action (Exclusive) never does, and usually ends soon.
	deadline := time.Now().Add(time.Second)
	for !s.mu.TryLock() {
		if id := s.running.Load(); id != 0 {
			return nil, &BusyError{RunID: id}
		}
		if time.Now().After(deadline) {
			return nil, &BusyError{}
		}
		time.Sleep(5 * time.Millisecond)
	}
	storeUnlock, err := s.store.LockSync()
	if err != nil {
		s.mu.Unlock()
		if errors.Is(err, ErrBusy) {
			return nil, &BusyError{OtherProcess: true}
		}
		return nil, err
	}
	return func() {
		storeUnlock()
		s.mu.Unlock()
	}, nil
}

// Run performs one full sync now and returns its report (status succeeded,
// failed or held). While another run is in progress it returns a *BusyError.
// The returned error is otherwise only about recording the run.
func (s *Syncer) Run(ctx context.Context, settings *schema.Settings, opt Options) (*Report, error) {
	p, err := s.Begin(ctx, opt)
	if err != nil {
		return nil, err
	}
	return p.Complete(ctx, settings)
}

// Pending is a run that Begin recorded and holds the run lock for. Complete
// performs it; every Pending must be completed, exactly once.
type Pending struct {
	s      *Syncer
	opt    Options
	r      *Report
	unlock func()
}

// ID is the run's id in the store.
func (p *Pending) ID() int64 { return p.r.ID }

// Begin takes the run lock and records a run as running, so that a caller
// can hand out its id before the sync itself (Complete) runs, e.g. in the
// background. While another run is in progress it returns a *BusyError.
func (s *Syncer) Begin(ctx context.Context, opt Options) (p *Pending, err error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer func() {
		if p == nil { // an error or a panic: never keep the lock
			unlock()
		}
	}()
	// Holding the lock, no other process is syncing: a run still marked
	// running was left by a process that stopped.
	if n, err := s.store.MarkInterruptedRuns(ctx); err != nil {
		return nil, fmt.Errorf("record interrupted runs: %w", err)
	} else if n > 0 {
		s.log.Warn("runs interrupted by a stopped process marked failed", "runs", n)
	}
	if opt.Trigger == "" {
		opt.Trigger = TriggerManual
	}
	r := &Report{Trigger: opt.Trigger, DryRun: opt.DryRun, Status: StatusRunning,
		StartedAt: s.now().UTC(), SkippedEntries: []SkippedEntry{}}
	if err := s.store.StartRun(ctx, r); err != nil {
		return nil, fmt.Errorf("record sync run: %w", err)
	}
	s.live.reset()
	s.running.Store(r.ID)
	return &Pending{s: s, opt: opt, r: r, unlock: unlock}, nil
}

// Complete performs the run Begin recorded, records its report and releases
// the run lock. The returned error is only about recording the run.
func (p *Pending) Complete(ctx context.Context, settings *schema.Settings) (*Report, error) {
	s, opt, r := p.s, p.opt, p.r
	defer func() {
		s.running.Store(0)
		p.unlock()
	}()
	log := s.log.With("run", r.ID, "trigger", r.Trigger, "dryRun", r.DryRun)
	log.Info("sync started")

	plan, tx, err := s.plan(ctx, settings, opt, r)
	// A transaction that was not committed is rolled back (after a commit
	// this does nothing), before anything else needs the store's writer.
	rollback := func() {
		if tx != nil {
			if err := tx.Rollback(); err != nil {
				log.Error("roll back the run", "err", err)
			}
		}
	}
	defer rollback()
	r.FinishedAt = s.now().UTC()
	r.DurationMs = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
	applied := false
	switch {
	case err != nil:
		r.Status, r.Error = StatusFailed, err.Error()
	case r.Status == StatusHeld:
	case opt.DryRun:
		r.Status = StatusSucceeded
	default:
		r.Status = StatusSucceeded
		s.live.setPhase(PhaseWriting)
		if err := s.commit(ctx, tx, plan, r); err != nil {
			r.Status, r.Error = StatusFailed, fmt.Sprintf("write to the state store: %v", err)
			rollback()
			break
		}
		applied = tx != nil || !plan.Empty()
		// Push after every successful run, changed or not: changes a
		// previous push could not deliver are still pending.
		s.push(ctx, settings, opt, r, log)
	}
	rollback()
	if !applied || r.Push != nil {
		if err := s.store.FinishRun(context.WithoutCancel(ctx), r); err != nil {
			return r, fmt.Errorf("record sync run %d: %w", r.ID, err)
		}
	}
	s.logDone(log, r)
	return r, nil
}

// commit writes the plan and the report in tx, the run's transaction, or in
// a new one when nothing was written during the read and the plan is not empty.
func (s *Syncer) commit(ctx context.Context, tx Tx, p *Plan, r *Report) error {
	if tx == nil {
		if p.Empty() {
			return nil
		}
		var err error
		if tx, err = s.store.Begin(ctx); err != nil {
			return err
		}
		defer tx.Rollback()
	}
	return tx.Commit(p, r)
}

func (s *Syncer) push(ctx context.Context, settings *schema.Settings, opt Options, r *Report, log *slog.Logger) {
	if s.pusher == nil || !settings.Push.Enabled {
		return
	}
	s.live.setPhase(PhasePushing)
	rep, err := s.pusher.Push(ctx, settings, r.ID, opt.FullPush)
	if err != nil {
		log.Error("push failed", "err", err)
		rep, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	r.Push = rep
}

func (s *Syncer) logDone(log *slog.Logger, r *Report) {
	attrs := []any{"status", r.Status, "users", r.Users, "groups", r.Groups,
		"usersCreated", r.UsersCreated, "usersUpdated", r.UsersUpdated, "usersDeleted", r.UsersDeleted,
		"groupsCreated", r.GroupsCreated, "groupsUpdated", r.GroupsUpdated, "groupsDeleted", r.GroupsDeleted,
		"skipped", r.Skipped, "durationMs", r.DurationMs}
	if r.Error != "" {
		log.Warn("sync ended", append(attrs, "error", r.Error)...)
		return
	}
	log.Info("sync ended", attrs...)
}

func (r *Report) skip(dn, reason string) {
	r.Skipped++
	if len(r.SkippedEntries) < maxSkippedListed {
		r.SkippedEntries = append(r.SkippedEntries, SkippedEntry{DN: dn, Reason: reason})
	}
}

// plan reads the directory and the store and computes what changes. It sets
// r's counts, and r.Status to held when deletion safety stops the run. New
// users may already be in tx, the run's open transaction, which the caller
// commits or rolls back (tx is nil when nothing was written yet).
func (s *Syncer) plan(ctx context.Context, settings *schema.Settings, opt Options, r *Report) (p *Plan, tx Tx, err error) {
	dir, err := s.dial(ctx, settings)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", settings.Connection.URL, err)
	}
	defer dir.Close()

	// The store's snapshot loads while the groups are read.
	type loaded struct {
		snap *Snapshot
		err  error
	}
	snapshot := make(chan loaded, 1)
	go func() {
		snap, err := s.store.Snapshot(ctx)
		snapshot <- loaded{snap, err}
	}()
	log := s.log.With("run", r.ID)
	readStart := time.Now()
	now := s.now().UTC()
	ids := newIDGen(now)
	d := &directory{protect: map[string]bool{}}
	var readErr error
	if settings.Groups.Enabled {
		readErr = readGroups(ctx, dir, settings, r, d, s.newProgress(log, PhaseReadingGroups))
	}
	got := <-snapshot
	switch {
	case readErr != nil:
		return nil, nil, readErr
	case got.err != nil:
		return nil, nil, fmt.Errorf("read the state store: %w", got.err)
	}
	snap := got.snap
	dedupeGroups(d, snap, r)
	gStored, gm := matchGroups(d, snap, ids)

	st := newUserStream(settings, r, snap, d, nil, now, ids)
	st.linkGroups(keptGroups(d, snap))
	st.anc = ancestors(d.groups)
	st.progress, st.streamMin = s.newProgress(log, PhaseReadingUsers), s.streamMin
	if !opt.DryRun {
		st.open = func() (Tx, error) { return s.store.Begin(ctx) }
	}
	defer func() {
		if st.out != nil {
			_ = st.out.wait() // the transaction is the caller's now
		}
		tx = st.tx
		if v := recover(); v != nil {
			if tx != nil {
				_ = tx.Rollback() // the caller never gets it: free the store's writer
			}
			panic(v)
		}
	}()
	if err := dir.Users(ctx, st.add); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return nil, nil, we
		}
		return nil, nil, fmt.Errorf("read users under %q: %w", settings.Users.UsersDN, err)
	}
	if rc, ok := dir.(referralCounter); ok {
		r.Referrals = rc.Referrals()
	}
	dangling, err := st.finish()
	if err != nil {
		return nil, nil, err
	}
	r.DanglingMembers += dangling
	r.Users, r.Groups = st.users(), len(d.groups)
	log.Info("directory read", "users", r.Users, "groups", r.Groups, "skipped", r.Skipped,
		"usersWritten", st.created-len(st.pending)-len(st.deferred), "ms", time.Since(readStart).Milliseconds())

	s.live.setPhase(PhaseComparing)
	p = &Plan{GroupMembers: map[string][]Member{}}
	md := st.md
	md.kept = diffGroups(p, d, st.anc, snap, gStored, gm, st.id, now)
	md.kept += st.plan(p)
	countPlan(p, r, st.created)
	r.KeptUnchanged = md.kept
	// The plan holds what the commit needs: let the collector have the
	// stream's indexes and the snapshot before the store's bulk work.
	storedUsers, storedGroups := len(snap.Users), len(snap.Groups)
	st.release()
	snap.Users = nil

	if held := holdReason(p, storedUsers, storedGroups, r, settings, opt); held != "" {
		r.Status, r.Error = StatusHeld, held
		return p, nil, nil
	}
	if err := s.membershipChanges(ctx, p, md, d, r); err != nil {
		return nil, nil, err
	}
	return p, nil, nil
}

// readGroups streams the groups from the directory and maps them. Any read
// error fails the whole run: a partial read must never look complete.
func readGroups(ctx context.Context, dir Directory, settings *schema.Settings, r *Report, d *directory, progress *progress) error {
	err := dir.Groups(ctx, func(e *schema.Entry) error {
		progress.tick()
		g, err := schema.MapGroup(e, settings)
		if err != nil {
			r.skip(e.DN, entryReason(err))
			d.protect[NormalizeDN(e.DN)] = true
			return nil
		}
		r.DanglingMembers += g.Dropped // member values that were not valid text
		d.groups = append(d.groups, mappedGroup{Group: g,
			dnNorm: NormalizeDN(g.DN), nameNorm: strings.ToLower(g.Name)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read groups under %q: %w", settings.Groups.GroupsDN, err)
	}
	return nil
}

// writeError is a failure to write new users while the directory is read.
type writeError struct{ err error }

func (e *writeError) Error() string { return fmt.Sprintf("write to the state store: %v", e.err) }
func (e *writeError) Unwrap() error { return e.err }

// progress logs how far a long read has come, at most every progressEvery.
// referralCounter is a Directory that counts the search references it skipped.
type referralCounter interface{ Referrals() int }

func entryReason(err error) string {
	var ee *schema.EntryError
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return err.Error()
}

// entryKeys are what deduplication compares of a user or a group.
type entryKeys struct {
	name   string // folded userName or group name
	ext    string
	dnNorm string
	dn     string // as read, for the report
	shown  string // userName or group name as read, for the report
}

// dedupe skips entries whose folded name, DN or externalId an earlier entry
// already has. Of entries sharing a name, the one the store already holds
// under it keeps it; otherwise the one whose DN sorts first (folded) wins.
// held maps each stored name to its holder's matching key. Skipped entries'
// DNs go to protect, so that the stored resources they are stay untouched.
func dedupe[T any](items []T, held map[string]string, keys func(*T) entryKeys, what string, r *Report, protect map[string]bool) []T {
	holds := func(k entryKeys) bool {
		h := held[k.name]
		return h != "" && (h == holderKey(k.ext, k.dnNorm) || h == holderKey("", k.dnNorm))
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := keys(&items[i]), keys(&items[j])
		if a.name != b.name {
			return a.name < b.name
		}
		if ah, bh := holds(a), holds(b); ah != bh {
			return ah
		}
		return a.dnNorm < b.dnNorm
	})
	seenExt := make(map[string]bool, len(items))
	seenDN := make(map[string]bool, len(items))
	out := items[:0]
	var last entryKeys
	for i := range items {
		k := keys(&items[i])
		reason := ""
		switch {
		case len(out) > 0 && last.name == k.name:
			reason = fmt.Sprintf("duplicate %s %q: already used by %s", what, k.shown, last.dn)
		case k.ext != "" && seenExt[k.ext]:
			reason = fmt.Sprintf("duplicate externalId %q", k.ext)
		case seenDN[k.dnNorm]:
			reason = "duplicate DN"
		}
		if reason != "" {
			r.skip(k.dn, reason)
			protect[k.dnNorm] = true
			continue
		}
		seenExt[k.ext], seenDN[k.dnNorm] = true, true
		out = append(out, items[i])
		last = k
	}
	return out
}

// dedupeGroups applies the same rule to group names: SCIM targets key groups
// by displayName.
func dedupeGroups(d *directory, snap *Snapshot, r *Report) {
	held := make(map[string]string, len(snap.Groups))
	for i := range snap.Groups {
		g := &snap.Groups[i]
		held[g.NameNorm] = holderKey(g.ExternalID, g.DNNorm)
	}
	d.groups = dedupe(d.groups, held, func(g *mappedGroup) entryKeys {
		return entryKeys{name: g.nameNorm, ext: g.ExternalID, dnNorm: g.dnNorm, dn: g.DN, shown: g.Name}
	}, "group name", r, d.protect)
}

func holderKey(ext, dnNorm string) string {
	if ext != "" {
		return "x:" + ext
	}
	return "d:" + dnNorm
}

// keptGroups finds the stored groups whose entries were skipped this run:
// they stay members of their groups.
func keptGroups(d *directory, snap *Snapshot) map[string]Member {
	k := map[string]Member{}
	for i := range snap.Groups {
		if g := &snap.Groups[i]; d.protect[g.DNNorm] {
			k[g.DNNorm] = Member{ID: g.ID, Type: MemberGroup}
			d.keptGroups = true
		}
	}
	return k
}

// matcher finds the stored resource an entry is: by externalId, then by DN
// (the DN only when one side has no externalId, so that an entry deleted and
// re-created under the same DN is a new resource).
type matcher struct {
	byExt, byDN map[string]int
	exts        []string
	used        []bool
}

func newMatcher(n int, key func(i int) (ext, dn string)) *matcher {
	m := &matcher{byExt: make(map[string]int, n), byDN: make(map[string]int, n), exts: make([]string, n), used: make([]bool, n)}
	for i := 0; i < n; i++ {
		ext, dn := key(i)
		if ext != "" {
			m.byExt[ext] = i
		}
		m.byDN[dn] = i
		m.exts[i] = ext
	}
	return m
}

func (m *matcher) match(ext, dn string) (int, bool) {
	if ext != "" {
		if i, ok := m.byExt[ext]; ok && !m.used[i] {
			m.used[i] = true
			return i, true
		}
	}
	if i, ok := m.byDN[dn]; ok && !m.used[i] && (ext == "" || m.exts[i] == "") {
		m.used[i] = true
		return i, true
	}
	return 0, false
}

// membershipDelta is what the diff learns about changed memberships, for
// membershipChanges: the groups new users joined (with the count of pairs),
// and the new memberships of stored users whose groups changed.
type membershipDelta struct {
	created      map[string]int32 // group id → new users in it
	createdPairs int
	changed      map[string][]Membership
	kept         int // stored resources kept unchanged because their entry was skipped
}

// addCreated counts the memberships of a new user (n = 1), or takes them back (n = -1).
func (md *membershipDelta) addCreated(ms []Membership, n int32) {
	md.createdPairs += int(n) * len(ms)
	for _, m := range ms {
		md.created[m.GroupID] += n
	}
}

// matchGroups assigns each group read its stored group's id, or a new one;
// stored[i] is the index of group i's stored group, or -1.
func matchGroups(d *directory, snap *Snapshot, ids *idGen) (stored []int, gm *matcher) {
	gm = newMatcher(len(snap.Groups), func(i int) (string, string) { return snap.Groups[i].ExternalID, snap.Groups[i].DNNorm })
	stored = make([]int, len(d.groups))
	for i := range d.groups {
		g := &d.groups[i]
		if si, ok := gm.match(g.ExternalID, g.dnNorm); ok {
			g.id, stored[i] = snap.Groups[si].ID, si
		} else {
			g.id, stored[i] = ids.next(), -1
		}
	}
	return stored, gm
}

// diffGroups adds the groups' part of the run to p once the users are read
// (members are user ids, userID maps an accepted user entry to its id), and
// returns the number of stored groups kept because their entries were skipped.
func diffGroups(p *Plan, d *directory, anc [][]int32, snap *Snapshot, gStored []int, gm *matcher, userID func(int32) string, now time.Time) (kept int) {
	var h hasher
	for i := range d.groups {
		g := &d.groups[i]
		members := groupMembers(g, userID, d.groups)
		row := GroupRow{ID: g.id, ExternalID: g.ExternalID, DN: g.DN, DNNorm: g.dnNorm, Name: g.Name,
			NameNorm: g.nameNorm, Hash: h.group(g), MembersHash: h.members(members), Created: now, LastModified: now}
		row.Version = h.version(row.Hash, row.MembersHash)
		si := gStored[i]
		if si < 0 {
			p.CreateGroups = append(p.CreateGroups, row)
			p.GroupMembers[row.ID] = members
			p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: row.ID, Op: OpCreate, Name: row.Name})
			continue
		}
		old := &snap.Groups[si]
		if old.Hash == row.Hash && old.MembersHash == row.MembersHash {
			continue
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
	for i := range gm.used {
		if !gm.used[i] {
			g := &snap.Groups[i]
			if d.protect[g.DNNorm] {
				kept++
				continue
			}
			p.DeleteGroups = append(p.DeleteGroups, g.ID)
			p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: g.ID, Op: OpDelete, Name: g.NameNorm})
		}
	}
	// A kept group's own members were not read: the nesting through it is
	// only known to the store, so the stored closure stays until it is read again.
	if !d.keptGroups && (len(p.CreateGroups) > 0 || len(p.DeleteGroups) > 0 || len(p.GroupMembers) > 0) {
		p.Ancestors = make(map[string][]string)
		for gi, as := range anc {
			if len(as) == 0 {
				continue
			}
			ids := make([]string, len(as))
			for i, a := range as {
				ids[i] = d.groups[a].id
			}
			sort.Strings(ids)
			p.Ancestors[d.groups[gi].id] = ids
		}
	}
	return kept
}

func countPlan(p *Plan, r *Report, usersCreated int) {
	r.UsersCreated, r.UsersDeleted = usersCreated, len(p.DeleteUsers)
	r.GroupsCreated, r.GroupsDeleted = len(p.CreateGroups), len(p.DeleteGroups)
	r.UsersUpdated, r.GroupsUpdated = 0, len(p.UpdateGroups)
	for _, c := range p.Changes {
		if c.ResourceType == MemberUser && c.Op == OpUpdate {
			r.UsersUpdated++
		}
	}
}

// holdReason says why deletion safety holds the run, or "" to go on.
func holdReason(p *Plan, storedUsers, storedGroups int, r *Report, settings *schema.Settings, opt Options) string {
	if opt.AllowDeletes {
		return ""
	}
	if r.Users == 0 && storedUsers > 0 {
		return fmt.Sprintf("held: the directory returned no users while the store has %d; check users.usersDn and users.filter, or approve with --allow-deletes", storedUsers)
	}
	if settings.Groups.Enabled && r.Groups == 0 && storedGroups > 0 {
		return fmt.Sprintf("held: the directory returned no groups while the store has %d; check groups.groupsDn and groups.filter, or approve with --allow-deletes", storedGroups)
	}
	max := settings.Sync.MaxDeletes
	if n := len(p.DeleteUsers); n > max {
		return fmt.Sprintf("held: the run would delete %d users, more than sync.maxDeletes (%d); approve with --allow-deletes", n, max)
	}
	if n := len(p.DeleteGroups); n > max {
		return fmt.Sprintf("held: the run would delete %d groups, more than sync.maxDeletes (%d); approve with --allow-deletes", n, max)
	}
	return ""
}

// membershipChanges records a members change for every group whose
// transitive users changed, and counts changed (user, group) pairs.
func (s *Syncer) membershipChanges(ctx context.Context, p *Plan, md *membershipDelta, d *directory, r *Report) error {
	ids := make([]string, 0, len(md.changed)+len(p.DeleteUsers))
	for _, u := range p.UpdateUsers {
		if _, ok := md.changed[u.ID]; ok {
			ids = append(ids, u.ID)
		}
	}
	ids = append(ids, p.DeleteUsers...)
	old := map[string][]Membership{}
	if len(ids) > 0 {
		var err error
		if old, err = s.store.Memberships(ctx, ids); err != nil {
			return fmt.Errorf("read stored memberships: %w", err)
		}
	}
	skip := map[string]bool{} // groups whose create/delete change already covers members
	for _, c := range p.Changes {
		if c.ResourceType == MemberGroup && (c.Op == OpCreate || c.Op == OpDelete || c.Op == OpMembers) {
			skip[c.ResourceID] = true
		}
	}
	affected := map[string]bool{}
	touch := func(gid string) {
		r.MembershipsChanged++
		if !skip[gid] {
			affected[gid] = true
		}
	}
	diffSets := func(before, after []Membership) {
		b := make(map[string]bool, len(before))
		for _, m := range before {
			b[m.GroupID] = true
		}
		a := make(map[string]bool, len(after))
		for _, m := range after {
			a[m.GroupID] = true
			if !b[m.GroupID] {
				touch(m.GroupID)
			}
		}
		for _, m := range before {
			if !a[m.GroupID] {
				touch(m.GroupID)
			}
		}
	}
	r.MembershipsChanged += md.createdPairs
	for gid, n := range md.created {
		if n > 0 && !skip[gid] {
			affected[gid] = true
		}
	}
	for _, id := range ids {
		diffSets(old[id], md.changed[id])
	}
	names := make(map[string]string, len(d.groups))
	for i := range d.groups {
		names[d.groups[i].id] = d.groups[i].Name
	}
	extra := make([]string, 0, len(affected))
	for gid := range affected {
		extra = append(extra, gid)
	}
	sort.Strings(extra)
	for _, gid := range extra {
		p.Changes = append(p.Changes, Change{ResourceType: MemberGroup, ResourceID: gid, Op: OpMembers, Name: names[gid]})
	}
	return nil
}

var randRead = rand.Read

// formatUUID writes b in the 8-4-4-4-12 hex form.
func formatUUID(b *[16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
