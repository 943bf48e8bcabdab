package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// Memberships and the nesting closure hold rowids (migration 8); the bridge
// names users and groups by id. A run's transaction maps ids to rowids with
// a ridMap per table: the rowids it assigns to the rows it inserts are kept
// as it inserts them (a first sync then maps every membership without a
// search), the others are looked up once, all in one statement.

// ridMap maps the ids of one table's rows (users or groups) to their rowids
// within one write transaction. The ids the bridge gives are UUIDs in their
// canonical text; those are kept as their 16 bytes: a first sync maps a
// million of them, and a map of fixed-size keys holds no pointers (the
// garbage collector skips it) and keeps no id strings alive.
type ridMap struct {
	table string // users or groups
	uuids map[[16]byte]int64
	ids   map[string]int64 // ids that are not canonical UUIDs
	// first is the first rowid this transaction assigned, next the next it
	// assigns; both 0 until the first assignment reads the table's end.
	first, next int64
}

func newRIDMap(table string) ridMap {
	return ridMap{table: table, uuids: map[[16]byte]int64{}, ids: map[string]int64{}}
}

// uuidKey returns the bytes of id when it is a UUID in canonical text
// (lower-case hex, 8-4-4-4-12): one text for each key, so that two ids
// never share one.
func uuidKey(id string) (k [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return k, false
	}
	n := 0
	for i := 0; i < 36; i += 2 {
		if id[i] == '-' {
			i--
			continue
		}
		hi, ok1 := lowerHex(id[i])
		lo, ok2 := lowerHex(id[i+1])
		if !ok1 || !ok2 {
			return k, false
		}
		k[n] = hi<<4 | lo
		n++
	}
	return k, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// set maps id to rid.
func (m *ridMap) set(id string, rid int64) {
	if k, ok := uuidKey(id); ok {
		m.uuids[k] = rid
		return
	}
	m.ids[id] = rid
}

// get returns the rowid of id, if mapped.
func (m *ridMap) get(id string) (int64, bool) {
	if k, ok := uuidKey(id); ok {
		rid, ok := m.uuids[k]
		return rid, ok
	}
	rid, ok := m.ids[id]
	return rid, ok
}

// assign returns a new rowid for the row id that tx is about to insert.
func (m *ridMap) assign(ctx context.Context, tx *sql.Tx, id string) (int64, error) {
	if m.next == 0 {
		// table is one of two constants.
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(rid), 0) + 1 FROM "+m.table).Scan(&m.next); err != nil {
			return 0, fmt.Errorf("read the last rowid of %s: %w", m.table, err)
		}
		m.first = m.next
	}
	rid := m.next
	m.next++
	m.set(id, rid)
	return rid, nil
}

// assigned reports whether this transaction inserted the row of rowid rid.
func (m *ridMap) assigned(rid int64) bool { return m.first != 0 && rid >= m.first }

// resolve looks up the rowids of the ids not mapped yet and returns the
// first of ids (in their order) that the table does not hold, or "".
func (m *ridMap) resolve(ctx context.Context, tx *sql.Tx, ids []string) (string, error) {
	var unknown []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := m.get(id); !ok && !seen[id] {
			seen[id] = true
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return "", nil
	}
	// table is one of two constants.
	err := eachRow(ctx, tx, "SELECT t.id, t.rid FROM json_each(?) j JOIN "+m.table+" t ON t.id = j.value", func(rows *sql.Rows) error {
		var id string
		var rid int64
		if err := rows.Scan(&id, &rid); err != nil {
			return err
		}
		m.set(id, rid)
		return nil
	}, idsJSON(unknown))
	if err != nil {
		return "", fmt.Errorf("look up %d %s: %w", len(unknown), m.table, err)
	}
	for _, id := range unknown {
		if _, ok := m.get(id); !ok {
			return id, nil
		}
	}
	return "", nil
}

// rid returns the rowid of id, which resolve or assign has mapped.
func (m *ridMap) rid(id string) int64 {
	rid, _ := m.get(id)
	return rid
}

// forget drops ids whose rows are deleted.
func (m *ridMap) forget(ids []string) {
	for _, id := range ids {
		if k, ok := uuidKey(id); ok {
			delete(m.uuids, k)
		} else {
			delete(m.ids, id)
		}
	}
}

// ridsJSON renders rowids as a JSON array, for json_each, in *buf (reused).
func ridsJSON(buf *[]byte, rids []int64) string {
	b := append((*buf)[:0], '[')
	for i, r := range rids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, r, 10)
	}
	b = append(b, ']')
	*buf = b
	return string(b)
}

func compareRIDs(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
