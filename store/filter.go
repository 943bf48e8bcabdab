package store

import (
	"fmt"
	"strings"
	"time"
)

// Filters compile to a WHERE clause over "users u" or "groups g". Values are
// always bound parameters; only fixed SQL fragments (here and in
// filterattrs.go) are concatenated.

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
