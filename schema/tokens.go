package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinTokenLength is the shortest bearer token the SCIM server and the admin
// API accept at start: 16 random characters are out of reach of guessing.
const MinTokenLength = 16

// CheckBearerToken refuses a bearer token shorter than MinTokenLength
// characters (surrounding white space, which the servers ignore, not
// counted) or made of one repeated character. The error never holds the
// token; its caller names where the token came from.
func CheckBearerToken(token string) error {
	t := strings.TrimSpace(token)
	if n := utf8.RuneCountInString(t); n < MinTokenLength {
		return fmt.Errorf("a token is %d characters long: use at least %d random characters (openssl rand -hex 16)", n, MinTokenLength)
	}
	if strings.Count(t, t[:1]) == len(t) {
		return fmt.Errorf("a token repeats one character: use at least %d random characters (openssl rand -hex 16)", MinTokenLength)
	}
	return nil
}

// SameToken reports whether two bearer tokens are the same as the servers
// compare them: surrounding white space is ignored.
func SameToken(a, b string) bool {
	return strings.TrimSpace(a) == strings.TrimSpace(b)
}
