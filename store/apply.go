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
		{"users", len(p.CreateUsers)}, {"group_members", members}, {"changes", logged},
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

// userArgs are the column values of u. The hashes are written compact (a
// million user rows make most of the store), as 16-byte blobs; scanUser and
// Snapshot read them and the earlier hex text alike. dn_norm is always
// written: changed-entries passes look users up by it (users_dn_norm).
func userArgs(u *bridge.UserRow) []any {
	return []any{u.ID, u.ExternalID, u.DN, u.DNNorm, u.UserName, u.UserNameNorm, u.GivenName, u.FamilyName,
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
	// One statement per group and member type, the ids in one JSON array:
	// millions of rows bound one value at a time cost more in Go than in SQLite.
	st, err := a.tx.PrepareContext(a.ctx, `INSERT INTO group_members (group_id, member_id, member_type)
		SELECT ?, value, ? FROM json_each(?)`)
	if err != nil {
		return fmt.Errorf("insert members of groups: %w", err)
	}
	defer st.Close()
	var users, groups []string
	for _, id := range ids {
		users, groups = users[:0], groups[:0]
		for _, m := range gm[id] {
			switch m.Type {
			case bridge.MemberUser:
				users = append(users, m.ID)
			case bridge.MemberGroup:
				groups = append(groups, m.ID)
			default:
				return fmt.Errorf("insert members of group %s: member %s has type %q, not %s or %s", id, m.ID, m.Type, bridge.MemberUser, bridge.MemberGroup)
			}
		}
		for _, part := range []struct {
			typ string
			ids []string
		}{{bridge.MemberUser, users}, {bridge.MemberGroup, groups}} {
			if len(part.ids) == 0 {
				continue
			}
			if !slices.IsSorted(part.ids) {
				slices.Sort(part.ids) // the key's order: the rows append
			}
			if _, err := st.ExecContext(a.ctx, id, part.typ, idsJSON(part.ids)); err != nil {
				return fmt.Errorf("insert members of group %s: %w", id, err)
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
