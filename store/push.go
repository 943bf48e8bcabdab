package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
)

// This file is the push client's side of the store: the change log after its
// cursor, the current users and groups it pushes, and its bookkeeping of what
// the target holds (push_state, push_members, push_cursor, push_meta).

// Push statuses of PushState.Status.
const (
	PushPending   = "pending"   // a request may be in flight or was never answered
	PushDelivered = "delivered" // the target holds PushedBody
	PushFailed    = "failed"    // the last attempt failed; retried next run
	// PushDeprovisioned: deactivated at the target (push.deprovision "deactivate")
	// while still in the store, e.g. out of scope.
	PushDeprovisioned = "deprovisioned"
)

// PushChange is one change log entry with its sequence number.
type PushChange struct {
	Seq   int64
	RunID int64
	bridge.Change
}

// PushUser is a stored user and every group it is in (transitively).
type PushUser struct {
	bridge.UserRow
	Groups []bridge.Membership
}

// PushGroup is a stored group, its direct members and its transitive users.
type PushGroup struct {
	bridge.GroupRow
	Members []bridge.Member
	Users   []string // ids of every user in the group, directly or through nesting
}

// PushState is the push client's record of one resource at the target.
type PushState struct {
	ResourceType string // bridge.MemberUser or bridge.MemberGroup
	ResourceID   string
	RemoteID     string // the target's id, once known
	Name         string // userName or displayName used at the target
	PushedHash   string
	PushedBody   string // JSON of the representation last delivered
	Status       string // PushPending, PushDelivered or PushFailed
	Attempts     int
	LastError    string
	Updated      time.Time
}

func idsJSON(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // a []string always encodes
	return string(b)
}

func queryStrings(ctx context.Context, q *sql.DB, what, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// queryGrouped runs a query of (key, value) string rows and lists the values
// by key, in row order; what names the read in errors.
func queryGrouped(ctx context.Context, q *sql.DB, what, query string, args ...any) (map[string][]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out[k] = append(out[k], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// PushCursor returns the sequence number of the last change the push client
// has drained (0 before the first push).
func (db *DB) PushCursor(ctx context.Context) (int64, error) {
	var seq int64
	err := db.w.QueryRowContext(ctx, "SELECT seq FROM push_cursor WHERE id = 1").Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read push cursor: %w", err)
	}
	return seq, nil
}

// SetPushCursor records that the change log is drained up to seq and, in
// the same transaction, deletes the entries up to seq: nothing reads them
// again, and the log would otherwise grow with every run.
func (db *DB) SetPushCursor(ctx context.Context, seq int64) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("advance push cursor to %d: %w", seq, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO push_cursor (id, seq) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq`, seq); err != nil {
		return fmt.Errorf("advance push cursor to %d: %w", seq, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE seq <= ?", seq); err != nil {
		return fmt.Errorf("prune change log up to %d: %w", seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("advance push cursor to %d: %w", seq, err)
	}
	return nil
}

// PushChanges returns the change log entries after seq, in order.
func (db *DB) PushChanges(ctx context.Context, after int64) ([]PushChange, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT seq, run_id, resource_type, resource_id, op, name
		FROM changes WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return nil, fmt.Errorf("read change log after %d: %w", after, err)
	}
	defer rows.Close()
	var out []PushChange
	for rows.Next() {
		var c PushChange
		if err := rows.Scan(&c.Seq, &c.RunID, &c.ResourceType, &c.ResourceID, &c.Op, &c.Name); err != nil {
			return nil, fmt.Errorf("read change log: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return out, nil
}

// PushUsers loads the given users that exist, with their groups.
func (db *DB) PushUsers(ctx context.Context, ids []string) (map[string]*PushUser, error) {
	out := make(map[string]*PushUser, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.w.QueryContext(ctx, `SELECT id, external_id, dn, user_name, given_name, family_name, display_name,
		email, active, employee_number, department, version FROM users WHERE id IN (SELECT value FROM json_each(?))`, idsJSON(ids))
	if err != nil {
		return nil, fmt.Errorf("load users to push: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u := &PushUser{}
		if err := rows.Scan(&u.ID, &u.ExternalID, &u.DN, &u.UserName, &u.GivenName, &u.FamilyName, &u.DisplayName,
			&u.Email, &u.Active, &u.EmployeeNumber, &u.Department, &u.Version); err != nil {
			return nil, fmt.Errorf("load users to push: %w", err)
		}
		out[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load users to push: %w", err)
	}
	ms, err := db.Memberships(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, m := range ms {
		if u := out[id]; u != nil {
			u.Groups = m
		}
	}
	return out, nil
}

// PushGroups loads the given groups that exist, with their direct members and
// transitive users.
func (db *DB) PushGroups(ctx context.Context, ids []string) (map[string]*PushGroup, error) {
	out := make(map[string]*PushGroup, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	set := idsJSON(ids)
	rows, err := db.w.QueryContext(ctx, `SELECT id, external_id, dn, name, version FROM groups
		WHERE id IN (SELECT value FROM json_each(?))`, set)
	if err != nil {
		return nil, fmt.Errorf("load groups to push: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		g := &PushGroup{}
		if err := rows.Scan(&g.ID, &g.ExternalID, &g.DN, &g.Name, &g.Version); err != nil {
			return nil, fmt.Errorf("load groups to push: %w", err)
		}
		out[g.ID] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load groups to push: %w", err)
	}
	mrows, err := db.w.QueryContext(ctx, membersOf("SELECT value FROM json_each(?)")+" ORDER BY 1, 2", set, set)
	if err != nil {
		return nil, fmt.Errorf("load group members to push: %w", err)
	}
	defer mrows.Close()
	for mrows.Next() {
		var gid string
		var m bridge.Member
		var display sql.RawBytes
		if err := mrows.Scan(&gid, &m.ID, &m.Type, &display); err != nil {
			return nil, fmt.Errorf("load group members to push: %w", err)
		}
		if g := out[gid]; g != nil {
			g.Members = append(g.Members, m)
		}
	}
	if err := mrows.Err(); err != nil {
		return nil, fmt.Errorf("load group members to push: %w", err)
	}
	// A group's users: its own user members and those of every group nested in it.
	urows, err := db.w.QueryContext(ctx, `WITH s(rid, id) AS (SELECT g.rid, g.id FROM json_each(?) j CROSS JOIN groups g ON g.id = j.value),
		sub(group_id, nested_rid) AS (
			SELECT id, rid FROM s
			UNION SELECT s.id, c.group_rid FROM s CROSS JOIN group_closure c ON c.ancestor_rid = s.rid)
		SELECT DISTINCT sub.group_id, u.id FROM sub
		CROSS JOIN group_users gm ON gm.group_rid = sub.nested_rid CROSS JOIN users u ON u.rid = gm.user_rid
		ORDER BY sub.group_id, u.id`, set)
	if err != nil {
		return nil, fmt.Errorf("load group users to push: %w", err)
	}
	defer urows.Close()
	for urows.Next() {
		var gid, uid string
		if err := urows.Scan(&gid, &uid); err != nil {
			return nil, fmt.Errorf("load group users to push: %w", err)
		}
		if g := out[gid]; g != nil {
			g.Users = append(g.Users, uid)
		}
	}
	if err := urows.Err(); err != nil {
		return nil, fmt.Errorf("load group users to push: %w", err)
	}
	return out, nil
}

// GroupAncestors returns the ids of the groups that contain any of the given
// groups, directly or through nesting (the given groups excluded unless in a cycle).
func (db *DB) GroupAncestors(ctx context.Context, ids []string) ([]string, error) {
	return queryStrings(ctx, db.w, "find ancestor groups", `WITH RECURSIVE up(rid) AS (
		SELECT gm.group_rid FROM json_each(?) j CROSS JOIN groups m ON m.id = j.value
		CROSS JOIN group_subgroups gm ON gm.member_rid = m.rid
		UNION SELECT gm.group_rid FROM up CROSS JOIN group_subgroups gm ON gm.member_rid = up.rid)
		SELECT g.id FROM up CROSS JOIN groups g ON g.rid = up.rid`, idsJSON(ids))
}

// GroupDescendants returns the ids of the given groups and of every group
// nested in them, at any depth.
func (db *DB) GroupDescendants(ctx context.Context, ids []string) ([]string, error) {
	return queryStrings(ctx, db.w, "find nested groups", `WITH RECURSIVE down(rid) AS (
		SELECT rid FROM groups WHERE id IN (SELECT value FROM json_each(?))
		UNION SELECT gm.member_rid FROM down CROSS JOIN group_subgroups gm ON gm.group_rid = down.rid)
		SELECT g.id FROM down CROSS JOIN groups g ON g.rid = down.rid`, idsJSON(ids))
}

// GroupIDsByName returns, by folded name, the ids of the groups whose folded
// names are given (names folded with strings.ToLower, as groups.name_norm); a
// name no group has is absent from the map.
func (db *DB) GroupIDsByName(ctx context.Context, namesNorm []string) (map[string][]string, error) {
	return queryGrouped(ctx, db.w, "find groups by name", `SELECT name_norm, id FROM groups
		WHERE name_norm IN (SELECT value FROM json_each(?)) ORDER BY name_norm, id`, idsJSON(namesNorm))
}

// UsersInGroups returns the ids of the users in any of the given groups,
// directly or through nesting.
func (db *DB) UsersInGroups(ctx context.Context, groupIDs []string) ([]string, error) {
	return queryStrings(ctx, db.w, "find users in groups",
		`WITH s(rid) AS (SELECT rid FROM groups WHERE id IN (SELECT value FROM json_each(?)))
		SELECT u.id FROM users u WHERE u.rid IN (SELECT gm.user_rid FROM group_users gm WHERE gm.group_rid IN (
			SELECT rid FROM s UNION SELECT c.group_rid FROM group_closure c WHERE c.ancestor_rid IN (SELECT rid FROM s)))
		ORDER BY u.id`, idsJSON(groupIDs))
}

// AllUserIDs returns the id of every stored user.
func (db *DB) AllUserIDs(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, db.w, "list user ids", "SELECT id FROM users ORDER BY id")
}

// AllGroupIDs returns the id of every stored group.
func (db *DB) AllGroupIDs(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, db.w, "list group ids", "SELECT id FROM groups ORDER BY id")
}

const pushStateCols = "resource_type, resource_id, remote_id, name, pushed_hash, pushed_body, status, attempts, last_error, updated"

func scanPushStates(rows *sql.Rows) ([]*PushState, error) {
	defer rows.Close()
	var out []*PushState
	for rows.Next() {
		s := &PushState{}
		var updated string
		if err := rows.Scan(&s.ResourceType, &s.ResourceID, &s.RemoteID, &s.Name, &s.PushedHash, &s.PushedBody,
			&s.Status, &s.Attempts, &s.LastError, &updated); err != nil {
			return nil, fmt.Errorf("read push state: %w", err)
		}
		var err error
		if s.Updated, err = parseTS(updated); err != nil {
			return nil, fmt.Errorf("read push state of %s %s: %w", s.ResourceType, s.ResourceID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read push state: %w", err)
	}
	return out, nil
}

// PushStates returns the push states of the given resources of one type, by id.
func (db *DB) PushStates(ctx context.Context, resourceType string, ids []string) (map[string]*PushState, error) {
	out := make(map[string]*PushState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.w.QueryContext(ctx, "SELECT "+pushStateCols+` FROM push_state
		WHERE resource_type = ? AND resource_id IN (SELECT value FROM json_each(?))`, resourceType, idsJSON(ids))
	if err != nil {
		return nil, fmt.Errorf("read push state of %d %ss: %w", len(ids), resourceType, err)
	}
	list, err := scanPushStates(rows)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		out[s.ResourceID] = s
	}
	return out, nil
}

// ListPushStates returns the push states of one resource type ("" for both)
// whose status is one of statuses (none: every status), by type and id.
func (db *DB) ListPushStates(ctx context.Context, resourceType string, statuses ...string) ([]*PushState, error) {
	rows, err := db.w.QueryContext(ctx, "SELECT "+pushStateCols+` FROM push_state
		WHERE (? = '' OR resource_type = ?) AND (? = '[]' OR status IN (SELECT value FROM json_each(?)))
		ORDER BY resource_type, resource_id`, resourceType, resourceType, idsJSON(statuses), idsJSON(statuses))
	if err != nil {
		return nil, fmt.Errorf("list push states: %w", err)
	}
	return scanPushStates(rows)
}

// SavePushState inserts or replaces the push state of one resource; Updated
// is set to now.
func (db *DB) SavePushState(ctx context.Context, s *PushState) error {
	s.Updated = now()
	if _, err := db.w.ExecContext(ctx, "INSERT OR REPLACE INTO push_state ("+pushStateCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ResourceType, s.ResourceID, s.RemoteID, s.Name, s.PushedHash,
		s.PushedBody, s.Status, s.Attempts, s.LastError, formatTS(s.Updated)); err != nil {
		return fmt.Errorf("save push state of %s %s: %w", s.ResourceType, s.ResourceID, err)
	}
	return nil
}

// DeletePushState forgets one resource (and, for a group, its delivered members).
func (db *DB) DeletePushState(ctx context.Context, resourceType, id string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("forget push state of %s %s: %w", resourceType, id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM push_state WHERE resource_type = ? AND resource_id = ?", resourceType, id); err != nil {
		return fmt.Errorf("forget push state of %s %s: %w", resourceType, id, err)
	}
	if resourceType == bridge.MemberGroup {
		if _, err := tx.ExecContext(ctx, "DELETE FROM push_members WHERE group_id = ?", id); err != nil {
			return fmt.Errorf("forget pushed members of group %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("forget push state of %s %s: %w", resourceType, id, err)
	}
	return nil
}

// PushHolder is a resource whose push state holds a given remote id.
type PushHolder struct {
	ResourceID string
	// Stored is false when the resource is no longer in the store (its push
	// state waits for deprovisioning).
	Stored bool
}

// PushHolders returns the resources of one type whose push state holds
// remoteID, by id. More than one holder means an entry was deleted and
// re-created under the same name: the old one's state still names the remote
// resource the new one adopted.
func (db *DB) PushHolders(ctx context.Context, resourceType, remoteID string) ([]PushHolder, error) {
	if remoteID == "" {
		return nil, nil
	}
	table := "users"
	if resourceType == bridge.MemberGroup {
		table = "groups"
	}
	rows, err := db.w.QueryContext(ctx, `SELECT ps.resource_id, EXISTS (SELECT 1 FROM `+table+` r WHERE r.id = ps.resource_id)
		FROM push_state ps WHERE ps.resource_type = ? AND ps.remote_id = ? ORDER BY ps.resource_id`, resourceType, remoteID)
	if err != nil {
		return nil, fmt.Errorf("find push states holding %s %s: %w", resourceType, remoteID, err)
	}
	defer rows.Close()
	var out []PushHolder
	for rows.Next() {
		var h PushHolder
		if err := rows.Scan(&h.ResourceID, &h.Stored); err != nil {
			return nil, fmt.Errorf("find push states holding %s %s: %w", resourceType, remoteID, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find push states holding %s %s: %w", resourceType, remoteID, err)
	}
	return out, nil
}

// PushMembers returns the remote member ids last delivered for the given groups.
func (db *DB) PushMembers(ctx context.Context, groupIDs []string) (map[string][]string, error) {
	return queryGrouped(ctx, db.w, "read pushed members", `SELECT group_id, member_id FROM push_members
		WHERE group_id IN (SELECT value FROM json_each(?)) ORDER BY group_id, member_id`, idsJSON(groupIDs))
}

// UpdatePushMembers records that add were delivered as members of group
// groupID and remove were removed; with replace, the list becomes exactly add.
func (db *DB) UpdatePushMembers(ctx context.Context, groupID string, replace bool, add, remove []string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record pushed members of group %s: %w", groupID, err)
	}
	defer tx.Rollback()
	if replace {
		if _, err := tx.ExecContext(ctx, "DELETE FROM push_members WHERE group_id = ?", groupID); err != nil {
			return fmt.Errorf("record pushed members of group %s: %w", groupID, err)
		}
	} else if len(remove) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM push_members WHERE group_id = ?
			AND member_id IN (SELECT value FROM json_each(?))`, groupID, idsJSON(remove)); err != nil {
			return fmt.Errorf("record pushed members of group %s: %w", groupID, err)
		}
	}
	if len(add) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO push_members (group_id, member_id)
			SELECT ?, value FROM json_each(?)`, groupID, idsJSON(add)); err != nil {
			return fmt.Errorf("record pushed members of group %s: %w", groupID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record pushed members of group %s: %w", groupID, err)
	}
	return nil
}

// GroupsWithPushedMember returns the ids of the groups whose delivered
// members include any of the given remote ids.
func (db *DB) GroupsWithPushedMember(ctx context.Context, remoteIDs []string) ([]string, error) {
	return queryStrings(ctx, db.w, "find groups by pushed member", `SELECT DISTINCT group_id FROM push_members
		WHERE member_id IN (SELECT value FROM json_each(?)) ORDER BY group_id`, idsJSON(remoteIDs))
}

// PushMeta returns a value the push client keeps ("" when unset).
func (db *DB) PushMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.w.QueryRowContext(ctx, "SELECT value FROM push_meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read push meta %q: %w", key, err)
	}
	return v, nil
}

// SetPushMeta stores a value the push client keeps.
func (db *DB) SetPushMeta(ctx context.Context, key, value string) error {
	if _, err := db.w.ExecContext(ctx, `INSERT INTO push_meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("store push meta %q: %w", key, err)
	}
	return nil
}

// ResetPush forgets everything delivered (push_state and push_members), for a
// new target; the cursor stays.
func (db *DB) ResetPush(ctx context.Context) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset push bookkeeping: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{"DELETE FROM push_state", "DELETE FROM push_members"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("reset push bookkeeping: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset push bookkeeping: %w", err)
	}
	return nil
}
