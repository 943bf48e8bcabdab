package adtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/scimbridge/scimbridge/internal/capturetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// update rewrites ldapsource's Samba captures (its decoder tests and fuzz
// seeds): go test ./internal/adtest -run TestBulkReadCapture -update
var update = flag.Bool("update", false, "rewrite ldapsource/testdata/captures/samba-*.ber")

// TestBulkReadCapture: ldapsource's bulk read of Samba AD, recorded on the
// wire, carries what the decoder must handle — binary objectGUID values,
// ranged member slices (rangeSize 500, the big group completed), search
// references from the domain root — and reads every user and group.
func TestBulkReadCapture(t *testing.T) {
	dc := populatedDC(t)
	data := sambatest.Data()
	proxy := capturetest.Start(t, net.JoinHostPort(dc.Addr, "389"))
	s := dc.Settings()
	s.Connection.URL, s.Connection.CACertPEM = "ldap://"+proxy.Addr, ""
	s.Connection.RangeSize = 500
	s.Connection.PageSize = 50
	s.Users.UsersDN = dc.BaseDN
	// Few of the 2,000 big users, to keep the capture small.
	s.Users.Filter = "(|(!(sAMAccountName=big*))(sAMAccountName=big00*))"
	ctx := context.Background()
	c, err := ldapsource.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	users := 0
	if err := c.Users(ctx, func(e *schema.Entry) error {
		if len(e.First("objectGUID")) != 16 {
			return fmt.Errorf("%s: objectGUID %x", e.DN, e.First("objectGUID"))
		}
		users++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	members := map[string]int{}
	if err := c.Groups(ctx, func(e *schema.Entry) error {
		members[string(e.First("cn"))] = len(e.Values("member"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if users <= len(data.Users)-sambatest.BigMembers || len(members) != len(data.Groups) || members[sambatest.BigGroup] != sambatest.BigMembers {
		t.Errorf("read %d users, %d groups (big: %d members); want more than %d users, %d groups, %d members",
			users, len(members), members[sambatest.BigGroup], len(data.Users)-sambatest.BigMembers, len(data.Groups), sambatest.BigMembers)
	}
	if c.Referrals() == 0 {
		t.Error("no search reference skipped")
	}
	var wire []byte
	for _, st := range proxy.Streams() {
		wire = append(wire, st...)
	}
	for _, want := range []string{"objectGUID", "member;range=0-499", "member;range=500-*", "ldap://"} {
		if !bytes.Contains(wire, []byte(want)) {
			t.Errorf("the capture lacks %q", want)
		}
	}
	if !*update {
		return
	}
	dir := filepath.Join("..", "..", "ldapsource", "testdata", "captures")
	for i, st := range proxy.Streams() {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("samba-%d.ber", i)), st, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
