package adtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// Where TestDirSync works: its own OUs, so the shared data stays as it is.
const (
	liveUsersDN  = "OU=LiveUsers," + sambatest.BaseDN
	liveGroupsDN = "OU=LiveGroups," + sambatest.BaseDN
	liveOutDN    = "OU=LiveOut," + sambatest.BaseDN
)

// describeChange spells a change as "present user cn=…" ("gone user
// (guid)" when it has no DN), checking its UUID is the object's GUID.
func describeChange(t *testing.T, ch schema.Change, guids map[string]string) string {
	t.Helper()
	kind := map[schema.ChangeKind]string{schema.ChangePresent: "present", schema.ChangeGone: "gone"}[ch.Kind]
	what := "user"
	if ch.Group {
		what = "group"
	}
	name := strings.ToLower(ch.Entry.DN)
	if name == "" {
		// The first of the names the GUID had (a renamed object has two).
		var names []string
		for n, g := range guids {
			if g == ch.UUID {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			name = "(" + slices.Min(names) + ")"
		}
	}
	if name == "" {
		name = "(unknown guid " + ch.UUID + ")"
	}
	return kind + " " + what + " " + name
}

// TestDirSync: on Samba AD, the changed-entries pass (and the live stream,
// which polls the same way) reports exactly what changed since the
// position: a modify, an add, a member added, a rename, a move out of
// scope and a delete (isDeleted), each with the object's GUID; the same
// position read again gives the same changes; a cookie the DC does not
// know is an expired position.
func TestDirSync(t *testing.T) {
	dc := populatedDC(t)
	c := adminConn(t, dc)
	// The shared data stays as the other tests expect: everything made here
	// is deleted at the end (tree delete control).
	t.Cleanup(func() {
		for _, ou := range []string{liveUsersDN, liveGroupsDN, liveOutDN} {
			del := ldap.NewDelRequest(ou, []ldap.Control{ldap.NewControlString("1.2.840.113556.1.4.805", false, "")})
			if err := c.Del(del); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				t.Errorf("delete %s: %v", ou, err)
			}
		}
	})
	for _, ou := range []string{liveUsersDN, liveGroupsDN, liveOutDN} {
		req := ldap.NewAddRequest(ou, nil)
		req.Attribute("objectClass", []string{"top", "organizationalUnit"})
		if err := c.Add(req); err != nil {
			t.Fatalf("add %s: %v", ou, err)
		}
	}
	addUser := func(cn string) string {
		dn := "CN=" + cn + "," + liveUsersDN
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
		req.Attribute("sAMAccountName", []string{cn})
		req.Attribute("mail", []string{cn + "@example.com"})
		if err := c.Add(req); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
		return dn
	}
	ann := addUser("live-ann")
	team := "CN=live-team," + liveGroupsDN
	req := ldap.NewAddRequest(team, nil)
	req.Attribute("objectClass", []string{"top", "group"})
	req.Attribute("sAMAccountName", []string{"live-team"})
	req.Attribute("member", []string{ann})
	if err := c.Add(req); err != nil {
		t.Fatalf("add %s: %v", team, err)
	}

	s := dc.Settings()
	s.Users.UsersDN, s.Groups.GroupsDN = liveUsersDN, liveGroupsDN
	ctx := context.Background()
	for _, live := range []bool{true, false} {
		src, err := ldapsource.DialChanges(ctx, s, live)
		if err != nil {
			t.Fatalf("DialChanges(live=%v): %v", live, err)
		}
		if got := src.Mechanism(); got != ldapsource.MechanismDirSync {
			t.Fatalf("live=%v: mechanism %q, want dirsync", live, got)
		}
		src.Close()
	}
	src, err := ldapsource.DialChanges(ctx, s, false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pos, err := src.Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	guids := map[string]string{}
	pass := func(step string, want ...string) {
		t.Helper()
		for _, dn := range []string{ann, team} {
			if _, ok := guids[strings.ToLower(dn)]; !ok {
				guids[strings.ToLower(dn)] = guidOf(t, c, dn)
			}
		}
		got, next := onePass(t, src, pos, guids)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s:\n got  %q\n want %q", step, got, want)
		}
		if again, _ := onePass(t, src, pos, guids); !slices.Equal(again, want) {
			t.Fatalf("%s, the same position again:\n got  %q\n want %q", step, again, want)
		}
		pos = next
	}
	lower := strings.ToLower

	pass("nothing changed")

	mod := ldap.NewModifyRequest(ann, nil)
	mod.Replace("mail", []string{"ann@new.example.com"})
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}
	pass("a modify", "present user "+lower(ann))

	ben := addUser("live-ben")
	pass("an add", "present user "+lower(ben))

	mod = ldap.NewModifyRequest(team, nil)
	mod.Add("member", []string{ben})
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}
	pass("a member added", "present group "+lower(team))

	if err := c.ModifyDN(ldap.NewModifyDNRequest(ann, "CN=live-anna", true, "")); err != nil {
		t.Fatal(err)
	}
	anna := "CN=live-anna," + liveUsersDN
	guids[lower(anna)] = guids[lower(ann)]
	pass("a rename", "present user "+lower(anna))

	if err := c.ModifyDN(ldap.NewModifyDNRequest(ben, "CN=live-ben", true, liveOutDN)); err != nil {
		t.Fatal(err)
	}
	pass("a move out of scope", "gone user "+lower("CN=live-ben,"+liveOutDN))

	if err := c.Del(ldap.NewDelRequest(anna, nil)); err != nil {
		t.Fatal(err)
	}
	pass("a delete", "gone user ("+lower(ann)+")")

	stale := []byte(strings.Replace(string(pos), `"c":["`, `"c":["AAAA`, 1))
	err = src.Changes(ctx, stale, false, func(schema.ChangeBatch) error { return nil })
	if !errors.Is(err, schema.ErrPositionExpired) {
		t.Fatalf("a cookie the DC does not know: %v, want ErrPositionExpired", err)
	}
}

// guidOf reads an object's GUID as FormatGUID gives it.
func guidOf(t *testing.T, c *ldap.Conn, dn string) string {
	t.Helper()
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectGUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read objectGUID of %s: %v", dn, err)
	}
	id, err := schema.FormatGUID(res.Entries[0].GetRawAttributeValue("objectGUID"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// onePass runs one changed-entries pass and describes its changes, sorted.
func onePass(t *testing.T, src bridge.ChangeSource, pos []byte, guids map[string]string) ([]string, []byte) {
	t.Helper()
	return bridgetest.Pass(t, src, pos, func(ch schema.Change) (string, error) {
		if ch.UUID == "" {
			return "", fmt.Errorf("a change without a GUID: %+v", ch)
		}
		return describeChange(t, ch, guids), nil
	})
}
