package ldapsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// coalesce is how long a live stream waits after a change for more before
// it delivers them as one batch.
const coalesce = 25 * time.Millisecond

// syncrepl follows RFC 4533 content synchronization (OpenLDAP's syncprov
// overlay): one refreshAndPersist search per configured search (users,
// groups), each with its own cookie. The server sends every add, modify,
// rename, delete and every entry leaving a search's scope as it happens.
//
// A refresh that would need a present phase (the cookie is older than the
// server's session log) is not followed: without the full list of stored
// entries a present phase cannot say what was deleted, so it is reported as
// an expired position and the engine runs a full sync instead.
type syncrepl struct {
	changeBase
}

func (s *syncrepl) Mechanism() string { return MechanismSyncrepl }

// Start asks each search for the server's cookie of now: a refreshOnly search
// whose filter matches nothing returns no entry and the current cookie.
func (s *syncrepl) Start(ctx context.Context) ([]byte, error) {
	p := position{Mechanism: MechanismSyncrepl, Scope: s.scope}
	for _, cq := range s.queries {
		q := cq.query
		q.filter = "(&(objectClass=*)(!(objectClass=*)))"
		var cookie []byte
		err := s.stream(ctx, s.c.l, q, ldap.SyncRequestModeRefreshOnly, nil, func(ev syncEvent) error {
			if ev.cookie != nil {
				cookie = ev.cookie
			}
			if ev.change != nil {
				return fmt.Errorf("search %s: the filter matching nothing matched %q", q.what, ev.change.Entry.DN)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(cookie) == 0 {
			return nil, fmt.Errorf("search %s under %q: the server gave no syncrepl cookie", q.what, q.base)
		}
		p.Cookies = append(p.Cookies, cookie)
	}
	return s.encode(p), nil
}

// syncEvent is one message of a stream: a change, a new cookie, the end of
// the refresh phase, or the stream's end.
type syncEvent struct {
	query       int
	change      *schema.Change
	cookie      []byte
	refreshDone bool
	err         error
	end         bool
}

// Changes refreshes from pos and, with live, then follows the changes as
// they happen on a connection of its own.
func (s *syncrepl) Changes(ctx context.Context, pos []byte, live bool, fn func(schema.ChangeBatch) error) error {
	p, err := s.decode(MechanismSyncrepl, pos)
	if err != nil {
		return err
	}
	if len(p.Cookies) != len(s.queries) {
		return fmt.Errorf("%w: it holds %d cookies for %d searches", schema.ErrPositionExpired, len(p.Cookies), len(s.queries))
	}
	l := s.c.l
	mode := ldap.SyncRequestModeRefreshOnly
	if live {
		// A persistent search waits for changes for ever: it gets its own
		// connection without go-ldap's per-request timeout.
		var serr *StepError
		if l, serr = connect(ctx, s.c.s.Connection, nil); serr != nil {
			return serr
		}
		defer l.Close()
		l.SetTimeout(0)
		mode = ldap.SyncRequestModeRefreshAndPersist
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan syncEvent, 256)
	for i, cq := range s.queries {
		go func() {
			err := s.stream(sctx, l, cq.query, mode, p.Cookies[i], func(ev syncEvent) error {
				if ev.change != nil {
					ev.change.Group = cq.group
				}
				ev.query = i
				select {
				case events <- ev:
					return nil
				case <-sctx.Done():
					return sctx.Err()
				}
			})
			select {
			case events <- syncEvent{query: i, end: true, err: err}:
			case <-sctx.Done():
			}
		}()
	}
	return s.follow(ctx, p, events, live, fn)
}

// follow turns the streams' events into batches: the refresh of every
// search as one (split at maxBatch), then each burst of live changes.
func (s *syncrepl) follow(ctx context.Context, p position, events <-chan syncEvent, live bool, fn func(schema.ChangeBatch) error) error {
	cookies := append([][]byte(nil), p.Cookies...)
	before := s.encode(p)
	bt := batcher{fn: fn}
	refreshing, running := len(s.queries), len(s.queries)
	refreshed := make([]bool, len(s.queries))
	var timer <-chan time.Time
	flush := func() error {
		timer = nil
		np := position{Mechanism: MechanismSyncrepl, Scope: s.scope, Cookies: cookies}
		now := s.encode(np)
		if len(bt.changes) == 0 && string(now) == string(before) {
			return nil
		}
		before = now
		cookies = append([][]byte(nil), cookies...)
		return bt.flush(now)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer:
			if err := flush(); err != nil {
				return err
			}
			continue
		case ev := <-events:
			if ev.end {
				if ev.err != nil {
					return ev.err
				}
				running--
				if !refreshed[ev.query] {
					refreshed[ev.query] = true
					refreshing--
				}
				if running == 0 || !live {
					if running == 0 {
						return flush()
					}
					continue
				}
				return errors.New("a syncrepl persistent search ended without an error")
			}
			if ev.change != nil {
				if err := bt.add(*ev.change, before); err != nil {
					return err
				}
			}
			if ev.cookie != nil {
				cookies[ev.query] = ev.cookie
			}
			if ev.refreshDone && !refreshed[ev.query] {
				refreshed[ev.query] = true
				refreshing--
			}
			switch {
			case refreshing > 0:
			case ev.refreshDone && refreshing == 0:
				if err := flush(); err != nil {
					return err
				}
			case timer == nil && (ev.change != nil || ev.cookie != nil):
				timer = time.After(coalesce)
			}
		}
	}
}

// stream runs one syncrepl search and hands each message to fn as an event.
// A present phase, and the server's e-syncRefreshRequired, are an expired
// position.
func (s *syncrepl) stream(ctx context.Context, l *ldap.Conn, q query, mode ldap.ControlSyncRequestMode, cookie []byte, fn func(syncEvent) error) error {
	attrs := q.withAttrs("entryUUID")
	req := ldap.NewSearchRequest(q.base, q.scope, ldap.NeverDerefAliases, 0, 0, false, q.filter, attrs, nil)
	r := l.Syncrepl(ctx, req, 64, mode, cookie, false)
	expired := func(why string) error {
		return fmt.Errorf("search %s under %q: %w: %s", q.what, q.base, schema.ErrPositionExpired, why)
	}
	for r.Next() {
		var ev syncEvent
		if e := r.Entry(); e != nil {
			st, _ := ldap.FindControl(r.Controls(), ldap.ControlTypeSyncState).(*ldap.ControlSyncState)
			if st == nil {
				return fmt.Errorf("search %s: entry %q came without a sync state", q.what, e.DN)
			}
			ch := &schema.Change{UUID: st.EntryUUID.String()}
			switch st.State {
			case ldap.SyncStateAdd, ldap.SyncStateModify:
				entry, err := s.c.complete(e.DN, e.Attributes)
				if err != nil {
					return err
				}
				ch.Kind, ch.Entry = schema.ChangePresent, entry
			case ldap.SyncStateDelete:
				ch.Kind, ch.Entry = schema.ChangeGone, &schema.Entry{DN: e.DN}
			default:
				return expired("the server started a present phase (the cookie is older than its session log)")
			}
			ev.change, ev.cookie = ch, st.Cookie
		} else if info, ok := ldap.FindControl(r.Controls(), ldap.ControlTypeSyncInfo).(*ldap.ControlSyncInfo); ok {
			switch info.Value {
			case ldap.SyncInfoNewcookie:
				ev.cookie = info.NewCookie.Cookie
			case ldap.SyncInfoRefreshDelete:
				ev.cookie, ev.refreshDone = info.RefreshDelete.Cookie, info.RefreshDelete.RefreshDone
			case ldap.SyncInfoRefreshPresent:
				return expired("the server started a present phase (the cookie is older than its session log)")
			case ldap.SyncInfoSyncIdSet:
				if !info.SyncIdSet.RefreshDeletes {
					return expired("the server listed present entries (a present phase)")
				}
				ev.cookie = info.SyncIdSet.Cookie
				for _, id := range info.SyncIdSet.SyncUUIDs {
					gone := syncEvent{change: &schema.Change{Kind: schema.ChangeGone, UUID: id.String(), Entry: &schema.Entry{}}}
					if err := fn(gone); err != nil {
						return err
					}
				}
			}
		} else if done, ok := ldap.FindControl(r.Controls(), ldap.ControlTypeSyncDone).(*ldap.ControlSyncDone); ok {
			if !done.RefreshDeletes && cookie != nil {
				// refreshDeletes FALSE: the refresh was a present phase, whose
				// deletions are everything not sent (RFC 4533 §3.3.1).
				return expired("the server answered with a present phase (the cookie is older than its session log)")
			}
			ev.cookie, ev.refreshDone = done.Cookie, true
		} else {
			continue
		}
		if len(ev.cookie) == 0 {
			ev.cookie = nil
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		var le *ldap.Error
		if errors.As(err, &le) && le.ResultCode == ldap.LDAPResultSyncRefreshRequired {
			return expired("the server asks for a full refresh (e-syncRefreshRequired)")
		}
		return fmt.Errorf("search %s under %q: %w", q.what, q.base, readError(err, 0))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.IsClosing() {
		return fmt.Errorf("search %s under %q: %w", q.what, q.base, errConnClosed)
	}
	return nil
}
