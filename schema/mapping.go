package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what one directory entry may carry.
const (
	// MaxValueBytes bounds each mapped attribute value (after trimming).
	MaxValueBytes = 2048
	// MaxDNBytes bounds an entry's DN and each DN-valued group member.
	MaxDNBytes = 8 * 1024
)

// MapUser maps a directory entry to a User as s describes it. An entry that
// cannot be mapped returns a *EntryError saying why; the caller skips and
// reports it.
//
// Values are trimmed of surrounding white space; a missing optional attribute
// maps to "". The username is required. Every value must be valid UTF-8 and at
// most MaxValueBytes long, except the external id, which may be binary:
// objectGUID and other 16-byte binary values become GUID strings (FormatGUID),
// objectSid an "S-1-..." string (FormatSID), other binary values hex. When
// users.attributes.disabledAttribute is set and present, the user is active
// unless the integer value has users.attributes.disabledBit set.
func MapUser(e *Entry, s *Settings) (User, error) {
	if err := checkEntry(e); err != nil {
		return User{}, err
	}
	a := &s.Users.Attributes
	m := mapper{e: e}
	u := User{DN: strings.TrimSpace(e.DN), Active: true}
	u.UserName = m.text(a.Username)
	if m.err == nil && u.UserName == "" {
		return User{}, m.fail(fmt.Sprintf("missing username attribute %q", a.Username))
	}
	u.Email = m.text(a.Email)
	u.GivenName = m.text(a.FirstName)
	u.FamilyName = m.text(a.LastName)
	u.DisplayName = m.text(a.DisplayName)
	u.EmployeeNumber = m.text(a.EmployeeNumber)
	u.Department = m.text(a.Department)
	u.ExternalID = m.externalID(a.ExternalID)
	if s.Groups.Enabled && s.Groups.Attributes.MembershipAttributeType == MembershipUID {
		u.MemberKey = m.text(s.Groups.Attributes.MembershipUserAttribute)
	}
	if a.DisabledAttribute != "" {
		if raw := m.text(a.DisabledAttribute); raw != "" {
			flags, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				m.fail(fmt.Sprintf("attribute %s is not an integer: %q", a.DisabledAttribute, clip(raw, 32)))
			}
			u.Active = flags&a.DisabledBit == 0
		}
	}
	if m.err != nil {
		return User{}, m.err
	}
	return u, nil
}

// MapGroup maps a directory entry to a Group as s describes it. An entry
// that cannot be mapped returns a *EntryError saying why.
//
// The name is required and checked like user values. Members are every value
// of groups.attributes.membership, trimmed; empty values are left out, and
// values that are not valid UTF-8 or are longer than MaxDNBytes are left out
// and counted in Group.Dropped so the run can report them.
func MapGroup(e *Entry, s *Settings) (Group, error) {
	if err := checkEntry(e); err != nil {
		return Group{}, err
	}
	a := &s.Groups.Attributes
	m := mapper{e: e}
	g := Group{DN: strings.TrimSpace(e.DN)}
	g.Name = m.text(a.Name)
	if m.err == nil && g.Name == "" {
		return Group{}, m.fail(fmt.Sprintf("missing group name attribute %q", a.Name))
	}
	g.ExternalID = m.externalID(a.ExternalID)
	if m.err != nil {
		return Group{}, m.err
	}
	if a.Membership != "" {
		vals := e.Values(a.Membership)
		g.Members = make([]string, 0, len(vals))
		for _, v := range vals {
			v = bytes.TrimSpace(v)
			switch {
			case len(v) == 0:
			case len(v) > MaxDNBytes || !utf8.Valid(v):
				g.Dropped++
			default:
				g.Members = append(g.Members, string(v))
			}
		}
	}
	return g, nil
}

// checkEntry rejects entries whose DN cannot be stored or reported as is.
func checkEntry(e *Entry) error {
	switch {
	case e == nil:
		return &EntryError{Reason: "no entry"}
	case len(e.DN) > MaxDNBytes:
		return &EntryError{DN: clip(e.DN, 256), Reason: fmt.Sprintf("DN is longer than %d bytes", MaxDNBytes)}
	case !utf8.ValidString(e.DN):
		return &EntryError{DN: strings.ToValidUTF8(e.DN, "\uFFFD"), Reason: "invalid UTF-8 in DN"}
	case strings.TrimSpace(e.DN) == "":
		return &EntryError{Reason: "entry has no DN"}
	}
	return nil
}

// mapper reads attribute values of one entry and keeps the first problem.
// UserKeys returns what identifies the stored user of an entry that
// MapUser refused: its externalId and, with memberUid groups, its member
// key, each "" when it is absent or is itself the bad value. A sync keeps
// that stored user as it is, also when the entry was renamed.
func UserKeys(e *Entry, s *Settings) (externalID, memberKey string) {
	m := mapper{e: e}
	externalID = m.externalID(s.Users.Attributes.ExternalID)
	if m.err != nil {
		externalID, m.err = "", nil
	}
	if s.Groups.Enabled && s.Groups.Attributes.MembershipAttributeType == MembershipUID {
		memberKey = m.text(s.Groups.Attributes.MembershipUserAttribute)
		if m.err != nil {
			memberKey = ""
		}
	}
	return externalID, memberKey
}

// GroupKeys returns the externalId of a group entry that MapGroup refused,
// "" when it is absent or is itself the bad value: a sync keeps the stored
// group it identifies as it is.
func GroupKeys(e *Entry, s *Settings) (externalID string) {
	m := mapper{e: e}
	externalID = m.externalID(s.Groups.Attributes.ExternalID)
	if m.err != nil {
		return ""
	}
	return externalID
}

type mapper struct {
	e   *Entry
	err *EntryError
}

func (m *mapper) fail(reason string) *EntryError {
	if m.err == nil {
		m.err = &EntryError{DN: m.e.DN, Reason: reason}
	}
	return m.err
}

// text returns the first value of attribute name as trimmed UTF-8 text, or ""
// when name is empty or the entry lacks it.
func (m *mapper) text(name string) string {
	if name == "" {
		return ""
	}
	v := m.e.First(name)
	if v == nil {
		return ""
	}
	if !utf8.Valid(v) {
		m.fail("invalid UTF-8 in attribute " + name)
		return ""
	}
	v = bytes.TrimSpace(v)
	if len(v) > MaxValueBytes {
		m.fail(fmt.Sprintf("attribute %s is longer than %d bytes", name, MaxValueBytes))
		return ""
	}
	return string(v)
}

// externalID returns the entry's external id: AD's objectGUID and any other
// 16-byte binary value as a GUID string, objectSid as an S-1-... string, other
// printable text as is, and any other binary value in hex.
func (m *mapper) externalID(name string) string {
	if name == "" {
		return ""
	}
	v := m.e.First(name)
	if len(v) == 0 {
		return ""
	}
	if len(v) > MaxValueBytes {
		m.fail(fmt.Sprintf("attribute %s is longer than %d bytes", name, MaxValueBytes))
		return ""
	}
	switch {
	case strings.EqualFold(name, "objectGUID"):
		id, err := FormatGUID(v)
		if err != nil {
			m.fail(fmt.Sprintf("attribute %s: %v", name, err))
		}
		return id
	case strings.EqualFold(name, "objectSid"):
		id, err := FormatSID(v)
		if err != nil {
			m.fail(fmt.Sprintf("attribute %s: %v", name, err))
		}
		return id
	case printable(v):
		return string(bytes.TrimSpace(v))
	case len(v) == 16:
		id, _ := FormatGUID(v)
		return id
	default:
		return hex.EncodeToString(v)
	}
}

// printable reports whether b is UTF-8 text without control characters
// other than white space.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// FormatGUID formats a 16-byte binary GUID, as AD stores objectGUID, in its
// canonical lower-case string form. The first three groups are little-endian:
// bytes 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff format as
// "33221100-5544-7766-8899-aabbccddeeff".
func FormatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("a GUID is 16 bytes, not %d", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16]), nil
}

// FormatSID formats a binary Windows security identifier (AD's objectSid) in
// its string form, e.g. "S-1-5-21-3623811015-3361044348-30300820-1013".
func FormatSID(b []byte) (string, error) {
	if len(b) < 8 {
		return "", fmt.Errorf("a SID is at least 8 bytes, not %d", len(b))
	}
	n := int(b[1])
	if n > 15 {
		return "", fmt.Errorf("a SID has at most 15 sub-authorities, not %d", n)
	}
	if len(b) != 8+4*n {
		return "", fmt.Errorf("a SID with %d sub-authorities is %d bytes, not %d", n, 8+4*n, len(b))
	}
	var sb strings.Builder
	sb.WriteString("S-")
	sb.WriteString(strconv.Itoa(int(b[0])))
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	// MS-DTYP 2.4.2.1: authorities of 2^32 and more are written in hex.
	if auth >= 1<<32 {
		fmt.Fprintf(&sb, "-0x%012X", auth)
	} else {
		sb.WriteString("-" + strconv.FormatUint(auth, 10))
	}
	for i := 0; i < n; i++ {
		sb.WriteString("-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), nil
}

// clip shortens s to at most n bytes for use in a message, keeping it valid UTF-8.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
