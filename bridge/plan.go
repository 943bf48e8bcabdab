package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// plan reads the directory and the store and computes what changes. It sets
// r's counts, and r.Status to held when deletion safety stops the run. New
// users may already be in tx, the run's open transaction, which the caller
// commits or rolls back (tx is nil when nothing was written yet).
func (s *Syncer) plan(ctx context.Context, settings *schema.Settings, opt Options, r *Report) (p *Plan, tx Tx, err error) {
	var state *ChangeState
	if s.tracking(settings, opt) && !opt.DryRun {
		// Taken before reading: changes made during the read come again.
		if state, err = s.startState(ctx, settings); err != nil {
			return nil, nil, err
		}
	} else if cs, ok := s.store.(ChangeStore); ok && !opt.DryRun {
		// Tracking is off: a position kept from before would go stale.
		if pos, _, err := cs.ChangePosition(ctx); err != nil {
			return nil, nil, fmt.Errorf("read the change position: %w", err)
		} else if pos != nil {
			state = &ChangeState{Full: true}
		}
	}
	dir, err := s.dial(ctx, settings)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", settings.Connection.URL, err)
	}
	defer dir.Close()
	log := s.log.With("run", r.ID)
	readStart := time.Now()
	now := s.now().UTC()
	ids := newIDGen(now)
	skips := &skipList{}
	defer skips.report(r)

	snap, side, err := s.readGroupsAndSnapshot(ctx, dir, settings, r, ids, skips, log)
	if err != nil {
		return nil, nil, err
	}
	gi := newGroupIndex(side.groups, snap)
	// Linked first: the groups' member values go before the stream's
	// indexes come.
	gi.link(side.kept, byUID(settings))
	st := newUserStream(settings, r, snap, gi, now, ids)
	st.progress, st.streamMin = s.newProgress(log, PhaseReadingUsers), s.streamMin
	st.trackDangling = state != nil
	if !opt.DryRun {
		st.open = func() (Tx, error) { return s.store.Begin(ctx, changeLog(settings)) }
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
	v, dangling, err := st.finish(skips)
	if err != nil {
		return nil, nil, err
	}
	r.DanglingMembers += dangling
	r.Users, r.Groups = st.users(v), len(gi.groups)
	log.Info("directory read", "users", r.Users, "groups", r.Groups, "skipped", len(skips.entries),
		"ms", time.Since(readStart).Milliseconds())
	// The skipped list is complete: its reasons are put in words while the
	// indexes that say who won are there; then they go, before the plan
	// takes its memory.
	skips.report(r)
	st.dropIndexes()

	s.live.setPhase(PhaseComparing)
	p = &Plan{GroupMembers: map[string][]Member{}}
	diffGroups(p, side, gi, snap, st.id, now)
	if state != nil {
		state.Skipped, state.Dangling = skips.keys, st.dangling
		p.state = state
	}
	r.KeptUnchanged = len(side.keptStored) + st.plan(p, v)
	countPlan(p, r, st.created)
	skips.report(r)
	md := st.md
	// The plan holds what the commit needs: let the collector have the
	// stream's indexes and the snapshot before the store's bulk work.
	storedUsers, storedGroups := len(snap.Users), len(snap.Groups)
	st.release()
	snap.Users = nil

	if st.out != nil {
		// Many new users: the store's bulk work (index sorts) comes next.
		// Handing the read's memory back to the OS first keeps the run's
		// peak RSS at the read's instead of the read's plus the sorts'.
		debug.FreeOSMemory()
		if err := st.out.wait(); err != nil {
			return nil, nil, &writeError{err}
		}
	}
	if held := holdReason(p, storedUsers, storedGroups, r, settings, opt); held != "" {
		r.Status, r.Error = StatusHeld, held
		return p, nil, nil
	}
	if err := s.membershipChanges(ctx, p, md, gi.groups, r); err != nil {
		return nil, nil, err
	}
	return p, nil, nil
}

// readGroupsAndSnapshot reads and decides the groups while the store's
// snapshot loads beside them.
func (s *Syncer) readGroupsAndSnapshot(ctx context.Context, dir Directory, settings *schema.Settings, r *Report, ids *idGen, skips *skipList, log *slog.Logger) (*Snapshot, *groupSide, error) {
	type loaded struct {
		snap *Snapshot
		err  error
	}
	snapshot := make(chan loaded, 1)
	go func() {
		snap, err := s.store.Snapshot(ctx)
		snapshot <- loaded{snap, err}
	}()
	gr := &groupRead{}
	var readErr error
	if settings.Groups.Enabled {
		gr, readErr = readGroups(ctx, dir, settings, r, s.newProgress(log, PhaseReadingGroups))
	}
	got := <-snapshot
	switch {
	case readErr != nil:
		return nil, nil, readErr
	case got.err != nil:
		return nil, nil, fmt.Errorf("read the state store: %w", got.err)
	}
	return got.snap, decideGroups(gr, got.snap, ids, skips), nil
}

// skipList collects a run's skipped entries. The report lists them in DN
// order, so that it does not depend on the order the directory returned
// them. A user that lost a duplicate gets its reason in words only if it is
// listed: a misconfigured attribute can make hundreds of thousands of them.
type skipList struct {
	// keys are the keys of the entries skipped as duplicates, for later
	// changed-entries passes (ChangeState.Skipped).
	keys    []SkippedKeys
	entries []skipEntry
	explain func(candID) string // the reason of a lost user candidate
	done    bool
}

type skipEntry struct {
	dn     string
	reason string // "" while lost is set
	lost   candID
}

func (l *skipList) add(dn, reason string) {
	l.entries = append(l.entries, skipEntry{dn: dn, reason: reason, lost: noCand})
}

// addLost lists user candidate c, which lost a duplicate.
func (l *skipList) addLost(dn string, c candID) {
	l.entries = append(l.entries, skipEntry{dn: dn, lost: c})
}

func (l *skipList) reason(e *skipEntry) string {
	if e.reason == "" && e.lost != noCand {
		e.reason = l.explain(e.lost)
	}
	return e.reason
}

// report sets r's skipped entries: the count, and the first maxSkippedListed.
// It runs once; later calls do nothing.
func (l *skipList) report(r *Report) {
	if l.done {
		return
	}
	l.done = true
	sort.Slice(l.entries, func(i, j int) bool {
		a, b := &l.entries[i], &l.entries[j]
		if a.dn != b.dn {
			return a.dn < b.dn
		}
		return l.reason(a) < l.reason(b)
	})
	r.Skipped = len(l.entries)
	r.SkippedEntries = r.SkippedEntries[:0]
	for i := range l.entries[:min(len(l.entries), maxSkippedListed)] {
		e := &l.entries[i]
		r.SkippedEntries = append(r.SkippedEntries, SkippedEntry{DN: e.dn, Reason: l.reason(e)})
	}
}

// writeError is a failure to write new users while the directory is read.
type writeError struct{ err error }

func (e *writeError) Error() string { return fmt.Sprintf("write to the state store: %v", e.err) }
func (e *writeError) Unwrap() error { return e.err }

// referralCounter is a Directory that counts the search references it skipped.
type referralCounter interface{ Referrals() int }

func entryReason(err error) string {
	var ee *schema.EntryError
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return err.Error()
}

// membershipDelta is what the diff learns about changed memberships, for
// membershipChanges: the groups new users joined (with the count of pairs),
// and the new memberships of stored users whose groups changed.
type membershipDelta struct {
	created      map[string]int32 // group id → new users in it
	createdPairs int
	changed      map[string][]Membership
}

// addCreated counts the memberships of a new user (n = 1), or takes them back (n = -1).
func (md *membershipDelta) addCreated(ms []Membership, n int32) {
	md.createdPairs += int(n) * len(ms)
	for _, m := range ms {
		md.created[m.GroupID] += n
	}
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
	return overMaxDeletes(p, settings, "the run", "approve with --allow-deletes")
}

// overMaxDeletes says why plan p is held when it deletes more users, or
// more groups, than sync.maxDeletes; "" when it does not.
func overMaxDeletes(p *Plan, settings *schema.Settings, what, approve string) string {
	max := settings.Sync.MaxDeletes
	if n := len(p.DeleteUsers); n > max {
		return fmt.Sprintf("held: %s would delete %d users, more than sync.maxDeletes (%d); %s", what, n, max, approve)
	}
	if n := len(p.DeleteGroups); n > max {
		return fmt.Sprintf("held: %s would delete %d groups, more than sync.maxDeletes (%d); %s", what, n, max, approve)
	}
	return ""
}

// membershipChanges records a members change for every group whose
// transitive users changed, and counts changed (user, group) pairs.
func (s *Syncer) membershipChanges(ctx context.Context, p *Plan, md *membershipDelta, groups []mappedGroup, r *Report) error {
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
	names := make(map[string]string, len(groups))
	for i := range groups {
		names[groups[i].id] = groups[i].Name
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
