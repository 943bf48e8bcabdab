package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// rawResult is one read of the directory with go-ldap alone.
type rawResult struct {
	users, groups, memberValues int
	usersTime, groupsTime       time.Duration
}

func (r rawResult) total() time.Duration { return r.usersTime + r.groupsTime }

func dialAdmin(s *schema.Settings) (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.Connection.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		return nil, fmt.Errorf("dial %s (connection.url): %w", s.Connection.URL, err)
	}
	c.SetTimeout(5 * time.Minute)
	if err := c.Bind(s.Connection.BindDN, s.Connection.BindCredential); err != nil {
		c.Close()
		return nil, fmt.Errorf("bind as %q (connection.bindDn): %w", s.Connection.BindDN, err)
	}
	return c, nil
}

// rawRead does the searches a sync does — same bases, filters, attributes
// and page size, streamed page by page — and only counts what comes back: no
// mapping, no store. It is the limit a sync can approach.
func rawRead(ctx context.Context, s *schema.Settings) (rawResult, error) {
	var r rawResult
	c, err := dialAdmin(s)
	if err != nil {
		return r, err
	}
	defer c.Close()
	u := s.Users.Attributes
	userFilter := classFilter(s.Users.ObjectClasses, s.Users.Filter)
	t0 := time.Now()
	r.users, _, err = pagedSearch(ctx, c, s.Users.UsersDN, userFilter,
		[]string{u.Username, u.Email, u.FirstName, u.LastName, u.DisplayName, u.ExternalID}, s.Connection.PageSize, "")
	if err != nil {
		return r, fmt.Errorf("raw read of users under %q (users.usersDn): %w", s.Users.UsersDN, err)
	}
	r.usersTime = time.Since(t0)
	if !s.Groups.Enabled {
		return r, nil
	}
	g := s.Groups.Attributes
	t0 = time.Now()
	r.groups, r.memberValues, err = pagedSearch(ctx, c, s.Groups.GroupsDN, classFilter(s.Groups.ObjectClasses, s.Groups.Filter),
		[]string{g.Name, g.Membership, g.ExternalID}, s.Connection.PageSize, g.Membership)
	if err != nil {
		return r, fmt.Errorf("raw read of groups under %q (groups.groupsDn): %w", s.Groups.GroupsDN, err)
	}
	r.groupsTime = time.Since(t0)
	return r, nil
}

// classFilter is the filter ldapsource builds: one (objectClass=…) term per
// class, ANDed with the extra filter (given with its parentheses).
func classFilter(classes []string, extra string) string {
	f := "(&"
	for _, oc := range classes {
		f += "(objectClass=" + ldap.EscapeFilter(oc) + ")"
	}
	return f + extra + ")"
}

// pagedSearch streams a paged subtree search and counts entries and the
// values of countAttr.
func pagedSearch(ctx context.Context, c *ldap.Conn, base, filter string, attrs []string, pageSize int, countAttr string) (entries, values int, err error) {
	paging := ldap.NewControlPaging(uint32(pageSize))
	for {
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, []ldap.Control{paging})
		res := c.SearchAsync(ctx, req, pageSize+64)
		var cookie []byte
		for res.Next() {
			if e := res.Entry(); e != nil {
				entries++
				if countAttr != "" {
					values += len(e.GetAttributeValues(countAttr))
				}
				continue
			}
			if p, ok := ldap.FindControl(res.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
				cookie = p.Cookie
			}
		}
		if err := res.Err(); err != nil {
			return entries, values, err
		}
		if err := ctx.Err(); err != nil {
			return entries, values, err
		}
		if len(cookie) == 0 {
			return entries, values, nil
		}
		paging.SetCookie(cookie)
	}
}

// modifyMails replaces the mail of the given users through LDAP, on a few
// connections in parallel (overlays run, as for any change an admin makes).
func modifyMails(s *schema.Settings, d *directory, users []int, version int) error {
	const conns = 4
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialAdmin(s)
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			for i := w; i < len(users); i += conns {
				req := ldap.NewModifyRequest(d.userDN(users[i]), nil)
				req.Replace("mail", []string{d.mail(users[i], version)})
				if err := c.Modify(req); err != nil {
					errs[w] = fmt.Errorf("modify mail of %s: %w", d.userDN(users[i]), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
