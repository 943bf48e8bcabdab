package scimserver

import (
	"strings"
)

// projection applies the `attributes` and `excludedAttributes` parameters
// (RFC 7644 §3.4.2.5): appendUser and appendGroup ask it attribute by
// attribute. Names compare case-insensitively and may carry a schema URN
// prefix; unknown names are ignored. The zero value selects everything.
type projection struct {
	include map[string]map[string]bool // lower-case top-level name → sub-attributes (nil: whole attribute)
	exclude map[string]map[string]bool
}

// newProjection parses the two parameters, each a list of comma-separated attribute paths.
func newProjection(attributes, excluded []string) projection {
	return projection{include: parsePaths(attributes), exclude: parsePaths(excluded)}
}

func parsePaths(lists []string) map[string]map[string]bool {
	var m map[string]map[string]bool
	for _, list := range lists {
		for _, p := range strings.Split(list, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" {
				continue
			}
			top, sub := splitPath(p)
			if m == nil {
				m = map[string]map[string]bool{}
			}
			subs, seen := m[top]
			switch {
			case sub == "":
				m[top] = nil
			case seen && subs == nil: // the whole attribute is already named
			default:
				if subs == nil {
					subs = map[string]bool{}
				}
				subs[sub] = true
				m[top] = subs
			}
		}
	}
	return m
}

// splitPath splits a lower-case attribute path into its top-level name and sub-attribute.
func splitPath(p string) (top, sub string) {
	switch {
	case p == enterpriseKey:
		return enterpriseKey, ""
	case strings.HasPrefix(p, enterpriseKey+":"):
		return enterpriseKey, strings.TrimPrefix(p, enterpriseKey+":")
	}
	for _, s := range []string{userSchema, groupSchema} {
		if s = strings.ToLower(s) + ":"; strings.HasPrefix(p, s) {
			p = strings.TrimPrefix(p, s)
			break
		}
	}
	top, sub, _ = strings.Cut(p, ".")
	return top, sub
}

// enterpriseKey is the enterprise extension's attribute name as projections name it.
var enterpriseKey = strings.ToLower(enterpriseSchema)

// wants reports whether attribute top (lower case) is part of the response,
// so the store can skip loading groups or members nobody asked for.
func (p *projection) wants(top string) bool {
	if p.include != nil {
		if _, ok := p.include[top]; !ok {
			return false
		}
	}
	if subs, ok := p.exclude[top]; ok && subs == nil {
		return false
	}
	return true
}

// simple reports whether the simple attribute top (lower case) is part of the
// response: naming one of its sub-attributes in `attributes` selects nothing.
func (p *projection) simple(top string) bool {
	if !p.wants(top) {
		return false
	}
	return p.include == nil || p.include[top] == nil
}

// sub reports whether sub-attribute key of the complex or multi-valued
// attribute top (lower case) is part of the response, given p.wants(top).
func (p *projection) sub(top, key string) bool {
	var include map[string]bool
	if p.include != nil {
		include = p.include[top]
	}
	exclude := p.exclude[top]
	if include == nil && exclude == nil {
		return true
	}
	key = strings.ToLower(key)
	return (include == nil || include[key]) && !exclude[key]
}
