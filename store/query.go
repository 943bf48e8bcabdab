package store

import (
	"github.com/scimbridge/scimbridge/bridge"
)

// Expr is a filter over users or groups, compiled to SQL by the store. The
// SCIM server translates SCIM filters into it; the store knows nothing of SCIM
// syntax.
//
// Ops: "and", "or" (Left, Right); "not" (Left); "eq", "ne", "co", "sw", "ew",
// "gt", "ge", "lt", "le" (Attr, Value); "pr" (Attr); "any" (Attr names a
// multi-valued attribute — "emails", "members" or "groups" — and Left is a
// filter over its sub-attributes "value", "type", "display", "primary": true
// when at least one element matches).
//
// Attr names (case-insensitive) for users: id, externalId, userName,
// displayName, name.givenName, name.familyName, name.formatted, emails.value,
// emails.type, emails.primary, active, employeeNumber, department,
// meta.created, meta.lastModified, meta.version, groups.value,
// groups.display, groups.type. For groups: id, externalId, displayName,
// meta.created, meta.lastModified, meta.version, members.value,
// members.display, members.type.
//
// Value is a string, bool, float64 or nil. Comparisons follow the SCIM core
// schema: userName, displayName, names and emails case-insensitively
// (caseExact=false); id, externalId and meta.version case-exactly; meta
// dates as RFC 3339 instants.
type Expr struct {
	Op          string
	Attr        string
	Value       any
	Left, Right *Expr
}

// Query selects, sorts and pages a list of users or groups.
type Query struct {
	Filter *Expr // nil: everything
	// StartIndex is 1-based; values below 1 mean 1.
	StartIndex int
	// Count is the most resources returned; 0 returns none (only the total).
	Count int
	// SortBy is "" (the store's own order: users in the order they were
	// stored, groups by id), "id", or a single-valued attribute such as
	// "userName"; Descending reverses.
	SortBy     string
	Descending bool
	// WithMembers / WithGroups load groups' members / users' groups; callers
	// skip them when the attribute is excluded.
	WithMembers bool
	WithGroups  bool
}

// UserResource is a stored user with its groups, as the SCIM server serves it.
type UserResource struct {
	bridge.UserRow
	Groups []GroupRef
}

// GroupRef is one group of a user.
type GroupRef struct {
	ID     string
	Name   string
	Direct bool
}

// GroupResource is a stored group with its direct members.
type GroupResource struct {
	bridge.GroupRow
	Members []MemberRef
}

// MemberRef is one direct member of a group.
type MemberRef struct {
	ID      string
	Type    string // bridge.MemberUser or bridge.MemberGroup
	Display string // the user's displayName (else userName), or the group's name
}

// ErrBadFilter is wrapped by errors for filters the store cannot evaluate
// (unknown attribute, wrong value type); the SCIM server answers 400 invalidFilter.
var ErrBadFilter = errBadFilter{}

type errBadFilter struct{}

func (errBadFilter) Error() string { return "invalid filter" }
