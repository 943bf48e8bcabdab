package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scimbridge/scimbridge/bridge"
)

// How a run's plan is written: the applier, in one transaction.

type applier struct {
	ctx     context.Context
	tx      *sql.Tx
	p       *bridge.Plan
	bulk    map[string]bool // tables bulkLoad has decided on
	dropped []droppedIndex  // indexes to rebuild
	// noLog: no change log is kept (no push is configured, nobody would
	// read it); the push client's record of the shape it delivered goes
	// instead, so that a push enabled later starts with a full reconcile.
	noLog bool
	// users and groups map the ids of the rows this transaction writes
	// memberships of to their rowids.
	users, groups ridMap
}

func newApplier(ctx context.Context, tx *sql.Tx, noLog bool) applier {
	return applier{ctx: ctx, tx: tx, bulk: map[string]bool{}, noLog: noLog,
		users: newRIDMap("users"), groups: newRIDMap("groups")}
}

// droppedIndex is an index bulkLoad dropped, to be rebuilt.
type droppedIndex struct{ table, name, def string }

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
	logged := len(p.Changes)
	if a.noLog {
		logged = 0
	}
	for _, b := range []struct {
		table string
		rows  int
	}{
		{"users", len(p.CreateUsers)}, {"group_users", members}, {"changes", logged},
	} {
		if err := a.bulkLoad(b.table, b.rows); err != nil {
			return err
		}
	}
	steps := []func() error{a.updateGroups, a.insertGroups, a.updateUsers, a.insertUsers,
		a.replaceGroupMembers, a.replaceClosure, func() error { return a.changes(runID) },
		func() error { return a.restoreIndexes("") }}
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

// appendingIndexes are kept through a bulk load: their keys arrive in
// order. A run stamps every user it creates with one time, later than the
// stored ones, so those rows append to users_last_modified (equal keys go
// in rowid order) as they append to the table.
var appendingIndexes = map[string]bool{"users_last_modified": true}

// bulkLoad prepares table for inserting rows new rows: when they are many
// and at least as many as the table holds (an initial sync), the table's
// secondary indexes (but appendingIndexes) are dropped now and rebuilt by
// restoreIndexes, which sorts once instead of inserting each key at a
// random place. A rebuilt UNIQUE index still refuses duplicates.
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
	var idx []droppedIndex
	for q.Next() {
		ix := droppedIndex{table: table}
		if err := q.Scan(&ix.name, &ix.def); err != nil {
			q.Close()
			return fmt.Errorf("list indexes of %s: %w", table, err)
		}
		if !appendingIndexes[ix.name] {
			idx = append(idx, ix)
		}
	}
	if err := errors.Join(q.Err(), q.Close()); err != nil {
		return fmt.Errorf("list indexes of %s: %w", table, err)
	}
	for _, ix := range idx {
		if _, err := a.tx.ExecContext(a.ctx, `DROP INDEX "`+strings.ReplaceAll(ix.name, `"`, `""`)+`"`); err != nil {
			return fmt.Errorf("drop index %s for a bulk load: %w", ix.name, err)
		}
		a.dropped = append(a.dropped, ix)
	}
	return nil
}

// restoreIndexes rebuilds the indexes bulkLoad dropped from table ("": from
// every table).
func (a *applier) restoreIndexes(table string) error {
	var keep []droppedIndex
	for _, ix := range a.dropped {
		if table != "" && ix.table != table {
			keep = append(keep, ix)
			continue
		}
		if _, err := a.tx.ExecContext(a.ctx, ix.def); err != nil {
			return fmt.Errorf("rebuild index %s: %w", ix.name, err)
		}
	}
	a.dropped = keep
	return nil
}

// deleteIDs deletes users or groups by id, with their rows in the
// memberships and the closure: a deleted user or group is in no group, a
// deleted group has no members and is nobody's ancestor.
func (a *applier) deleteIDs(table string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	doc := idsJSON(ids)
	// table is one of two constants.
	rids := "(SELECT t.rid FROM json_each(?) j JOIN " + table + " t ON t.id = j.value)"
	deletes := []string{"DELETE FROM group_users WHERE user_rid IN " + rids}
	m := &a.users
	if table == "groups" {
		m = &a.groups
		deletes = []string{
			"DELETE FROM group_users WHERE group_rid IN " + rids,
			"DELETE FROM group_subgroups WHERE group_rid IN " + rids,
			"DELETE FROM group_subgroups WHERE member_rid IN " + rids,
			"DELETE FROM group_closure WHERE group_rid IN " + rids,
			"DELETE FROM group_closure WHERE ancestor_rid IN " + rids,
		}
	}
	for _, d := range deletes {
		if _, err := a.tx.ExecContext(a.ctx, d, doc); err != nil {
			return fmt.Errorf("delete the memberships of %d %s: %w", len(ids), table, err)
		}
	}
	if _, err := a.tx.ExecContext(a.ctx, "DELETE FROM "+table+" WHERE id IN (SELECT value FROM json_each(?))", doc); err != nil {
		return fmt.Errorf("delete %d %s: %w", len(ids), table, err)
	}
	m.forget(ids)
	return nil
}

const groupCols = "id, external_id, dn, dn_norm, name, name_norm, hash, members_hash, version, created, last_modified"

// groupInsert inserts groups with their rowids (rid, then groupCols).
const groupInsert = "INSERT INTO groups (rid, " + groupCols + ") VALUES "

func groupArgs(g *bridge.GroupRow) []any {
	return []any{g.ID, g.ExternalID, g.DN, g.DNNorm, g.Name, g.NameNorm, g.Hash, g.MembersHash, g.Version,
		formatTS(g.Created), formatTS(g.LastModified)}
}

const userCols = "id, external_id, dn, dn_norm, user_name, user_name_norm, given_name, family_name, display_name, " +
	"email, active, employee_number, department, member_key, hash, groups_hash, version, created, last_modified"

// userInsert inserts users with their rowids (rid, then userCols).
const userInsert = "INSERT INTO users (rid, " + userCols + ") VALUES "

// userColsCreated is the place of created in userCols.
const userColsCreated = 17

// userArgs are the column values of u. The hashes are written compact (a
// million user rows make most of the store), as 16-byte blobs; scanUser and
// Snapshot read them and the earlier hex text alike. dn_norm is always
// written: changed-entries passes look users up by it (users_dn_norm).
func userArgs(u *bridge.UserRow) []any {
	return userRowArgs(0, u)[1:]
}

// userRowArgs are the values of a new user row: its rowid, then userArgs.
func userRowArgs(rid int64, u *bridge.UserRow) []any {
	return []any{rid, u.ID, u.ExternalID, u.DN, u.DNNorm, u.UserName, u.UserNameNorm, u.GivenName, u.FamilyName,
		u.DisplayName, u.Email, u.Active, u.EmployeeNumber, u.Department, u.MemberKey, hashValue(u.Hash),
		hashValue(u.GroupsHash), u.Version, formatTS(u.Created), formatTS(u.LastModified)}
}

// hashValue stores a hash given in hex (as the bridge writes them) as its
// bytes, and any other text as it is.
func hashValue(h string) any {
	if d, err := bridge.ParseDigest([]byte(h)); err == nil {
		return d[:]
	}
	return h
}

// hashText reads a stored hash (hashValue) back as text.
func hashText(v any) (string, error) {
	switch v := v.(type) {
	case []byte:
		if len(v) != len(bridge.Digest{}) {
			return "", fmt.Errorf("stored hash of %d bytes, want %d", len(v), len(bridge.Digest{}))
		}
		return bridge.Digest(v).String(), nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("stored hash of type %T", v)
	}
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
	b := newBatcher(a.ctx, a.tx, groupInsert, 12)
	b.named = 1
	defer b.close()
	for _, i := range sortedBy(a.p.CreateGroups, func(g *bridge.GroupRow) string { return g.ID }) {
		g := &a.p.CreateGroups[i]
		rid, err := a.groups.assign(a.ctx, a.tx, g.ID)
		if err != nil {
			return fmt.Errorf("insert groups: %w", err)
		}
		if err := b.add(append([]any{rid}, groupArgs(g)...)...); err != nil {
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
	b := newBatcher(a.ctx, a.tx, userInsert, 20)
	b.named = 1
	defer b.close()
	for _, i := range sortedBy(a.p.CreateUsers, func(u *bridge.UserRow) string { return u.ID }) {
		u := &a.p.CreateUsers[i]
		rid, err := a.users.assign(a.ctx, a.tx, u.ID)
		if err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
		if err := b.add(userRowArgs(rid, u)...); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	return nil
}

// replaceGroupMembers replaces the direct members of the groups in
// p.GroupMembers, by rowid: the ids are mapped first, then the groups'
// old members go and their new ones are inserted.
func (a *applier) replaceGroupMembers() error {
	if len(a.p.GroupMembers) == 0 {
		return nil
	}
	groups, err := a.mapMembers(a.p.GroupMembers)
	if err != nil {
		return err
	}
	if err := a.clearMembers(groups); err != nil {
		return err
	}
	return a.insertMembers(groups)
}

// groupRIDs is a group's rowid and its direct members' rowids.
type groupRIDs struct {
	id            string
	rid           int64
	users, groups []int64
}

// mapMembers maps the ids of the groups in gm and of their members to
// rowids, refusing a group or member the store does not hold, and returns
// the groups in rowid order. Each member is looked up once in the maps
// (a first sync's hundreds of thousands of memberships all are there), and
// only those it lacks are looked up again after resolve.
func (a *applier) mapMembers(gm map[string][]bridge.Member) ([]groupRIDs, error) {
	ids := sortedKeys(gm)
	if id, err := a.groups.resolve(a.ctx, a.tx, ids); err != nil {
		return nil, fmt.Errorf("members of groups: %w", err)
	} else if id != "" {
		return nil, fmt.Errorf("members of group %s: the group is not stored", id)
	}
	out := make([]groupRIDs, len(ids))
	var unknownUsers, unknownGroups []string
	for i, id := range ids {
		g := &out[i]
		g.id, g.rid = id, a.groups.rid(id)
		for _, m := range gm[id] {
			switch m.Type {
			case bridge.MemberUser:
				rid, ok := a.users.get(m.ID)
				if !ok {
					unknownUsers = append(unknownUsers, m.ID)
				}
				g.users = append(g.users, rid)
			case bridge.MemberGroup:
				rid, ok := a.groups.get(m.ID)
				if !ok {
					unknownGroups = append(unknownGroups, m.ID)
				}
				g.groups = append(g.groups, rid)
			default:
				return nil, fmt.Errorf("insert members of group %s: member %s has type %q, not %s or %s", id, m.ID, m.Type, bridge.MemberUser, bridge.MemberGroup)
			}
		}
	}
	if len(unknownUsers)+len(unknownGroups) > 0 {
		if err := a.resolveMembers(gm, out, unknownUsers, unknownGroups); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(x, y groupRIDs) int { return compareRIDs(x.rid, y.rid) })
	return out, nil
}

// resolveMembers looks up the members mapMembers did not find (their
// rowids 0 in out; rowids start at 1).
func (a *applier) resolveMembers(gm map[string][]bridge.Member, out []groupRIDs, users, groups []string) error {
	for _, part := range []struct {
		m   *ridMap
		typ string
		ids []string
	}{{&a.users, bridge.MemberUser, users}, {&a.groups, bridge.MemberGroup, groups}} {
		missing, err := part.m.resolve(a.ctx, a.tx, part.ids)
		if err != nil {
			return fmt.Errorf("members of groups: %w", err)
		}
		if missing == "" {
			continue
		}
		for i := range out {
			if slices.Contains(gm[out[i].id], bridge.Member{ID: missing, Type: part.typ}) {
				return fmt.Errorf("members of group %s: %s %s is not stored", out[i].id, strings.ToLower(part.typ), missing)
			}
		}
	}
	for i := range out {
		g := &out[i]
		u, n := 0, 0
		for _, m := range gm[g.id] {
			if m.Type == bridge.MemberUser {
				if g.users[u] == 0 {
					g.users[u] = a.users.rid(m.ID)
				}
				u++
			} else {
				if g.groups[n] == 0 {
					g.groups[n] = a.groups.rid(m.ID)
				}
				n++
			}
		}
	}
	return nil
}

// clearMembers deletes the members of the groups that this transaction
// did not create.
func (a *applier) clearMembers(groups []groupRIDs) error {
	var old []int64
	for _, g := range groups {
		if !a.groups.assigned(g.rid) {
			old = append(old, g.rid)
		}
	}
	if len(old) == 0 {
		return nil
	}
	var buf []byte
	doc := ridsJSON(&buf, old)
	for _, table := range []string{"group_users", "group_subgroups"} {
		if _, err := a.tx.ExecContext(a.ctx, "DELETE FROM "+table+" WHERE group_rid IN (SELECT value FROM json_each(?))", doc); err != nil {
			return fmt.Errorf("clear the members of %d groups: %w", len(old), err)
		}
	}
	return nil
}

// insertMembers inserts the members of the groups (in rowid order), each
// group's users and groups in one statement each, their rowids sorted in a
// JSON array: the rows append, and millions of rows bound one value at a
// time cost more in Go than in SQLite.
func (a *applier) insertMembers(groups []groupRIDs) error {
	insUsers, err := a.tx.PrepareContext(a.ctx, "INSERT INTO group_users (group_rid, user_rid) SELECT ?, value FROM json_each(?)")
	if err != nil {
		return fmt.Errorf("insert members of groups: %w", err)
	}
	defer insUsers.Close()
	insGroups, err := a.tx.PrepareContext(a.ctx, "INSERT INTO group_subgroups (group_rid, member_rid) SELECT ?, value FROM json_each(?)")
	if err != nil {
		return fmt.Errorf("insert members of groups: %w", err)
	}
	defer insGroups.Close()
	var buf []byte
	for _, g := range groups {
		for _, part := range []struct {
			st   *sql.Stmt
			rids []int64
		}{{insUsers, g.users}, {insGroups, g.groups}} {
			if len(part.rids) == 0 {
				continue
			}
			slices.Sort(part.rids)
			if _, err := part.st.ExecContext(a.ctx, g.rid, ridsJSON(&buf, part.rids)); err != nil {
				return fmt.Errorf("insert members of group %s: %w", g.id, err)
			}
		}
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
	if gid, err := a.groups.resolve(a.ctx, a.tx, refs); err != nil {
		return fmt.Errorf("nesting of groups: %w", err)
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
	var pairs [][2]int64
	for _, id := range ids {
		for _, g := range anc[id] {
			pairs = append(pairs, [2]int64{a.groups.rid(id), a.groups.rid(g)})
		}
	}
	slices.SortFunc(pairs, func(x, y [2]int64) int {
		if c := compareRIDs(x[0], y[0]); c != 0 {
			return c
		}
		return compareRIDs(x[1], y[1])
	})
	b := newBatcher(a.ctx, a.tx, "INSERT INTO group_closure (group_rid, ancestor_rid) VALUES ", 2)
	defer b.close()
	for _, p := range pairs {
		if err := b.add(p[0], p[1]); err != nil {
			return fmt.Errorf("insert the nesting closure: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("insert the nesting closure: %w", err)
	}
	return nil
}

const changeInsert = "INSERT INTO changes (run_id, resource_type, resource_id, op, name, created) VALUES "

// PushMetaShape is the push client's record of the shape of what it
// delivered; a push whose shape differs reconciles everything.
const PushMetaShape = "shape"

// logGap makes the next push a full reconcile: the change log misses
// changes (it was not kept, or dropped).
func logGap(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM push_meta WHERE key = ?", PushMetaShape); err != nil {
		return fmt.Errorf("mark the change log incomplete: %w", err)
	}
	return nil
}

// changes appends the plan's change log entries under run runID; without a
// change log, it makes the next push a full reconcile instead.
func (a *applier) changes(runID int64) error {
	if a.noLog {
		return logGap(a.ctx, a.tx)
	}
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
	// named is the first of the two columns that name a row in an error
	// (the one after the rowid, where the rowid leads).
	named int
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
			return fmt.Errorf("row (%v, %v): %w", row[b.named], row[b.named+1], err)
		}
	}
	return batchErr
}

func (b *batcher) close() {
	if b.full != nil {
		b.full.Close()
	}
}
