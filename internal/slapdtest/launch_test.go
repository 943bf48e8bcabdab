package slapdtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestLaunchWithLDIFFileAndClose pins the non-test API: Launch loads an LDIF
// file as-is next to the bootstrap entries, and Close stops slapd.
func TestLaunchWithLDIFFileAndClose(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "extra.ldif")
	ldif := "dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n\n" +
		"dn: uid=u1,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: u1\ncn: U One\nsn: One\n"
	if err := os.WriteFile(file, []byte(ldif), 0o600); err != nil {
		t.Fatal(err)
	}
	srvDir := filepath.Join(dir, "srv")
	if err := os.Mkdir(srvDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Launch(srvDir, Empty(), WithLDIFFile(file))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Conn(t)
	res, err := c.Search(ldap.NewSearchRequest(PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"uid", "entryUUID", "memberOf"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("uid") != "u1" || res.Entries[0].GetAttributeValue("entryUUID") == "" {
		t.Fatalf("entries: %d, want uid=u1 with an entryUUID assigned by slapadd", len(res.Entries))
	}
	s.Close()
	if err := s.ping(); err == nil {
		t.Fatal("slapd still answers after Close")
	}
	s.Close() // closing twice is harmless
}
