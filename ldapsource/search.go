package ldapsource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// query is one configured search: users or groups.
type query struct {
	what   string // "users" or "groups", for errors
	base   string
	scope  int
	filter string
	attrs  []string
}

// Users streams every entry under users.usersDn that has all of
// users.objectClasses and matches users.filter, with the attributes the user
// mapping needs, to fn. Any failure, including a page that fails, a dropped
// connection, a server size or time limit, or ctx ending, returns an error,
// even after some entries were delivered.
//
// The entry fn receives, its map and its values are valid only until fn
// returns: the next entry reuses them and the bytes they point into. fn
// copies what it keeps (schema.MapUser and MapGroup do).
func (c *Conn) Users(ctx context.Context, fn func(*schema.Entry) error) error {
	q, err := userQuery(&c.s)
	if err != nil {
		return err
	}
	return c.run(ctx, q, fn)
}

// Groups streams every group entry under groups.groupsDn, like Users. It
// reads nothing when groups.enabled is false. Membership values split into
// ranged slices (AD "member;range=0-1499") are fetched completely and merged
// under the plain attribute name.
func (c *Conn) Groups(ctx context.Context, fn func(*schema.Entry) error) error {
	if !c.s.Groups.Enabled {
		return nil
	}
	q, err := groupQuery(&c.s)
	if err != nil {
		return err
	}
	return c.run(ctx, q, fn)
}

// run reads q with the bulk path (bulk.go) when it can connect, else with
// go-ldap.
func (c *Conn) run(ctx context.Context, q query, fn func(*schema.Entry) error) error {
	if c.bulk.Load() {
		if ok, err := c.runBulk(ctx, q, fn); ok {
			return err
		}
	}
	return c.runPaged(ctx, q, fn)
}

// runPaged reads q with go-ldap on the bound connection, page by page.
func (c *Conn) runPaged(ctx context.Context, q query, fn func(*schema.Entry) error) error {
	pageSize := c.pageSize()
	paging := ldap.NewControlPaging(uint32(pageSize))
	for {
		req := ldap.NewSearchRequest(q.base, q.scope, ldap.NeverDerefAliases, 0, 0, false,
			q.filter, q.attrs, []ldap.Control{paging})
		cookie, err := c.page(ctx, req, pageSize, fn)
		if err != nil {
			return fmt.Errorf("search %s under %q: %w", q.what, q.base, err)
		}
		if len(cookie) == 0 {
			return nil
		}
		paging.SetCookie(cookie)
	}
}

func (c *Conn) pageSize() int {
	if n := c.s.Connection.PageSize; n > 0 {
		return n
	}
	return defaultPageSize
}

// page reads one page and returns the server's paging cookie (empty after the
// last page). Its buffer holds a whole page, so go-ldap never waits on a slow
// fn while the server is sending.
func (c *Conn) page(ctx context.Context, req *ldap.SearchRequest, pageSize int, fn func(*schema.Entry) error) ([]byte, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := c.l.SearchAsync(sctx, req, pageSize+64)
	var (
		cookie []byte
		n      int
	)
	for r.Next() {
		if e := r.Entry(); e != nil {
			n++
			entry, err := c.complete(e.DN, e.Attributes)
			if err != nil {
				return nil, err
			}
			if err := fn(entry); err != nil {
				return nil, err
			}
			continue
		}
		if r.Referral() != "" {
			c.referrals.Add(1)
			continue
		}
		if p, ok := ldap.FindControl(r.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
			cookie = p.Cookie
		}
	}
	if err := r.Err(); err != nil {
		return nil, readError(err, n)
	}
	// go-ldap ends a cancelled search, and a search on a connection that
	// closed before it was sent, silently, as if it had succeeded.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read stopped after %d entries of this page: %w", n, err)
	}
	if c.l.IsClosing() {
		return nil, fmt.Errorf("connection lost after %d entries of this page: %w", n, errConnClosed)
	}
	return cookie, nil
}

var errConnClosed = errors.New("the connection is closed")

// readError says what a failed read means for the data.
func readError(err error, n int) error {
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultSizeLimitExceeded:
			return fmt.Errorf("the server's size limit cut the results short after %d entries of this page (sizeLimitExceeded, 4); raise the limit for the bind DN: %w", n, err)
		case ldap.LDAPResultTimeLimitExceeded:
			return fmt.Errorf("the server's time limit cut the results short (timeLimitExceeded, 3): %w", err)
		case ldap.LDAPResultAdminLimitExceeded:
			return fmt.Errorf("an administrative limit of the server was exceeded (adminLimitExceeded, 11); a smaller connection.pageSize may help: %w", err)
		case ldap.LDAPResultNoSuchObject:
			return fmt.Errorf("no such object: %w", err)
		case ldap.ErrorNetwork:
			if isTimeout(err) {
				return fmt.Errorf("no answer within connection.readTimeoutSeconds: %w", err)
			}
			return fmt.Errorf("connection lost after %d entries of this page: %w", n, err)
		}
	}
	return err
}

// complete converts an entry's attributes, completing ranged ones with
// reads on the go-ldap connection.
func (c *Conn) complete(dn string, attributes []*ldap.EntryAttribute) (*schema.Entry, error) {
	attrs, err := mergeAttributes(attributes, func(attr string, lo int) ([]*ldap.EntryAttribute, error) {
		desc := fmt.Sprintf("%s;range=%d-*", attr, lo)
		res, err := c.l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{desc}, nil))
		if err != nil {
			return nil, err
		}
		if len(res.Entries) != 1 {
			return nil, fmt.Errorf("got %d entries", len(res.Entries))
		}
		return res.Entries[0].Attributes, nil
	})
	if err != nil {
		return nil, fmt.Errorf("entry %q: %w", dn, err)
	}
	return &schema.Entry{DN: dn, Attrs: attrs}, nil
}

func scope(field, s string) (int, error) {
	switch strings.ToLower(s) {
	case "", schema.ScopeSubtree:
		return ldap.ScopeWholeSubtree, nil
	case schema.ScopeOne:
		return ldap.ScopeSingleLevel, nil
	}
	return 0, fmt.Errorf("%s: %q must be %q or %q", field, s, schema.ScopeOne, schema.ScopeSubtree)
}

// normalizeFilter checks an admin's extra filter and adds the outer
// parentheses it may lack ("department=sales" → "(department=sales)").
func normalizeFilter(f string) (string, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return "", nil
	}
	// Bounded first: the compiler's memory grows with the square of the depth.
	if err := schema.CheckLDAPFilter(f); err != nil {
		return "", err
	}
	if !strings.HasPrefix(f, "(") {
		f = "(" + f + ")"
	}
	if _, err := ldap.CompileFilter(f); err != nil {
		return "", err
	}
	return f, nil
}

// buildFilter ANDs one escaped (objectClass=…) term per class with the extra filter.
func buildFilter(field string, classes []string, extra string) (string, error) {
	var terms []string
	for _, oc := range classes {
		if oc = strings.TrimSpace(oc); oc != "" {
			terms = append(terms, "(objectClass="+ldap.EscapeFilter(oc)+")")
		}
	}
	f, err := normalizeFilter(extra)
	if err != nil {
		return "", fmt.Errorf("%s.filter: %w", field, err)
	}
	if f != "" {
		terms = append(terms, f)
	}
	switch len(terms) {
	case 0:
		return "(objectClass=*)", nil
	case 1:
		return terms[0], nil
	}
	return "(&" + strings.Join(terms, "") + ")", nil
}

// attrList drops empty names and case-insensitive duplicates, keeping order.
func attrList(names ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || seen[strings.ToLower(n)] {
			continue
		}
		seen[strings.ToLower(n)] = true
		out = append(out, n)
	}
	return out
}

// Search is one of the searches a sync runs, spelled out for tools that
// must run the very same search (the benchmark's ldapsearch yardstick).
type Search struct {
	What       string // "users" or "groups"
	Base       string
	Scope      int // ldap.ScopeWholeSubtree or ldap.ScopeSingleLevel
	Filter     string
	Attributes []string
}

// Searches returns the user search and, when groups.enabled, the group
// search that Users and Groups run for the settings.
func Searches(s *schema.Settings) ([]Search, error) {
	u, err := userQuery(s)
	if err != nil {
		return nil, err
	}
	out := []Search{{What: u.what, Base: u.base, Scope: u.scope, Filter: u.filter, Attributes: u.attrs}}
	if s.Groups.Enabled {
		g, err := groupQuery(s)
		if err != nil {
			return nil, err
		}
		out = append(out, Search{What: g.what, Base: g.base, Scope: g.scope, Filter: g.filter, Attributes: g.attrs})
	}
	return out, nil
}

func userQuery(s *schema.Settings) (query, error) {
	u := s.Users
	sc, err := scope("users.scope", u.Scope)
	if err != nil {
		return query{}, err
	}
	f, err := buildFilter("users", u.ObjectClasses, u.Filter)
	if err != nil {
		return query{}, err
	}
	a := u.Attributes
	names := []string{a.Username, a.Email, a.FirstName, a.LastName, a.DisplayName, a.ExternalID,
		a.EmployeeNumber, a.Department, a.DisabledAttribute}
	if s.Groups.Enabled && strings.EqualFold(s.Groups.Attributes.MembershipAttributeType, schema.MembershipUID) {
		names = append(names, s.Groups.Attributes.MembershipUserAttribute)
	}
	return query{what: "users", base: u.UsersDN, scope: sc, filter: f, attrs: attrList(names...)}, nil
}

func groupQuery(s *schema.Settings) (query, error) {
	g := s.Groups
	sc, err := scope("groups.scope", g.Scope)
	if err != nil {
		return query{}, err
	}
	f, err := buildFilter("groups", g.ObjectClasses, g.Filter)
	if err != nil {
		return query{}, err
	}
	member := g.Attributes.Membership
	if n := s.Connection.RangeSize; n > 0 && member != "" {
		member += ";range=0-" + strconv.Itoa(n-1)
	}
	return query{what: "groups", base: g.GroupsDN, scope: sc, filter: f,
		attrs: attrList(g.Attributes.Name, member, g.Attributes.ExternalID)}, nil
}
