package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/strpool"
)

var _ bridge.Store = (*DB)(nil)

// Snapshot loads the matching keys and hashes of every stored user and group,
// in id order.
func (db *DB) Snapshot(ctx context.Context) (*bridge.Snapshot, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback()
	var nu, ng int
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups)").Scan(&nu, &ng); err != nil {
		return nil, fmt.Errorf("snapshot: count: %w", err)
	}
	snap := &bridge.Snapshot{Users: make([]bridge.StoredUser, 0, nu), Groups: make([]bridge.StoredGroup, 0, ng)}
	var pool strpool.Pool // a million users are then a few thousand objects
	err = eachRow(ctx, tx, "SELECT id, external_id, dn_norm, user_name_norm, member_key, hash, groups_hash FROM users ORDER BY id",
		func(rows *sql.Rows) error {
			var u bridge.StoredUser
			var id, ext, dn, name, key, hash, groupsHash sql.RawBytes
			if err := rows.Scan(&id, &ext, &dn, &name, &key, &hash, &groupsHash); err != nil {
				return err
			}
			u.ID, u.ExternalID, u.DNNorm, u.UserNameNorm, u.MemberKey = pool.Bytes(id), pool.Bytes(ext), pool.Bytes(dn), pool.Bytes(name), pool.Bytes(key)
			if u.Hash, err = bridge.ParseDigest(hash); err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			if u.GroupsHash, err = bridge.ParseDigest(groupsHash); err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			snap.Users = append(snap.Users, u)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("snapshot users: %w", err)
	}
	err = eachRow(ctx, tx, "SELECT id, external_id, dn_norm, name_norm, hash, members_hash, created FROM groups ORDER BY id",
		func(rows *sql.Rows) error {
			var g bridge.StoredGroup
			var created string
			if err := rows.Scan(&g.ID, &g.ExternalID, &g.DNNorm, &g.NameNorm, &g.Hash, &g.MembersHash, &created); err != nil {
				return err
			}
			if g.Created, err = parseTS(created); err != nil {
				return fmt.Errorf("group %s: %w", g.ID, err)
			}
			snap.Groups = append(snap.Groups, g)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("snapshot groups: %w", err)
	}
	return snap, nil
}

// eachRow runs query and calls fn for every row.
func eachRow(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Memberships returns the stored memberships of the given users: the groups
// that list them as members (direct) and those groups' ancestors in the
// nesting closure (indirect unless also direct), each group once, in group id
// order. Users without any are absent.
func (db *DB) Memberships(ctx context.Context, userIDs []string) (map[string][]bridge.Membership, error) {
	out := make(map[string][]bridge.Membership)
	if len(userIDs) == 0 {
		return out, nil
	}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer tx.Rollback()
	groups, err := transitiveGroups(ctx, tx, userIDs)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	for uid, gs := range groups {
		slices.SortFunc(gs, byID)
		ms := make([]bridge.Membership, len(gs))
		for i, g := range gs {
			ms[i] = bridge.Membership{GroupID: g.id, Direct: g.direct}
		}
		out[uid] = ms
	}
	return out, nil
}

// StartRun records r as running (setting r.Status, and r.StartedAt when zero)
// and assigns r.ID.
func (db *DB) StartRun(ctx context.Context, r *bridge.Report) error {
	r.Status = bridge.StatusRunning
	if r.StartedAt.IsZero() {
		r.StartedAt = now()
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("start run: encode report: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO sync_runs (trigger, dry_run, status, started_at, report)
		VALUES (?, ?, ?, ?, ?)`, r.Trigger, r.DryRun, r.Status, formatTS(r.StartedAt), string(doc))
	if err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	return nil
}

// FinishRun records the final state of run r.ID: status, finish time and report.
func (db *DB) FinishRun(ctx context.Context, r *bridge.Report) error {
	if err := finishRun(ctx, db.w, r); err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func finishRun(ctx context.Context, e execer, r *bridge.Report) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	res, err := e.ExecContext(ctx, `UPDATE sync_runs SET status = ?, finished_at = ?, report = ? WHERE id = ?`,
		r.Status, formatTS(r.FinishedAt), string(doc), r.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errors.New("no such run")
	}
	return nil
}

// Apply writes the plan and records run r in one transaction: all or nothing.
// Deletions go first, then updates, then insertions, so a username may move
// between users (or to a new user) within one plan. A large insertion into a
// table holding fewer rows (the first sync) rebuilds the table's secondary
// indexes once at the end instead of updating them row by row. A plan that
// writes nothing only records the run. With r nil, no run is recorded and
// changes get run id 0.
func (db *DB) Apply(ctx context.Context, p *bridge.Plan, r *bridge.Report) error {
	if p == nil || p.Empty() {
		if r == nil {
			return nil
		}
		return db.FinishRun(ctx, r)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return tx.Commit(p, r)
}

// Begin opens one run's write transaction (see bridge.Tx). It holds the
// store's one writer connection until Commit or Rollback.
func (db *DB) Begin(ctx context.Context) (bridge.Tx, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("apply plan: begin: %w", err)
	}
	return &runTx{db: db, a: applier{ctx: ctx, tx: tx, bulk: map[string]bool{}}}, nil
}

// runTx is a run's open write transaction.
type runTx struct {
	db      *DB
	a       applier
	users   *batcher // users created while the directory is still being read
	changes *batcher // and their create changes
	at      string   // the time of those changes
	// firstSeq is the change log's last seq before this transaction's
	// streamed changes; takenBack are users deleted again, whose changes
	// go at commit, in one pass over this run's changes.
	firstSeq  int64
	takenBack []string
	done      bool
}

// CreateUsers inserts new users in the order given (ids ascending append to
// the table). The first call that brings as many rows as the table holds,
// and at least bulkMinRows, rebuilds the users' indexes at Commit instead.
func (t *runTx) CreateUsers(runID int64, rows []bridge.UserRow) error {
	if t.done {
		return errTxDone
	}
	if t.users == nil {
		if err := t.a.bulkLoad("users", len(rows)); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
		t.users = newBatcher(t.a.ctx, t.a.tx, "INSERT INTO users ("+userCols+") VALUES ", 19)
		t.changes = newBatcher(t.a.ctx, t.a.tx, changeInsert, 6)
		t.at = formatTS(now())
		if err := t.a.tx.QueryRowContext(t.a.ctx, "SELECT coalesce(max(seq), 0) FROM changes").Scan(&t.firstSeq); err != nil {
			return fmt.Errorf("append change log: %w", err)
		}
	}
	for i := range rows {
		if err := t.users.add(userArgs(&rows[i])...); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
	}
	for i := range rows {
		u := &rows[i]
		if err := t.changes.add(runID, bridge.MemberUser, u.ID, bridge.OpCreate, u.UserName, t.at); err != nil {
			return fmt.Errorf("append change log: %w", err)
		}
	}
	return nil
}

// DeleteCreated removes users this transaction created (an entry that lost
// its username to a duplicate read later). They are in no group yet.
func (t *runTx) DeleteCreated(ids []string) error {
	if t.done {
		return errTxDone
	}
	if err := t.flushUsers(); err != nil {
		return err
	}
	res, err := t.a.tx.ExecContext(t.a.ctx, "DELETE FROM users WHERE id IN (SELECT value FROM json_each(?))", idsJSON(ids))
	if err != nil {
		return fmt.Errorf("take back %d created users: %w", len(ids), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("take back %d created users: %w", len(ids), err)
	} else if n != int64(len(ids)) {
		return fmt.Errorf("take back %d created users: %d were stored", len(ids), n)
	}
	t.takenBack = append(t.takenBack, ids...)
	return nil
}

// dropTakenBack deletes the create changes of the users taken back.
func (t *runTx) dropTakenBack() error {
	if len(t.takenBack) == 0 {
		return nil
	}
	if _, err := t.a.tx.ExecContext(t.a.ctx, `DELETE FROM changes WHERE seq > ? AND resource_type = ?
		AND resource_id IN (SELECT value FROM json_each(?))`, t.firstSeq, bridge.MemberUser, idsJSON(t.takenBack)); err != nil {
		return fmt.Errorf("take back %d created users' changes: %w", len(t.takenBack), err)
	}
	return nil
}

func (t *runTx) flushUsers() error {
	if t.users == nil {
		return nil
	}
	if err := t.users.flush(); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	if err := t.changes.flush(); err != nil {
		return fmt.Errorf("append change log: %w", err)
	}
	return nil
}

// closeUsers ends the streamed insertions.
func (t *runTx) closeUsers() {
	if t.users != nil {
		t.users.close()
		t.changes.close()
		t.users, t.changes = nil, nil
	}
}

// Commit writes the rest of the plan, records run r (unless nil) and commits.
func (t *runTx) Commit(p *bridge.Plan, r *bridge.Report) error {
	if t.done {
		return errTxDone
	}
	defer t.Rollback()
	if err := t.flushUsers(); err != nil {
		return fmt.Errorf("apply plan: %w", err)
	}
	t.closeUsers()
	if err := t.dropTakenBack(); err != nil {
		return fmt.Errorf("apply plan: %w", err)
	}
	var runID int64
	if r != nil {
		runID = r.ID
	}
	if p == nil {
		p = &bridge.Plan{}
	}
	t.a.p = p
	if err := t.a.apply(runID); err != nil {
		return fmt.Errorf("apply plan: %w", err)
	}
	if r != nil {
		r.FinishedAt = now()
		r.DurationMs = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		if err := finishRun(t.a.ctx, t.a.tx, r); err != nil {
			return fmt.Errorf("apply plan: record run %d: %w", r.ID, err)
		}
	}
	if err := t.a.tx.Commit(); err != nil {
		return fmt.Errorf("apply plan: commit: %w", err)
	}
	t.done = true
	t.db.gen.bump()
	return nil
}

// Rollback discards the transaction; after Commit it does nothing.
func (t *runTx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	t.closeUsers()
	if err := t.a.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("roll back the run: %w", err)
	}
	return nil
}

var errTxDone = errors.New("the run's transaction has ended")

type applier struct {
	ctx     context.Context
	tx      *sql.Tx
	p       *bridge.Plan
	bulk    map[string]bool // tables bulkLoad has decided on
	dropped [][2]string     // indexes to rebuild: name, CREATE statement
}

func (a *applier) apply(runID int64) error {
	p := a.p
	if err := a.deleteIDs("users", p.DeleteUsers); err != nil {
		return err
	}
	if err := a.deleteIDs("groups", p.DeleteGroups); err != nil {
		return err
	}
	var members int
	for _, ms := range p.GroupMembers {
		members += len(ms)
	}
	for _, b := range []struct {
		table string
		rows  int
	}{
		{"users", len(p.CreateUsers)}, {"group_members", members}, {"changes", len(p.Changes)},
	} {
		if err := a.bulkLoad(b.table, b.rows); err != nil {
			return err
		}
	}
	steps := []func() error{a.updateGroups, a.insertGroups, a.updateUsers, a.insertUsers,
		a.replaceGroupMembers, a.replaceClosure, func() error { return a.changes(runID) }, a.restoreIndexes}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// bulkMinRows is the least number of rows an insertion must add to a table
// before its secondary indexes are dropped and rebuilt around it.
const bulkMinRows = 10_000

// bulkLoad prepares table for inserting rows new rows: when they are many
// and at least as many as the table holds (an initial sync), the table's
// secondary indexes are dropped now and rebuilt by restoreIndexes, which
// sorts once instead of inserting each key at a random place. A rebuilt
// UNIQUE index still refuses duplicates.
func (a *applier) bulkLoad(table string, rows int) error {
	if rows < bulkMinRows || a.bulk[table] {
		return nil
	}
	a.bulk[table] = true
	var n int
	// table is one of three constants.
	if err := a.tx.QueryRowContext(a.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		return fmt.Errorf("count %s: %w", table, err)
	}
	if rows < n {
		return nil
	}
	q, err := a.tx.QueryContext(a.ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", table)
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", table, err)
	}
	var idx [][2]string
	for q.Next() {
		var name, def string
		if err := q.Scan(&name, &def); err != nil {
			q.Close()
			return fmt.Errorf("list indexes of %s: %w", table, err)
		}
		idx = append(idx, [2]string{name, def})
	}
	if err := errors.Join(q.Err(), q.Close()); err != nil {
		return fmt.Errorf("list indexes of %s: %w", table, err)
	}
	for _, ix := range idx {
		if _, err := a.tx.ExecContext(a.ctx, `DROP INDEX "`+strings.ReplaceAll(ix[0], `"`, `""`)+`"`); err != nil {
			return fmt.Errorf("drop index %s for a bulk load: %w", ix[0], err)
		}
		a.dropped = append(a.dropped, ix)
	}
	return nil
}

// restoreIndexes rebuilds the indexes bulkLoad dropped.
func (a *applier) restoreIndexes() error {
	for _, ix := range a.dropped {
		if _, err := a.tx.ExecContext(a.ctx, ix[1]); err != nil {
			return fmt.Errorf("rebuild index %s: %w", ix[0], err)
		}
	}
	return nil
}

// deleteIDs deletes users or groups by id in one statement. Their own
// memberships, members and closure rows cascade; their rows as members of
// other groups go too, so that no group lists a deleted user or group.
func (a *applier) deleteIDs(table string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	doc := idsJSON(ids)
	memberType := bridge.MemberUser
	if table == "groups" {
		memberType = bridge.MemberGroup
	}
	if _, err := a.tx.ExecContext(a.ctx, `DELETE FROM group_members WHERE member_type = ?
		AND member_id IN (SELECT value FROM json_each(?))`, memberType, doc); err != nil {
		return fmt.Errorf("delete %d %s from the groups they are in: %w", len(ids), table, err)
	}
	// table is one of two constants.
	if _, err := a.tx.ExecContext(a.ctx, "DELETE FROM "+table+" WHERE id IN (SELECT value FROM json_each(?))", doc); err != nil {
		return fmt.Errorf("delete %d %s: %w", len(ids), table, err)
	}
	return nil
}

const groupCols = "id, external_id, dn, dn_norm, name, name_norm, hash, members_hash, version, created, last_modified"

func groupArgs(g *bridge.GroupRow) []any {
	return []any{g.ID, g.ExternalID, g.DN, g.DNNorm, g.Name, g.NameNorm, g.Hash, g.MembersHash, g.Version,
		formatTS(g.Created), formatTS(g.LastModified)}
}

const userCols = "id, external_id, dn, dn_norm, user_name, user_name_norm, given_name, family_name, display_name, " +
	"email, active, employee_number, department, member_key, hash, groups_hash, version, created, last_modified"

// userColsCreated is the place of created in userCols.
const userColsCreated = 17

func userArgs(u *bridge.UserRow) []any {
	return []any{u.ID, u.ExternalID, u.DN, u.DNNorm, u.UserName, u.UserNameNorm, u.GivenName, u.FamilyName,
		u.DisplayName, u.Email, u.Active, u.EmployeeNumber, u.Department, u.MemberKey, u.Hash, u.GroupsHash,
		u.Version, formatTS(u.Created), formatTS(u.LastModified)}
}

// setList turns "id, a, b" into "a = ?, b = ?" (every column but the id).
func setList(cols string) string {
	names := strings.Split(cols, ", ")[1:]
	for i, n := range names {
		names[i] = n + " = ?"
	}
	return strings.Join(names, ", ")
}

func (a *applier) updateGroups() error {
	if len(a.p.UpdateGroups) == 0 {
		return nil
	}
	st, err := a.tx.PrepareContext(a.ctx, "UPDATE groups SET "+setList(groupCols)+" WHERE id = ?")
	if err != nil {
		return fmt.Errorf("update groups: %w", err)
	}
	defer st.Close()
	for i := range a.p.UpdateGroups {
		g := &a.p.UpdateGroups[i]
		args := groupArgs(g)
		if err := execOne(a.ctx, st, append(args[1:], g.ID)); err != nil {
			return fmt.Errorf("update group %s (%s): %w", g.ID, g.DN, err)
		}
	}
	return nil
}

func (a *applier) insertGroups() error {
	if len(a.p.CreateGroups) == 0 {
		return nil
	}
	b := newBatcher(a.ctx, a.tx, "INSERT INTO groups ("+groupCols+") VALUES ", 11)
	defer b.close()
	for _, i := range sortedBy(a.p.CreateGroups, func(g *bridge.GroupRow) string { return g.ID }) {
		if err := b.add(groupArgs(&a.p.CreateGroups[i])...); err != nil {
			return fmt.Errorf("insert groups: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert groups: %w", err)
	}
	return nil
}

// updateUsers rewrites changed users. Users whose userName changes first park
// their user_name_norm at a value no real name takes ("\x00" + id), so that
// names can be swapped or handed on without tripping the unique index.
func (a *applier) updateUsers() error {
	us := a.p.UpdateUsers
	if len(us) == 0 {
		return nil
	}
	park, err := a.tx.PrepareContext(a.ctx, "UPDATE users SET user_name_norm = char(0) || id WHERE id = ? AND user_name_norm <> ?")
	if err != nil {
		return fmt.Errorf("update users: %w", err)
	}
	defer park.Close()
	for i := range us {
		if _, err := park.ExecContext(a.ctx, us[i].ID, us[i].UserNameNorm); err != nil {
			return fmt.Errorf("update user %s (%s): %w", us[i].ID, us[i].DN, err)
		}
	}
	// Every column but the id and created, which an update leaves.
	st, err := a.tx.PrepareContext(a.ctx, "UPDATE users SET "+strings.Replace(setList(userCols), "created = ?, ", "", 1)+" WHERE id = ?")
	if err != nil {
		return fmt.Errorf("update users: %w", err)
	}
	defer st.Close()
	for i := range us {
		args := userArgs(&us[i])
		args = slices.Delete(args, userColsCreated, userColsCreated+1)
		if err := execOne(a.ctx, st, append(args[1:], us[i].ID)); err != nil {
			return fmt.Errorf("update user %s (%s, userName %q): %w", us[i].ID, us[i].DN, us[i].UserName, err)
		}
	}
	return nil
}

// execOne runs an UPDATE that must hit exactly one row.
func execOne(ctx context.Context, st *sql.Stmt, args []any) error {
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return errors.New("not stored")
	}
	return nil
}

func (a *applier) insertUsers() error {
	if len(a.p.CreateUsers) == 0 {
		return nil
	}
	b := newBatcher(a.ctx, a.tx, "INSERT INTO users ("+userCols+") VALUES ", 19)
	defer b.close()
	for _, i := range sortedBy(a.p.CreateUsers, func(u *bridge.UserRow) string { return u.ID }) {
		if err := b.add(userArgs(&a.p.CreateUsers[i])...); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	return nil
}

// replaceGroupMembers replaces the direct members of the groups in p.GroupMembers.
func (a *applier) replaceGroupMembers() error {
	gm := a.p.GroupMembers
	if len(gm) == 0 {
		return nil
	}
	created := make(map[string]struct{}, len(a.p.CreateGroups))
	for i := range a.p.CreateGroups {
		created[a.p.CreateGroups[i].ID] = struct{}{}
	}
	ids := sortedKeys(gm)
	var old []string
	for _, id := range ids {
		if _, ok := created[id]; !ok {
			old = append(old, id)
		}
	}
	if err := a.deleteWhereIn("group_members", "group_id", old); err != nil {
		return err
	}
	if id, err := a.firstMissing("groups", old); err != nil {
		return err
	} else if id != "" {
		return fmt.Errorf("members of group %s: the group is not stored", id)
	}
	b := newBatcher(a.ctx, a.tx, "INSERT INTO group_members (group_id, member_id, member_type) VALUES ", 3)
	defer b.close()
	for _, id := range ids {
		ms := gm[id]
		if !slices.IsSortedFunc(ms, cmpMember) {
			ms = slices.SortedFunc(slices.Values(ms), cmpMember)
		}
		for _, m := range ms {
			if err := b.add(id, m.ID, m.Type); err != nil {
				return fmt.Errorf("insert members of groups: %w", err)
			}
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert members of groups: %w", err)
	}
	return nil
}

// replaceClosure replaces the whole nesting closure when the plan carries
// one. It is small (nested groups × depth), so it is rewritten, not diffed.
func (a *applier) replaceClosure() error {
	anc := a.p.Ancestors
	if anc == nil {
		return nil
	}
	if _, err := a.tx.ExecContext(a.ctx, "DELETE FROM group_closure"); err != nil {
		return fmt.Errorf("clear the nesting closure: %w", err)
	}
	ids := sortedKeys(anc)
	// Check references first: an error then names the group and its ancestor.
	seen := make(map[string]struct{}, len(ids))
	var refs []string
	for _, id := range ids {
		for _, g := range append([]string{id}, anc[id]...) {
			if _, ok := seen[g]; !ok {
				seen[g] = struct{}{}
				refs = append(refs, g)
			}
		}
	}
	if gid, err := a.firstMissing("groups", refs); err != nil {
		return err
	} else if gid != "" {
		if _, ok := anc[gid]; ok {
			return fmt.Errorf("nesting of group %s: the group is not stored", gid)
		}
		for _, id := range ids {
			if slices.Contains(anc[id], gid) {
				return fmt.Errorf("nesting of group %s: ancestor group %s, which is not stored", id, gid)
			}
		}
	}
	b := newBatcher(a.ctx, a.tx, "INSERT INTO group_closure (group_id, ancestor_id) VALUES ", 2)
	defer b.close()
	for _, id := range ids {
		as := anc[id]
		if !slices.IsSorted(as) {
			as = slices.Sorted(slices.Values(as))
		}
		for _, g := range as {
			if err := b.add(id, g); err != nil {
				return fmt.Errorf("insert the nesting closure: %w", err)
			}
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert the nesting closure: %w", err)
	}
	return nil
}

// firstMissing returns the first of ids that table (a constant) does not hold, or "".
func (a *applier) firstMissing(table string, ids []string) (string, error) {
	if len(ids) == 0 {
		return "", nil
	}
	doc, err := json.Marshal(ids)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", table, err)
	}
	var id string
	err = a.tx.QueryRowContext(a.ctx, "SELECT j.value FROM json_each(?) j WHERE NOT EXISTS (SELECT 1 FROM "+table+
		" t WHERE t.id = j.value) ORDER BY j.key LIMIT 1", string(doc)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("check %s: %w", table, err)
	}
	return id, nil
}

// deleteWhereIn deletes the rows of table whose col is one of vals (constants
// from this file name table and col).
func (a *applier) deleteWhereIn(table, col string, vals []string) error {
	if len(vals) == 0 {
		return nil
	}
	doc, err := json.Marshal(vals)
	if err != nil {
		return fmt.Errorf("clear %s: %w", table, err)
	}
	if _, err := a.tx.ExecContext(a.ctx, "DELETE FROM "+table+" WHERE "+col+" IN (SELECT value FROM json_each(?))", string(doc)); err != nil {
		return fmt.Errorf("clear %s of %d rows: %w", table, len(vals), err)
	}
	return nil
}

const changeInsert = "INSERT INTO changes (run_id, resource_type, resource_id, op, name, created) VALUES "

// changes appends the plan's change log entries under run runID.
func (a *applier) changes(runID int64) error {
	if len(a.p.Changes) == 0 {
		return nil
	}
	at := formatTS(now())
	b := newBatcher(a.ctx, a.tx, changeInsert, 6)
	defer b.close()
	for _, c := range a.p.Changes {
		if err := b.add(runID, c.ResourceType, c.ResourceID, c.Op, c.Name, at); err != nil {
			return fmt.Errorf("append change log: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("append change log: %w", err)
	}
	return nil
}

func cmpMember(a, b bridge.Member) int { return strings.Compare(a.ID, b.ID) }

// sortedBy returns the indexes of xs in key order: B-trees fill faster in key order.
func sortedBy[T any](xs []T, key func(*T) string) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int { return strings.Compare(key(&xs[i]), key(&xs[j])) })
	return idx
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// batchRows is how many rows one multi-row INSERT carries: fewer statement
// executions, well under SQLite's 32766 bound parameters.
const batchRows = 64

// batcher inserts rows with a prepared multi-row INSERT, reused for every
// full batch; the remainder goes in one last statement.
type batcher struct {
	ctx    context.Context
	tx     *sql.Tx
	prefix string
	ncols  int
	full   *sql.Stmt
	args   []any
}

func newBatcher(ctx context.Context, tx *sql.Tx, prefix string, ncols int) *batcher {
	return &batcher{ctx: ctx, tx: tx, prefix: prefix, ncols: ncols, args: make([]any, 0, ncols*batchRows)}
}

func (b *batcher) query(rows int) string {
	tuple := "(?" + strings.Repeat(", ?", b.ncols-1) + ")"
	return b.prefix + tuple + strings.Repeat(", "+tuple, rows-1)
}

func (b *batcher) add(vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) < b.ncols*batchRows {
		return nil
	}
	if b.full == nil {
		st, err := b.tx.PrepareContext(b.ctx, b.query(batchRows))
		if err != nil {
			return err
		}
		b.full = st
	}
	if _, err := b.full.ExecContext(b.ctx, b.args...); err != nil {
		return b.locate(err)
	}
	b.args = b.args[:0]
	return nil
}

func (b *batcher) flush() error {
	if len(b.args) == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(b.ctx, b.query(len(b.args)/b.ncols), b.args...); err != nil {
		return b.locate(err)
	}
	b.args = b.args[:0]
	return nil
}

// locate names the row of a failed batch that fails on its own. SQLite undid
// the failed statement only; the caller rolls the whole transaction back.
func (b *batcher) locate(batchErr error) error {
	one := b.query(1)
	for i := 0; i+b.ncols <= len(b.args); i += b.ncols {
		row := b.args[i : i+b.ncols]
		if _, err := b.tx.ExecContext(b.ctx, one, row...); err != nil {
			return fmt.Errorf("row (%v, %v): %w", row[0], row[1], err)
		}
	}
	return batchErr
}

func (b *batcher) close() {
	if b.full != nil {
		b.full.Close()
	}
}
