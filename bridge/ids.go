package bridge

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// The SCIM ids of new resources. A resource with an externalId (entryUUID,
// objectGUID, …) gets a name-based UUID (RFC 9562 version 5) over its
// resource type and externalId, so that two stores synced from the same
// directory, or a store lost and rebuilt, serve it under the same id. A
// resource without one gets a time-ordered random id (version 7). Ids never
// change afterwards: a rename or a new externalId keeps the stored id.

// idNamespace is scimbridge's namespace for name-based ids. It never changes:
// changing it would give every resource a new id in a rebuilt store.
var idNamespace = [16]byte{0x6f, 0x1c, 0x2a, 0x9e, 0x4b, 0x53, 0x4e, 0x1d, 0x9a, 0x77, 0x3e, 0x0b, 0x5c, 0xd1, 0x86, 0x42}

// NameID returns the version 5 UUID of a resource of type resourceType
// (MemberUser or MemberGroup) with externalId ext: the SCIM id a sync gives
// such a resource when it first creates it.
func NameID(resourceType, ext string) string {
	return uuidV5(&idNamespace, resourceType+"\x00"+ext)
}

// uuidV5 returns the version 5 UUID of name in namespace ns (RFC 9562 §5.5).
func uuidV5(ns *[16]byte, name string) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = 0x50 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return formatUUID(&b)
}

// idGen makes the random ids of one run: UUIDv7 (RFC 9562) with the run's
// millisecond, then a counter in the next 32 bits, so that ids ascend in the
// order they are made, then 42 bits mixed from the counter and a random salt
// of the run. An id is thus known from its counter alone (at), and a run
// keeps no id strings.
type idGen struct {
	ms   uint64
	salt uint64
	seq  uint32
}

var randRead = rand.Read

func newIDGen(now time.Time) *idGen {
	var b [8]byte
	_, _ = randRead(b[:])
	return &idGen{ms: uint64(now.UnixMilli()), salt: binary.LittleEndian.Uint64(b[:])}
}

// next returns a new id and its counter.
func (g *idGen) next() (string, uint32) {
	s := g.seq
	g.seq++
	return g.at(s), s
}

// at returns the id next returned (or will return) for counter s.
func (g *idGen) at(s uint32) string {
	var b [16]byte
	for i := 0; i < 6; i++ {
		b[i] = byte(g.ms >> (40 - 8*i))
	}
	binary.BigEndian.PutUint64(b[8:], splitmix64(g.salt+uint64(s)))
	b[6] = 0x70 | byte(s>>28)&0x0f
	b[7] = byte(s >> 20)
	b[8] = 0x80 | byte(s>>14)&0x3f
	b[9] = byte(s >> 6)
	b[10] = byte(s<<2) | b[10]&0x03
	return formatUUID(&b)
}

// splitmix64 is a bijective 64-bit mix (Steele, Lea, Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// formatUUID writes b in the 8-4-4-4-12 hex form.
func formatUUID(b *[16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
