package bridge

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeDNFoldsEquivalentForms(t *testing.T) {
	tests := []struct{ a, b string }{
		{"cn=Eng,OU=Groups,dc=example,dc=com", "CN=eng,ou=groups,DC=Example,DC=COM"},
		{"cn=Eng, ou=Groups , dc=example,dc=com", "cn=eng,ou=groups,dc=example,dc=com"},
		{`cn=Smith\, John,ou=people`, `CN=smith\2c john,OU=People`},
		{`cn="Smith, John",ou=people`, `cn=Smith\, John,ou=people`},
		{"cn=a+uid=b,ou=x", "UID=B+CN=A,ou=x"},
		{"oid.2.5.4.3=x,dc=y", "2.5.4.3=X,DC=Y"},
		{`cn=\23hash,dc=x`, `cn=\#hash,dc=x`},
		{`cn=Zo\C3\AB,dc=x`, "cn=zoë,dc=x"},
		{"cn=a;dc=x", "cn=a,dc=x"},
	}
	for _, tt := range tests {
		na, nb := NormalizeDN(tt.a), NormalizeDN(tt.b)
		if na != nb {
			t.Errorf("NormalizeDN(%q) = %q, NormalizeDN(%q) = %q; want equal", tt.a, na, tt.b, nb)
		}
	}
}

func TestNormalizeDNKeepsDistinctDNsApart(t *testing.T) {
	tests := []struct{ a, b string }{
		{"cn=eng,ou=groups", "cn=eng2,ou=groups"},
		{`cn=a\,b,dc=x`, "cn=a,b=,dc=x"},
		{"cn=a+uid=b,dc=x", "cn=a,uid=b,dc=x"},
		{`cn=\ a,dc=x`, "cn=a,dc=x"},
	}
	for _, tt := range tests {
		if na, nb := NormalizeDN(tt.a), NormalizeDN(tt.b); na == nb {
			t.Errorf("NormalizeDN(%q) == NormalizeDN(%q) == %q; want different", tt.a, tt.b, na)
		}
	}
}

func TestNormalizeDNCanonicalForm(t *testing.T) {
	tests := map[string]string{
		"CN=Eng , OU=Groups,DC=Example": "cn=eng,ou=groups,dc=example",
		`cn=Smith\, John,ou=People`:     `cn=smith\, john,ou=people`,
		"":                              "",
		"not a dn":                      "not a dn",
		`cn="unterminated,dc=x`:         `cn="unterminated,dc=x`,
		"uid=B+cn=A,dc=x":               "cn=a+uid=b,dc=x",
		"cn=#04024869,dc=x":             "cn=#04024869,dc=x",
	}
	for in, want := range tests {
		if got := NormalizeDN(in); got != want {
			t.Errorf("NormalizeDN(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeDN(f *testing.F) {
	for _, s := range []string{"uid=a,ou=people,dc=x", "cn=a b,dc=x", "cn=a ,dc=x", "cn=a,dc=b", `cn=\,x+uid=y;dc=z`, `cn="q"`, "#", `\`, "cn=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		if isCanonicalSimpleDN(dn) && !strings.ContainsAny(dn, "\\\"+;<>#") && buildSimpleDN(dn) != dn {
			t.Errorf("%q is taken as canonical, but normalizes to %q", dn, buildSimpleDN(dn))
		}
		n := NormalizeDN(dn)
		// Entries with DNs that are not UTF-8 are skipped before any DN is compared.
		if NormalizeDN(n) != n && isParsable(dn) && utf8.ValidString(dn) {
			t.Errorf("NormalizeDN not idempotent: %q → %q → %q", dn, n, NormalizeDN(n))
		}
	})
}

func isParsable(dn string) bool {
	_, ok := parseDN(dn)
	return ok
}
