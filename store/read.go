package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// The read side serves the SCIM server from the read pool, each request in
// one read transaction so the total, the page and its groups or members come
// from the same committed state.

const userColumns = "u.id, u.external_id, u.dn, u.dn_norm, u.user_name, u.user_name_norm, u.given_name, " +
	"u.family_name, u.display_name, u.email, u.active, u.employee_number, u.department, u.member_key, u.hash, " +
	"u.groups_hash, u.version, u.created, u.last_modified"

const userSelect = "SELECT " + userColumns + " FROM users u"

const groupColumns = "g.id, g.external_id, g.dn, g.dn_norm, g.name, g.name_norm, g.hash, g.members_hash, " +
	"g.version, g.created, g.last_modified"

const groupSelect = "SELECT " + groupColumns + " FROM groups g"

// The lists' own order, when no sortBy is given: the rowid for users (the
// order a sync wrote them, so that a walk reads the table from start to
// end, not one page per user through the id index), the id for groups
// (few enough to read through their id index, and the order they were
// listed in while their table was keyed by it). It is as stable as the id:
// a user keeps its rowid when it changes.
const (
	userKey  = "u.rid"
	groupKey = "g.id"
)

func scanUser(s scanner) (UserResource, error) {
	var u UserResource
	var created, modified string
	var hash, groupsHash any
	err := s.Scan(&u.ID, &u.ExternalID, &u.DN, &u.DNNorm, &u.UserName, &u.UserNameNorm, &u.GivenName,
		&u.FamilyName, &u.DisplayName, &u.Email, &u.Active, &u.EmployeeNumber, &u.Department, &u.MemberKey,
		&hash, &groupsHash, &u.Version, &created, &modified)
	if err != nil {
		return u, err
	}
	if u.DNNorm == "" { // stored compact (userArgs)
		u.DNNorm = u.DN
	}
	if u.Hash, err = hashText(hash); err != nil {
		return u, fmt.Errorf("user %s: %w", u.ID, err)
	}
	if u.GroupsHash, err = hashText(groupsHash); err != nil {
		return u, fmt.Errorf("user %s: %w", u.ID, err)
	}
	if u.Created, err = parseTS(created); err != nil {
		return u, fmt.Errorf("user %s: %w", u.ID, err)
	}
	if u.LastModified, err = parseTS(modified); err != nil {
		return u, fmt.Errorf("user %s: %w", u.ID, err)
	}
	return u, nil
}

func scanGroup(s scanner) (GroupResource, error) {
	var g GroupResource
	var created, modified string
	err := s.Scan(&g.ID, &g.ExternalID, &g.DN, &g.DNNorm, &g.Name, &g.NameNorm, &g.Hash, &g.MembersHash,
		&g.Version, &created, &modified)
	if err != nil {
		return g, err
	}
	if g.Created, err = parseTS(created); err != nil {
		return g, fmt.Errorf("group %s: %w", g.ID, err)
	}
	if g.LastModified, err = parseTS(modified); err != nil {
		return g, fmt.Errorf("group %s: %w", g.ID, err)
	}
	return g, nil
}

// readMmap is how much of the store file the SCIM reads map into memory
// (PRAGMA mmap_size). Their lookups land all over the memberships and the
// users (a user's groups, a member's display): through each read
// connection's own page cache (8 MB) most were a system call each, through
// the map they are memory reads, and the four read connections share the
// pages instead of each caching its own. Only these reads turn it on, so a
// sync run alone (scimbridge sync) keeps the memory it had.
const readMmap = 1 << 30

// beginRead begins a read transaction for the SCIM server on a read
// connection, with the store file mapped when mapped is set (lists that
// scan; a lookup by key spares the statement); done ends it. every reads
// every group's node in it (see groupCache).
func (db *DB) beginRead(ctx context.Context, mapped bool) (tx *sql.Tx, every func() (map[string]*groupNode, error), done func(), err error) {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	var driverConn any
	err = conn.Raw(func(dc any) error {
		driverConn = dc
		return nil
	})
	if err == nil && mapped {
		_, err = conn.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", readMmap))
	}
	if err == nil {
		tx, err = conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	every = func() (map[string]*groupNode, error) { return db.groups.nodes(ctx, tx, driverConn) }
	return tx, every, func() {
		tx.Rollback()
		conn.Close()
	}, nil
}

// Pages select ids first ("deferred join"): skipping OFFSET rows then reads
// only a covering index, not every skipped row.

// page compiles q for users or groups and returns the WHERE clause (with its
// arguments), the ORDER BY clause and the LIMIT/OFFSET values.
func page(q Query, users bool) (where string, args []any, order string, limit, offset int, err error) {
	return pageIn(context.Background(), nil, q, users)
}

// pageIn is page for a filter that runs in tx: the compiler may probe the
// data there to choose a plan (nil: no probes).
func pageIn(ctx context.Context, tx *sql.Tx, q Query, users bool) (where string, args []any, order string, limit, offset int, err error) {
	c := newCompiler(users)
	if tx != nil {
		c.probe = func(query string, args []any) (n int, err error) {
			err = tx.QueryRowContext(ctx, query, args...).Scan(&n)
			return n, err
		}
		// query yields one column, id.
		c.listIDs = func(query string, args []any) (ids string, err error) {
			err = tx.QueryRowContext(ctx, "SELECT coalesce(json_group_array(id), '[]') FROM ("+query+")", args...).Scan(&ids)
			return ids, err
		}
	}
	where = "1"
	if q.Filter != nil {
		if err = CheckFilter(q.Filter, users); err != nil {
			return "", nil, "", 0, 0, err
		}
		if where, err = c.where(c.foldOr(q.Filter)); err != nil {
			return "", nil, "", 0, 0, err
		}
	}
	if order, err = c.orderBy(q.SortBy, q.Descending); err != nil {
		return "", nil, "", 0, 0, err
	}
	return where, c.args, order, max(q.Count, 0), max(q.StartIndex, 1) - 1, nil
}

// listPage reads one page and the total number of matches from table
// ("users u") by its key column key, selecting columns for scan. A partial
// page tells the total without counting. In the key's order, a page that
// continues a walk starts after the key that ended the previous page (see
// cursors).
func listPage[T any](ctx context.Context, db *DB, tx *sql.Tx, table, key, columns, where string, args []any,
	order string, limit, offset int, scan func(scanner) (T, error)) (int, []T, error) {
	items := []T{}
	walk := order == key+" ASC"
	var cur cursor
	continued := false
	var last any // the key of the page's last item
	if limit > 0 {
		pageWhere, pageArgs, skip := where, args, offset
		if walk && offset > 0 {
			if cur, continued = db.cursors.get(cursorKey(table, where, args, offset)); continued {
				pageWhere, pageArgs, skip = "("+where+") AND "+key+" > ?", append(append([]any(nil), args...), cur.after), 0
			}
		}
		err := eachRow(ctx, tx, "SELECT "+key+", "+columns+" FROM "+table+" WHERE "+key+" IN (SELECT "+key+" FROM "+table+
			" WHERE "+pageWhere+" ORDER BY "+order+" LIMIT ? OFFSET ?) ORDER BY "+order, func(rows *sql.Rows) error {
			it, err := scan(keyed{rows, &last})
			if err != nil {
				return err
			}
			items = append(items, it)
			return nil
		}, append(pageArgs, limit, skip)...)
		if err != nil {
			return 0, nil, err
		}
		if len(items) < limit && (len(items) > 0 || offset == 0) {
			return offset + len(items), items, nil
		}
	}
	gen := db.gen.current()
	total := cur.total
	if !continued || len(items) == 0 || cur.gen != gen {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE "+where, args...).Scan(&total); err != nil {
			return 0, nil, fmt.Errorf("count: %w", err)
		}
	}
	if walk && limit > 0 && len(items) == limit {
		db.cursors.put(cursorKey(table, where, args, offset+limit), cursor{after: last, total: total, gen: gen})
	}
	return total, items, nil
}

// keyed scans a row whose first column is a list's key into key, and the
// others into dest.
type keyed struct {
	rows *sql.Rows
	key  *any
}

func (k keyed) Scan(dest ...any) error {
	return k.rows.Scan(append([]any{k.key}, dest...)...)
}

// ListUsers returns the number of users matching q.Filter and the page of
// them q selects (with their groups when q.WithGroups). An invalid filter or
// sort attribute gives an error wrapping ErrBadFilter.
func (db *DB) ListUsers(ctx context.Context, q Query) (total int, users []UserResource, err error) {
	tx, every, done, err := db.beginRead(ctx, !q.Indexed(true))
	if err != nil {
		return 0, nil, fmt.Errorf("list users: %w", err)
	}
	defer done()
	where, args, order, limit, offset, err := pageIn(ctx, tx, q, true)
	if err != nil {
		return 0, nil, fmt.Errorf("list users: %w", err)
	}
	total, users, err = listPage(ctx, db, tx, "users u", userKey, userColumns, where, args, order, limit, offset, scanUser)
	if err != nil {
		return 0, nil, fmt.Errorf("list users: %w", err)
	}
	if q.WithGroups {
		if err := loadGroups(ctx, tx, users, every); err != nil {
			return 0, nil, err
		}
	}
	return total, users, nil
}

// GetUser returns the user with that id, with its groups.
func (db *DB) GetUser(ctx context.Context, id string) (UserResource, bool, error) {
	tx, every, done, err := db.beginRead(ctx, false)
	if err != nil {
		return UserResource{}, false, fmt.Errorf("read user %s: %w", id, err)
	}
	defer done()
	u, err := scanUser(tx.QueryRowContext(ctx, userSelect+" WHERE u.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return UserResource{}, false, nil
	}
	if err != nil {
		return UserResource{}, false, fmt.Errorf("read user %s: %w", id, err)
	}
	us := []UserResource{u}
	if err := loadGroups(ctx, tx, us, every); err != nil {
		return UserResource{}, false, err
	}
	return us[0], true, nil
}

// loadGroups fills the groups of a page of users, each list by name.
func loadGroups(ctx context.Context, tx *sql.Tx, users []UserResource, every func() (map[string]*groupNode, error)) error {
	if len(users) == 0 {
		return nil
	}
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	groups, err := transitiveGroups(ctx, tx, ids, every)
	if err != nil {
		return fmt.Errorf("load groups of users: %w", err)
	}
	for i := range users {
		gs := groups[users[i].ID]
		if len(gs) == 0 {
			continue
		}
		slices.SortFunc(gs, byName)
		refs := make([]GroupRef, len(gs))
		for j, g := range gs {
			refs[j] = GroupRef{ID: g.id, Name: g.name, Direct: g.direct}
		}
		users[i].Groups = refs
	}
	return nil
}

// ListGroups returns the number of groups matching q.Filter and the page of
// them q selects (with their direct members when q.WithMembers). An invalid
// filter or sort attribute gives an error wrapping ErrBadFilter.
func (db *DB) ListGroups(ctx context.Context, q Query) (total int, groups []GroupResource, err error) {
	tx, _, done, err := db.beginRead(ctx, !q.Indexed(false))
	if err != nil {
		return 0, nil, fmt.Errorf("list groups: %w", err)
	}
	defer done()
	where, args, order, limit, offset, err := pageIn(ctx, tx, q, false)
	if err != nil {
		return 0, nil, fmt.Errorf("list groups: %w", err)
	}
	total, groups, err = listPage(ctx, db, tx, "groups g", groupKey, groupColumns, where, args, order, limit, offset, scanGroup)
	if err != nil {
		return 0, nil, fmt.Errorf("list groups: %w", err)
	}
	if q.WithMembers {
		if err := loadMembers(ctx, tx, groups); err != nil {
			return 0, nil, err
		}
	}
	return total, groups, nil
}

// GetGroup returns the group with that id, with its direct members.
func (db *DB) GetGroup(ctx context.Context, id string) (GroupResource, bool, error) {
	tx, _, done, err := db.beginRead(ctx, false)
	if err != nil {
		return GroupResource{}, false, fmt.Errorf("read group %s: %w", id, err)
	}
	defer done()
	g, err := scanGroup(tx.QueryRowContext(ctx, groupSelect+" WHERE g.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return GroupResource{}, false, nil
	}
	if err != nil {
		return GroupResource{}, false, fmt.Errorf("read group %s: %w", id, err)
	}
	gs := []GroupResource{g}
	if err := loadMembers(ctx, tx, gs); err != nil {
		return GroupResource{}, false, err
	}
	return gs[0], true, nil
}

// loadMembers fills the direct members of a page of groups with one query.
func loadMembers(ctx context.Context, tx *sql.Tx, groups []GroupResource) error {
	if len(groups) == 0 {
		return nil
	}
	at := make(map[string]int, len(groups))
	ids := make([]string, len(groups))
	for i := range groups {
		at[groups[i].ID] = i
		ids[i] = groups[i].ID
	}
	doc := idsJSON(ids)
	rows, err := tx.QueryContext(ctx, membersOf("SELECT value FROM json_each(?)")+" ORDER BY 1, 2", doc, doc)
	if err != nil {
		return fmt.Errorf("load members of groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var gid string
		var m MemberRef
		if err := rows.Scan(&gid, &m.ID, &m.Type, &m.Display); err != nil {
			return fmt.Errorf("load members of groups: %w", err)
		}
		g := &groups[at[gid]]
		g.Members = append(g.Members, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load members of groups: %w", err)
	}
	return nil
}
