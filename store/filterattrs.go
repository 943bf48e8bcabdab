package store

import "strings"

// The filterable attributes of users and groups: how each one reads in SQL,
// and for the multi-valued ones (emails, groups, members) how a condition on
// their elements is planned. The compiler (filter.go) puts them together.

type attrKind int

const (
	kindString attrKind = iota
	kindBool
	kindDate
)

// attrDef says how one filterable attribute reads in SQL.
type attrDef struct {
	kind attrKind
	// col is the SQL expression compared with the value; for caseExact=false
	// attributes it is already case-folded and fold is set, so the value is
	// folded the same way (strings.ToLower).
	col  string
	fold bool
	// raw, for an attribute folded per row (col is lowerFunc of it), is the
	// unfolded text: eq, co, sw and ew compare it with SQLite's LIKE first
	// (see compareFolded).
	raw string
	// present, when set, is the SQL condition for "the attribute has a value"
	// (optional attributes are stored as ''); otherwise it is always present.
	present string
}

// multiDef is a multi-valued attribute: sub-attribute conditions are evaluated
// per element, and the whole is true when some element matches.
type multiDef struct {
	subs map[string]attrDef
	// wrap builds the condition on the resource from the element condition
	// cond and its arguments; usesJoin reports whether cond reads a
	// sub-attribute of joinCols (which need another plan). A wrap may repeat
	// cond in several arms (with its arguments repeated), each with the arm's
	// own value for typeToken, and may ask c.probe to choose a plan.
	wrap func(c *compiler, cond string, args []any, usesJoin bool) (string, []any, error)
	// joinCols are the sub-attributes that need wrap's other plan.
	joinCols map[string]bool
}

// typeToken stands for the type of an element in a condition that wrap
// places in arms where the type is a constant ('direct', 'user', …). The SQL
// fragments of this file and filter.go never contain it and values are
// always bound, so replacing it is safe.
const typeToken = "{elemtype}"

// arms repeats cond (and its arguments) once per type, joined by UNION ALL,
// each arm built by arm from cond with typeToken replaced by the quoted type.
func arms(cond string, args []any, arm func(cond string) string, types ...string) (string, []any) {
	var sql []string
	var all []any
	for _, t := range types {
		sql = append(sql, arm(strings.ReplaceAll(cond, typeToken, "'"+t+"'")))
		all = append(all, args...)
	}
	return strings.Join(sql, " UNION ALL "), all
}

// broadMemberships is where a condition on a user's groups changes plan:
// up to this many memberships of matching groups, the users are read from
// those groups' member lists; beyond it, each user's few groups are checked
// instead, which costs the same for every condition. Tests set it to run
// every filter under both plans.
var broadMemberships = 4000

func lowerOf(col string) string { return lowerFunc + "(" + col + ")" }

func optional(col string, fold bool) attrDef {
	d := attrDef{kind: kindString, col: col, present: col + " <> ''"}
	if fold {
		d.col, d.fold, d.raw = lowerOf(col), true, col
	}
	return d
}

// folded is a caseExact=false attribute without a folded copy: compared
// through lowerFunc, or LIKE where that gives the same answer.
func folded(col string) attrDef {
	return attrDef{kind: kindString, col: lowerOf(col), fold: true, raw: col}
}

var userAttrs = map[string]attrDef{
	"id":                {kind: kindString, col: "u.id"},
	"externalid":        optional("u.external_id", false),
	"username":          {kind: kindString, col: "u.user_name_norm", fold: true},
	"displayname":       optional("u.display_name", true),
	"name.givenname":    optional("u.given_name", true),
	"name.familyname":   optional("u.family_name", true),
	"name.formatted":    optional(userFormattedName, true),
	"active":            {kind: kindBool, col: "u.active"},
	"employeenumber":    optional("u.employee_number", true),
	"department":        optional("u.department", true),
	"meta.created":      {kind: kindDate, col: "u.created"},
	"meta.lastmodified": {kind: kindDate, col: "u.last_modified"},
	"meta.version":      {kind: kindString, col: "u.version"},
}

// userFormattedName is name.formatted as the SCIM server renders it: the
// given and family names, space-separated, trimmed.
const userFormattedName = "trim(u.given_name || ' ' || u.family_name)"

var userMulti = map[string]multiDef{
	// A user has at most one email, of type "work", primary.
	"emails": {
		subs: map[string]attrDef{
			"value":   folded("u.email"),
			"type":    {kind: kindString, col: "'work'", fold: true},
			"primary": {kind: kindBool, col: "1"},
		},
		wrap: func(_ *compiler, cond string, args []any, _ bool) (string, []any, error) {
			return "(u.email <> '' AND " + cond + ")", args, nil
		},
	},
	// A user's groups are the groups listing it ("direct") and their
	// ancestors in the closure that do not list it ("indirect"). The
	// condition is evaluated on groups, never once per membership with a
	// join for each; which plan reads the fewest rows depends on how many
	// memberships the matching groups hold, which a probe bounded by
	// broadMemberships finds out.
	"groups": {
		subs: map[string]attrDef{
			"value":   {kind: kindString, col: "g.id"},
			"display": {kind: kindString, col: "g.name_norm", fold: true},
			"type":    {kind: kindString, col: typeToken, fold: true},
		},
		joinCols: map[string]bool{"type": true},
		wrap: func(c *compiler, cond string, args []any, typed bool) (string, []any, error) {
			list, largs := groupsMembers(cond, args, typed)
			n, err := c.count(list, largs, broadMemberships+1)
			if err != nil {
				return "", nil, err
			}
			if n <= broadMemberships {
				return "u.rid IN (" + list + ")", largs, nil
			}
			return groupsOfUser(c, cond, args, typed)
		},
	},
}

// groupsMembers is the list of the users (rowids) in the groups matching
// cond: the groups are read first (CROSS JOIN fixes that order for SQLite's
// planner) and their members through the key of group_users. Without "type", a
// user is in a matching group exactly when it is a direct member of it or
// of a group nested in it, so one pass over those groups' members answers;
// with it, the direct and the indirect memberships are told apart in two
// arms, each with its type as a constant.
func groupsMembers(cond string, args []any, typed bool) (string, []any) {
	if !typed {
		list, largs := groupsAndNested(cond, args)
		return "SELECT gm.user_rid FROM group_users gm WHERE gm.group_rid IN (" + list + ")", largs
	}
	direct := func(cond string) string {
		return "SELECT gm.user_rid FROM groups g CROSS JOIN group_users gm ON gm.group_rid = g.rid WHERE " + cond
	}
	indirect := func(cond string) string {
		return "SELECT gm.user_rid FROM groups g CROSS JOIN group_closure c ON c.ancestor_rid = g.rid" +
			" CROSS JOIN group_users gm ON gm.group_rid = c.group_rid WHERE " + cond +
			" AND NOT EXISTS (SELECT 1 FROM group_users dm WHERE dm.group_rid = g.rid AND dm.user_rid = gm.user_rid)"
	}
	d, dargs := arms(cond, args, direct, "direct")
	i, iargs := arms(cond, args, indirect, "indirect")
	return d + " UNION ALL " + i, append(dargs, iargs...)
}

// groupsOfUser is the condition that one of the user's own groups, found
// through the member index (a user is in a few), matches cond: for broad
// conditions, where listing the matching groups' members would read most
// memberships and then look each user up. The matching groups are resolved
// once per statement (SQLite keeps a non-correlated IN list), and each
// user's groups are only looked up in that list: "+" keeps SQLite from
// reading the list's groups' members instead. Without "type", those groups
// are the matching ones and the groups nested in them; with it, a direct
// group must match as 'direct', and an ancestor of a direct group that does
// not list the user must match as 'indirect' (whether it lists the user is
// read from the user's entries of the member index, which the user's
// groups were just read from, not from another place of the table); an arm
// whose list is empty is left out.
func groupsOfUser(c *compiler, cond string, args []any, typed bool) (string, []any, error) {
	const own = "gm.user_rid = u.rid"
	if !typed {
		list, largs := groupsAndNested(cond, args)
		return "EXISTS (SELECT 1 FROM group_users gm WHERE " + own + " AND +gm.group_rid IN (" + list + "))", largs, nil
	}
	// in(rid) is the condition that the group rid matches cond as typed, and
	// uses how many times it holds cond; "1" when every group does
	// (groups.type eq "indirect"), which saves a lookup in the list for each
	// of the user's groups.
	transitive := false // whether the closure composes (see topMembers)
	arm := func(t string, in func(rid string) string, uses int) (string, int) {
		if t == "direct" {
			return "EXISTS (SELECT 1 FROM group_users gm WHERE " + own + " AND " + in("+gm.group_rid") + ")", uses
		}
		// A direct group none of whose ancestors match is passed over
		// before its ancestors are read.
		nested := ""
		if uses > 0 {
			nested = " AND +gm.group_rid IN (SELECT na.group_rid FROM group_closure na WHERE " + in("+na.ancestor_rid") + ")"
		}
		exact := "EXISTS (SELECT 1 FROM group_users gm CROSS JOIN group_closure c ON c.group_rid = gm.group_rid WHERE " + own +
			nested + " AND " + in("+c.ancestor_rid") +
			" AND NOT EXISTS (SELECT 1 FROM group_users dm WHERE dm.user_rid = u.rid AND +dm.group_rid = c.ancestor_rid))"
		if !transitive {
			return exact, 2 * uses
		}
		return "(EXISTS (SELECT 1 FROM group_users gm WHERE " + own + nested + ") AND (u.rid NOT IN (" + topMembers(in, uses > 0) + ") OR " +
			exact + "))", 5 * uses
	}
	var sql []string
	var all []any
	add := func(armSQL string, uses int) {
		sql = append(sql, armSQL)
		for range uses {
			all = append(all, args...)
		}
	}
	for _, t := range []string{"direct", "indirect"} {
		typedCond := strings.ReplaceAll(cond, typeToken, "'"+t+"'")
		inList := func(rid string) string { return rid + " IN (SELECT g.rid FROM groups g WHERE " + typedCond + ")" }
		if c.probe == nil {
			add(arm(t, inList, 1))
			continue
		}
		some, err := c.count("SELECT 1 FROM groups g WHERE "+typedCond, args, 1)
		if err != nil {
			return "", nil, err
		}
		if some == 0 {
			continue
		}
		notAll, err := c.count("SELECT 1 FROM groups g WHERE coalesce(("+typedCond+"), 0) = 0", args, 1)
		if err != nil {
			return "", nil, err
		}
		if t == "indirect" {
			bad, err := c.count(intransitive, nil, 1)
			if err != nil {
				return "", nil, err
			}
			transitive = bad == 0
		}
		if notAll == 0 {
			add(arm(t, func(string) string { return "1" }, 0))
			continue
		}
		add(arm(t, inList, 1))
	}
	if len(sql) == 0 {
		return "0", nil, nil
	}
	return "(" + strings.Join(sql, " OR ") + ")", all, nil
}

// A user's matching indirect groups (in(id), see groupsOfUser) are read
// group by group: a direct group, its matching ancestors, and whether the
// user is a direct member of those too (about four index searches per
// user). When the closure is transitive, as the bridge writes it, most
// users are decided with one and a look-up in a list: a user one of whose
// direct groups has a matching ancestor has a matching indirect group,
// unless it is a direct member of a top group: a matching group all of
// whose matching ancestors are nested in it (in a tree: the matching group
// nearest the root). (Such an ancestor, if the user is a member of it and
// it is not top, has a matching ancestor not nested in it, which is an
// ancestor of the direct group as well, with fewer ancestors; and so on.)
// Only the direct members of top groups are read group by group. When
// every group matches, a group without ancestors is top, so any direct
// group will do.
//
// intransitive finds a pair of closure rows whose composition is missing,
// or a group listed as its own ancestor: with none, that holds.
const intransitive = "SELECT 1 FROM group_closure WHERE group_rid = ancestor_rid" +
	" UNION ALL SELECT 1 FROM group_closure x CROSS JOIN group_closure y ON y.group_rid = x.ancestor_rid" +
	" WHERE y.ancestor_rid <> x.group_rid AND NOT EXISTS (SELECT 1 FROM group_closure z WHERE z.group_rid = x.group_rid AND z.ancestor_rid = y.ancestor_rid)"

// topMembers lists the direct members of the top groups among those that
// match in (twice); withNested keeps those with nested groups only (the
// others are nobody's ancestor).
func topMembers(in func(rid string) string, withNested bool) string {
	tops := "SELECT t.rid FROM groups t WHERE " + in("t.rid")
	if withNested {
		tops += " AND EXISTS (SELECT 1 FROM group_closure tn WHERE tn.ancestor_rid = t.rid)"
	}
	return "SELECT tm.user_rid FROM group_users tm WHERE tm.group_rid IN (" + tops +
		" AND NOT EXISTS (SELECT 1 FROM group_closure ta WHERE ta.group_rid = t.rid AND " + in("+ta.ancestor_rid") +
		" AND NOT EXISTS (SELECT 1 FROM group_closure td WHERE td.group_rid = ta.ancestor_rid AND td.ancestor_rid = t.rid)))"
}

// groupsAndNested lists the groups (rowids) matching cond and the groups nested in them.
func groupsAndNested(cond string, args []any) (string, []any) {
	return "SELECT g.rid FROM groups g WHERE " + cond +
			" UNION ALL SELECT c.group_rid FROM groups g CROSS JOIN group_closure c ON c.ancestor_rid = g.rid WHERE " + cond,
		append(append([]any(nil), args...), args...)
}

var groupAttrs = map[string]attrDef{
	"id":                {kind: kindString, col: "g.id"},
	"externalid":        optional("g.external_id", false),
	"displayname":       {kind: kindString, col: "g.name_norm", fold: true},
	"meta.created":      {kind: kindDate, col: "g.created"},
	"meta.lastmodified": {kind: kindDate, col: "g.last_modified"},
	"meta.version":      {kind: kindString, col: "g.version"},
}

// userDisplay is the display of user alias as a member: its displayName,
// else its userName.
func userDisplay(alias string) string {
	return "CASE WHEN " + alias + ".display_name <> '' THEN " + alias + ".display_name ELSE " + alias + ".user_name END"
}

// membersOf is the query of the direct members of the groups whose ids
// query groupIDs (one column, used twice) yields: a row per member with the
// group's id, the member's id, type (User or Group) and display (a group's
// is its name).
func membersOf(groupIDs string) string {
	return "SELECT g.id, m.id, 'User', " + userDisplay("m") + " FROM groups g CROSS JOIN group_users gm ON gm.group_rid = g.rid" +
		" CROSS JOIN users m ON m.rid = gm.user_rid WHERE g.id IN (" + groupIDs + ")" +
		" UNION ALL SELECT g.id, m.id, 'Group', m.name FROM groups g CROSS JOIN group_subgroups gm ON gm.group_rid = g.rid" +
		" CROSS JOIN groups m ON m.rid = gm.member_rid WHERE g.id IN (" + groupIDs + ")"
}

var groupMulti = map[string]multiDef{
	// A condition on members is evaluated in two arms, the users in groups
	// and the groups in groups, each with its type as a constant; m is the
	// member (id, display), gm its membership. Without display, SQLite
	// chooses the order (a member's id is looked up by the id index). With
	// display, the members are read first: users (display: displayName,
	// else userName) and groups each once, then their groups through the
	// member indexes, instead of a lookup of each membership's member.
	// Those groups (at most every group) are listed once per read, not
	// once for the total and again for the page.
	"members": {
		subs: map[string]attrDef{
			"value": {kind: kindString, col: "m.id"},
			// A group's display is its name, stored folded: lowerFunc leaves
			// folded text as it is.
			"display": folded("m.display"),
			"type":    {kind: kindString, col: typeToken, fold: true},
		},
		joinCols: map[string]bool{"display": true},
		wrap: func(c *compiler, cond string, args []any, display bool) (string, []any, error) {
			join := " JOIN "
			if display {
				join = " CROSS JOIN "
			}
			users := func(cond string) string {
				return "SELECT gm.group_rid FROM (SELECT mu.rid, mu.id, " + userDisplay("mu") + " AS display FROM users mu) m" +
					join + "group_users gm ON gm.user_rid = m.rid WHERE " + cond
			}
			groups := func(cond string) string {
				return "SELECT gm.group_rid FROM (SELECT mg.rid, mg.id, mg.name_norm AS display FROM groups mg) m" +
					join + "group_subgroups gm ON gm.member_rid = m.rid WHERE " + cond
			}
			u, uargs := arms(cond, args, users, "user")
			g, gargs := arms(cond, args, groups, "group")
			list, largs := u+" UNION ALL "+g, append(uargs, gargs...)
			if !display {
				return "g.rid IN (" + list + ")", largs, nil
			}
			ids, err := c.list(list, "group_rid", largs)
			if err != nil || ids == nil {
				return "g.rid IN (" + list + ")", largs, err
			}
			return "g.rid IN (SELECT value FROM json_each(?))", []any{*ids}, nil
		},
	},
}
