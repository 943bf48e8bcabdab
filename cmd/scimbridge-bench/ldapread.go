package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// rawResult is one read of the directory by one reader: ldapsearch, go-ldap
// alone, or ldapsource's bulk path; only counted, no mapping, no store.
type rawResult struct {
	users, groups, memberValues int
	usersTime, groupsTime       time.Duration
	// What the read allocated in this process (not measured for ldapsearch).
	allocBytes, mallocs uint64
	gcs                 uint32
}

func (r rawResult) total() time.Duration { return r.usersTime + r.groupsTime }

// readers are the three raw reads, yardstick first.
var readers = []struct {
	name string
	read func(ctx context.Context, s *schema.Settings, pwFile string) (rawResult, error)
}{
	{"ldapsearch", ldapsearchRead},
	{"go-ldap", goLDAPRead},
	{"bulk", bulkRead},
}

// Indexes of readers.
const (
	readLDAPSearch = iota
	readGoLDAP
	readBulk
)

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

// timeSearches runs each of the searches a sync runs (ldapsource.Searches:
// same bases, filters, attributes) with search, which counts the entries
// and the values of the membership attribute, and times them.
func timeSearches(s *schema.Settings, search func(q ldapsource.Search, countAttr string) (entries, values int, err error)) (rawResult, error) {
	var r rawResult
	qs, err := ldapsource.Searches(s)
	if err != nil {
		return r, err
	}
	for _, q := range qs {
		t0 := time.Now()
		countAttr := ""
		if q.What == "groups" {
			countAttr = s.Groups.Attributes.Membership
		}
		n, vals, err := search(q, countAttr)
		if err != nil {
			return r, fmt.Errorf("raw read of %s under %q: %w", q.What, q.Base, err)
		}
		if q.What == "groups" {
			r.groups, r.memberValues, r.groupsTime = n, vals, time.Since(t0)
		} else {
			r.users, r.usersTime = n, time.Since(t0)
		}
	}
	return r, nil
}

// ldapsearchRead runs the searches with OpenLDAP's ldapsearch, paged
// (-E pr=<pageSize>/noprompt), its LDIF counted as it comes: the directory's
// own speed, the yardstick of every ratio.
func ldapsearchRead(ctx context.Context, s *schema.Settings, pwFile string) (rawResult, error) {
	return timeSearches(s, func(q ldapsource.Search, countAttr string) (int, int, error) {
		scope := "sub"
		if q.Scope == ldap.ScopeSingleLevel {
			scope = "one"
		}
		args := []string{"-x", "-H", s.Connection.URL, "-b", q.Base, "-s", scope,
			"-E", fmt.Sprintf("pr=%d/noprompt", s.Connection.PageSize), "-LLL", "-o", "ldif-wrap=no"}
		if s.Connection.BindDN != "" {
			args = append(args, "-D", s.Connection.BindDN, "-y", pwFile)
		}
		args = append(append(args, q.Filter), q.Attributes...)
		cmd := exec.CommandContext(ctx, "ldapsearch", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return 0, 0, err
		}
		if err := cmd.Start(); err != nil {
			return 0, 0, fmt.Errorf("ldapsearch (ldap-utils): %w", err)
		}
		entries, values, cerr := countLDIF(out, countAttr)
		if err := cmd.Wait(); err != nil {
			return 0, 0, fmt.Errorf("ldapsearch: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		return entries, values, cerr
	})
}

// countLDIF counts the entries (dn: lines) of unwrapped LDIF and the values
// of attr.
func countLDIF(r io.Reader, attr string) (entries, values int, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	prefix := []byte(strings.ToLower(attr) + ":")
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 3 && string(line[:3]) == "dn:" {
			entries++
		} else if attr != "" && len(line) > len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix) {
			values++
		}
		switch {
		case err == io.EOF:
			return entries, values, nil
		case err == bufio.ErrBufferFull:
			// A line longer than the buffer: skip the rest of it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return entries, values, nil
			}
			if err != nil {
				return entries, values, err
			}
		case err != nil:
			return entries, values, err
		}
	}
}

// goLDAPRead runs the searches with go-ldap alone (SearchAsync, paged by
// hand): the reader ldapsource used before its bulk path; a reference row.
func goLDAPRead(ctx context.Context, s *schema.Settings, _ string) (rawResult, error) {
	c, err := dialAdmin(s)
	if err != nil {
		return rawResult{}, err
	}
	defer c.Close()
	return timeSearches(s, func(q ldapsource.Search, countAttr string) (int, int, error) {
		return pagedSearch(ctx, c, q, s.Connection.PageSize, countAttr)
	})
}

// bulkRead reads users and groups through ldapsource (Open, Users, Groups),
// which takes its bulk path, and only counts.
func bulkRead(ctx context.Context, s *schema.Settings, _ string) (rawResult, error) {
	var r rawResult
	c, err := ldapsource.Open(ctx, s)
	if err != nil {
		return r, err
	}
	defer c.Close()
	member := s.Groups.Attributes.Membership
	t0 := time.Now()
	if err := c.Users(ctx, func(*schema.Entry) error { r.users++; return nil }); err != nil {
		return r, err
	}
	r.usersTime = time.Since(t0)
	t0 = time.Now()
	if err := c.Groups(ctx, func(e *schema.Entry) error {
		r.groups++
		r.memberValues += len(e.Values(member))
		return nil
	}); err != nil {
		return r, err
	}
	r.groupsTime = time.Since(t0)
	if on, why := c.BulkPath(); !on {
		return r, fmt.Errorf("ldapsource did not take its bulk path: %v", why)
	}
	return r, nil
}

// measureAlloc runs read and adds what it allocated in this process.
func measureAlloc(read func() (rawResult, error)) (rawResult, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := read()
	runtime.ReadMemStats(&after)
	r.allocBytes = after.TotalAlloc - before.TotalAlloc
	r.mallocs = after.Mallocs - before.Mallocs
	r.gcs = after.NumGC - before.NumGC
	return r, err
}

// pagedSearch streams a paged search and counts entries and the values of
// countAttr.
func pagedSearch(ctx context.Context, c *ldap.Conn, q ldapsource.Search, pageSize int, countAttr string) (entries, values int, err error) {
	paging := ldap.NewControlPaging(uint32(pageSize))
	for {
		req := ldap.NewSearchRequest(q.Base, q.Scope, ldap.NeverDerefAliases, 0, 0, false,
			q.Filter, q.Attributes, []ldap.Control{paging})
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
