package bridge

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// NormalizeDN returns the canonical, case-folded form of an LDAP distinguished
// name (RFC 4514), so that `cn=Eng,OU=Groups,dc=x` and `CN=eng, ou=groups,DC=X`
// compare equal: attribute types and values are lower-cased, spaces around
// separators dropped, escapes resolved and re-applied canonically, and the
// values of a multi-valued RDN sorted. A string that does not parse as a DN is
// returned trimmed and lower-cased, so it still compares consistently.
func NormalizeDN(dn string) string {
	if !strings.ContainsAny(dn, "\\\"+;<>#") {
		return normalizeSimpleDN(dn)
	}
	rdns, ok := parseDN(dn)
	if !ok {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, rdn := range rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		sort.Strings(rdn)
		b.WriteString(strings.Join(rdn, "+"))
	}
	return b.String()
}

// normalizeSimpleDN handles the common DN without escapes, quotes or
// multi-valued RDNs, without allocating per component.
func normalizeSimpleDN(dn string) string {
	if isCanonicalSimpleDN(dn) {
		return dn // most directories already write DNs this way: share the string
	}
	return buildSimpleDN(dn)
}

func buildSimpleDN(dn string) string {
	var b strings.Builder
	b.Grow(len(dn))
	first := true
	for part := range strings.SplitSeq(dn, ",") {
		typ, val, ok := strings.Cut(part, "=")
		if !ok {
			return strings.ToLower(strings.TrimSpace(dn))
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(normalizeType(typ))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(strings.TrimSpace(val)))
	}
	return b.String()
}

// isCanonicalSimpleDN reports whether dn (without escapes) is already in
// normalizeSimpleDN's form: lower case, no spaces around separators.
func isCanonicalSimpleDN(dn string) bool {
	if dn == "" {
		return false
	}
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if c >= 'A' && c <= 'Z' || c >= 0x80 || c < ' ' {
			return false
		}
		if c == ' ' && (i == 0 || i == len(dn)-1 || dn[i-1] == ',' || dn[i-1] == '=' || dn[i+1] == ',' || dn[i+1] == '=') {
			return false
		}
	}
	for part := range strings.SplitSeq(dn, ",") {
		typ, _, ok := strings.Cut(part, "=")
		if !ok || typ == "" || strings.HasPrefix(typ, "oid.") {
			return false
		}
	}
	return true
}

func normalizeType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	return strings.TrimPrefix(t, "oid.")
}

// parseDN splits a DN into RDNs, each a list of canonical "type=value" AVAs.
func parseDN(dn string) ([][]string, bool) {
	var rdns [][]string
	var rdn []string
	// Only leading spaces: a trailing one may be escaped (`cn=a\ `), and
	// parseValue drops the unescaped ones itself.
	s := strings.TrimLeft(dn, " ")
	if strings.TrimSpace(s) == "" {
		return nil, true
	}
	i := 0
	for {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, false
		}
		typ := normalizeType(s[i : i+eq])
		if typ == "" {
			return nil, false
		}
		i += eq + 1
		val, next, sep, ok := parseValue(s, i)
		if !ok {
			return nil, false
		}
		rdn = append(rdn, typ+"="+val)
		i = next
		switch sep {
		case '+':
			continue
		case ',', ';':
			rdns = append(rdns, rdn)
			rdn = nil
		case 0:
			return append(rdns, rdn), true
		}
	}
}

// parseValue reads one attribute value starting at s[i] and returns its
// canonical (folded, escaped) form, the index after the separator, and the
// separator (0 at the end).
func parseValue(s string, i int) (string, int, byte, bool) {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '#' {
		// A hex-encoded BER value: compare its hex text folded.
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '+' && s[j] != ';' {
			j++
		}
		val := strings.ToLower(strings.TrimSpace(s[i:j]))
		if j == len(s) {
			return val, j, 0, true
		}
		return val, j + 1, s[j], true
	}
	var raw []byte
	quoted := false
	if i < len(s) && s[i] == '"' {
		quoted = true
		i++
	}
	trailingSpaces := 0 // unescaped spaces at the end of raw, trimmed later
	for i < len(s) {
		c := s[i]
		switch {
		case quoted && c == '"':
			quoted = false
			i++
			continue
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, 0, false
			}
			if h, ok := unhex(s[i+1]); ok && i+2 < len(s) {
				if l, ok := unhex(s[i+2]); ok {
					raw = append(raw, h<<4|l)
					i += 3
					trailingSpaces = 0
					continue
				}
			}
			raw = append(raw, s[i+1])
			i += 2
			trailingSpaces = 0
			continue
		case !quoted && (c == ',' || c == '+' || c == ';'):
			return canonicalValue(raw[:len(raw)-trailingSpaces]), i + 1, c, true
		}
		if c == ' ' && !quoted {
			trailingSpaces++
		} else {
			trailingSpaces = 0
		}
		raw = append(raw, c)
		i++
	}
	if quoted {
		return "", 0, 0, false
	}
	return canonicalValue(raw[:len(raw)-trailingSpaces]), i, 0, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// canonicalValue folds a raw value and escapes what RFC 4514 requires, the
// same way normalizeSimpleDN leaves plain values.
func canonicalValue(raw []byte) string {
	v := strings.ToLower(string(raw))
	// White space that trimming would remove (at the ends, or any control
	// character) is written as \XX hex, so the result normalizes to itself.
	lead, trail := edgeSpace(v)
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c < ' ' || c == 0x7f || i < lead || i >= len(v)-trail:
			fmt.Fprintf(&b, "\\%02x", c)
			continue
		case strings.IndexByte(",+\"\\<>;", c) >= 0,
			c == '#' && i == 0:
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// edgeSpace returns how many bytes of white space v starts and ends with.
func edgeSpace(v string) (lead, trail int) {
	lead = len(v) - len(strings.TrimLeftFunc(v, unicode.IsSpace))
	if lead == len(v) {
		return lead, 0
	}
	return lead, len(v) - len(strings.TrimRightFunc(v, unicode.IsSpace))
}
