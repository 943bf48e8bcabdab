package ldapsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// The bulk path reads the paged user and group searches at the directory's
// own speed. go-ldap decodes every BER primitive into its own allocation and
// re-encodes children into their parents; on a directory of 100,000 users
// that is gigabytes of garbage and most of a sync's CPU. The bulk path
// instead reads whole LDAP messages into a few reused chunks and decodes
// entries in place (ber.go).
//
// Design: go-ldap's Conn owns its socket through a reader goroutine with a
// buffered reader, so a socket cannot be taken back from it without risking
// bytes it has read ahead. Each bulk read therefore opens a dedicated
// connection the way Open does (the same link: TCP, ldaps handshake, TLS
// settings), then does StartTLS and the simple bind itself: two small
// request/response exchanges whose failures read exactly like Open's. On
// that connection one goroutine reads and frames messages and, when a page's
// SearchResultDone arrives, requests the next page as soon as the caller has
// finished the page before: the caller's goroutine decodes and delivers one
// page while the next is read, and a slow caller holds the server back. The go-ldap connection stays for everything else: ranged
// attributes (fetched for the entry that needs them), the connection tests,
// and every read when the dedicated connection cannot be opened.

// Sizes of the bulk path's buffers: chunkSize bytes per chunk, chunks in
// flight between the reading goroutine and the decoding one.
const (
	chunkSize = 256 << 10
	chunks    = 4
)

// runBulk runs the paged search q on a dedicated connection and delivers
// its entries to fn. ok is false when that connection could not be opened
// (for another reason than ctx ending); nothing was delivered then, and this
// and every later read of c go through go-ldap instead.
func (c *Conn) runBulk(ctx context.Context, q query, fn func(*schema.Entry) error) (ok bool, err error) {
	conn, err := openBulk(ctx, c.s.Connection)
	if err != nil && ctx.Err() != nil {
		return true, fmt.Errorf("search %s under %q: %w", q.what, q.base, ctx.Err())
	}
	if err != nil {
		why := err
		c.bulkErr.Store(&why)
		c.bulk.Store(false)
		return false, nil
	}
	r := newBulkRead(conn, q, c.pageSize(), seconds(c.s.Connection.ReadTimeoutSeconds, defaultReadTimeout))
	defer r.close()
	if err := r.start(); err != nil {
		return true, fmt.Errorf("search %s under %q: %w", q.what, q.base, err)
	}
	if err := consume(ctx, r, fn, c.complete, &c.referrals); err != nil {
		return true, fmt.Errorf("search %s under %q: %w", q.what, q.base, err)
	}
	return true, nil
}

// openBulk opens and binds the dedicated connection of one bulk read, within
// connection.connectTimeoutSeconds: the tcp step and the ldaps handshake as
// connect does them, then StartTLS and the simple bind done here, since a
// go-ldap connection cannot give its socket back.
func openBulk(ctx context.Context, cc schema.Connection) (net.Conn, error) {
	ep, err := parseEndpoint(cc)
	if err != nil {
		return nil, &StepError{Step: StepDNS, Message: "dns: " + err.Error(), Err: err}
	}
	var tcfg *tls.Config
	if ep.ldaps || cc.StartTLS {
		if tcfg, err = tlsConfig(cc, ep.host); err != nil {
			return nil, &StepError{Step: StepTLS, Message: "TLS: " + err.Error(), Err: err}
		}
	}
	timeout := seconds(cc.ConnectTimeoutSeconds, defaultConnectTimeout)
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sock, serr := dialTCP(dctx, ep, timeout)
	if serr != nil {
		return nil, serr
	}
	stop := context.AfterFunc(dctx, func() { _ = sock.SetDeadline(time.Unix(1, 0)) })
	ok := false
	defer func() {
		stop()
		if !ok {
			sock.Close()
		}
	}()
	if err := sock.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	conn := sock
	if ep.ldaps {
		tc := tls.Client(sock, tcfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, &StepError{Step: StepTLS, Message: tlsMessage(err, timeout), Err: err}
		}
		conn = tc
	}
	var id int64
	if cc.StartTLS {
		id++
		if err := exchange(conn, extendedRequest(id, "1.3.6.1.4.1.1466.20037"), id, tagExtendedResponse); err != nil {
			return nil, &StepError{Step: StepTLS, Message: startTLSMessage(err, timeout), Err: err}
		}
		tc := tls.Client(conn, tcfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, &StepError{Step: StepTLS, Message: tlsMessage(err, timeout), Err: err}
		}
		conn = tc
	}
	if cc.BindDN != "" && cc.BindCredential == "" {
		return nil, &StepError{Step: StepBind, Message: bindMessage(cc, errEmptyCredential), Err: errEmptyCredential}
	}
	id++
	if err := exchange(conn, bindRequest(id, cc.BindDN, cc.BindCredential), id, tagBindResponse); err != nil {
		return nil, &StepError{Step: StepBind, Message: bindMessage(cc, err), Err: err}
	}
	if !stop() {
		err := dctx.Err()
		return nil, &StepError{Step: StepBind, Message: "bind: " + err.Error(), Err: err}
	}
	if err := sock.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	ok = true
	return conn, nil
}

// exchange sends one request and reads its response, which must be op with
// message ID id and a success result; a refusal is an *ldap.Error, as go-ldap
// reports it.
func exchange(conn net.Conn, req []byte, id int64, op byte) error {
	if _, err := conn.Write(req); err != nil {
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	b, err := readMessage(conn)
	if err != nil {
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	m, err := parseMessage(b)
	if err != nil {
		return ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("malformed response: %w", err))
	}
	if m.id != id || m.op != op {
		return ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("response %#x to message %d, want %#x to message %d", m.op, m.id, op, id))
	}
	res, err := decodeResult(m.body)
	if err != nil {
		return ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("malformed response: %w", err))
	}
	return res.err()
}

// maxSetupMessage bounds a response to StartTLS or bind.
const maxSetupMessage = 1 << 20

// readMessage reads one whole LDAP message.
func readMessage(r io.Reader) ([]byte, error) {
	b := make([]byte, 2, 64)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if b[1] > 0x80 && b[1] <= 0x84 {
		b = b[:2+int(b[1]&0x7f)]
		if _, err := io.ReadFull(r, b[2:]); err != nil {
			return nil, err
		}
	}
	_, n, hdr, ok, err := berHeader(b)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errTruncated
	case n > maxSetupMessage:
		return nil, fmt.Errorf("a response of %d bytes", n)
	}
	b = append(b, make([]byte, n)...)
	if _, err := io.ReadFull(r, b[hdr:]); err != nil {
		return nil, err
	}
	return b, nil
}

// err is nil for success, else the *ldap.Error go-ldap would return.
func (r result) err() error {
	if r.code == ldap.LDAPResultSuccess {
		return nil
	}
	return &ldap.Error{ResultCode: uint16(r.code), MatchedDN: string(r.matchedDN), Err: errors.New(string(r.diagnostic))}
}

// envelope wraps a protocol operation into an LDAPMessage.
func envelope(id int64, op *ber.Packet, controls ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	p.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cs.AppendChild(c)
		}
		p.AppendChild(cs)
	}
	return p.Bytes()
}

func extendedRequest(id int64, oid string) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, oid, ""))
	return envelope(id, op)
}

// bindRequest is a simple bind (anonymous when dn is empty), LDAPv3.
func bindRequest(id int64, dn, password string) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, ""))
	return envelope(id, op)
}

// searchRequest is one page of the paged search q.
func searchRequest(id int64, q query, pageSize int, cookie []byte) ([]byte, error) {
	filter, err := ldap.CompileFilter(q.filter)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", q.filter, err)
	}
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, q.base, ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(q.scope), ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.NeverDerefAliases), ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(0), ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(0), ""))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
	op.AppendChild(filter)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range q.attrs {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, ""))
	}
	op.AppendChild(attrs)
	paging := ldap.NewControlPaging(uint32(pageSize))
	paging.SetCookie(cookie)
	return envelope(id, op, paging.Encode()), nil
}

// chunk holds whole LDAP messages, back to back.
type chunk struct{ buf []byte }

// bulkRead is one paged search on a dedicated connection. Its goroutine
// (readLoop) reads and frames messages into chunks, checks their message
// IDs and sends each next page's request; the caller decodes the chunks it
// receives on full and hands them back on free.
type bulkRead struct {
	conn     net.Conn
	q        query
	pageSize int
	timeout  time.Duration // connection.readTimeoutSeconds, for each read
	// chunkBytes is a new chunk's size: chunkSize, smaller in fuzzing.
	chunkBytes int

	full chan *chunk   // chunks of whole messages, closed when readLoop ends
	free chan *chunk   // chunks to fill
	quit chan struct{} // closed to stop readLoop
	wg   sync.WaitGroup
	id   int64 // message ID of the current page's request
	// pageDone gets a token from the caller at the end of each page but
	// the last; pages counts the page ends readLoop framed, consumed the
	// tokens it took.
	pageDone        chan struct{}
	pages, consumed int
	cookie          []byte // the last page's cookie, copied out of its chunk
	// err is why readLoop stopped before the last page's end; it is set
	// before full is closed.
	err error
}

func newBulkRead(conn net.Conn, q query, pageSize int, timeout time.Duration) *bulkRead {
	r := &bulkRead{conn: conn, q: q, pageSize: pageSize, timeout: timeout, chunkBytes: chunkSize,
		full: make(chan *chunk, chunks), free: make(chan *chunk, chunks), quit: make(chan struct{}),
		pageDone: make(chan struct{}, chunks)}
	for range chunks {
		r.free <- &chunk{}
	}
	return r
}

// firstSearchID is the message ID of a bulk read's first page: StartTLS and
// the bind used the IDs before it.
const firstSearchID = 3

// start sends the first page's request and starts readLoop.
func (r *bulkRead) start() error {
	r.id = firstSearchID
	if err := r.request(nil); err != nil {
		return readError(err, 0)
	}
	r.wg.Add(1)
	go r.readLoop()
	return nil
}

func (r *bulkRead) request(cookie []byte) error {
	req, err := searchRequest(r.id, r.q, r.pageSize, cookie)
	if err != nil {
		return err
	}
	if err := r.conn.SetWriteDeadline(time.Now().Add(r.timeout)); err != nil {
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	if _, err := r.conn.Write(req); err != nil {
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	return nil
}

// close stops readLoop and waits for it. Closing the connection, which
// serves this one search, is what unblocks a read in progress for certain;
// like go-ldap's Close, it sends no unbind.
func (r *bulkRead) close() {
	close(r.quit)
	r.conn.Close()
	r.wg.Wait()
}

// errProtocol marks a response the bulk path cannot read: the server broke
// the protocol, or sent more than maxMessageBytes at once.
var errProtocol = errors.New("malformed response")

// readLoop reads until the last page's SearchResultDone, an error, or quit.
func (r *bulkRead) readLoop() {
	defer r.wg.Done()
	defer close(r.full)
	cur := r.take()
	if cur == nil {
		return
	}
	scanned := 0 // bytes of cur.buf framed into whole messages
	for {
		if len(cur.buf) == cap(cur.buf) {
			// One message fills the chunk: grow it by what has arrived, so a
			// huge declared length costs nothing until its bytes come.
			if cap(cur.buf) >= maxMessageBytes+6 {
				r.err = fmt.Errorf("%w: a message of more than %d MiB", errProtocol, maxMessageBytes>>20)
				return
			}
			cur.buf = append(make([]byte, 0, min(2*cap(cur.buf), maxMessageBytes+6)), cur.buf...)
		}
		if err := r.conn.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
			r.err = ldap.NewError(ldap.ErrorNetwork, err)
			return
		}
		n, rerr := r.conn.Read(cur.buf[len(cur.buf):cap(cur.buf)])
		cur.buf = cur.buf[:len(cur.buf)+n]
		last, cookie, err := r.frame(cur.buf, &scanned)
		if err == nil && rerr != nil && cookie == nil {
			err = ldap.NewError(ldap.ErrorNetwork, rerr)
		}
		if last || err != nil || cookie != nil || (scanned > 0 && (len(r.full) == 0 || cap(cur.buf)-len(cur.buf) < r.chunkBytes/4)) {
			var next *chunk
			if !last && err == nil {
				if next = r.take(); next == nil {
					return
				}
				tail := cur.buf[scanned:]
				if 2*len(tail) > cap(next.buf) {
					next.buf = make([]byte, 0, 2*len(tail))
				}
				next.buf = append(next.buf[:0], tail...)
			}
			cur.buf = cur.buf[:scanned]
			select {
			case r.full <- cur:
			case <-r.quit:
				return
			}
			cur, scanned = next, 0
		}
		if err != nil {
			r.err = err
			return
		}
		if last {
			return
		}
		if cookie != nil {
			if err := r.next(cookie); err != nil {
				r.err = err
				return
			}
		}
	}
}

// next requests the page after the one whose SearchResultDone carried
// cookie, once the caller has finished the page before that one: one page
// is decoded while the next is read, and a slow caller holds the server
// back instead of letting whole pages pile up here.
func (r *bulkRead) next(cookie []byte) error {
	r.pages++
	for r.consumed < r.pages-1 {
		select {
		case <-r.pageDone:
			r.consumed++
		case <-r.quit:
			return errors.New("read stopped")
		}
	}
	r.id++
	return r.request(cookie)
}

// take returns a free chunk, nil when quit.
func (r *bulkRead) take() *chunk {
	select {
	case c := <-r.free:
		if c.buf == nil {
			c.buf = make([]byte, 0, r.chunkBytes)
		}
		c.buf = c.buf[:0]
		return c
	case <-r.quit:
		return nil
	}
}

// frame moves *scanned past the whole messages in b, checking each, and
// stops after a page's end: last is true after the last page's
// SearchResultDone (or one reporting an error), cookie is set (a copy) after
// any other.
func (r *bulkRead) frame(b []byte, scanned *int) (last bool, cookie []byte, err error) {
	for {
		tag, length, hdr, ok, err := berHeader(b[*scanned:])
		if err != nil {
			return false, nil, fmt.Errorf("%w: %w", errProtocol, err)
		}
		if !ok {
			return false, nil, nil
		}
		if tag != tagSequence || length > maxMessageBytes {
			return false, nil, fmt.Errorf("%w: a message with tag %#x and %d bytes", errProtocol, tag, length)
		}
		end := *scanned + hdr + length
		if end > len(b) {
			return false, nil, nil
		}
		m, err := parseMessage(b[*scanned:end])
		if err != nil {
			return false, nil, fmt.Errorf("%w: %w", errProtocol, err)
		}
		if m.id != r.id {
			if m.id == 0 && m.op == tagExtendedResponse {
				res, rerr := decodeResult(m.body)
				if rerr == nil && res.code != ldap.LDAPResultSuccess {
					return false, nil, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("the server ended the connection: %w", res.err()))
				}
			}
			return false, nil, fmt.Errorf("%w: a response to message %d during the search (message %d)", errProtocol, m.id, r.id)
		}
		*scanned = end
		if m.op != tagSearchDone {
			continue
		}
		res, err := decodeResult(m.body)
		if err != nil {
			return false, nil, fmt.Errorf("%w: %w", errProtocol, err)
		}
		c, _, err := pagingCookie(m.controls)
		if err != nil {
			return false, nil, fmt.Errorf("%w: %w", errProtocol, err)
		}
		if res.code != ldap.LDAPResultSuccess || len(c) == 0 {
			return true, nil, nil
		}
		r.cookie = append(r.cookie[:0], c...)
		return false, r.cookie, nil
	}
}

// consume decodes the chunks readLoop fills and delivers their entries,
// completing those with ranged attributes with complete and counting the
// search references it skips in referrals.
func consume(ctx context.Context, r *bulkRead, fn func(*schema.Entry) error,
	complete func(dn string, attrs []*ldap.EntryAttribute) (*schema.Entry, error), referrals *atomic.Int64) error {
	var (
		raw rawEntry
		eb  = newEntryBuilder()
		n   int // entries of the current page delivered
	)
	for {
		var ch *chunk
		var open bool
		select {
		case ch, open = <-r.full:
		case <-ctx.Done():
			return fmt.Errorf("read stopped after %d entries of this page: %w", n, ctx.Err())
		}
		if !open {
			if errors.Is(r.err, errProtocol) {
				return fmt.Errorf("after %d entries of this page: %w", n, r.err)
			}
			if r.err == nil {
				r.err = ldap.NewError(ldap.ErrorNetwork, errConnClosed)
			}
			return readError(r.err, n)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read stopped after %d entries of this page: %w", n, err)
		}
		for b := ch.buf; len(b) > 0; {
			// readLoop framed and checked these messages.
			_, _, rest, _ := tlv(b)
			m, _ := parseMessage(b[:len(b)-len(rest)])
			b = rest
			switch m.op {
			case tagSearchEntry:
				if err := decodeEntry(m.body, &raw); err != nil {
					return fmt.Errorf("after %d entries of this page: %w: %w", n, errProtocol, err)
				}
				n++
				e, ranged := eb.build(&raw)
				if ranged {
					var err error
					if e, err = complete(e.DN, raw.ldapAttributes()); err != nil {
						return err
					}
				}
				if err := fn(e); err != nil {
					return err
				}
			case tagSearchReference:
				if _, err := decodeReference(m.body); err != nil {
					return fmt.Errorf("after %d entries of this page: %w: %w", n, errProtocol, err)
				}
				referrals.Add(1)
			case tagSearchDone:
				res, err := decodeResult(m.body)
				if err != nil {
					return fmt.Errorf("%w: %w", errProtocol, err)
				}
				if err := res.err(); err != nil {
					return readError(err, n)
				}
				if cookie, _, _ := pagingCookie(m.controls); len(cookie) == 0 {
					return nil
				}
				// readLoop waits for this before it requests the page after
				// next; it never holds more than two unfinished.
				select {
				case r.pageDone <- struct{}{}:
				default:
				}
				n = 0
			case tagIntermediate:
			default:
				return fmt.Errorf("%w: operation %#x in a search's results", errProtocol, m.op)
			}
		}
		if cap(ch.buf) > 4*r.chunkBytes {
			ch.buf = nil // a huge message's chunk is not kept
		}
		r.free <- ch
	}
}

// entryBuilder turns decoded entries into schema.Entry values, reusing one
// Entry, its map and its value slices: an entry is valid only until fn
// returns (bridge.Directory's contract), and its values point into the
// chunk it was read into.
type entryBuilder struct {
	names map[string]string // attribute name as the server spells it → lower-cased
	e     schema.Entry
}

// maxNames bounds the remembered attribute names: a hostile server sending a
// new name in every entry costs an allocation per name, not unbounded memory.
const maxNames = 256

func newEntryBuilder() *entryBuilder {
	return &entryBuilder{names: map[string]string{}, e: schema.Entry{Attrs: map[string][][]byte{}}}
}

// build fills the reused entry from raw. ranged is true when an attribute
// is a ranged slice (AD's "member;range=0-1499"): the entry then needs
// completing through the go-ldap connection (Conn.complete).
func (b *entryBuilder) build(raw *rawEntry) (e *schema.Entry, ranged bool) {
	e = &b.e
	e.DN = string(raw.dn)
	clear(e.Attrs)
	for i := range raw.attrs {
		a := &raw.attrs[i]
		name, ok := b.names[string(a.name)]
		if !ok {
			name = strings.ToLower(string(a.name))
			if len(b.names) < maxNames {
				b.names[string(a.name)] = name
			}
		}
		if strings.IndexByte(name, ';') >= 0 {
			if _, _, _, isRange := parseRange(name); isRange {
				ranged = true
			}
		}
		if prev, dup := e.Attrs[name]; dup {
			e.Attrs[name] = append(prev, a.vals...)
		} else {
			e.Attrs[name] = a.vals
		}
	}
	return e, ranged
}

// ldapAttributes copies raw's attributes into go-ldap's form.
func (raw *rawEntry) ldapAttributes() []*ldap.EntryAttribute {
	out := make([]*ldap.EntryAttribute, len(raw.attrs))
	for i, a := range raw.attrs {
		ea := &ldap.EntryAttribute{Name: string(a.name)}
		for _, v := range a.vals {
			ea.Values = append(ea.Values, string(v))
			ea.ByteValues = append(ea.ByteValues, append([]byte(nil), v...))
		}
		out[i] = ea
	}
	return out
}
