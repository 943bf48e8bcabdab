package scimserver

import (
	"strings"
)

// projection applies the `attributes` and `excludedAttributes` parameters
// (RFC 7644 §3.4.2.5) to rendered resources. Names compare case-insensitively
// and may carry a schema URN prefix; unknown names are ignored.
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
	ext := strings.ToLower(enterpriseSchema)
	switch {
	case p == ext:
		return ext, ""
	case strings.HasPrefix(p, ext+":"):
		return ext, strings.TrimPrefix(p, ext+":")
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

// wants reports whether attribute top (lower case) is part of the response,
// so the store can skip loading groups or members nobody asked for.
func (p projection) wants(top string) bool {
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

// apply projects one rendered resource in place. schemas and id are always returned.
func (p projection) apply(res map[string]any) {
	for key, v := range res {
		lk := strings.ToLower(key)
		if lk == "schemas" || lk == "id" {
			continue
		}
		if p.include != nil {
			subs, ok := p.include[lk]
			if !ok {
				delete(res, key)
				continue
			}
			if subs != nil {
				v = keepSubs(v, subs, true)
				if v == nil {
					delete(res, key)
					continue
				}
				res[key] = v
			}
		}
		if subs, ok := p.exclude[lk]; ok {
			if subs == nil {
				delete(res, key)
				continue
			}
			v = keepSubs(v, subs, false)
			if v == nil {
				delete(res, key)
				continue
			}
			res[key] = v
		}
	}
}

// keepSubs keeps (keep=true) or drops (keep=false) the named sub-attributes of
// a complex value or of each element of a multi-valued one. It returns nil
// when nothing is left.
func keepSubs(v any, subs map[string]bool, keep bool) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if subs[strings.ToLower(k)] == keep {
				out[k] = x
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if x := keepSubs(e, subs, keep); x != nil {
				out = append(out, x)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	default:
		if keep {
			return nil
		}
		return v
	}
}
