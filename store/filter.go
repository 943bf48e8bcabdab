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
	// present, when set, is the SQL condition for "the attribute has a value"
	// (optional attributes are stored as ''); otherwise it is always present.
	present string
}

// multiDef is a multi-valued attribute: sub-attribute conditions are evaluated
// per element, and the whole is true when some element matches.
type multiDef struct {
	subs map[string]attrDef
	// wrap builds the condition on the resource from the element condition;
	// usesJoin reports whether cond needs the joined table.
	wrap func(cond string, usesJoin bool) string
	// joinCols are the sub-attributes that need wrap's optional join.
	joinCols map[string]bool
}

func lowerOf(col string) string { return lowerFunc + "(" + col + ")" }

func optional(col string, fold bool) attrDef {
	d := attrDef{kind: kindString, col: col, present: col + " <> ''"}
	if fold {
		d.col, d.fold = lowerOf(col), true
	}
	return d
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
			"value":   {kind: kindString, col: lowerOf("u.email"), fold: true},
			"type":    {kind: kindString, col: "'work'", fold: true},
			"primary": {kind: kindBool, col: "1"},
		},
		wrap: func(cond string, _ bool) string { return "(u.email <> '' AND " + cond + ")" },
	},
	"groups": {
		subs: map[string]attrDef{
			"value":   {kind: kindString, col: "ug.group_id"},
			"display": {kind: kindString, col: "ug.name_norm", fold: true},
			"type":    {kind: kindString, col: "ug.type", fold: true},
		},
		joinCols: map[string]bool{"display": true},
		wrap: func(cond string, join bool) string {
			return "u.id IN (SELECT ug.user_id FROM " + userGroups(join) + " ug WHERE " + cond + ")"
		},
	},
}

// userGroups is the relation (user_id, group_id, type[, name_norm]) of every
// group of every user: the groups listing the user, typed "direct", and their
// ancestors in the nesting closure that do not list it, typed "indirect". A
// group reached by several paths appears more than once, which membership
// tests do not mind. SQLite pushes the element condition into both arms, so
// "groups.value eq X" reads group_members by its key and group_closure by its
// ancestor index. withName joins each arm to its group for the display.
func userGroups(withName bool) string {
	name, join, cname, cjoin := "", "", "", ""
	if withName {
		name, join = ", dg.name_norm AS name_norm", " JOIN groups dg ON dg.id = gm.group_id"
		cname, cjoin = ", ag.name_norm", " JOIN groups ag ON ag.id = c.ancestor_id"
	}
	return "(SELECT gm.member_id AS user_id, gm.group_id AS group_id, 'direct' AS type" + name +
		" FROM group_members gm" + join + " WHERE gm.member_type = 'User'" +
		" UNION ALL SELECT gm.member_id, c.ancestor_id, 'indirect'" + cname +
		" FROM group_closure c JOIN group_members gm ON gm.group_id = c.group_id" + cjoin +
		" WHERE gm.member_type = 'User' AND NOT EXISTS (SELECT 1 FROM group_members dm" +
		" WHERE dm.group_id = c.ancestor_id AND dm.member_id = gm.member_id))"
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
	"members": {
		subs: map[string]attrDef{
			"value":   {kind: kindString, col: "gm.member_id"},
			"display": {kind: kindString, col: lowerOf(memberDisplay), fold: true},
			"type":    {kind: kindString, col: lowerOf("gm.member_type"), fold: true},
		},
		wrap: func(cond string, _ bool) string {
			return "g.id IN (SELECT gm.group_id FROM group_members gm WHERE " + cond + ")"
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
	attrs map[string]attrDef
	multi map[string]multiDef
	args  []any
	// inside the element scope of a multi-valued attribute
	elem     *multiDef
	usesJoin bool
}

func newCompiler(users bool) *compiler {
	if users {
		return &compiler{attrs: userAttrs, multi: userMulti}
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

// inElement compiles f over the sub-attributes of multi-valued attribute name.
func (c *compiler) inElement(m *multiDef, name string, f *Expr) (string, error) {
	c.elem, c.usesJoin = m, false
	defer func() { c.elem = nil }()
	cond, err := c.where(f)
	if err != nil {
		return "", fmt.Errorf("in %s: %w", name, err)
	}
	return m.wrap(cond, c.usesJoin), nil
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
	var cond string
	switch op {
	case "eq", "ne":
		if v != "" {
			c.args = append(c.args, v)
			return d.col + " = ?", nil // a non-empty value implies presence
		}
		cond = d.col + " = ?"
		c.args = append(c.args, v)
	case "co":
		cond = "instr(" + d.col + ", ?) > 0"
		c.args = append(c.args, v)
	case "sw":
		// Byte-wise prefix range: no stored UTF-8 text holds the byte 0xFF.
		cond = "(" + d.col + " >= ? AND " + d.col + " < ?)"
		c.args = append(c.args, v, v+"\xff")
	case "ew":
		cond = "(length(" + d.col + ") >= length(?) AND substr(" + d.col + ", length(" + d.col + ") - length(?) + 1) = ?)"
		c.args = append(c.args, v, v, v)
	case "gt", "ge", "lt", "le":
		cond = d.col + " " + cmpOps[op] + " ?"
		c.args = append(c.args, v)
	}
	if d.present != "" {
		cond = "(" + d.present + " AND " + cond + ")"
	}
	return cond, nil
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

// orderBy returns the ORDER BY clause for sortBy ("" is by id): any
// single-valued attribute; ties break by id.
func (c *compiler) orderBy(sortBy string, desc bool, idCol string) (string, error) {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	if sortBy == "" || normAttr(sortBy) == "id" {
		return idCol + dir, nil
	}
	d, ok := c.attrs[normAttr(sortBy)]
	if !ok {
		return "", badFilter("cannot sort by %q", sortBy)
	}
	return d.col + dir + ", " + idCol + dir, nil
}
