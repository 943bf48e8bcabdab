package ldapsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// timestampOverlap is how far before the high-water mark each pass starts
// reading: changes stamped in the same second as the last one seen, written
// by another server a little later, or stamped by a clock up to this much
// behind are still found. Entries changed within it are delivered again;
// applying them again changes nothing.
var timestampOverlap = 5 * time.Minute

// genTime is LDAP generalized time in UTC to the second, as filters take it.
const genTime = "20060102150405Z"

// timestamps finds changed entries by modifyTimestamp: each pass reads the
// users and groups whose modifyTimestamp is at or after the high-water mark
// less timestampOverlap, and the mark moves to the newest modifyTimestamp
// seen. It cannot see deletions or entries leaving the searches' scope: full
// syncs find those. Directories should index modifyTimestamp for equality
// and ordering (OpenLDAP: "index modifyTimestamp eq"); without the index
// every pass makes the server scan every user.
type timestamps struct {
	changeBase
	serverTime bool // the root DSE has currentTime (Active Directory)
	// seen is what this source already delivered within the overlap, by DN:
	// an entry read again with the same attributes is not delivered again.
	// It goes from pass to pass through the syncer (bridge.ChangeMemo); a
	// new process delivers those entries once more.
	seen map[string]seenEntry
	// last is the position the last pass ended at (seen goes with it);
	// recalled the memo of the syncer's previous pass.
	last     []byte
	recalled *timestampsMemo
}

// timestampsMemo is what a pass delivered within the overlap, valid for the
// pass that starts at pos.
type timestampsMemo struct {
	pos  []byte
	seen map[string]seenEntry
}

// Memo returns what the last pass delivered within the overlap.
func (t *timestamps) Memo() any {
	if t.last == nil {
		return nil
	}
	return &timestampsMemo{pos: t.last, seen: t.seen}
}

// Recall takes the memo of the syncer's previous pass.
func (t *timestamps) Recall(memo any) { t.recalled, _ = memo.(*timestampsMemo) }

type seenEntry struct {
	at     time.Time // modifyTimestamp
	digest [sha256.Size]byte
}

// entryDigest hashes an entry's attributes in a fixed order.
func entryDigest(e *schema.Entry) [sha256.Size]byte {
	names := make([]string, 0, len(e.Attrs))
	for n := range e.Attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	var n [8]byte
	for _, name := range names {
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		vals := e.Attrs[name]
		binary.BigEndian.PutUint64(n[:], uint64(len(vals)))
		h.Write(n[:])
		for _, v := range vals {
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			h.Write(n[:])
			h.Write(v)
		}
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

func (t *timestamps) Mechanism() string { return MechanismTimestamps }

// Start returns now: the server's currentTime where the root DSE gives one,
// else this machine's clock (the overlap covers a clock up to
// timestampOverlap ahead of the directory's).
func (t *timestamps) Start(ctx context.Context) ([]byte, error) {
	now := time.Now().UTC()
	if t.serverTime {
		dse, err := readRootDSE(ctx, t.c.l)
		if err != nil {
			return nil, err
		}
		if ts, err := parseGeneralizedTime(dse.currentTime); err == nil {
			now = ts
		}
	}
	return t.encode(position{Mechanism: MechanismTimestamps, Scope: t.scope, Time: now.Format(genTime)}), nil
}

// Changes runs one pass, or with live one pass every sync.livePollSeconds.
func (t *timestamps) Changes(ctx context.Context, pos []byte, live bool, fn func(schema.ChangeBatch) error) error {
	p, err := t.decode(MechanismTimestamps, pos)
	if err != nil {
		return err
	}
	mark, err := parseGeneralizedTime(p.Time)
	if err != nil {
		return fmt.Errorf("%w: its high-water mark %q: %v", schema.ErrPositionExpired, p.Time, err)
	}
	if r := t.recalled; r != nil && t.seen == nil && bytes.Equal(r.pos, pos) {
		t.seen = r.seen
	}
	t.last = pos
	for {
		if mark, err = t.pass(ctx, pos, mark, fn); err != nil {
			return err
		}
		if !live {
			return nil
		}
		pos = t.encode(position{Mechanism: MechanismTimestamps, Scope: t.scope, Time: mark.Format(genTime)})
		if err := sleep(ctx, t.pollInterval()); err != nil {
			return err
		}
	}
}

// pass reads what changed since mark (less the overlap) and returns the new
// mark. Nothing is delivered when nothing was found.
func (t *timestamps) pass(ctx context.Context, pos []byte, mark time.Time, fn func(schema.ChangeBatch) error) (time.Time, error) {
	since := mark.Add(-timestampOverlap).Format(genTime)
	high := mark
	bt := batcher{fn: fn}
	if t.seen == nil {
		t.seen = map[string]seenEntry{}
	}
	fresh := map[string]seenEntry{} // kept only once the whole pass was delivered
	for _, cq := range t.queries {
		q := cq.query
		q.filter = "(&" + q.filter + "(modifyTimestamp>=" + since + "))"
		q.attrs = q.withAttrs("modifyTimestamp", "entryUUID", "objectGUID")
		err := t.c.runPaged(ctx, q, func(e *schema.Entry) error {
			if ts, err := parseGeneralizedTime(string(e.First("modifyTimestamp"))); err == nil {
				key, d := strings.ToLower(e.DN), entryDigest(e)
				if last, ok := t.seen[key]; ok && last.digest == d {
					return nil
				}
				fresh[key] = seenEntry{at: ts, digest: d}
				if ts.After(high) {
					high = ts
				}
			}
			return bt.add(schema.Change{Kind: schema.ChangePresent, Group: cq.group, UUID: uuidOf(e), Entry: e}, pos)
		})
		if err != nil {
			return mark, err
		}
	}
	if len(bt.changes) > 0 || !high.Equal(mark) {
		next := t.encode(position{Mechanism: MechanismTimestamps, Scope: t.scope, Time: high.Format(genTime)})
		if err := bt.flush(next); err != nil {
			return mark, err
		}
		t.last = next
	}
	for k, ts := range fresh {
		t.seen[k] = ts
	}
	for k, se := range t.seen {
		if se.at.Before(high.Add(-timestampOverlap)) {
			delete(t.seen, k)
		}
	}
	return high, nil
}

// parseGeneralizedTime reads LDAP generalized time ("20261206040000Z",
// "20261206040000.0Z", "20261206040000+0100") to the second, in UTC.
func parseGeneralizedTime(s string) (time.Time, error) {
	if len(s) < 15 {
		return time.Time{}, fmt.Errorf("%q is not generalized time", s)
	}
	base, rest := s[:14], s[14:]
	if strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, ",") {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		rest = rest[i:]
	}
	t, err := time.Parse("20060102150405", base)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not generalized time", s)
	}
	switch {
	case rest == "Z":
	case len(rest) == 5 && (rest[0] == '+' || rest[0] == '-'):
		h, err1 := strconv.Atoi(rest[1:3])
		m, err2 := strconv.Atoi(rest[3:5])
		if err1 != nil || err2 != nil {
			return time.Time{}, fmt.Errorf("%q is not generalized time", s)
		}
		off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if rest[0] == '+' {
			off = -off
		}
		t = t.Add(off)
	default:
		return time.Time{}, fmt.Errorf("%q is not generalized time", s)
	}
	return t.UTC(), nil
}
