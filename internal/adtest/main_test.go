// Package adtest holds the Active Directory integration tests: scimbridge's
// real code paths (ldapsource, bridge, store) against a real Samba AD DC
// started by internal/sambatest. Every test shares one DC, provisioned and
// populated (sambatest.Data) once per test binary.
//
// Where Samba cannot run the tests skip; with SCIMBRIDGE_REQUIRE_AD=1 (CI)
// they fail instead.
package adtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/sambatest"
)

// inChain is AD's LDAP_MATCHING_RULE_IN_CHAIN: transitive membership.
const inChain = "1.2.840.113556.1.4.1941"

var shared struct {
	once sync.Once
	dc   *sambatest.DC
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dc != nil {
		shared.dc.Stop()
	}
	os.Exit(code)
}

// populatedDC returns the shared, populated DC, starting it on first use.
func populatedDC(t testing.TB) *sambatest.DC {
	t.Helper()
	shared.once.Do(func() {
		shared.dc, shared.err = sambatest.Launch()
		if shared.err == nil {
			shared.err = shared.dc.Populate(context.Background())
		}
	})
	sambatest.Require(t, shared.err)
	return shared.dc
}

// adminConn is a raw go-ldap connection bound as Administrator over ldaps.
func adminConn(t testing.TB, dc *sambatest.DC) *ldap.Conn {
	t.Helper()
	c, err := dc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// extendedDN asks AD to prefix each entry's DN with <GUID=…>;<SID=…> in
// string form (flag 1), so tests learn objectGUID as AD itself spells it.
var extendedDN = ldap.NewControlString(ldap.ControlTypeMicrosoftExtendedDN, false, "\x30\x03\x02\x01\x01")

// guidsByDN reads, with raw go-ldap, the objectGUID of every entry under base
// matching filter, as AD spells it in extended DNs, keyed by the plain DN.
func guidsByDN(t *testing.T, c *ldap.Conn, base, filter string) map[string]string {
	t.Helper()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{"objectGUID"}, []ldap.Control{extendedDN}), 1000)
	if err != nil {
		t.Fatalf("extended-DN search under %s: %v", base, err)
	}
	out := make(map[string]string, len(res.Entries))
	for _, e := range res.Entries {
		guid, dn, err := splitExtendedDN(e.DN)
		if err != nil {
			t.Fatal(err)
		}
		out[dn] = guid
	}
	return out
}

// splitExtendedDN splits "<GUID=g>;<SID=s>;CN=x,…" into g (lower-cased) and "CN=x,…".
func splitExtendedDN(s string) (guid, dn string, err error) {
	rest := s
	for strings.HasPrefix(rest, "<") {
		end := strings.Index(rest, ">")
		if end < 0 {
			return "", "", fmt.Errorf("malformed extended DN %q", s)
		}
		if v, ok := strings.CutPrefix(rest[1:end], "GUID="); ok {
			guid = strings.ToLower(v)
		}
		rest = strings.TrimPrefix(rest[end+1:], ";")
	}
	if guid == "" {
		return "", "", fmt.Errorf("no <GUID=…> in extended DN %q", s)
	}
	return guid, rest, nil
}

// adGroupsOf asks AD for the names of the groups under sambatest.GroupsDN that
// the entry dn is in, directly or through nesting (the in-chain rule).
func adGroupsOf(c *ldap.Conn, dn string) ([]string, error) {
	res, err := c.Search(ldap.NewSearchRequest(sambatest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(member:"+inChain+":="+ldap.EscapeFilter(dn)+")", []string{"cn"}, nil))
	if err != nil {
		return nil, fmt.Errorf("in-chain groups of %s: %w", dn, err)
	}
	names := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		names = append(names, e.GetAttributeValue("cn"))
	}
	sort.Strings(names)
	return names, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
