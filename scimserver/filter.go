package scimserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/store"
)

// Schema URNs of the resources scimbridge serves.
const (
	userSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// attrKind says which values and operators an attribute accepts.
type attrKind int

const (
	kindString attrKind = iota
	kindBool
	kindDate
	kindMulti // a multi-valued complex attribute: only in value paths or via its sub-attributes
)

// attrDef is one filterable attribute: its store name and kind.
type attrDef struct {
	name string
	kind attrKind
	// subs are the sub-attributes of a multi-valued attribute usable inside a
	// value path, by lower-case name.
	subs map[string]attrDef
}

// resourceDef describes the filterable attributes of one resource type.
type resourceDef struct {
	schemas []string           // URNs whose prefix may qualify attribute names
	attrs   map[string]attrDef // by lower-case path ("name.givenname")
}

var (
	emailSubs = map[string]attrDef{
		"value":   {name: "value", kind: kindString},
		"type":    {name: "type", kind: kindString},
		"primary": {name: "primary", kind: kindBool},
	}
	refSubs = map[string]attrDef{
		"value":   {name: "value", kind: kindString},
		"display": {name: "display", kind: kindString},
		"type":    {name: "type", kind: kindString},
	}

	userDef = resourceDef{
		schemas: []string{userSchema, enterpriseSchema},
		attrs: map[string]attrDef{
			"id":                {name: "id"},
			"externalid":        {name: "externalId"},
			"username":          {name: "userName"},
			"displayname":       {name: "displayName"},
			"name.givenname":    {name: "name.givenName"},
			"name.familyname":   {name: "name.familyName"},
			"name.formatted":    {name: "name.formatted"},
			"emails":            {name: "emails", kind: kindMulti, subs: emailSubs},
			"emails.value":      {name: "emails.value"},
			"emails.type":       {name: "emails.type"},
			"emails.primary":    {name: "emails.primary", kind: kindBool},
			"active":            {name: "active", kind: kindBool},
			"employeenumber":    {name: "employeeNumber"},
			"department":        {name: "department"},
			"meta.created":      {name: "meta.created", kind: kindDate},
			"meta.lastmodified": {name: "meta.lastModified", kind: kindDate},
			"meta.version":      {name: "meta.version"},
			"groups":            {name: "groups", kind: kindMulti, subs: refSubs},
			"groups.value":      {name: "groups.value"},
			"groups.display":    {name: "groups.display"},
			"groups.type":       {name: "groups.type"},
		},
	}
	groupDef = resourceDef{
		schemas: []string{groupSchema},
		attrs: map[string]attrDef{
			"id":                {name: "id"},
			"externalid":        {name: "externalId"},
			"displayname":       {name: "displayName"},
			"meta.created":      {name: "meta.created", kind: kindDate},
			"meta.lastmodified": {name: "meta.lastModified", kind: kindDate},
			"meta.version":      {name: "meta.version"},
			"members":           {name: "members", kind: kindMulti, subs: refSubs},
			"members.value":     {name: "members.value"},
			"members.display":   {name: "members.display"},
			"members.type":      {name: "members.type"},
		},
	}
)

// filterError is a filter the server refuses: 400 invalidFilter with Error() as detail.
type filterError struct{ msg string }

func (e *filterError) Error() string { return e.msg }

func badFilter(format string, args ...any) error {
	return &filterError{msg: fmt.Sprintf(format, args...)}
}

// maxFilterLen bounds the filter text; longer filters are refused before parsing.
const maxFilterLen = 4096

// parseFilter parses a SCIM filter and translates it into a store expression
// over the resource's attributes. Every error it returns is a *filterError.
func parseFilter(text string, def resourceDef) (expr *store.Expr, err error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	if len(text) > maxFilterLen {
		return nil, badFilter("the filter is longer than %d bytes", maxFilterLen)
	}
	if err := checkFilterShape(text); err != nil {
		return nil, err
	}
	defer func() {
		// The parser is third-party code fed with client input: never let it take the server down.
		if r := recover(); r != nil {
			expr, err = nil, badFilter("the filter cannot be parsed")
		}
	}()
	ast, perr := filter.ParseFilter([]byte(rewriteSubAttrPaths(text)))
	if perr != nil {
		return nil, badFilter("the filter cannot be parsed: check quotes, operators and brackets")
	}
	return translate(ast, def)
}

// translateLogic translates the and/or/not structure of a filter and hands
// every other node to leaf.
func translateLogic(e filter.Expression, leaf func(filter.Expression) (*store.Expr, error)) (*store.Expr, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := translateLogic(e.Left, leaf)
		if err != nil {
			return nil, err
		}
		r, err := translateLogic(e.Right, leaf)
		if err != nil {
			return nil, err
		}
		op := strings.ToLower(string(e.Operator))
		if op != "and" && op != "or" {
			return nil, badFilter("unknown logical operator %q", e.Operator)
		}
		return &store.Expr{Op: op, Left: l, Right: r}, nil
	case *filter.NotExpression:
		x, err := translateLogic(e.Expression, leaf)
		if err != nil {
			return nil, err
		}
		return &store.Expr{Op: "not", Left: x}, nil
	default:
		return leaf(e)
	}
}

func translate(e filter.Expression, def resourceDef) (*store.Expr, error) {
	return translateLogic(e, func(e filter.Expression) (*store.Expr, error) {
		switch e := e.(type) {
		case *filter.AttributeExpression:
			a, err := lookupAttr(e.AttributePath, def)
			if err != nil {
				return nil, err
			}
			if a.kind == kindMulti {
				// "emails eq x" compares the elements' values (RFC 7644 §3.4.2.2).
				a = attrDef{name: a.name + ".value", kind: a.subs["value"].kind}
			}
			return compare(a, e)
		case *filter.ValuePath:
			a, err := lookupAttr(e.AttributePath, def)
			if err != nil {
				return nil, err
			}
			if e.AttributePath.SubAttribute != nil || a.kind != kindMulti {
				return nil, badFilter("%s is not a multi-valued attribute: value filters [ ] apply to emails, groups and members", e.AttributePath)
			}
			inner, err := translateSub(e.ValueFilter, a)
			if err != nil {
				return nil, err
			}
			return &store.Expr{Op: "any", Attr: a.name, Left: inner}, nil
		default:
			return nil, badFilter("unsupported filter expression")
		}
	})
}

// translateSub translates the filter inside a value path over multi-valued attribute mv.
func translateSub(e filter.Expression, mv attrDef) (*store.Expr, error) {
	return translateLogic(e, func(e filter.Expression) (*store.Expr, error) {
		a, ok := e.(*filter.AttributeExpression)
		if !ok {
			return nil, badFilter("%s[ ]: only comparisons joined by and/or are supported inside [ ]", mv.name)
		}
		p := a.AttributePath
		name := p.AttributeName
		if p.URIPrefix != nil || p.SubAttribute != nil {
			return nil, badFilter("%s[%s]: use the plain sub-attribute name inside [ ]", mv.name, p)
		}
		sub, ok := mv.subs[strings.ToLower(name)]
		if !ok {
			return nil, badFilter("%s has no sub-attribute %q usable in a filter", mv.name, name)
		}
		return compare(sub, a)
	})
}

// lookupAttr resolves an attribute path, optionally URN-qualified, case-insensitively.
func lookupAttr(p filter.AttributePath, def resourceDef) (attrDef, error) {
	key := strings.ToLower(p.AttributeName)
	if sub := p.SubAttributeName(); sub != "" {
		key += "." + strings.ToLower(sub)
	}
	if uri := p.URI(); uri != "" {
		known := false
		for _, s := range def.schemas {
			if strings.EqualFold(uri, s) {
				known = true
				// Enterprise attributes only exist under the extension URN, core ones only under the core URN.
				ext := strings.EqualFold(s, enterpriseSchema)
				isExt := key == "employeenumber" || key == "department"
				if ext != isExt {
					return attrDef{}, badFilter("unknown attribute %q", p.String())
				}
			}
		}
		if !known {
			return attrDef{}, badFilter("unknown schema %q in attribute %q", uri, p.String())
		}
	}
	a, ok := def.attrs[key]
	if !ok {
		return attrDef{}, badFilter("unknown or unfilterable attribute %q", p.String())
	}
	return a, nil
}

// compare builds a comparison, checking the operator and value against the attribute's kind.
func compare(a attrDef, e *filter.AttributeExpression) (*store.Expr, error) {
	op := strings.ToLower(string(e.Operator))
	switch op {
	case "pr":
		return &store.Expr{Op: "pr", Attr: a.name}, nil
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return nil, badFilter("unknown operator %q", e.Operator)
	}
	v := e.CompareValue
	switch a.kind {
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, badFilter("%s is a boolean: compare it with true or false", a.name)
		}
		if op != "eq" && op != "ne" {
			return nil, badFilter("%s is a boolean: only eq and ne apply", a.name)
		}
		return &store.Expr{Op: op, Attr: a.name, Value: b}, nil
	case kindDate:
		s, ok := v.(string)
		if !ok {
			return nil, badFilter("%s is a date-time: compare it with a quoted RFC 3339 value", a.name)
		}
		switch op {
		case "co", "sw", "ew":
			return nil, badFilter("%s is a date-time: only eq, ne, gt, ge, lt and le apply", a.name)
		}
		s, err := unquote(s)
		if err != nil {
			return nil, err
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, badFilter("%s: %q is not an RFC 3339 date-time such as \"2026-01-02T15:04:05Z\"", a.name, s)
		}
		return &store.Expr{Op: op, Attr: a.name, Value: s}, nil
	default:
		s, ok := v.(string)
		if !ok {
			return nil, badFilter("%s is a string: compare it with a quoted value", a.name)
		}
		s, err := unquote(s)
		if err != nil {
			return nil, err
		}
		return &store.Expr{Op: op, Attr: a.name, Value: s}, nil
	}
}

// unquote decodes the JSON escapes of a filter string (the parser keeps them verbatim).
func unquote(raw string) (string, error) {
	if !strings.Contains(raw, `\`) {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal([]byte(`"`+raw+`"`), &s); err != nil {
		return "", badFilter("invalid escape in the string %q", raw)
	}
	return s, nil
}

// rewriteSubAttrPaths rewrites `attr[f].sub op value` (a form Entra sends, which
// the parser does not accept) into the equivalent `attr[f and sub op value]`.
// The parser allows no parentheses inside [ ], so an inner "a or b" is
// distributed: `(attr[a and s] or attr[b and s])`. Text it does not understand
// is left unchanged for the parser to reject.
func rewriteSubAttrPaths(s string) string {
	if !strings.Contains(s, "].") {
		return s
	}
	var out strings.Builder
	i, copied := 0, 0
	for i < len(s) {
		c := s[i]
		if c == '"' {
			i = skipString(s, i)
			continue
		}
		if c != '[' {
			i++
			continue
		}
		// s[i] opens a value path; find its attribute path and closing bracket.
		start := i
		for start > 0 && isPathChar(s[start-1]) {
			start--
		}
		end := i + 1
		for end < len(s) && s[end] != ']' {
			if s[end] == '"' {
				end = skipString(s, end)
				continue
			}
			end++
		}
		if end >= len(s) {
			break
		}
		if end+1 >= len(s) || s[end+1] != '.' {
			i = end + 1
			continue
		}
		attr, inner := s[start:i], s[i+1:end]
		cmp, next, ok := scanComparison(s, end+2)
		if !ok || attr == "" {
			i = end + 1
			continue
		}
		out.WriteString(s[copied:start])
		terms := splitOr(inner)
		if len(terms) > 1 {
			out.WriteByte('(')
		}
		for k, t := range terms {
			if k > 0 {
				out.WriteString(" or ")
			}
			out.WriteString(attr + "[" + strings.TrimSpace(t) + " and " + cmp + "]")
		}
		if len(terms) > 1 {
			out.WriteByte(')')
		}
		copied, i = next, next
	}
	out.WriteString(s[copied:])
	return out.String()
}

func isPathChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '$' || c == ':' || c == '.'
}

// skipString returns the index just past the quoted string starting at s[i] == '"'.
func skipString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}

// scanComparison reads `sub op value` (or `sub pr`) starting at s[i] and
// returns it with the index just past it.
func scanComparison(s string, i int) (string, int, bool) {
	j := i
	for j < len(s) && isPathChar(s[j]) && s[j] != '.' && s[j] != ':' {
		j++
	}
	sub := s[i:j]
	if sub == "" || j >= len(s) || s[j] != ' ' {
		return "", 0, false
	}
	for j < len(s) && s[j] == ' ' {
		j++
	}
	k := j
	for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z') {
		k++
	}
	op := strings.ToLower(s[j:k])
	if op == "pr" {
		return sub + " pr", k, true
	}
	if len(op) != 2 || k >= len(s) || s[k] != ' ' {
		return "", 0, false
	}
	for k < len(s) && s[k] == ' ' {
		k++
	}
	v := k
	if k < len(s) && s[k] == '"' {
		k = skipString(s, k)
	} else {
		for k < len(s) && s[k] != ' ' && s[k] != ')' {
			k++
		}
	}
	if v == k {
		return "", 0, false
	}
	return sub + " " + op + " " + s[v:k], k, true
}

// splitOr splits a value filter on its top-level "or" keywords (outside strings).
func splitOr(s string) []string {
	var parts []string
	last := 0
	for i := 0; i < len(s); {
		if s[i] == '"' {
			i = skipString(s, i)
			continue
		}
		if i > 0 && s[i-1] == ' ' && i+3 <= len(s) && strings.EqualFold(s[i:i+2], "or") && s[i+2] == ' ' {
			parts = append(parts, s[last:i-1])
			last = i + 3
			i += 3
			continue
		}
		i++
	}
	return append(parts, s[last:])
}
