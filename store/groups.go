package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// A user's groups are not stored as such: its direct groups are the groups
// whose group_users list it, its indirect groups are their ancestors in
// group_closure. Both are read with key lookups and merged here, which costs
// less than a relational union of the two: a page of users has a few thousand
// direct memberships at most, and their groups' closure is small.

// userGroup is one group of a user, direct or through nesting.
type userGroup struct {
	id, name, nameNorm string
	direct             bool
}

// groupNode is a stored group with its ancestors, as transitiveGroups reads it.
type groupNode struct {
	name, nameNorm string
	ancestors      []string
}

// nodeMap holds group nodes by group id.
type nodeMap map[string]*groupNode

// node returns the node of group id, added empty if missing.
func (m nodeMap) node(id string) *groupNode {
	n := m[id]
	if n == nil {
		n = &groupNode{}
		m[id] = n
	}
	return n
}

// transitiveGroups returns the groups of each of the given users that has
// any: every group once, direct when the user is a direct member (even if
// also nested), in no particular order.
// every reads every group's node (see groupNodes).
func transitiveGroups(ctx context.Context, tx *sql.Tx, userIDs []string, every func() (map[string]*groupNode, error)) (map[string][]userGroup, error) {
	direct := make(map[string][]string, len(userIDs))
	var groupIDs []string
	seen := map[string]bool{}
	err := eachRow(ctx, tx, `SELECT u.id, g.id FROM json_each(?) j CROSS JOIN users u ON u.id = j.value
		CROSS JOIN group_users gm ON gm.user_rid = u.rid CROSS JOIN groups g ON g.rid = gm.group_rid`,
		func(rows *sql.Rows) error {
			var uid, gid string
			if err := rows.Scan(&uid, &gid); err != nil {
				return err
			}
			direct[uid] = append(direct[uid], gid)
			if !seen[gid] {
				seen[gid] = true
				groupIDs = append(groupIDs, gid)
			}
			return nil
		}, idsJSON(userIDs))
	if err != nil {
		return nil, fmt.Errorf("read direct groups: %w", err)
	}
	if len(direct) == 0 {
		return map[string][]userGroup{}, nil
	}
	nodes, err := groupNodes(ctx, tx, groupIDs, every)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]userGroup, len(direct))
	at := map[string]int{} // position of a group in the current user's list
	for uid, gids := range direct {
		clear(at)
		gs := make([]userGroup, 0, len(gids)*3)
		add := func(id string, isDirect bool) {
			if i, ok := at[id]; ok {
				gs[i].direct = gs[i].direct || isDirect
				return
			}
			n := nodes[id]
			at[id] = len(gs)
			gs = append(gs, userGroup{id: id, name: n.name, nameNorm: n.nameNorm, direct: isDirect})
		}
		for _, gid := range gids {
			add(gid, true)
		}
		for _, gid := range gids {
			for _, a := range nodes[gid].ancestors {
				add(a, false)
			}
		}
		out[uid] = gs
	}
	return out, nil
}

// scanGroupsFrom is how many groups groupNodes searches one by one at
// least before it counts the groups to see whether to read them all. Tests
// set it to read either way.
var scanGroupsFrom = 256

// groupNodes reads the names and ancestors of the given groups, and the names
// of those ancestors; when they are a good part of all the groups (a page of
// a walk through the users meets most of them), it takes every group's from
// every (everyGroupNode, or groupCache's copy of it), which costs less than
// a search for each group and ancestor. The nodes are only read, never
// changed: every's may be shared.
func groupNodes(ctx context.Context, tx *sql.Tx, groupIDs []string, every func() (map[string]*groupNode, error)) (map[string]*groupNode, error) {
	if len(groupIDs) >= scanGroupsFrom {
		var all int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM groups").Scan(&all); err != nil {
			return nil, fmt.Errorf("count groups: %w", err)
		}
		if len(groupIDs)*4 >= all {
			return every()
		}
	}
	nodes := make(nodeMap, len(groupIDs)*2)
	node := nodes.node
	// One row per group (ancestor NULL) and one per (group, ancestor) pair,
	// each with the name of the group the row names last.
	doc := idsJSON(groupIDs)
	err := eachRow(ctx, tx, `SELECT g.id, NULL, g.name, g.name_norm FROM json_each(?) s CROSS JOIN groups g ON g.id = s.value
		UNION ALL
		SELECT g.id, a.id, a.name, a.name_norm FROM json_each(?) s CROSS JOIN groups g ON g.id = s.value
		CROSS JOIN group_closure c ON c.group_rid = g.rid CROSS JOIN groups a ON a.rid = c.ancestor_rid`,
		func(rows *sql.Rows) error {
			var id, name, nameNorm string
			var anc sql.NullString
			if err := rows.Scan(&id, &anc, &name, &nameNorm); err != nil {
				return err
			}
			if !anc.Valid {
				n := node(id)
				n.name, n.nameNorm = name, nameNorm
				return nil
			}
			n := node(id)
			n.ancestors = append(n.ancestors, anc.String)
			a := node(anc.String)
			a.name, a.nameNorm = name, nameNorm
			return nil
		}, doc, doc)
	if err != nil {
		return nil, fmt.Errorf("read nested groups: %w", err)
	}
	return nodes, nil
}

// everyGroupNode reads every group's node: the closure and the groups in one
// pass each, in table order.
func everyGroupNode(ctx context.Context, tx *sql.Tx) (map[string]*groupNode, error) {
	nodes := nodeMap{}
	node := nodes.node
	err := eachRow(ctx, tx, `SELECT g.id, a.id FROM group_closure c CROSS JOIN groups g ON g.rid = c.group_rid
		CROSS JOIN groups a ON a.rid = c.ancestor_rid`, func(rows *sql.Rows) error {
		var id, anc string
		if err := rows.Scan(&id, &anc); err != nil {
			return err
		}
		n := node(id)
		n.ancestors = append(n.ancestors, anc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read nested groups: %w", err)
	}
	err = eachRow(ctx, tx, "SELECT id, name, name_norm FROM groups", func(rows *sql.Rows) error {
		var id, name, nameNorm string
		if err := rows.Scan(&id, &name, &nameNorm); err != nil {
			return err
		}
		n := node(id)
		n.name, n.nameNorm = name, nameNorm
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read group names: %w", err)
	}
	return nodes, nil
}

// groupCache keeps, for each read connection, every group's node as
// everyGroupNode read it there, with the connection's PRAGMA data_version
// then, which SQLite changes when any other connection (a sync, in this
// process or another) has committed since. The pages of a walk through the
// users then read the groups and the closure once, not once a page.
type groupCache struct {
	mu    sync.Mutex
	conns map[any]groupSnapshot // by driver connection
}

type groupSnapshot struct {
	version int64
	nodes   map[string]*groupNode
}

// nodes returns every group's node in tx, a read transaction that has read
// already (so that data_version is its snapshot's) on the driver
// connection conn.
func (c *groupCache) nodes(ctx context.Context, tx *sql.Tx, conn any) (map[string]*groupNode, error) {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return nil, fmt.Errorf("read the data version: %w", err)
	}
	c.mu.Lock()
	s, ok := c.conns[conn]
	c.mu.Unlock()
	if ok && s.version == version {
		return s.nodes, nil
	}
	nodes, err := everyGroupNode(ctx, tx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil || len(c.conns) >= 2*readConns { // connections closed since are dropped
		c.conns = map[any]groupSnapshot{}
	}
	c.conns[conn] = groupSnapshot{version: version, nodes: nodes}
	return nodes, nil
}

// byID orders a user's groups by id.
func byID(a, b userGroup) int { return strings.Compare(a.id, b.id) }

// byName orders a user's groups as the SCIM server lists them: by folded
// name, then id.
func byName(a, b userGroup) int {
	if c := strings.Compare(a.nameNorm, b.nameNorm); c != 0 {
		return c
	}
	return byID(a, b)
}
