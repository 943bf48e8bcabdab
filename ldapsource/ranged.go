package ldapsource

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// maxRangeRequests bounds the follow-up reads of one ranged attribute
// (1,500 values each on AD: 15 million values), so a server that never
// ends a range cannot keep a sync reading forever.
const maxRangeRequests = 10000

// parseRange takes an attribute description with a range option apart:
// "member;range=0-1499" → ("member", 0, 1499, true); "member;range=1500-*" →
// ("member", 1500, -1, true). Other options stay part of the name. ok is
// false for descriptions without a (well-formed) range option.
func parseRange(desc string) (name string, lo, hi int, ok bool) {
	parts := strings.Split(desc, ";")
	var keep []string
	found := false
	for _, p := range parts[1:] {
		v, isRange := cutPrefixFold(p, "range=")
		if !isRange {
			keep = append(keep, p)
			continue
		}
		l, h, cut := strings.Cut(v, "-")
		if !cut || found {
			return "", 0, 0, false
		}
		var err error
		if lo, err = strconv.Atoi(l); err != nil || lo < 0 {
			return "", 0, 0, false
		}
		if h == "*" {
			hi = -1
		} else if hi, err = strconv.Atoi(h); err != nil || hi < lo-1 {
			return "", 0, 0, false
		}
		found = true
	}
	if !found {
		return "", 0, 0, false
	}
	return strings.ToLower(strings.Join(append([]string{parts[0]}, keep...), ";")), lo, hi, true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// mergeAttributes turns an entry's attributes into schema.Entry form: names
// lower-cased, and ranged slices completed and merged under the plain name.
// For a slice that does not end in "*", fetch(name, next) must return the
// attributes of a read of "name;range=next-*" on the same entry; it is called
// until a slice ends in "*".
func mergeAttributes(attrs []*ldap.EntryAttribute, fetch func(name string, lo int) ([]*ldap.EntryAttribute, error)) (map[string][][]byte, error) {
	out := make(map[string][][]byte, len(attrs))
	next := map[string]int{} // ranged attributes not yet complete → next lower bound
	for _, a := range attrs {
		name, _, hi, ok := parseRange(a.Name)
		if !ok {
			k := strings.ToLower(a.Name)
			out[k] = append(out[k], a.ByteValues...)
			continue
		}
		out[name] = append(out[name], a.ByteValues...)
		if hi >= 0 {
			next[name] = hi + 1
		}
	}
	names := make([]string, 0, len(next))
	for n := range next {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		lo := next[name]
		for i := 0; ; i++ {
			if i == maxRangeRequests {
				return nil, fmt.Errorf("ranged read of %s did not end after %d requests", name, i)
			}
			got, err := fetch(name, lo)
			if err != nil {
				return nil, fmt.Errorf("ranged read of %s;range=%d-*: %w", name, lo, err)
			}
			var slice *ldap.EntryAttribute
			var sliceLo, sliceHi int
			for _, a := range got {
				if n, l, h, ok := parseRange(a.Name); ok && n == name {
					slice, sliceLo, sliceHi = a, l, h
				}
			}
			if slice == nil {
				return nil, fmt.Errorf("ranged read of %s;range=%d-*: the server returned no %s slice, so the values are incomplete", name, lo, name)
			}
			if sliceLo != lo {
				return nil, fmt.Errorf("ranged read of %s;range=%d-*: the server answered with range %d-, so the values are incomplete", name, lo, sliceLo)
			}
			out[name] = append(out[name], slice.ByteValues...)
			if sliceHi < 0 {
				break
			}
			if sliceHi < lo {
				return nil, fmt.Errorf("ranged read of %s;range=%d-*: the server's slice %d-%d makes no progress", name, lo, sliceLo, sliceHi)
			}
			lo = sliceHi + 1
		}
	}
	return out, nil
}
