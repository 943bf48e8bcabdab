// Package strpool keeps many small strings in large shared chunks.
//
// A sync holds a few strings for each of up to millions of users. Made one
// by one, each is an object of its own for the garbage collector, rounded
// up to a size class; made from a Pool, a million of them are a few
// thousand 64 KiB objects and cost their length. Strings made from a Pool
// are ordinary strings: they stay valid as long as they are referenced.
package strpool

import "strings"

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
