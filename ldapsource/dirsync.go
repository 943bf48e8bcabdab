package ldapsource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// dirSync follows Active Directory's DirSync control over the domain's naming
// context: each poll returns the objects changed since the cookie (only
// their changed attributes), including deleted objects (isDeleted). Each
// changed object still there is read again with the users' or groups' search
// (so it is mapped from all its attributes, and one that left a search's
// scope is reported gone).
//
// The bind account needs the "Replicating Directory Changes" right on the
// domain (or to be a domain admin).
type dirSync struct {
	changeBase
	naming string // defaultNamingContext
}

func (d *dirSync) Mechanism() string { return MechanismDirSync }

// dirSyncMoreData is the response flag saying another call returns more.
const dirSyncMoreData = 1

// Start reads to the end of the change history with a filter that matches
// nothing: the server returns no object and the cookie of now.
func (d *dirSync) Start(ctx context.Context) ([]byte, error) {
	cookie, err := d.poll(ctx, nil, "(&(objectClass=top)(!(objectClass=top)))", nil)
	if err != nil {
		return nil, err
	}
	return d.encode(position{Mechanism: MechanismDirSync, Scope: d.scope, Cookies: [][]byte{cookie}}), nil
}

// Changes polls once, or with live every sync.livePollSeconds.
func (d *dirSync) Changes(ctx context.Context, pos []byte, live bool, fn func(schema.ChangeBatch) error) error {
	p, err := d.decode(MechanismDirSync, pos)
	if err != nil {
		return err
	}
	if len(p.Cookies) != 1 || len(p.Cookies[0]) == 0 {
		return fmt.Errorf("%w: it holds no DirSync cookie", schema.ErrPositionExpired)
	}
	for {
		bt := batcher{fn: fn}
		cookie, err := d.poll(ctx, p.Cookies[0], d.filter(), func(page []*ldap.Entry) error {
			chs, err := d.changes(ctx, page)
			if err != nil {
				return err
			}
			for _, ch := range chs {
				if err := bt.add(*ch, pos); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(bt.changes) > 0 || string(cookie) != string(p.Cookies[0]) {
			p.Cookies = [][]byte{cookie}
			pos = d.encode(p)
			if err := bt.flush(pos); err != nil {
				return err
			}
		}
		if !live {
			return nil
		}
		if err := sleep(ctx, d.pollInterval()); err != nil {
			return err
		}
	}
}

// filter selects the objects of the configured object classes of users and
// groups; deleted objects keep their objectClass.
func (d *dirSync) filter() string {
	var terms []string
	for _, classes := range [][]string{d.c.s.Users.ObjectClasses, d.c.s.Groups.ObjectClasses} {
		var and []string
		for _, oc := range classes {
			if oc = strings.TrimSpace(oc); oc != "" {
				and = append(and, "(objectClass="+ldap.EscapeFilter(oc)+")")
			}
		}
		switch len(and) {
		case 0:
			return "(objectClass=*)"
		case 1:
			terms = append(terms, and[0])
		default:
			terms = append(terms, "(&"+strings.Join(and, "")+")")
		}
	}
	return "(|" + strings.Join(terms, "") + ")"
}

// poll runs DirSync calls from cookie until the server has no more, handing
// each answer's objects to fn, and returns the last cookie.
func (d *dirSync) poll(ctx context.Context, cookie []byte, filter string, fn func([]*ldap.Entry) error) ([]byte, error) {
	var attrs []string
	for _, q := range d.queries {
		attrs = append(attrs, q.attrs...)
	}
	attrs = attrList(append(attrs, "objectGUID", "isDeleted", "objectClass", "name")...)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// A new request each call: go-ldap reuses a request's DirSync
		// control and would send the first cookie again.
		req := ldap.NewSearchRequest(d.naming, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
		res, err := d.c.l.DirSync(req, 0, 0, cookie)
		if err != nil {
			return nil, d.dirSyncError(err, cookie)
		}
		if fn != nil && len(res.Entries) > 0 {
			if err := fn(res.Entries); err != nil {
				return nil, err
			}
		}
		ctl, _ := ldap.FindControl(res.Controls, ldap.ControlTypeDirSync).(*ldap.ControlDirSync)
		if ctl == nil {
			return nil, fmt.Errorf("DirSync under %q: the answer has no DirSync control", d.naming)
		}
		if len(ctl.Cookie) > 0 {
			cookie = ctl.Cookie
		}
		if ctl.Flags&dirSyncMoreData == 0 {
			return cookie, nil
		}
	}
}

// dirSyncError says what a failed DirSync call means: missing rights, an
// expired cookie, or a failed read.
func (d *dirSync) dirSyncError(err error, cookie []byte) error {
	var le *ldap.Error
	if errors.As(err, &le) {
		switch {
		case le.ResultCode == ldap.LDAPResultInsufficientAccessRights:
			return fmt.Errorf("DirSync under %q: the bind DN lacks the \"Replicating Directory Changes\" right on the domain: %w", d.naming, err)
		case le.ResultCode != ldap.ErrorNetwork && len(cookie) > 0:
			return fmt.Errorf("DirSync under %q: %w: the server refused the cookie: %v", d.naming, schema.ErrPositionExpired, err)
		}
	}
	return fmt.Errorf("DirSync under %q: %w", d.naming, readError(err, 0))
}

// rereads is how many changed objects a pass reads again at once, on its
// one connection: DirSync gives only the changed attributes, and a read
// each, one after the other, made a burst of changes wait on as many
// round trips.
const rereads = 8

// changes turns one DirSync answer's objects into changes, in their order.
func (d *dirSync) changes(ctx context.Context, page []*ldap.Entry) ([]*schema.Change, error) {
	out := make([]*schema.Change, len(page))
	errs := make([]error, len(page))
	sem := make(chan struct{}, rereads)
	var wg sync.WaitGroup
	for i, e := range page {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = d.change(ctx, e)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return slices.DeleteFunc(out, func(ch *schema.Change) bool { return ch == nil }), nil
}

// change turns one changed object into a change: gone when deleted or out
// of both searches' scope, else present with the entry read again.
func (d *dirSync) change(ctx context.Context, e *ldap.Entry) (*schema.Change, error) {
	id := ""
	if v := e.GetRawAttributeValue("objectGUID"); len(v) == 16 {
		id, _ = schema.FormatGUID(v)
	}
	group := false
	for _, oc := range e.GetAttributeValues("objectClass") {
		group = group || strings.EqualFold(oc, "group")
	}
	if strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE") {
		return &schema.Change{Kind: schema.ChangeGone, Group: group, UUID: id, Entry: &schema.Entry{}}, nil
	}
	for _, cq := range d.queries {
		entry, err := d.readOne(ctx, cq.query, e.DN)
		if err != nil {
			return nil, err
		}
		if entry != nil {
			return &schema.Change{Kind: schema.ChangePresent, Group: cq.group, UUID: id, Entry: entry}, nil
		}
	}
	return &schema.Change{Kind: schema.ChangeGone, Group: group, UUID: id, Entry: &schema.Entry{DN: e.DN}}, nil
}

// readOne reads dn with q's filter and attributes when dn is in q's scope;
// nil when it is not there or not in scope.
func (d *dirSync) readOne(ctx context.Context, q query, dn string) (*schema.Entry, error) {
	if !inScope(dn, q.base, q.scope) {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := d.c.l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		q.filter, q.attrs, nil))
	if err != nil {
		var le *ldap.Error
		if errors.As(err, &le) && le.ResultCode == ldap.LDAPResultNoSuchObject {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s entry %q: %w", strings.TrimSuffix(q.what, "s"), dn, readError(err, 0))
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return d.c.complete(res.Entries[0].DN, res.Entries[0].Attributes)
}

// inScope reports whether dn is under base within scope.
func inScope(dn, base string, scope int) bool {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return false
	}
	b, err := ldap.ParseDN(base)
	if err != nil {
		return false
	}
	if scope == ldap.ScopeSingleLevel {
		if len(d.RDNs) != len(b.RDNs)+1 {
			return false
		}
	}
	return b.AncestorOfFold(d)
}
