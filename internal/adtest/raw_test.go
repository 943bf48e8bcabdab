package adtest

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/sambatest"
)

// TestRawDirectory pins what the DC serves, read with plain go-ldap, so the
// ldapsource tests below rest on known ground: objectGUID bytes decode to the
// GUID AD prints in extended DNs, and a subtree search from the domain root
// (paged by 1,000) returns the populated users plus search references.
func TestRawDirectory(t *testing.T) {
	dc := populatedDC(t)
	c := adminConn(t, dc)
	data := sambatest.Data()

	guids := guidsByDN(t, c, sambatest.PeopleDN, "(objectClass=user)")
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(sambatest.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=user)", []string{"objectGUID"}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != len(data.Users) || len(guids) != len(data.Users) {
		t.Fatalf("users under %s: %d entries, %d extended DNs, want %d", sambatest.PeopleDN, len(res.Entries), len(guids), len(data.Users))
	}
	for _, e := range res.Entries {
		raw := e.GetRawAttributeValue("objectGUID")
		if len(raw) != 16 {
			t.Fatalf("%s: objectGUID has %d bytes", e.DN, len(raw))
		}
		// MS-DTYP GUID: Data1..Data3 little-endian, Data4 as bytes.
		got := fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(raw[0:4]),
			binary.LittleEndian.Uint16(raw[4:6]), binary.LittleEndian.Uint16(raw[6:8]), raw[8:10], raw[10:16])
		if got != guids[e.DN] {
			t.Errorf("%s: objectGUID bytes decode to %s, AD's extended DN says %s", e.DN, got, guids[e.DN])
		}
	}

	res, err = c.SearchWithPaging(ldap.NewSearchRequest(dc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(&(objectClass=user)(sAMAccountName=big*))", []string{"sAMAccountName"}, nil), 1000)
	if err != nil {
		t.Fatalf("paged search from %s: %v", dc.BaseDN, err)
	}
	if len(res.Entries) != sambatest.BigMembers {
		t.Errorf("paged search from the domain root: %d big users, want %d", len(res.Entries), sambatest.BigMembers)
	}
	if len(res.Referrals) == 0 {
		t.Errorf("subtree search from the domain root returned no search references; the reference-tolerance tests would prove nothing")
	}
	t.Logf("domain root search: %d entries, references %v", len(res.Entries), res.Referrals)

	// Ranged retrieval: the server answers slices under their ranged names,
	// and names the last slice "-*" even when asked for an explicit end.
	big, _ := data.Group(sambatest.BigGroup)
	for _, tc := range []struct {
		ask, name string
		values    int
	}{
		{"member;range=0-499", "member;range=0-499", 500},
		{"member;range=1500-1999", "member;range=1500-*", 500},
		{"member;range=1500-*", "member;range=1500-*", 500},
		{"member;range=1800-2299", "member;range=1800-*", 200},
	} {
		res, err := c.Search(ldap.NewSearchRequest(big.DN(), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=group)", []string{tc.ask}, nil))
		if err != nil {
			t.Fatalf("read %s of %s: %v", tc.ask, big.DN(), err)
		}
		var names []string
		for _, a := range res.Entries[0].Attributes {
			names = append(names, fmt.Sprintf("%s (%d values)", a.Name, len(a.Values)))
		}
		if want := fmt.Sprintf("%s (%d values)", tc.name, tc.values); len(names) != 1 || names[0] != want {
			t.Errorf("asked %s: got attributes %v, want %s", tc.ask, names, want)
		}
	}
}
