package ldapsource

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/capturetest"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/schema"
)

// update rewrites testdata/captures/slapd-*.ber and the fuzz seeds made from
// every capture: go test ./ldapsource -run TestDecodeCapturesBothWays -update
// (internal/adtest writes the Samba captures the same way).
var update = flag.Bool("update", false, "rewrite the slapd captures and the fuzz seeds")

// messages splits a recorded stream into whole LDAP messages; a partial
// message at the end (a capture cut short) is dropped.
func messages(stream []byte) [][]byte {
	var out [][]byte
	for len(stream) > 0 {
		_, _, rest, err := tlv(stream)
		if err != nil {
			break
		}
		out = append(out, stream[:len(stream)-len(rest)])
		stream = rest
	}
	return out
}

// compareWithGoLDAP decodes one message with go-ldap (asn1-ber) and with
// ber.go and returns how they differ, "" when they agree exactly.
func compareWithGoLDAP(msg []byte) (kind byte, diff string) {
	p, err := ber.ReadPacket(bytes.NewReader(msg))
	if err != nil {
		return 0, "go-ldap: " + err.Error()
	}
	m, err := parseMessage(msg)
	if err != nil {
		return 0, "ber.go: " + err.Error()
	}
	if len(p.Children) < 2 {
		return 0, "go-ldap: fewer than 2 children"
	}
	if id, _ := p.Children[0].Value.(int64); id != m.id {
		return 0, fmt.Sprintf("message ID %d, go-ldap %d", m.id, id)
	}
	op := p.Children[1]
	if want := byte(op.ClassType) | byte(op.TagType) | byte(op.Tag); want != m.op {
		return 0, fmt.Sprintf("operation %#x, go-ldap %#x", m.op, want)
	}
	switch m.op {
	case tagSearchEntry:
		var e rawEntry
		if err := decodeEntry(m.body, &e); err != nil {
			return m.op, "ber.go: " + err.Error()
		}
		if len(op.Children) != 2 {
			return m.op, "go-ldap: entry without 2 children"
		}
		if dn, _ := op.Children[0].Value.(string); dn != string(e.dn) {
			return m.op, fmt.Sprintf("DN %q, go-ldap %q", e.dn, dn)
		}
		attrs := op.Children[1].Children
		if len(attrs) != len(e.attrs) {
			return m.op, fmt.Sprintf("%d attributes, go-ldap %d", len(e.attrs), len(attrs))
		}
		for i, a := range attrs {
			if len(a.Children) != 2 {
				return m.op, "go-ldap: attribute without 2 children"
			}
			name, _ := a.Children[0].Value.(string)
			if name != string(e.attrs[i].name) || len(a.Children[1].Children) != len(e.attrs[i].vals) {
				return m.op, fmt.Sprintf("attribute %q with %d values, go-ldap %q with %d", e.attrs[i].name, len(e.attrs[i].vals), name, len(a.Children[1].Children))
			}
			for j, v := range a.Children[1].Children {
				if !bytes.Equal(v.ByteValue, e.attrs[i].vals[j]) {
					return m.op, fmt.Sprintf("%s value %d = %q, go-ldap %q", name, j, e.attrs[i].vals[j], v.ByteValue)
				}
			}
		}
	case tagSearchDone, tagBindResponse, tagExtendedResponse:
		r, err := decodeResult(m.body)
		if err != nil {
			return m.op, "ber.go: " + err.Error()
		}
		if len(op.Children) < 3 {
			return m.op, "go-ldap: result without 3 children"
		}
		code, _ := op.Children[0].Value.(int64)
		matched, _ := op.Children[1].Value.(string)
		diag, _ := op.Children[2].Value.(string)
		if code != r.code || matched != string(r.matchedDN) || diag != string(r.diagnostic) {
			return m.op, fmt.Sprintf("result %d %q %q, go-ldap %d %q %q", r.code, r.matchedDN, r.diagnostic, code, matched, diag)
		}
		cookie, found, err := pagingCookie(m.controls)
		if err != nil {
			return m.op, "ber.go: " + err.Error()
		}
		var want []byte
		wantFound := false
		if len(p.Children) > 2 {
			for _, c := range p.Children[2].Children {
				dc, err := ldap.DecodeControl(c)
				if err != nil {
					return m.op, "go-ldap: " + err.Error()
				}
				if pc, ok := dc.(*ldap.ControlPaging); ok {
					want, wantFound = pc.Cookie, true
				}
			}
		}
		if found != wantFound || !bytes.Equal(cookie, want) {
			return m.op, fmt.Sprintf("paging cookie %q (%v), go-ldap %q (%v)", cookie, found, want, wantFound)
		}
	case tagSearchReference:
		n, err := decodeReference(m.body)
		if err != nil {
			return m.op, "ber.go: " + err.Error()
		}
		if n != len(op.Children) {
			return m.op, fmt.Sprintf("%d URIs, go-ldap %d", n, len(op.Children))
		}
	}
	return m.op, ""
}

// checkCapture compares every message of a capture and counts them by kind.
func checkCapture(t *testing.T, name string, stream []byte) map[byte]int {
	t.Helper()
	kinds := map[byte]int{}
	for i, msg := range messages(stream) {
		kind, diff := compareWithGoLDAP(msg)
		if diff != "" {
			t.Fatalf("%s: message %d: %s", name, i, diff)
		}
		kinds[kind]++
	}
	return kinds
}

// TestDecodeCapturesBothWays decodes the same bytes with go-ldap and with
// ber.go and requires the same result: a capture made now from slapd (users
// with binary and multi-valued attributes, a 30,000-member group, a search
// reference, paged), the committed captures from slapd and Samba AD (objectGUID,
// ranged member, references), and hand-made entries with empty values and
// attributes without values, which no server here stores.
func TestDecodeCapturesBothWays(t *testing.T) {
	ldif := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	srv := slapdtest.Start(t, slapdtest.WithLDIF(ldif("binary-user.ldif")))
	srv.Load(t, ldif("referral.ldif"))
	proxy := capturetest.Start(t, strings.TrimPrefix(srv.URL, "ldap://"))
	s := srv.Settings()
	s.Connection.URL = "ldap://" + proxy.Addr
	s.Connection.PageSize = 4
	s.Users.Attributes.ExternalID = "jpegPhoto"
	c, err := Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	count := func(*schema.Entry) error { return nil }
	if err := c.Users(context.Background(), count); err != nil {
		t.Fatal(err)
	}
	if err := c.Groups(context.Background(), count); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var live []byte
	for _, st := range proxy.Streams() {
		live = append(live, st...)
	}
	kinds := checkCapture(t, "live slapd capture", live)
	if kinds[tagSearchEntry] != 12+8 || kinds[tagSearchReference] != 1 || kinds[tagSearchDone] < 5 || kinds[tagBindResponse] != 3 {
		t.Errorf("live capture: messages by kind %v; want 20 entries, 1 reference, ≥ 5 pages, 3 binds", kinds)
	}

	files, err := filepath.Glob("testdata/captures/*.ber")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for i, st := range proxy.Streams() {
			path := fmt.Sprintf("testdata/captures/slapd-%d.ber", i)
			if err := os.WriteFile(path, st, 0o644); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(files, path) {
				files = append(files, path)
			}
		}
	}
	var sawSamba, sawGUID bool
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		kinds := checkCapture(t, f, b)
		if kinds[tagSearchEntry] == 0 && kinds[tagBindResponse] == 0 {
			t.Errorf("%s holds no entry and no bind response", f)
		}
		if strings.Contains(f, "samba") {
			sawSamba = true
			sawGUID = sawGUID || bytes.Contains(b, []byte("objectGUID"))
		}
	}
	if !sawSamba || !sawGUID {
		t.Errorf("no committed Samba capture with objectGUID among %v", files)
	}
	if *update {
		writeSeeds(t, files)
	}

	for i, msg := range handMade() {
		if _, diff := compareWithGoLDAP(msg); diff != "" {
			t.Errorf("hand-made message %d: %s", i, diff)
		}
	}
}

// handMade are messages with forms the test servers do not produce: empty
// values, an attribute without values, a long-form length, a non-paging
// control before the paging one.
func handMade() [][]byte {
	entry := func(attrs ...*ber.Packet) []byte {
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn=x,dc=example,dc=com", ""))
		list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		for _, a := range attrs {
			list.AppendChild(a)
		}
		op.AppendChild(list)
		return envelope(7, op)
	}
	attr := func(name string, vals ...string) *ber.Packet {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		a.AppendChild(set)
		return a
	}
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(0), ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	paging := ldap.NewControlPaging(500)
	paging.SetCookie([]byte("\x00cookie\xff"))
	return [][]byte{
		entry(attr("description", ""), attr("mail", "a@example.com", "", "b@example.com"), attr("member")),
		entry(attr("objectGUID", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"), attr("member;range=0-1", "a", "b")),
		entry(attr("cn", strings.Repeat("x", 70000))),
		envelope(8, done, ldap.NewControlManageDsaIT(false).Encode(), paging.Encode()),
	}
}

// writeSeeds turns the captures into fuzz seeds: for FuzzDecodeMessage the
// first messages of each kind in each capture, for FuzzBulkStream the
// search part of each capture, cut to its first maxSeed bytes.
func writeSeeds(t *testing.T, files []string) {
	t.Helper()
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".ber")
		perKind := map[byte]int{}
		searchStart := -1
		offset := 0
		for _, msg := range messages(b) {
			m, err := parseMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			if perKind[m.op] < 3 && len(msg) <= maxSeed {
				write("FuzzDecodeMessage", fmt.Sprintf("%s-%02x-%d", base, m.op, perKind[m.op]), msg)
			}
			perKind[m.op]++
			if searchStart < 0 && m.op == tagSearchEntry {
				searchStart = offset
			}
			offset += len(msg)
		}
		if searchStart >= 0 {
			seed := renumber(t, b[searchStart:])
			write("FuzzBulkStream", base, seed[:min(len(seed), maxSeed)])
		}
	}
	for i, msg := range handMade() {
		if len(msg) <= maxSeed {
			write("FuzzDecodeMessage", fmt.Sprintf("handmade-%d", i), msg)
		}
	}
}

// maxSeed bounds a fuzz seed: the fuzzer mutates and minimizes small inputs
// much faster, and the large messages are decoded both ways above.
const maxSeed = 4 << 10

// renumber rewrites the message IDs of a captured search so that its pages
// carry the IDs a bulk read expects (firstSearchID, then one more per page),
// as FuzzBulkStream feeds them to one.
func renumber(t *testing.T, stream []byte) []byte {
	t.Helper()
	var out []byte
	id := int64(firstSearchID)
	for _, msg := range messages(stream) {
		m, err := parseMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		_, n, hdr, _, _ := berHeader(msg)
		_, _, afterID, _ := tlv(msg[hdr : hdr+n])
		body := append(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "").Bytes(), afterID...)
		out = appendLength(append(out, tagSequence), len(body))
		out = append(out, body...)
		if m.op == tagSearchDone {
			id++
		}
	}
	return out
}

// appendLength appends a BER definite length.
func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// FuzzDecodeMessage: any bytes given to the message decoder either fail or
// decode, never panic, and what both decoders read, they read alike.
func FuzzDecodeMessage(f *testing.F) {
	for _, msg := range handMade() {
		f.Add(msg)
	}
	var e rawEntry
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMessage(data)
		if err != nil {
			return
		}
		switch m.op {
		case tagSearchEntry:
			err = decodeEntry(m.body, &e)
		case tagSearchReference:
			_, err = decodeReference(m.body)
		default:
			if _, err = decodeResult(m.body); err == nil {
				_, _, err = pagingCookie(m.controls)
			}
		}
		if err != nil {
			return
		}
		if _, diff := compareWithGoLDAP(data); diff != "" && !strings.HasPrefix(diff, "go-ldap") {
			t.Errorf("decoders disagree: %s", diff)
		}
	})
}

// FuzzBulkStream: any bytes a server sends to a bulk read end it with an
// error or a complete read, never a panic or a hang; entries handed over are
// well formed.
func FuzzBulkStream(f *testing.F) {
	for _, msg := range handMade() {
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := feedBulkRead(data)
		if err == nil && n < 0 {
			t.Fatal("impossible")
		}
	})
}

// feedBulkRead runs one bulk read against a server that sends data and
// hangs up, and returns the entries delivered and the read's error.
func feedBulkRead(data []byte) (int, error) {
	r := newBulkRead(&streamConn{data: data}, query{what: "users", base: "dc=example,dc=com", filter: "(objectClass=*)", attrs: []string{"cn"}},
		10, 5*time.Second)
	// Small chunks: messages straddle them and grow them often.
	r.chunkBytes = 512
	defer r.close()
	if err := r.start(); err != nil {
		return 0, err
	}
	n := 0
	var refs atomic.Int64
	err := consume(context.Background(), r, func(e *schema.Entry) error {
		if e.Attrs == nil {
			return errors.New("entry without attributes map")
		}
		n++
		return nil
	}, func(dn string, attrs []*ldap.EntryAttribute) (*schema.Entry, error) {
		return nil, errors.New("ranged attributes need a go-ldap connection")
	}, &refs)
	return n, err
}

// streamConn is a fake connection for FuzzBulkStream, fast enough to fuzz
// (a real server cannot be made to send arbitrary bytes): reads return
// data in pieces the size of a network packet, then io.EOF; writes are
// discarded.
type streamConn struct {
	data   []byte
	closed atomic.Bool
}

func (c *streamConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1500)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *streamConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *streamConn) Close() error                     { c.closed.Store(true); return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// TestBulkStreamErrors pins what a bulk read does with a server that breaks
// off or lies about lengths: an error that says so, and no allocation for
// bytes that never came.
func TestBulkStreamErrors(t *testing.T) {
	ok := renumberedEntries(3)
	cases := []struct {
		name    string
		data    []byte
		entries int
		err     string
	}{
		{"complete", ok, 3, ""},
		{"cut in the last entry", ok[:len(ok)-40], 2, "connection lost after 2 entries of this page"},
		{"nothing", nil, 0, "connection lost after 0 entries of this page"},
		{"200 MiB announced, 10 bytes sent", append([]byte{0x30, 0x84, 0x0c, 0x80, 0x00, 0x00}, make([]byte, 10)...), 0, "connection lost"},
		{"300 MiB announced", []byte{0x30, 0x84, 0x12, 0xc0, 0x00, 0x00, 1, 2, 3}, 0, "malformed response: a message with tag 0x30 and 314572800 bytes"},
		{"indefinite length", []byte{0x30, 0x80, 0, 0}, 0, "indefinite length"},
		{"wrong message ID", envelope(99, ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")), 0, "a response to message 99 during the search (message 3)"},
		{"garbage entry", append(ok[:0:0], envelope(firstSearchID, ber.NewString(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, "\x04\x01", ""))...), 0, "entry DN: truncated BER element"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n, err := feedBulkRead(tc.data)
			runtime.ReadMemStats(&after)
			if n != tc.entries {
				t.Errorf("delivered %d entries, want %d", n, tc.entries)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}

// renumberedEntries is a one-page search result of n entries and its end.
func renumberedEntries(n int) []byte {
	var out []byte
	for i := range n {
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, fmt.Sprintf("cn=user%d,dc=example,dc=com", i), ""))
		list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn", ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, fmt.Sprintf("user%d", i), ""))
		a.AppendChild(set)
		list.AppendChild(a)
		op.AppendChild(list)
		out = append(out, envelope(firstSearchID, op)...)
	}
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(0), ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	return append(out, envelope(firstSearchID, done)...)
}

// silentServer is a fake directory (no real server can be told to go
// quiet mid-search): it accepts simple binds and never answers a search.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go func() {
				for {
					b, err := readMessage(conn)
					if err != nil {
						return
					}
					m, err := parseMessage(b)
					if err != nil || m.op != 0x60 { // not a BindRequest: stay silent
						continue
					}
					op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindResponse, nil, "")
					op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(0), ""))
					op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
					op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
					if _, err := conn.Write(envelope(m.id, op)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "ldap://" + l.Addr().String()
}

// TestBulkReadOfASilentServer: a search the server never answers ends with
// ctx, or after connection.readTimeoutSeconds, with an error that says so.
func TestBulkReadOfASilentServer(t *testing.T) {
	s := (&slapdtest.Server{URL: silentServer(t)}).Settings()
	s.Connection.BindCredential = "secret"

	c, err := Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	err = c.Users(ctx, func(*schema.Entry) error { return nil })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "read stopped after 0 entries") {
		t.Errorf("cancelled: err = %v, want context.Canceled after 0 entries", err)
	}
	if on, why := c.BulkPath(); !on {
		t.Errorf("bulk path off: %v", why)
	}

	s.Connection.ReadTimeoutSeconds = 1
	c2, err := Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	err = c2.Users(context.Background(), func(*schema.Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no answer within connection.readTimeoutSeconds") {
		t.Errorf("timeout: err = %v, want one naming connection.readTimeoutSeconds", err)
	}
}
