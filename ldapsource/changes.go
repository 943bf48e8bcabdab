package ldapsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// The change mechanisms, as ChangeSource.Mechanism names them.
const (
	MechanismSyncrepl   = "syncrepl"   // RFC 4533 refreshAndPersist (OpenLDAP with syncprov)
	MechanismDirSync    = "dirsync"    // Active Directory's DirSync control, polled
	MechanismTimestamps = "timestamps" // modifyTimestamp above a high-water mark
)

// Object identifiers a root DSE lists.
const (
	oidSyncrepl     = "1.3.6.1.4.1.4203.1.9.1.1" // supportedControl: content synchronization
	oidDirSync      = "1.2.840.113556.1.4.841"   // supportedControl: DirSync
	oidADCapability = "1.2.840.113556.1.4.800"   // supportedCapabilities: Active Directory
)

// maxBatch is the most changes one batch holds; a larger burst is delivered
// in several batches (all but the last carry the position before the burst).
const maxBatch = 1000

// DialChanges connects a change source for the settings' directory. It has
// the signature of bridge.ChangeDialer. The directory's root DSE decides:
//   - Active Directory (and Samba AD): DirSync, for the changed-entries pass
//     and, polled every sync.livePollSeconds, for live;
//   - live on a server offering content synchronization (OpenLDAP with the
//     syncprov overlay): syncrepl refreshAndPersist;
//   - otherwise modifyTimestamp above a high-water mark (live then polls).
func DialChanges(ctx context.Context, s *schema.Settings, live bool) (bridge.ChangeSource, error) {
	c, err := Open(ctx, s)
	if err != nil {
		return nil, err
	}
	src, err := newChangeSource(ctx, c, live)
	if err != nil {
		c.Close()
		return nil, err
	}
	return src, nil
}

func newChangeSource(ctx context.Context, c *Conn, live bool) (bridge.ChangeSource, error) {
	dse, err := readRootDSE(ctx, c.l)
	if err != nil {
		return nil, err
	}
	base, err := newChangeBase(c)
	if err != nil {
		return nil, err
	}
	switch {
	case dse.ad && dse.dirSync:
		return &dirSync{changeBase: base, naming: dse.defaultNamingContext}, nil
	case live && dse.syncrepl:
		return &syncrepl{changeBase: base}, nil
	}
	return &timestamps{changeBase: base, serverTime: dse.ad}, nil
}

// rootDSE is what the change sources need to know of a server.
type rootDSE struct {
	ad, syncrepl, dirSync bool
	defaultNamingContext  string
	currentTime           string // AD only
}

func readRootDSE(ctx context.Context, l *ldap.Conn) (rootDSE, error) {
	var d rootDSE
	if err := ctx.Err(); err != nil {
		return d, err
	}
	res, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedControl", "supportedCapabilities", "defaultNamingContext", "currentTime"}, nil))
	if err != nil {
		return d, fmt.Errorf("read the root DSE: %w", err)
	}
	if len(res.Entries) != 1 {
		return d, fmt.Errorf("read the root DSE: got %d entries", len(res.Entries))
	}
	e := res.Entries[0]
	for _, v := range e.GetAttributeValues("supportedControl") {
		d.syncrepl = d.syncrepl || v == oidSyncrepl
		d.dirSync = d.dirSync || v == oidDirSync
	}
	for _, v := range e.GetAttributeValues("supportedCapabilities") {
		d.ad = d.ad || v == oidADCapability
	}
	d.defaultNamingContext = e.GetAttributeValue("defaultNamingContext")
	d.currentTime = e.GetAttributeValue("currentTime")
	return d, nil
}

// changeBase is what every change source shares: the connection, the two
// searches, and the fingerprint of those searches a position carries.
type changeBase struct {
	c       *Conn
	queries []changeQuery // groups first (when enabled), then users
	scope   string        // fingerprint of the searches
}

type changeQuery struct {
	query
	group bool
}

// withAttrs returns the search's attributes and names, without duplicates.
func (q query) withAttrs(names ...string) []string {
	return attrList(append(append([]string(nil), q.attrs...), names...)...)
}

func newChangeBase(c *Conn) (changeBase, error) {
	b := changeBase{c: c}
	h := sha256.New()
	if c.s.Groups.Enabled {
		g, err := groupQuery(&c.s)
		if err != nil {
			return b, err
		}
		b.queries = append(b.queries, changeQuery{query: g, group: true})
	}
	u, err := userQuery(&c.s)
	if err != nil {
		return b, err
	}
	b.queries = append(b.queries, changeQuery{query: u})
	for _, q := range b.queries {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00%s\x00", q.what, q.base, q.scope, q.filter, strings.Join(q.attrs, ","))
	}
	b.scope = hex.EncodeToString(h.Sum(nil)[:8])
	return b, nil
}

func (b *changeBase) Close() error { return b.c.Close() }

// position is what a ChangeBatch's Position holds, as JSON.
type position struct {
	Mechanism string `json:"m"`
	Scope     string `json:"s"` // the searches it covers (changeBase.scope)
	// Time is the timestamps high-water mark: the newest modifyTimestamp
	// seen, as generalized time.
	Time string `json:"t,omitempty"`
	// Cookies are syncrepl cookies, one per search, or the DirSync cookie.
	Cookies [][]byte `json:"c,omitempty"`
}

func (b *changeBase) encode(p position) []byte {
	data, err := json.Marshal(p)
	if err != nil {
		panic(err) // a struct of strings and byte slices always marshals
	}
	return data
}

// decode reads a stored position; one of another mechanism or other
// searches is expired: the changes it covers are not the ones now asked for.
func (b *changeBase) decode(mechanism string, data []byte) (position, error) {
	var p position
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("%w: it is not a change position (%v)", schema.ErrPositionExpired, err)
	}
	if p.Mechanism != mechanism {
		return p, fmt.Errorf("%w: it was taken with %s, the directory is now read with %s", schema.ErrPositionExpired, p.Mechanism, mechanism)
	}
	if p.Scope != b.scope {
		return p, fmt.Errorf("%w: the users' or groups' search changed since it was taken", schema.ErrPositionExpired)
	}
	return p, nil
}

// batcher collects changes into batches of at most maxBatch.
type batcher struct {
	fn      func(schema.ChangeBatch) error
	changes []schema.Change
}

// add appends a change, delivering a full batch with the position before
// the burst (the changes do not yet cover anything newer).
func (bt *batcher) add(ch schema.Change, before []byte) error {
	bt.changes = append(bt.changes, ch)
	if len(bt.changes) < maxBatch {
		return nil
	}
	return bt.flush(before)
}

func (bt *batcher) flush(pos []byte) error {
	batch := schema.ChangeBatch{Changes: bt.changes, Position: pos}
	bt.changes = nil
	return bt.fn(batch)
}

// uuidOf returns an entry's directory id in the form the mapping gives it.
func uuidOf(e *schema.Entry) string {
	if v := e.First("entryUUID"); len(v) > 0 {
		return strings.ToLower(strings.TrimSpace(string(v)))
	}
	if v := e.First("objectGUID"); len(v) == 16 {
		id, _ := schema.FormatGUID(v)
		return id
	}
	return ""
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pollInterval is sync.livePollSeconds (default 5).
func (b *changeBase) pollInterval() time.Duration {
	return seconds(b.c.s.Sync.LivePollSeconds, 5*time.Second)
}
