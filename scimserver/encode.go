package scimserver

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// This file writes JSON by appending to byte slices. Strings are escaped
// exactly as encoding/json escapes them (HTML-safe, invalid UTF-8 replaced),
// so the hand-written resources are byte for byte what json.Marshal makes of
// the resource types.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, and <, > and & so that browsers never sniff HTML
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but line breaks to JavaScript
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendKey appends `,"key":`; keys are attribute names that need no escaping.
func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendField appends `,"key":"value"` to an object that already has a member.
func appendField(b []byte, key, value string) []byte {
	return appendString(appendKey(b, key), value)
}

// object is a JSON object being appended to b, either the value of a key or an
// element of an array. close drops it, key or separator included, when no
// member was written, which is how a projection that keeps none of a complex
// attribute's sub-attributes leaves the attribute out.
type object struct {
	b    []byte
	mark int // where the object (with its key or separator) started
	open int // just after the '{'
}

// openObject starts the object value of key after earlier members of the enclosing object.
func openObject(b []byte, key string) object {
	mark := len(b)
	b = append(appendKey(b, key), '{')
	return object{b: b, mark: mark, open: len(b)}
}

func (o *object) key(key string) {
	if len(o.b) > o.open {
		o.b = append(o.b, ',')
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, key...)
	o.b = append(o.b, '"', ':')
}

// str writes sub-attribute key of attribute top when p keeps it.
func (o *object) str(p *projection, top, key, value string) {
	if p.sub(top, key) {
		o.key(key)
		o.b = appendString(o.b, value)
	}
}

// optional is str for a sub-attribute that is left out when empty.
func (o *object) optional(p *projection, top, key, value string) {
	if value != "" {
		o.str(p, top, key, value)
	}
}

func (o *object) bool(p *projection, top, key string, value bool) {
	if p.sub(top, key) {
		o.key(key)
		o.b = appendBool(o.b, value)
	}
}

// close ends the object and returns the buffer.
func (o *object) close() []byte {
	if len(o.b) == o.open {
		return o.b[:o.mark]
	}
	return append(o.b, '}')
}

// array is the array value of a key; like object, it is dropped when it ends up empty.
type array struct {
	b    []byte
	mark int
	open int
}

func openArray(b []byte, key string) array {
	mark := len(b)
	b = append(appendKey(b, key), '[')
	return array{b: b, mark: mark, open: len(b)}
}

// element starts an object element; store its close() result back in a.b.
func (a *array) element() object {
	mark := len(a.b)
	b := a.b
	if len(b) > a.open {
		b = append(b, ',')
	}
	b = append(b, '{')
	return object{b: b, mark: mark, open: len(b)}
}

func (a *array) close() []byte {
	if len(a.b) == a.open {
		return a.b[:a.mark]
	}
	return append(a.b, ']')
}

// flushSize is how much of a list response is buffered before it is written out.
const flushSize = 32 << 10

// bufPool holds response buffers; buffers that grew past maxPooled (a group
// with very many members) are left to the garbage collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2*flushSize); return &b }}

const maxPooled = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// writeList streams a ListResponse (RFC 7644 §3.4.2) of items, each rendered
// by render, to w in flushSize pieces.
func writeList[T any](w http.ResponseWriter, total, startIndex int, items []T, render func(b []byte, item *T) []byte) {
	buf := getBuf()
	defer putBuf(buf)
	b := append((*buf)[:0], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"itemsPerPage":`...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	b = append(b, `,"startIndex":`...)
	b = strconv.AppendInt(b, int64(startIndex), 10)
	b = append(b, `,"Resources":[`...)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = render(b, &items[i])
		if len(b) >= flushSize {
			if _, err := w.Write(b); err != nil {
				*buf = b
				return // the client went away
			}
			b = b[:0]
		}
	}
	b = append(b, ']', '}')
	_, _ = w.Write(b)
	*buf = b
}

// writeResource answers one resource rendered by render.
func writeResource(w http.ResponseWriter, render func(b []byte) []byte) {
	buf := getBuf()
	defer putBuf(buf)
	*buf = render((*buf)[:0])
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(*buf)
}
