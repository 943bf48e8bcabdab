// Package strpool keeps many small strings in large shared chunks.
//
// A sync holds a few strings for each of up to millions of users. Made one
// by one, each is an object of its own for the garbage collector, rounded
// up to a size class; made from a Pool, a million of them are a few
// thousand 64 KiB objects and cost their length. Strings made from a Pool
// are ordinary strings: they stay valid as long as they are referenced.
// An Arena keeps its strings itself and names each by a Ref, 8 bytes
// without a pointer: records that hold Refs are not scanned by the collector.
package strpool

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// chunk is the size of one shared allocation.
const chunk = 64 << 10

// Pool makes strings. The zero Pool is ready to use; it is not safe for
// concurrent use.
type Pool struct{ b strings.Builder }

// room makes sure the current chunk has n more bytes free. A full chunk is
// left to the strings already made from it; a Builder never reallocates
// below its capacity, so those stay untouched.
func (p *Pool) room(n int) {
	if p.b.Cap()-p.b.Len() < n {
		p.b = strings.Builder{}
		p.b.Grow(max(chunk, n))
	}
}

// String returns a pooled copy of s ("" stays "").
func (p *Pool) String(s string) string {
	if s == "" {
		return ""
	}
	p.room(len(s))
	start := p.b.Len()
	p.b.WriteString(s)
	return p.b.String()[start:]
}

// Bytes returns a pooled string with the bytes of b.
func (p *Pool) Bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	p.room(len(b))
	start := p.b.Len()
	p.b.Write(b)
	return p.b.String()[start:]
}

// Ref names a string kept in an Arena by its place: 8 bytes without a
// pointer, where a string is 16 bytes with one for the collector to follow.
// The zero Ref is "".
type Ref uint64

// Arena keeps strings in chunks it holds and hands out a Ref for each. The
// zero Arena is ready to use; it is not safe for concurrent use.
type Arena struct {
	// chunks are never reallocated: a chunk is filled up to its capacity
	// and then left as it is, so that strings made from it stay intact.
	chunks [][]byte
}

// Keep copies s into the arena and returns its Ref.
func (a *Arena) Keep(s string) Ref {
	if s == "" {
		return 0
	}
	need := binary.MaxVarintLen64 + len(s)
	last := len(a.chunks) - 1
	if last < 0 || cap(a.chunks[last])-len(a.chunks[last]) < need {
		c := make([]byte, 0, max(chunk, need))
		if last < 0 {
			c = append(c, 0) // the zero Ref's place: the empty string
		}
		a.chunks = append(a.chunks, c)
		last++
	}
	c := a.chunks[last]
	off := len(c)
	c = binary.AppendUvarint(c, uint64(len(s)))
	a.chunks[last] = append(c, s...)
	return Ref(uint64(last)<<32 | uint64(off))
}

// At returns the string r names. It shares the arena's memory and stays
// valid as long as it is referenced.
func (a *Arena) At(r Ref) string {
	if r == 0 {
		return ""
	}
	b := a.chunks[r>>32][uint32(r):]
	n, k := binary.Uvarint(b)
	return unsafe.String(&b[k], int(n))
}
