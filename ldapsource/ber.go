package ldapsource

import (
	"errors"
	"fmt"
)

// This file decodes the LDAP responses of a bulk read (RFC 4511 messages in
// BER) in place: every value it returns is a sub-slice of the message bytes,
// so decoding an entry allocates nothing. It checks every length against the
// bytes actually present, so malformed, truncated or hostile input returns
// an error and never makes it allocate or read out of bounds.

// BER tags of the LDAP messages a bulk read sends and receives.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30
	tagSet         = 0x31

	tagBindResponse       = 0x61 // [APPLICATION 1] constructed
	tagSearchEntry        = 0x64 // [APPLICATION 4]
	tagSearchDone         = 0x65 // [APPLICATION 5]
	tagSearchReference    = 0x73 // [APPLICATION 19]
	tagExtendedResponse   = 0x78 // [APPLICATION 24]
	tagIntermediate       = 0x79 // [APPLICATION 25]
	tagControls           = 0xa0 // [0] constructed, in LDAPMessage
	tagReferral           = 0xa3 // [3] constructed, in LDAPResult
	tagExtendedResponseID = 0x8a // [10] responseName, in ExtendedResponse
)

var errTruncated = errors.New("truncated BER element")

// maxMessageBytes bounds one LDAP message of a bulk read: a group of a
// million member DNs fits; a server claiming more is refused before anything
// is allocated for it.
const maxMessageBytes = 256 << 20

// berHeader reads the tag and definite length at the start of b and returns
// them with the header's size. ok is false when b holds only part of the
// header. LDAP allows only definite lengths (RFC 4511 section 5.1) and
// single-byte tags.
func berHeader(b []byte) (tag byte, length, hdr int, ok bool, err error) {
	if len(b) < 2 {
		return 0, 0, 0, false, nil
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, 0, 0, false, fmt.Errorf("BER tag %#x: multi-byte tags are not LDAP", tag)
	}
	l := b[1]
	if l < 0x80 {
		return tag, int(l), 2, true, nil
	}
	k := int(l & 0x7f)
	switch {
	case k == 0:
		return 0, 0, 0, false, errors.New("BER indefinite length is not allowed in LDAP")
	case k > 4:
		return 0, 0, 0, false, fmt.Errorf("BER length of %d bytes is too long", k)
	case len(b) < 2+k:
		return 0, 0, 0, false, nil
	}
	for _, c := range b[2 : 2+k] {
		length = length<<8 | int(c)
	}
	if length < 0 { // a 32-bit int overflowed
		return 0, 0, 0, false, fmt.Errorf("BER length %x is too long", b[2:2+k])
	}
	return tag, length, 2 + k, true, nil
}

// tlv splits the BER element at the start of b into its tag, its contents
// and the bytes after it.
func tlv(b []byte) (tag byte, content, rest []byte, err error) {
	tag, n, hdr, ok, err := berHeader(b)
	if err != nil {
		return 0, nil, nil, err
	}
	if !ok || n > len(b)-hdr {
		return 0, nil, nil, errTruncated
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], nil
}

// expect is tlv that also requires the tag.
func expect(b []byte, want byte, what string) (content, rest []byte, err error) {
	tag, content, rest, err := tlv(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if tag != want {
		return nil, nil, fmt.Errorf("%s: BER tag %#x, want %#x", what, tag, want)
	}
	return content, rest, nil
}

// berInt decodes a BER INTEGER or ENUMERATED value of at most 8 bytes.
func berInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, fmt.Errorf("BER integer of %d bytes", len(b))
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v, nil
}

// message is one LDAPMessage, taken apart in place.
type message struct {
	id       int64
	op       byte   // the protocolOp's tag
	body     []byte // the protocolOp's contents
	controls []byte // the contents of [0] Controls; nil when absent
}

// parseMessage takes apart one whole LDAPMessage ::= SEQUENCE { messageID,
// protocolOp, controls [0] OPTIONAL }.
func parseMessage(b []byte) (message, error) {
	var m message
	seq, rest, err := expect(b, tagSequence, "LDAP message")
	if err != nil {
		return m, err
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("LDAP message: %d bytes after its end", len(rest))
	}
	id, seq, err := expect(seq, tagInteger, "LDAP message ID")
	if err != nil {
		return m, err
	}
	if m.id, err = berInt(id); err != nil || m.id < 0 {
		return m, fmt.Errorf("LDAP message ID %x is not a valid ID", id)
	}
	if m.op, m.body, seq, err = tlv(seq); err != nil {
		return m, fmt.Errorf("LDAP message %d: operation: %w", m.id, err)
	}
	if len(seq) > 0 {
		if m.controls, seq, err = expect(seq, tagControls, "LDAP message controls"); err != nil {
			return m, err
		}
		if m.controls == nil {
			m.controls = []byte{}
		}
	}
	if len(seq) != 0 {
		return m, fmt.Errorf("LDAP message %d: %d unexpected bytes after the controls", m.id, len(seq))
	}
	return m, nil
}

// rawAttr is one attribute of a decoded entry; name and values point into
// the message.
type rawAttr struct {
	name []byte
	vals [][]byte
}

// rawEntry is a decoded SearchResultEntry. decodeEntry reuses its slices
// from one entry to the next.
type rawEntry struct {
	dn    []byte
	attrs []rawAttr
}

// decodeEntry decodes the body of a SearchResultEntry ::= [APPLICATION 4]
// SEQUENCE { objectName LDAPDN, attributes SEQUENCE OF SEQUENCE { type,
// vals SET OF value } } into e.
func decodeEntry(body []byte, e *rawEntry) error {
	dn, rest, err := expect(body, tagOctetString, "entry DN")
	if err != nil {
		return err
	}
	e.dn = dn
	list, rest, err := expect(rest, tagSequence, "entry attributes")
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("entry %q: %d unexpected bytes after the attributes", dn, len(rest))
	}
	e.attrs = e.attrs[:0]
	for len(list) > 0 {
		var pa []byte
		if pa, list, err = expect(list, tagSequence, "attribute"); err != nil {
			return fmt.Errorf("entry %q: %w", dn, err)
		}
		name, pa, err := expect(pa, tagOctetString, "attribute name")
		if err != nil {
			return fmt.Errorf("entry %q: %w", dn, err)
		}
		set, pa, err := expect(pa, tagSet, "attribute values")
		if err != nil {
			return fmt.Errorf("entry %q: %s: %w", dn, name, err)
		}
		if len(pa) != 0 {
			return fmt.Errorf("entry %q: %s: %d unexpected bytes after the values", dn, name, len(pa))
		}
		if len(e.attrs) < cap(e.attrs) {
			e.attrs = e.attrs[:len(e.attrs)+1]
		} else {
			e.attrs = append(e.attrs, rawAttr{})
		}
		a := &e.attrs[len(e.attrs)-1]
		a.name, a.vals = name, a.vals[:0]
		for len(set) > 0 {
			var v []byte
			if v, set, err = expect(set, tagOctetString, "attribute value"); err != nil {
				return fmt.Errorf("entry %q: %s: %w", dn, name, err)
			}
			a.vals = append(a.vals, v)
		}
	}
	return nil
}

// result is an LDAPResult: the end of a search, a bind or an extended operation.
type result struct {
	code       int64
	matchedDN  []byte
	diagnostic []byte
}

// decodeResult decodes the body of a SearchResultDone, BindResponse or
// ExtendedResponse: LDAPResult ::= SEQUENCE { resultCode ENUMERATED,
// matchedDN, diagnosticMessage, referral [3] OPTIONAL }, followed (in an
// ExtendedResponse) by optional fields this reader does not need.
func decodeResult(body []byte) (result, error) {
	var r result
	code, rest, err := expect(body, tagEnumerated, "result code")
	if err != nil {
		return r, err
	}
	if r.code, err = berInt(code); err != nil {
		return r, fmt.Errorf("result code: %w", err)
	}
	if r.matchedDN, rest, err = expect(rest, tagOctetString, "matched DN"); err != nil {
		return r, err
	}
	if r.diagnostic, rest, err = expect(rest, tagOctetString, "diagnostic message"); err != nil {
		return r, err
	}
	for len(rest) > 0 {
		if _, _, rest, err = tlv(rest); err != nil {
			return r, fmt.Errorf("result: %w", err)
		}
	}
	return r, nil
}

// decodeReference counts the URIs of a SearchResultReference ::=
// [APPLICATION 19] SEQUENCE OF URI, checking they are well formed.
func decodeReference(body []byte) (int, error) {
	n := 0
	for len(body) > 0 {
		var err error
		if _, body, err = expect(body, tagOctetString, "reference URI"); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("search reference without a URI")
	}
	return n, nil
}

// oidPaging is the RFC 2696 simple paged results control.
const oidPaging = "1.2.840.113556.1.4.319"

// pagingCookie finds the paged-results control among a response's controls
// (the contents of [0] Controls) and returns its cookie; found is false when
// the server sent none, as a server that does not page does.
func pagingCookie(controls []byte) (cookie []byte, found bool, err error) {
	for len(controls) > 0 {
		var c []byte
		if c, controls, err = expect(controls, tagSequence, "control"); err != nil {
			return nil, false, err
		}
		oid, c, err := expect(c, tagOctetString, "control type")
		if err != nil {
			return nil, false, err
		}
		if string(oid) != oidPaging {
			continue
		}
		var value []byte
		for len(c) > 0 {
			var tag byte
			var content []byte
			if tag, content, c, err = tlv(c); err != nil {
				return nil, false, fmt.Errorf("paging control: %w", err)
			}
			if tag == tagOctetString {
				value = content
			}
		}
		seq, rest, err := expect(value, tagSequence, "paging control value")
		if err != nil {
			return nil, false, err
		}
		if len(rest) != 0 {
			return nil, false, errors.New("paging control value: unexpected bytes after it")
		}
		if _, seq, err = expect(seq, tagInteger, "paging control size"); err != nil {
			return nil, false, err
		}
		if cookie, seq, err = expect(seq, tagOctetString, "paging control cookie"); err != nil {
			return nil, false, err
		}
		if len(seq) != 0 {
			return nil, false, errors.New("paging control: unexpected bytes after the cookie")
		}
		return cookie, true, nil
	}
	return nil, false, nil
}
