package store

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
)

// A walk through every page of a list ("startIndex=1, 1001, 2001, …") would
// make SQLite skip startIndex rows for each page, so a full walk grows with
// the square of the store. cursors remembers, for a list query in its own
// order (the key of its table: a user's rowid, a group's id), the key that
// ended the page before each startIndex a client will ask for next, so that
// the next page starts right after it. Pages then stay the same cost all the
// way through. Keyset pages also never repeat or miss a resource when
// resources are added or removed before the page meanwhile. A walk also
// reports the total counted for its first page on every later full
// page, instead of counting again for each page.
type cursors struct {
	mu    sync.Mutex
	after map[string]cursor // query key → where the next page starts
	keys  []string          // insertion order, for eviction
}

type cursor struct {
	after any   // the key that ended the previous page
	total int   // matches counted for the walk's first page
	gen   int64 // the store's generation when it was counted
}

// generation counts the writes that change users or groups in this process;
// a cursor's total is reused only while it is unchanged.
type generation struct{ n atomic.Int64 }

func (g *generation) bump()          { g.n.Add(1) }
func (g *generation) current() int64 { return g.n.Load() }

// maxCursors bounds the memory the cursors take: a few concurrent walks.
const maxCursors = 256

func cursorKey(table, where string, args []any, startIndex int) string {
	a, _ := json.Marshal(args) // typed and delimited: ["a","b"] never equals ["ab",""]
	return table + "\x00" + where + "\x00" + string(a) + "\x00" + strconv.Itoa(startIndex)
}

func (c *cursors) get(key string) (cursor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.after[key]
	return cur, ok
}

func (c *cursors) put(key string, cur cursor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.after == nil {
		c.after = map[string]cursor{}
	}
	if _, ok := c.after[key]; !ok {
		c.keys = append(c.keys, key)
	}
	c.after[key] = cur
	for len(c.keys) > maxCursors {
		delete(c.after, c.keys[0])
		c.keys = c.keys[1:]
	}
}
