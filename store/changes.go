package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/scimbridge/scimbridge/bridge"
)

// What changed-entries passes and live streams read and keep (bridge.ChangeStore):
// bounded look-ups by index, and the change position stored in the run's
// own transaction (bridge.ChangeTx).
//
// A pass reads through the writer connection, between its own writes (the
// run lock keeps other passes and syncs out). A read connection throws its
// whole page cache away at its first read after any write: at 8 MB, a
// madvise system call per 64 KiB freed and the pages read again, 60-70 ms
// of a pass at 100,000 users. The writer's cache stays valid across its own
// commits.

var (
	_ bridge.ChangeStore = (*DB)(nil)
	_ bridge.ChangeTx    = (*runTx)(nil)
)

// ChangePosition returns the stored change position and its mechanism (nil when none).
func (db *DB) ChangePosition(ctx context.Context) ([]byte, string, error) {
	var pos []byte
	var mech string
	err := db.w.QueryRowContext(ctx, "SELECT position, mechanism FROM change_position WHERE id = 1").Scan(&pos, &mech)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the change position: %w", err)
	}
	if pos == nil {
		pos = []byte{}
	}
	return pos, mech, nil
}

// GroupGraph returns every stored group and every group-in-group edge.
func (db *DB) GroupGraph(ctx context.Context) ([]bridge.GroupRow, []bridge.GroupEdge, error) {
	rows, err := db.w.QueryContext(ctx, "SELECT "+groupCols+" FROM groups ORDER BY id")
	if err != nil {
		return nil, nil, fmt.Errorf("read groups: %w", err)
	}
	var groups []bridge.GroupRow
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read groups: %w", err)
		}
		groups = append(groups, g.GroupRow)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("read groups: %w", err)
	}
	var edges []bridge.GroupEdge
	// In the order of the member, then the group, each by id.
	err = eachRow(ctx, db.w, `SELECT p.id, c.id FROM group_subgroups gm CROSS JOIN groups p ON p.rid = gm.group_rid
		CROSS JOIN groups c ON c.rid = gm.member_rid ORDER BY c.id, p.id`, func(r *sql.Rows) error {
		var e bridge.GroupEdge
		if err := r.Scan(&e.Parent, &e.Child); err != nil {
			return err
		}
		edges = append(edges, e)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read nested groups: %w", err)
	}
	return groups, edges, nil
}

// UsersByKeys returns the stored users holding any of the values. Each key
// is looked up by its own index (an OR of them would scan the table).
func (db *DB) UsersByKeys(ctx context.Context, k bridge.UserKeys) ([]bridge.UserRow, error) {
	var parts []string
	var args []any
	for _, c := range []struct {
		col  string
		vals []string
	}{{"id", k.IDs}, {"external_id", k.ExternalIDs}, {"dn_norm", k.DNs}, {"user_name_norm", k.Names},
		{lowerFunc + "(trim(member_key))", k.MemberKeys}} {
		vals := nonEmpty(c.vals)
		if len(vals) == 0 {
			continue
		}
		parts = append(parts, "SELECT id FROM users WHERE "+c.col+" IN (SELECT value FROM json_each(?))")
		args = append(args, idsJSON(vals))
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return db.userRows(ctx, "SELECT "+userCols+" FROM users WHERE id IN ("+strings.Join(parts, " UNION ")+")", args...)
}

// UsersByID returns the stored users with these ids.
func (db *DB) UsersByID(ctx context.Context, ids []string) ([]bridge.UserRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return db.userRows(ctx, "SELECT "+userCols+" FROM users WHERE id IN (SELECT value FROM json_each(?))", idsJSON(ids))
}

func (db *DB) userRows(ctx context.Context, q string, args ...any) ([]bridge.UserRow, error) {
	var out []bridge.UserRow
	err := eachRow(ctx, db.w, q, func(r *sql.Rows) error {
		u, err := scanUser(r)
		if err != nil {
			return err
		}
		out = append(out, u.UserRow)
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	return out, nil
}

// MembersOf returns the stored members of these groups, and their dangling
// member values (ID "", the value in DNNorm).
func (db *DB) MembersOf(ctx context.Context, groupIDs []string) (map[string][]bridge.MemberRef, error) {
	out := map[string][]bridge.MemberRef{}
	if len(groupIDs) == 0 {
		return out, nil
	}
	doc := idsJSON(groupIDs)
	err := eachRow(ctx, db.w, membersOf("SELECT value FROM json_each(?)")+" ORDER BY 1, 2", func(r *sql.Rows) error {
		var gid string
		var m bridge.MemberRef
		var display sql.RawBytes
		if err := r.Scan(&gid, &m.ID, &m.Type, &display); err != nil {
			return err
		}
		out[gid] = append(out[gid], m)
		return nil
	}, doc, doc)
	if err != nil {
		return nil, fmt.Errorf("read group members: %w", err)
	}
	err = eachRow(ctx, db.w, "SELECT group_id, ref FROM dangling_members WHERE group_id IN (SELECT value FROM json_each(?))", func(r *sql.Rows) error {
		var gid string
		var m bridge.MemberRef
		if err := r.Scan(&gid, &m.DNNorm); err != nil {
			return err
		}
		out[gid] = append(out[gid], m)
		return nil
	}, doc)
	if err != nil {
		return nil, fmt.Errorf("read dangling member values: %w", err)
	}
	return out, nil
}

// GroupsWith returns the groups with any of memberIDs as a direct member or
// any of refs as a dangling member value, in id order.
func (db *DB) GroupsWith(ctx context.Context, memberIDs, refs []string) ([]string, error) {
	if len(memberIDs) == 0 && len(refs) == 0 {
		return nil, nil
	}
	members := idsJSON(memberIDs)
	out, err := queryStrings(ctx, db.w, "groups with members", `
		SELECT g.id FROM json_each(?) j CROSS JOIN users m ON m.id = j.value
		CROSS JOIN group_users gm ON gm.user_rid = m.rid CROSS JOIN groups g ON g.rid = gm.group_rid
		UNION SELECT g.id FROM json_each(?) j CROSS JOIN groups m ON m.id = j.value
		CROSS JOIN group_subgroups gm ON gm.member_rid = m.rid CROSS JOIN groups g ON g.rid = gm.group_rid
		UNION SELECT group_id FROM dangling_members WHERE ref IN (SELECT value FROM json_each(?))
		ORDER BY 1`, members, members, idsJSON(refs))
	return out, err
}

// DirectGroups returns the groups each user is a direct member of, in id order.
func (db *DB) DirectGroups(ctx context.Context, userIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(userIDs) == 0 {
		return out, nil
	}
	err := eachRow(ctx, db.w, `SELECT u.id, g.id FROM json_each(?) j CROSS JOIN users u ON u.id = j.value
		CROSS JOIN group_users gm ON gm.user_rid = u.rid CROSS JOIN groups g ON g.rid = gm.group_rid
		ORDER BY 1, 2`, func(r *sql.Rows) error {
		var u, g string
		if err := r.Scan(&u, &g); err != nil {
			return err
		}
		out[u] = append(out[u], g)
		return nil
	}, idsJSON(userIDs))
	if err != nil {
		return nil, fmt.Errorf("read direct groups: %w", err)
	}
	return out, nil
}

// SkippedEntries returns the duplicates the runs so far left out.
func (db *DB) SkippedEntries(ctx context.Context) ([]bridge.SkippedKeys, error) {
	var out []bridge.SkippedKeys
	err := eachRow(ctx, db.w, "SELECT kind, dn_norm, external_id, name_norm, member_key FROM skipped_entries ORDER BY kind, dn_norm", func(r *sql.Rows) error {
		var k bridge.SkippedKeys
		var kind string
		if err := r.Scan(&kind, &k.DNNorm, &k.ExternalID, &k.NameNorm, &k.MemberKey); err != nil {
			return err
		}
		k.Group = kind == bridge.MemberGroup
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read skipped entries: %w", err)
	}
	return out, nil
}

// IDsByUUID returns the resources of type typ recorded for these directory UUIDs.
func (db *DB) IDsByUUID(ctx context.Context, typ string, uuids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(uuids) == 0 {
		return out, nil
	}
	err := eachRow(ctx, db.w, `SELECT uuid, resource_id FROM directory_uuids
		WHERE resource_type = ? AND uuid IN (SELECT value FROM json_each(?))`, func(r *sql.Rows) error {
		var u, id string
		if err := r.Scan(&u, &id); err != nil {
			return err
		}
		out[u] = id
		return nil
	}, typ, idsJSON(uuids))
	if err != nil {
		return nil, fmt.Errorf("read directory UUIDs: %w", err)
	}
	return out, nil
}

// SaveChangeState writes st in the run's transaction (see bridge.ChangeState).
func (t *runTx) SaveChangeState(st *bridge.ChangeState) error {
	if t.done {
		return errTxDone
	}
	ctx, tx := t.a.ctx, t.a.tx
	exec := func(what, q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("save the change state: %s: %w", what, err)
		}
		return nil
	}
	if st.Full {
		if err := exec("clear skipped entries", "DELETE FROM skipped_entries"); err != nil {
			return err
		}
		if err := exec("clear dangling members", "DELETE FROM dangling_members"); err != nil {
			return err
		}
	} else {
		if err := exec("unskip users", "DELETE FROM skipped_entries WHERE kind = 'User' AND dn_norm IN (SELECT value FROM json_each(?))", idsJSON(st.Unskipped)); err != nil {
			return err
		}
		if err := exec("unskip groups", "DELETE FROM skipped_entries WHERE kind = 'Group' AND dn_norm IN (SELECT value FROM json_each(?))", idsJSON(st.UnskippedGroups)); err != nil {
			return err
		}
		if err := exec("clear dangling members", "DELETE FROM dangling_members WHERE group_id IN (SELECT value FROM json_each(?))", idsJSON(st.DanglingGroups)); err != nil {
			return err
		}
	}
	for _, k := range st.Skipped {
		kind := bridge.MemberUser
		if k.Group {
			kind = bridge.MemberGroup
		}
		if err := exec("skipped entry", `INSERT OR REPLACE INTO skipped_entries (kind, dn_norm, external_id, name_norm, member_key)
			VALUES (?, ?, ?, ?, ?)`, kind, k.DNNorm, k.ExternalID, k.NameNorm, k.MemberKey); err != nil {
			return err
		}
	}
	if len(st.Dangling) > 0 {
		b := newBatcher(ctx, tx, "INSERT OR IGNORE INTO dangling_members (group_id, ref) VALUES ", 2)
		defer b.close()
		for _, d := range st.Dangling {
			if err := b.add(d.GroupID, d.Ref); err != nil {
				return fmt.Errorf("save the change state: dangling members: %w", err)
			}
		}
		if err := b.flush(); err != nil {
			return fmt.Errorf("save the change state: dangling members: %w", err)
		}
	}
	for _, u := range st.UUIDs {
		if err := exec("directory UUID", `INSERT OR REPLACE INTO directory_uuids (resource_type, uuid, resource_id)
			VALUES (?, ?, ?)`, u.Type, u.UUID, u.ID); err != nil {
			return err
		}
	}
	if st.Position == nil {
		return exec("clear the position", "DELETE FROM change_position")
	}
	return exec("the position", `INSERT INTO change_position (id, mechanism, position, updated) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET mechanism = excluded.mechanism, position = excluded.position, updated = excluded.updated`,
		st.Mechanism, st.Position, formatTS(now()))
}

func nonEmpty(vals []string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
