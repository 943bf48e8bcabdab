package schema

import "fmt"

// Bounds of users.filter and groups.filter. go-ldap's filter compiler needs
// memory that grows with the square of the nesting depth (10,000 nested "(!"
// take 377 MB), so a filter is measured by these two numbers, in one pass over
// its bytes, before anything compiles it. Real filters are a few hundred bytes
// and a handful of levels deep.
const (
	MaxLDAPFilterBytes = 4096
	MaxLDAPFilterDepth = 32
)

// CheckLDAPFilter reports whether an LDAP filter is within MaxLDAPFilterBytes
// and MaxLDAPFilterDepth levels of parentheses, without parsing it. The error
// names the limit; its caller names the setting. Escaped parentheses in values
// are written \28 and \29 (RFC 4515), so every '(' opens a level.
func CheckLDAPFilter(f string) error {
	if len(f) > MaxLDAPFilterBytes {
		return fmt.Errorf("is %d bytes long: the limit is %d bytes", len(f), MaxLDAPFilterBytes)
	}
	depth, deepest := 0, 0
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '(':
			depth++
			deepest = max(deepest, depth)
		case ')':
			depth--
		}
	}
	// An unwrapped filter ("uid=x") gets one more level when it is wrapped.
	if len(f) > 0 && f[0] != '(' {
		deepest++
	}
	if deepest > MaxLDAPFilterDepth {
		return fmt.Errorf("nests %d levels of parentheses: the limit is %d", deepest, MaxLDAPFilterDepth)
	}
	return nil
}
