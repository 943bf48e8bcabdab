package schema

// Entry is one directory entry as read from LDAP: its DN and its attribute
// values. Attribute names are lower-cased; ranged slices
// ("member;range=0-1499") are already merged under the plain name ("member").
type Entry struct {
	DN    string
	Attrs map[string][][]byte
}

// First returns the first value of attribute name (any letter case), or nil.
func (e *Entry) First(name string) []byte {
	v := e.Attrs[lower(name)]
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

// Values returns every value of attribute name (any letter case).
func (e *Entry) Values(name string) [][]byte {
	return e.Attrs[lower(name)]
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// User is the canonical user record a directory entry maps to.
type User struct {
	DN             string
	ExternalID     string
	UserName       string
	GivenName      string
	FamilyName     string
	DisplayName    string
	Email          string
	Active         bool
	EmployeeNumber string
	Department     string
	// MemberKey is the value of groups.attributes.membershipUserAttribute,
	// which memberUid-style groups refer to. Empty when groups use DNs.
	MemberKey string
}

// Group is the canonical group record a directory entry maps to. Members are
// the raw membership values as read (DNs or UIDs); the bridge resolves them.
type Group struct {
	DN         string
	ExternalID string
	Name       string
	Members    []string
	// Dropped counts membership values left out of Members because they were
	// not valid UTF-8 or longer than MaxDNBytes.
	Dropped int
}
