package store

import (
	"fmt"
	"strings"
)

// What a filter may cost. Every filter compiles to a plan that reads an
// index or scans each table at most a bounded number of times: each
// comparison of a single-valued attribute is evaluated on the row being
// scanned, and each condition on a multi-valued attribute (groups, members)
// is one subquery over the groups or memberships. Bounding the number of
// those subqueries and the depth of the expression bounds the work.
const (
	// MaxFilterSubqueries is the most conditions on groups or members one
	// filter may hold: each reads the memberships once.
	MaxFilterSubqueries = 3
	// MaxFilterDepth is the deepest expression tree compiled (SQLite refuses
	// expressions nested about 1000 deep; each level here is a few there).
	MaxFilterDepth = 64
	// MaxFilterFolds is the most comparisons with attributes that compare
	// without case and have no folded copy (displayName, name.*, emails,
	// employeeNumber, department): each compares every row of a scan again
	// (with LIKE, and through lowerFunc where the text is not ASCII).
	MaxFilterFolds = 4
)

// CheckFilter refuses a filter over users (users true) or groups deeper
// than MaxFilterDepth or with more than MaxFilterSubqueries conditions on
// groups or members; the error says which, in words for a client, and
// errors.Is(err, ErrBadFilter) holds. ListUsers and ListGroups check it too.
func CheckFilter(e *Expr, users bool) error {
	multi := groupMulti
	if users {
		multi = userMulti
	}
	attrs := groupAttrs
	if users {
		attrs = userAttrs
	}
	subqueries, folds := 0, 0
	var walk func(e *Expr, depth int) error
	walk = func(e *Expr, depth int) error {
		if e == nil {
			return nil
		}
		if depth > MaxFilterDepth {
			return &costError{fmt.Sprintf("the filter is nested more than %d levels deep", MaxFilterDepth)}
		}
		if e.Op == "any" {
			if isSubquery(multi, e.Attr) {
				subqueries++
				// The element filter is one subquery, however many terms it has.
				return walk(e.Left, depth+1)
			}
			folds += countFolds(e.Left, multi[normAttr(e.Attr)].subs)
			return nil
		}
		if e.Left == nil && e.Right == nil {
			name := normAttr(e.Attr)
			parent, sub, _ := strings.Cut(name, ".")
			switch {
			case isSubquery(multi, parent):
				subqueries++
			case isFold(attrs[name]):
				folds++
			case multi[parent].subs != nil && isFold(multi[parent].subs[sub]):
				folds++
			}
		}
		if err := walk(e.Left, depth+1); err != nil {
			return err
		}
		return walk(e.Right, depth+1)
	}
	if err := walk(e, 0); err != nil {
		return err
	}
	if subqueries > MaxFilterSubqueries {
		return &costError{fmt.Sprintf("the filter has %d conditions on groups or members: at most %d are allowed", subqueries, MaxFilterSubqueries)}
	}
	if folds > MaxFilterFolds {
		return &costError{fmt.Sprintf("the filter has %d comparisons with displayName, name, emails, employeeNumber or department: at most %d are allowed", folds, MaxFilterFolds)}
	}
	return nil
}

// isFold reports whether comparing d folds its column per row (a call of
// lowerFunc), not a column stored folded.
func isFold(d attrDef) bool {
	return d.fold && strings.HasPrefix(d.col, lowerFunc+"(")
}

// countFolds counts the folding comparisons of an element filter over subs.
func countFolds(e *Expr, subs map[string]attrDef) int {
	if e == nil {
		return 0
	}
	if e.Left != nil || e.Right != nil {
		return countFolds(e.Left, subs) + countFolds(e.Right, subs)
	}
	name := normAttr(e.Attr)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if isFold(subs[name]) {
		return 1
	}
	return 0
}

// costError is a filter refused for what it would cost.
type costError struct{ msg string }

func (e *costError) Error() string        { return e.msg }
func (e *costError) Is(target error) bool { return target == ErrBadFilter }

// isSubquery reports whether conditions on the multi-valued attribute name
// run as a subquery (emails are columns of the user row).
func isSubquery(multi map[string]multiDef, name string) bool {
	name = normAttr(name)
	_, ok := multi[name]
	return ok && name != "emails"
}

// Indexed reports whether q (over users when users is true, else groups)
// is answered by index lookups that each find at most a handful of rows: a
// filter that is an eq on id, externalId or the user's userName or group's
// displayName, or an "and" with such a side, or an "or" of such filters. A
// server can let these past an admission limit meant for filters that scan.
func (q Query) Indexed(users bool) bool {
	return q.Filter != nil && indexed(q.Filter, users)
}

func indexed(e *Expr, users bool) bool {
	if e == nil {
		return false
	}
	switch e.Op {
	case "and":
		return indexed(e.Left, users) || indexed(e.Right, users)
	case "or":
		return indexed(e.Left, users) && indexed(e.Right, users)
	case "eq":
		v, ok := e.Value.(string)
		if !ok || v == "" {
			return false
		}
		switch normAttr(e.Attr) {
		case "id", "externalid":
			return true
		case "username":
			return users
		case "displayname":
			return !users
		}
	}
	return false
}
