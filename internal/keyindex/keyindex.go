// Package keyindex finds int32 values by string key, in an open-addressing
// table of (hash, value) cells: 8 bytes a cell and no pointer.
//
// A map[string]int32 over a million keys keeps a string header beside each
// key and grows by tables the collector scans; here the keys stay where the
// caller keeps them anyway (its records, an arena), and the index asks for a
// value's key (keyOf) only when a cell's hash equals the one looked for, so
// that every answer is exact.
package keyindex

import "hash/maphash"

// cell is one value and 32 bits of its key's hash; v is the value plus
// one, so that the zero cell is empty.
type cell struct {
	hash uint32
	v    int32
}

// Index maps keys to values. Values are non-negative; a key's value never
// changes once added.
type Index struct {
	seed  maphash.Seed
	cells []cell
	n     int
	keyOf func(v int32) string
}

// hashString hashes keys; tests replace it to make hashes meet.
var hashString = func(seed maphash.Seed, s string) uint32 {
	h := maphash.String(seed, s)
	return uint32(h ^ h>>32)
}

// New returns an index that holds n keys before it grows; keyOf returns
// the key of a value added.
func New(n int, keyOf func(v int32) string) *Index {
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	return &Index{seed: maphash.MakeSeed(), cells: make([]cell, size), keyOf: keyOf}
}

// Len returns the number of keys.
func (x *Index) Len() int { return x.n }

// Get returns the value of key.
func (x *Index) Get(key string) (int32, bool) {
	h := hashString(x.seed, key)
	mask := uint32(len(x.cells) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		c := x.cells[i]
		if c.v == 0 {
			return 0, false
		}
		if c.hash == h && x.keyOf(c.v-1) == key {
			return c.v - 1, true
		}
	}
}

// Add returns the value of key, adding v as it when key has none yet
// (added says so; key must then be v's key, as keyOf returns it).
func (x *Index) Add(key string, v int32) (value int32, added bool) {
	if v < 0 || v == 1<<31-1 {
		panic("keyindex: value out of range")
	}
	h := hashString(x.seed, key)
	mask := uint32(len(x.cells) - 1)
	i := h & mask
	for ; x.cells[i].v != 0; i = (i + 1) & mask {
		if c := x.cells[i]; c.hash == h && x.keyOf(c.v-1) == key {
			return c.v - 1, false
		}
	}
	if (x.n+1)*4 > len(x.cells)*3 {
		x.grow()
		mask = uint32(len(x.cells) - 1)
		for i = h & mask; x.cells[i].v != 0; i = (i + 1) & mask {
		}
	}
	x.cells[i] = cell{hash: h, v: v + 1}
	x.n++
	return v, true
}

// grow doubles the table. A cell's place follows from its hash alone, so
// no key is asked for.
func (x *Index) grow() {
	old := x.cells
	x.cells = make([]cell, 2*len(old))
	mask := uint32(len(x.cells) - 1)
	for _, c := range old {
		if c.v == 0 {
			continue
		}
		i := c.hash & mask
		for x.cells[i].v != 0 {
			i = (i + 1) & mask
		}
		x.cells[i] = c
	}
}
