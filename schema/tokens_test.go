package schema

import (
	"strings"
	"testing"
)

// TestCheckBearerToken pins down finding 12 of issue 14 for tokens: "a" and
// "b" were accepted.
func TestCheckBearerToken(t *testing.T) {
	cases := []struct {
		token, err string
	}{
		{"a", "a token is 1 characters long: use at least 16 random characters (openssl rand -hex 16)"},
		{"  fifteen-chars!!  ", "a token is 15 characters long: use at least 16 random characters (openssl rand -hex 16)"},
		{strings.Repeat("x", 40), "a token repeats one character: use at least 16 random characters (openssl rand -hex 16)"},
		{"0123456789abcdef", ""},
		{" 9f86d081884c7d659a2feaa0c55ad015 ", ""},
		{"ééééééééééééééé", "a token is 15 characters long: use at least 16 random characters (openssl rand -hex 16)"},
	}
	for _, c := range cases {
		err := CheckBearerToken(c.token)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("CheckBearerToken(%q) = %q, want %q", c.token, got, c.err)
		}
	}
}

// TestSameToken pins down finding 5 of issue 14: " sharedtok" passed the
// "admin and SCIM tokens must differ" check, then the SCIM token opened
// the admin API, whose comparison trims.
func TestSameToken(t *testing.T) {
	if !SameToken(" sharedtok", "sharedtok\t") || SameToken("sharedtok", "sharedtok2") {
		t.Fatal("SameToken must ignore surrounding white space only")
	}
}
