package store

import (
	"fmt"
	"strings"
	"time"
)

// Filters compile to a WHERE clause over "users u" or "groups g". Values are
// always bound parameters; only the fixed SQL fragments below are concatenated.

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
// fragments of this file never contain it and values are always bound, so
// replacing it is safe.
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
				return "u.id IN (" + list + ")", largs, nil
			}
			return groupsOfUser(c, cond, args, typed)
		},
	},
}

// groupsMembers is the list of the users in the groups matching cond: the
// groups are read first (CROSS JOIN fixes that order for SQLite's planner)
// and their members through the key of group_members. Without "type", a
// user is in a matching group exactly when it is a direct member of it or
// of a group nested in it, so one pass over those groups' members answers;
// with it, the direct and the indirect memberships are told apart in two
// arms, each with its type as a constant.
func groupsMembers(cond string, args []any, typed bool) (string, []any) {
	if !typed {
		list, largs := groupsAndNested(cond, args)
		return "SELECT gm.member_id FROM group_members gm WHERE gm.member_type = 'User' AND gm.group_id IN (" + list + ")", largs
	}
	direct := func(cond string) string {
		return "SELECT gm.member_id FROM groups g CROSS JOIN group_members gm ON gm.group_id = g.id" +
			" WHERE gm.member_type = 'User' AND " + cond
	}
	indirect := func(cond string) string {
		return "SELECT gm.member_id FROM groups g CROSS JOIN group_closure c ON c.ancestor_id = g.id" +
			" CROSS JOIN group_members gm ON gm.group_id = c.group_id WHERE gm.member_type = 'User' AND " + cond +
			" AND NOT EXISTS (SELECT 1 FROM group_members dm WHERE dm.group_id = g.id AND dm.member_id = gm.member_id)"
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
	const own = "gm.member_id = u.id AND gm.member_type = 'User'"
	if !typed {
		list, largs := groupsAndNested(cond, args)
		return "EXISTS (SELECT 1 FROM group_members gm WHERE " + own + " AND +gm.group_id IN (" + list + "))", largs, nil
	}
	// in(id) is the condition that the group id matches cond as typed, and
	// uses how many times it holds cond; "1" when every group does
	// (groups.type eq "indirect"), which saves a lookup in the list for each
	// of the user's groups.
	transitive := false // whether the closure composes (see topMembers)
	arm := func(t string, in func(id string) string, uses int) (string, int) {
		if t == "direct" {
			return "EXISTS (SELECT 1 FROM group_members gm WHERE " + own + " AND " + in("+gm.group_id") + ")", uses
		}
		// A direct group none of whose ancestors match is passed over
		// before its ancestors are read.
		nested := ""
		if uses > 0 {
			nested = " AND +gm.group_id IN (SELECT na.group_id FROM group_closure na WHERE " + in("+na.ancestor_id") + ")"
		}
		exact := "EXISTS (SELECT 1 FROM group_members gm CROSS JOIN group_closure c ON c.group_id = gm.group_id WHERE " + own +
			nested + " AND " + in("+c.ancestor_id") +
			" AND NOT EXISTS (SELECT 1 FROM group_members dm WHERE dm.member_id = u.id AND dm.member_type = 'User' AND +dm.group_id = c.ancestor_id))"
		if !transitive {
			return exact, 2 * uses
		}
		return "(EXISTS (SELECT 1 FROM group_members gm WHERE " + own + nested + ") AND (u.id NOT IN (" + topMembers(in, uses > 0) + ") OR " +
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
		inList := func(id string) string { return id + " IN (SELECT g.id FROM groups g WHERE " + typedCond + ")" }
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
const intransitive = "SELECT 1 FROM group_closure WHERE group_id = ancestor_id" +
	" UNION ALL SELECT 1 FROM group_closure x CROSS JOIN group_closure y ON y.group_id = x.ancestor_id" +
	" WHERE y.ancestor_id <> x.group_id AND NOT EXISTS (SELECT 1 FROM group_closure z WHERE z.group_id = x.group_id AND z.ancestor_id = y.ancestor_id)"

// topMembers lists the direct members of the top groups among those that
// match in (twice); withNested keeps those with nested groups only (the
// others are nobody's ancestor).
func topMembers(in func(id string) string, withNested bool) string {
	tops := "SELECT t.id FROM groups t WHERE " + in("t.id")
	if withNested {
		tops += " AND EXISTS (SELECT 1 FROM group_closure tn WHERE tn.ancestor_id = t.id)"
	}
	return "SELECT tm.member_id FROM group_members tm WHERE tm.member_type = 'User' AND tm.group_id IN (" + tops +
		" AND NOT EXISTS (SELECT 1 FROM group_closure ta WHERE ta.group_id = t.id AND " + in("+ta.ancestor_id") +
		" AND NOT EXISTS (SELECT 1 FROM group_closure td WHERE td.group_id = ta.ancestor_id AND td.ancestor_id = t.id)))"
}

// groupsAndNested lists the groups matching cond and the groups nested in them.
func groupsAndNested(cond string, args []any) (string, []any) {
	return "SELECT g.id FROM groups g WHERE " + cond +
			" UNION ALL SELECT c.group_id FROM groups g CROSS JOIN group_closure c ON c.ancestor_id = g.id WHERE " + cond,
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

// memberDisplay is a member's display: the user's displayName (else
// userName), or the group's name.
const memberDisplay = `COALESCE(CASE gm.member_type
	WHEN 'User' THEN (SELECT CASE WHEN mu.display_name <> '' THEN mu.display_name ELSE mu.user_name END FROM users mu WHERE mu.id = gm.member_id)
	ELSE (SELECT mg.name FROM groups mg WHERE mg.id = gm.member_id) END, '')`

var groupMulti = map[string]multiDef{
	// Without display, the condition reads group_members alone. With it, the
	// members are resolved first: users (display: displayName, else
	// userName) and groups each read once, then their groups through the
	// member index, instead of a lookup of each membership's member. Those
	// groups (at most every group) are listed once per read, not once for
	// the total and again for the page.
	"members": {
		subs: map[string]attrDef{
			"value": {kind: kindString, col: "gm.member_id"},
			// A group's display is its name, stored folded: lowerFunc leaves
			// folded text as it is.
			"display": folded("m.display"),
			// member_type is 'User' or 'Group': SQLite's ASCII lower() folds it
			// as strings.ToLower does, without a call into Go per membership.
			"type": {kind: kindString, col: "lower(gm.member_type)", fold: true},
		},
		joinCols: map[string]bool{"display": true},
		wrap: func(c *compiler, cond string, args []any, display bool) (string, []any, error) {
			if !display {
				return "g.id IN (SELECT gm.group_id FROM group_members gm WHERE " + cond + ")", args, nil
			}
			users := "SELECT gm.group_id FROM (SELECT mu.id, CASE WHEN mu.display_name <> '' THEN mu.display_name ELSE mu.user_name END" +
				" AS display FROM users mu) m CROSS JOIN group_members gm ON gm.member_id = m.id AND gm.member_type = 'User' WHERE " + cond
			groups := "SELECT gm.group_id FROM (SELECT mg.id, mg.name_norm AS display FROM groups mg) m" +
				" CROSS JOIN group_members gm ON gm.member_id = m.id AND gm.member_type = 'Group' WHERE " + cond
			list, largs := users+" UNION ALL "+groups, append(append([]any(nil), args...), args...)
			ids, err := c.list(list, "group_id", largs)
			if err != nil || ids == nil {
				return "g.id IN (" + list + ")", largs, err
			}
			return "g.id IN (SELECT value FROM json_each(?))", []any{*ids}, nil
		},
	},
}

// schemaPrefixes may qualify attribute names (RFC 7644 §3.10).
var schemaPrefixes = []string{
	"urn:ietf:params:scim:schemas:core:2.0:user:",
	"urn:ietf:params:scim:schemas:core:2.0:group:",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:",
}

func normAttr(a string) string {
	a = strings.ToLower(a)
	for _, p := range schemaPrefixes {
		if strings.HasPrefix(a, p) {
			return a[len(p):]
		}
	}
	return a
}

type compiler struct {
	users bool // over users, else groups
	attrs map[string]attrDef
	multi map[string]multiDef
	args  []any
	// inside the element scope of a multi-valued attribute
	elem     *multiDef
	usesJoin bool
	// probe, when set, runs a count(*) query in the read that will run the
	// filter, so that a wrap can choose its plan by the data.
	probe func(query string, args []any) (int, error)
	// listIDs, when set, runs a query of ids in the read that will run the
	// filter and returns them as a JSON array.
	listIDs func(query string, args []any) (string, error)
}

func newCompiler(users bool) *compiler {
	if users {
		return &compiler{users: true, attrs: userAttrs, multi: userMulti}
	}
	return &compiler{attrs: groupAttrs, multi: groupMulti}
}

func badFilter(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadFilter}, a...)...)
}

// where compiles e to a boolean SQL condition, appending its parameters to c.args.
func (c *compiler) where(e *Expr) (string, error) {
	if e == nil {
		return "", badFilter("empty expression")
	}
	switch op := strings.ToLower(e.Op); op {
	case "and", "or":
		if e.Left == nil || e.Right == nil {
			return "", badFilter("%s needs two operands", op)
		}
		if op == "or" {
			return c.orTerms(e)
		}
		l, err := c.where(e.Left)
		if err != nil {
			return "", err
		}
		r, err := c.where(e.Right)
		if err != nil {
			return "", err
		}
		return "(" + l + " " + strings.ToUpper(op) + " " + r + ")", nil
	case "not":
		if e.Left == nil {
			return "", badFilter("not needs an operand")
		}
		l, err := c.where(e.Left)
		if err != nil {
			return "", err
		}
		return "(NOT " + l + ")", nil
	case "any":
		if c.elem != nil {
			return "", badFilter("nested value filter in %q", e.Attr)
		}
		m, ok := c.multi[normAttr(e.Attr)]
		if !ok {
			return "", badFilter("%q is not a multi-valued attribute", e.Attr)
		}
		return c.inElement(&m, normAttr(e.Attr), e.Left)
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr":
		return c.compare(op, e)
	default:
		return "", badFilter("unknown operator %q", e.Op)
	}
}

// orTerms compiles an "or" chain. Its comparisons that compareFolded makes
// with LIKE on one column share the test for the rows LIKE cannot answer:
// "a LIKE x OR (rare AND exact x)" or'ed with "a LIKE y OR (rare AND exact
// y)" is "a LIKE x OR a LIKE y OR (rare AND (exact x OR exact y))", with
// rare (the text holds a rune beyond ASCII) read once per row, not once per
// term.
func (c *compiler) orTerms(e *Expr) (string, error) {
	var terms []*Expr
	var flatten func(e *Expr)
	flatten = func(e *Expr) {
		if strings.EqualFold(e.Op, "or") && e.Left != nil && e.Right != nil {
			flatten(e.Left)
			flatten(e.Right)
			return
		}
		terms = append(terms, e)
	}
	flatten(e)
	likes := map[string][]likeTerm{} // by column
	for _, t := range terms {
		if f, ok := c.likeTerm(t); ok {
			likes[f.d.raw] = append(likes[f.d.raw], f)
		}
	}
	var parts []string
	for _, t := range terms {
		if f, ok := c.likeTerm(t); ok {
			fs, first := likes[f.d.raw]
			if !first {
				continue // joined with an earlier term
			}
			delete(likes, f.d.raw)
			parts = append(parts, c.compareLike(fs))
			continue
		}
		sql, err := c.where(t)
		if err != nil {
			return "", err
		}
		parts = append(parts, sql)
	}
	return "(" + strings.Join(parts, " OR ") + ")", nil
}

// likeTerm is a comparison that compareLike makes.
type likeTerm struct {
	op, v string // v folded
	d     attrDef
}

// likeTerm returns e as a likeTerm when it is an eq, co, sw or ew of an
// attribute folded per row (see compareFolded) with a non-empty ASCII value.
func (c *compiler) likeTerm(e *Expr) (likeTerm, bool) {
	op := strings.ToLower(e.Op)
	v, isText := e.Value.(string)
	if _, ok := likeShapes[op]; !ok || op == "ne" || !isText || e.Left != nil || e.Right != nil {
		return likeTerm{}, false
	}
	name := normAttr(e.Attr)
	var d attrDef
	var ok bool
	if c.elem != nil {
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		if d, ok = c.elem.subs[name]; ok && c.elem.joinCols[name] {
			c.usesJoin = true
		}
	} else {
		d, ok = c.attrs[name]
	}
	v = strings.ToLower(v)
	if !ok || d.kind != kindString || d.raw == "" || v == "" || !isASCII(v) || strings.ContainsRune(v, 0) {
		return likeTerm{}, false
	}
	return likeTerm{op: op, v: v, d: d}, true
}

// inElement compiles f over the sub-attributes of multi-valued attribute name.
func (c *compiler) inElement(m *multiDef, name string, f *Expr) (string, error) {
	c.elem, c.usesJoin = m, false
	defer func() { c.elem = nil }()
	start := len(c.args)
	cond, err := c.where(f)
	if err != nil {
		return "", fmt.Errorf("in %s: %w", name, err)
	}
	sql, args, err := m.wrap(c, cond, append([]any(nil), c.args[start:]...), c.usesJoin)
	if err != nil {
		return "", err
	}
	c.args = append(c.args[:start], args...)
	return sql, nil
}

// foldOr rewrites the "or" chains of e so that the terms on one
// multi-valued attribute become one condition on its elements:
// "groups.display co a or groups.display co b" is any(groups, display co a
// or display co b), which holds exactly when one of the terms does (some
// element matches a, or some element matches b). Each condition on groups
// or members reads the groups or the memberships once: folded, an or of
// them reads them once, not once per term.
func (c *compiler) foldOr(e *Expr) *Expr {
	if e == nil {
		return nil
	}
	switch strings.ToLower(e.Op) {
	case "and", "not":
		f := *e
		f.Left, f.Right = c.foldOr(e.Left), c.foldOr(e.Right)
		return &f
	case "or":
		if e.Left == nil || e.Right == nil {
			return e // where refuses it
		}
	default:
		return e
	}
	var terms []*Expr
	var collect func(e *Expr)
	collect = func(e *Expr) {
		if strings.EqualFold(e.Op, "or") && e.Left != nil && e.Right != nil {
			collect(e.Left)
			collect(e.Right)
			return
		}
		terms = append(terms, c.foldOr(e))
	}
	collect(e)
	var out []*Expr
	at := map[string]int{} // multi-valued attribute → its term in out
	for _, t := range terms {
		name, inner := c.asElements(t)
		if inner == nil {
			out = append(out, t)
			continue
		}
		if i, ok := at[name]; ok {
			out[i] = &Expr{Op: "any", Attr: name, Left: &Expr{Op: "or", Left: out[i].Left, Right: inner}}
			continue
		}
		at[name] = len(out)
		out = append(out, &Expr{Op: "any", Attr: name, Left: inner})
	}
	if len(out) == len(terms) {
		return e // nothing to fold
	}
	folded := out[0]
	for _, t := range out[1:] {
		folded = &Expr{Op: "or", Left: folded, Right: t}
	}
	return folded
}

// asElements returns the multi-valued attribute that e is a condition on
// (groups, members) and the condition on its elements, as compare reads
// "groups.display co x" and a bare "groups"; else inner is nil.
func (c *compiler) asElements(e *Expr) (name string, inner *Expr) {
	if e == nil {
		return "", nil
	}
	op := strings.ToLower(e.Op)
	if op == "any" {
		name = normAttr(e.Attr)
		if !isSubquery(c.multi, name) || e.Left == nil {
			return "", nil
		}
		return name, e.Left
	}
	if e.Left != nil || e.Right != nil || op == "and" || op == "or" || op == "not" {
		return "", nil
	}
	attr := normAttr(e.Attr)
	if _, ok := c.attrs[attr]; ok {
		return "", nil
	}
	parent, sub, _ := strings.Cut(attr, ".")
	if !isSubquery(c.multi, parent) {
		return "", nil
	}
	if sub == "" {
		if op == "pr" {
			return parent, &Expr{Op: "pr", Attr: "value"}
		}
		sub = "value"
	}
	return parent, &Expr{Op: e.Op, Attr: sub, Value: e.Value}
}

// count returns how many rows query yields, reading at most limit of them;
// without a probe (a compiler not tied to a read) it is 0.
func (c *compiler) count(query string, args []any, limit int) (int, error) {
	if c.probe == nil {
		return 0, nil
	}
	return c.probe("SELECT count(*) FROM ("+query+" LIMIT ?)", append(append([]any(nil), args...), limit))
}

// list returns the distinct ids (column col) query yields as a JSON array, for a wrap
// that resolves a bounded set once instead of in every statement of a read;
// without listIDs (a compiler not tied to a read) it is nil.
func (c *compiler) list(query, col string, args []any) (*string, error) {
	if c.listIDs == nil {
		return nil, nil
	}
	ids, err := c.listIDs("SELECT DISTINCT "+col+" AS id FROM ("+query+")", args)
	return &ids, err
}

// compare compiles one attribute comparison (or pr).
func (c *compiler) compare(op string, e *Expr) (string, error) {
	name := normAttr(e.Attr)
	if c.elem != nil {
		// Inside a value filter: "value", or the qualified "emails.value".
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		d, ok := c.elem.subs[name]
		if !ok {
			return "", badFilter("unknown sub-attribute %q", e.Attr)
		}
		if c.elem.joinCols[name] {
			c.usesJoin = true
		}
		return c.compareAttr(op, e, d)
	}
	if d, ok := c.attrs[name]; ok {
		return c.compareAttr(op, e, d)
	}
	// emails.value eq "x" is any(emails, value eq "x"); a bare "emails" means its value.
	parent, sub, _ := strings.Cut(name, ".")
	m, ok := c.multi[parent]
	if !ok {
		return "", badFilter("unknown attribute %q", e.Attr)
	}
	if sub == "" {
		if op == "pr" {
			return c.inElement(&m, parent, &Expr{Op: "pr", Attr: "value"})
		}
		sub = "value"
	}
	return c.inElement(&m, parent, &Expr{Op: op, Attr: sub, Value: e.Value})
}

func (c *compiler) compareAttr(op string, e *Expr, d attrDef) (string, error) {
	present := d.present
	if present == "" {
		present = "1"
	}
	if op == "pr" {
		return present, nil
	}
	if e.Value == nil {
		switch op {
		case "eq":
			return "(NOT " + present + ")", nil
		case "ne":
			return present, nil
		}
		return "", badFilter("%s %s null: only eq and ne compare with null", e.Attr, op)
	}
	var cond string
	var err error
	switch d.kind {
	case kindString:
		cond, err = c.compareString(op, e, d)
	case kindBool:
		cond, err = c.compareBool(op, e, d)
	case kindDate:
		cond, err = c.compareDate(op, e, d)
	}
	if err != nil {
		return "", err
	}
	if op == "ne" {
		return "(NOT " + cond + ")", nil
	}
	return cond, nil
}

// compareString returns the positive condition (for ne: the eq condition).
func (c *compiler) compareString(op string, e *Expr, d attrDef) (string, error) {
	v, ok := e.Value.(string)
	if !ok {
		return "", badFilter("%s %s: want a string, got %T", e.Attr, op, e.Value)
	}
	if d.fold {
		v = strings.ToLower(v)
	}
	cond := c.stringCond(op, v, d)
	if v != "" && op != "gt" && op != "ge" && op != "lt" && op != "le" {
		// Equal to, containing, starting or ending with a non-empty value
		// implies presence: only an order compares with the empty text.
		return cond, nil
	}
	if d.present != "" {
		cond = "(" + d.present + " AND " + cond + ")"
	}
	return cond, nil
}

// likeShapes are the LIKE patterns of the comparisons compareFolded makes
// with LIKE, around the escaped value.
var likeShapes = map[string][2]string{"eq": {"", ""}, "ne": {"", ""}, "co": {"%", "%"}, "sw": {"", "%"}, "ew": {"%", ""}}

// stringCond compares d with the (folded) value v, appending the arguments.
func (c *compiler) stringCond(op, v string, d attrDef) string {
	if _, ok := likeShapes[op]; ok && d.raw != "" && v != "" && !strings.ContainsRune(v, 0) {
		return c.compareFolded(op, v, d)
	}
	return c.exactString(op, d.col, v)
}

// foldsToASCII are the runes beyond ASCII that strings.ToLower turns into
// ASCII letters (İ into i, the Kelvin sign into k); a test checks every rune.
const foldsToASCII = "\u0130\u212a"

// compareFolded compares lowerFunc(d.raw) with v as exactString does,
// without a call of lowerFunc (an allocation in Go) on most rows. SQLite's
// LIKE folds ASCII letters only, and reads text up to a NUL. Where v is
// ASCII, it answers as strings.ToLower does for every row whose text holds
// none of foldsToASCII and no NUL: the ASCII runs of the folded text are
// then those of the text, folded. Only rows holding one of those (non-ASCII
// text, length below octet_length) are compared through lowerFunc. Where v
// is not ASCII, no ASCII text can hold it.
func (c *compiler) compareFolded(op, v string, d attrDef) string {
	if !isASCII(v) {
		return "(" + nonASCII(d.raw) + " AND " + c.exactString(op, d.col, v) + ")"
	}
	return c.compareLike([]likeTerm{{op: op, v: v, d: d}})
}

// compareLike is compareFolded for ASCII values, of one or more terms or'ed
// on one column (see orTerms).
func (c *compiler) compareLike(terms []likeTerm) string {
	raw := terms[0].d.raw
	var likes, exact []string
	for _, t := range terms {
		shape := likeShapes[t.op]
		c.args = append(c.args, shape[0]+likeEscaper.Replace(t.v)+shape[1])
		likes = append(likes, raw+` LIKE ? ESCAPE '\'`)
	}
	c.args = append(c.args, "*["+foldsToASCII+"]*")
	for _, t := range terms {
		exact = append(exact, c.exactString(t.op, t.d.col, t.v))
	}
	return "(" + strings.Join(likes, " OR ") + " OR (" + nonASCII(raw) + " AND (" + raw + " GLOB ? OR instr(" + raw +
		", char(0)) > 0) AND (" + strings.Join(exact, " OR ") + ")))"
}

// nonASCII is the condition that the text col holds a rune beyond ASCII.
func nonASCII(col string) string { return "length(" + col + ") <> octet_length(" + col + ")" }

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// exactString is the condition that col compares with v (already folded
// when col is), appending its arguments.
func (c *compiler) exactString(op, col, v string) string {
	switch op {
	case "co":
		c.args = append(c.args, v)
		return "instr(" + col + ", ?) > 0"
	case "sw":
		// Byte-wise prefix range: no stored UTF-8 text holds the byte 0xFF.
		c.args = append(c.args, v, v+"\xff")
		return "(" + col + " >= ? AND " + col + " < ?)"
	case "ew":
		c.args = append(c.args, v, v, v)
		return "(length(" + col + ") >= length(?) AND substr(" + col + ", length(" + col + ") - length(?) + 1) = ?)"
	case "gt", "ge", "lt", "le":
		c.args = append(c.args, v)
		return col + " " + cmpOps[op] + " ?"
	}
	c.args = append(c.args, v) // eq, ne
	return col + " = ?"
}

var cmpOps = map[string]string{"gt": ">", "ge": ">=", "lt": "<", "le": "<="}

func (c *compiler) compareBool(op string, e *Expr, d attrDef) (string, error) {
	v, ok := e.Value.(bool)
	if !ok {
		return "", badFilter("%s %s: want true or false, got %T", e.Attr, op, e.Value)
	}
	if op != "eq" && op != "ne" {
		return "", badFilter("%s %s: a boolean compares with eq and ne only", e.Attr, op)
	}
	c.args = append(c.args, v)
	return d.col + " = ?", nil
}

// compareDate compares instants. Stored values have millisecond precision; a
// finer value is rounded in the direction that keeps the comparison exact.
func (c *compiler) compareDate(op string, e *Expr, d attrDef) (string, error) {
	s, ok := e.Value.(string)
	if !ok {
		return "", badFilter("%s %s: want an RFC 3339 date-time string, got %T", e.Attr, op, e.Value)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", badFilter("%s %s %q: not an RFC 3339 date-time", e.Attr, op, s)
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", badFilter("%s %s %q: year out of range", e.Attr, op, s)
	}
	floor := t.Truncate(time.Millisecond)
	exact := floor.Equal(t)
	if !exact {
		switch op {
		case "eq", "ne":
			return "0", nil // ne negates this
		case "ge":
			op = "gt" // v >= t  ⟺  v > floor(t) when t is between milliseconds
		case "lt":
			op = "le"
		}
	}
	switch op {
	case "eq", "ne":
		c.args = append(c.args, floor.Format(tsLayout))
		return d.col + " = ?", nil
	case "gt", "ge", "lt", "le":
		c.args = append(c.args, floor.Format(tsLayout))
		return d.col + " " + cmpOps[op] + " ?", nil
	}
	return "", badFilter("%s %s: a date-time compares with eq, ne, gt, ge, lt and le", e.Attr, op)
}

// orderBy returns the ORDER BY clause for sortBy: "" is the list's own
// order (its table's key, see userKey), "id" by id, else any single-valued
// attribute, ties broken by id.
func (c *compiler) orderBy(sortBy string, desc bool) (string, error) {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	key, idCol := groupKey, "g.id"
	if c.users {
		key, idCol = userKey, "u.id"
	}
	switch {
	case sortBy == "":
		return key + dir, nil
	case normAttr(sortBy) == "id":
		return idCol + dir, nil
	}
	d, ok := c.attrs[normAttr(sortBy)]
	if !ok {
		return "", badFilter("cannot sort by %q", sortBy)
	}
	return d.col + dir + ", " + idCol + dir, nil
}
