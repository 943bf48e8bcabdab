// Package slapdtest starts throwaway OpenLDAP slapd servers for tests, each in
// its own temporary directory on free loopback ports, with plain LDAP, ldaps://
// and StartTLS (a throwaway CA signs the server certificate).
//
// A server starts with the base fixture testdata/ldif/base.ldif already loaded
// (see testdata/ldif/README.md for exactly what it holds):
//
//	srv := slapdtest.Start(t)
//	dir, err := ldapsource.Dial(ctx, srv.Settings())
//	…
//	srv.Load(t, slapdtest.LDIF(t, "rename.ldif")) // change the directory while it runs
//
// Every server has the suffix dc=example,dc=com, the root DN AdminDN (no
// limits, no access control) and a plain service account ReaderDN that can
// read everything but userPassword and is subject to limits such as
// WithSizeLimit. The memberof overlay (with memberof-refint) keeps memberOf
// of direct members; entries preloaded by Start get memberOf computed the same
// way, because slapadd runs no overlays.
//
// Outside tests (benchmarks, the demo), Launch starts the same server in a
// directory the caller owns and Close stops it; WithLDIFFile bulk-loads a
// generated directory of any size.
//
// slapd must be installed (Debian: apt-get install slapd ldap-utils); if it is
// not, Start fails the test: these tests are never skipped.
package slapdtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/testpki"
	"github.com/scimbridge/scimbridge/schema"
)

// Names every server uses.
const (
	// BaseDN is the suffix of the test database.
	BaseDN = "dc=example,dc=com"
	// AdminDN is the root DN: not subject to limits or access control.
	AdminDN = "cn=admin,dc=example,dc=com"
	// ReaderDN is an ordinary read-only account, subject to limits.
	ReaderDN = "cn=reader,dc=example,dc=com"
	// PeopleDN, GroupsDN, PosixDN and ContractorsDN are the base fixture's containers.
	PeopleDN      = "ou=people,dc=example,dc=com"
	GroupsDN      = "ou=groups,dc=example,dc=com"
	PosixDN       = "ou=posix,dc=example,dc=com"
	ContractorsDN = "ou=contractors,dc=example,dc=com"
)

// Server is one running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (plain LDAP; StartTLS works on it).
	URL string
	// LDAPSURL is ldaps://127.0.0.1:PORT2.
	LDAPSURL string
	// CAPEM is the PEM certificate of the CA that signed the server certificate
	// (valid for 127.0.0.1, ::1 and localhost).
	CAPEM string
	// BaseDN, AdminDN and ReaderDN repeat the package constants.
	BaseDN  string
	AdminDN string
	// AdminPassword is the root DN's password, random per server.
	AdminPassword string
	ReaderDN      string
	// ReaderPassword is ReaderDN's password, random per server.
	ReaderPassword string
	// Dir is the server's temporary directory (slapd.conf, certificates, db/).
	Dir string

	conf          string
	slapd         string
	port, tlsPort int

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *syncBuffer
}

// Option changes how Start sets a server up.
type Option func(*config)

type config struct {
	empty     bool
	ldif      []string
	ldifFiles []string
	database  []string
	syncprov  bool
}

// Empty starts without the base fixture: only the suffix entry and ReaderDN exist.
func Empty() Option { return func(c *config) { c.empty = true } }

// WithLDIF preloads entries with slapadd before the server starts, after the
// base fixture (unless Empty). The text holds add records only (content
// records or "changetype: add"); memberOf of groupOfNames members is computed
// as the memberof overlay would. Use it for large directories: slapadd loads
// 100,000 entries in seconds.
func WithLDIF(text string) Option { return func(c *config) { c.ldif = append(c.ldif, text) } }

// WithLDIFFile loads an LDIF file of add records with slapadd -q as it is,
// after the other preloaded entries: nothing is parsed or added (no
// memberOf), so a file of millions of entries costs no memory. For generated
// benchmark directories.
func WithLDIFFile(path string) Option {
	return func(c *config) { c.ldifFiles = append(c.ldifFiles, path) }
}

// WithSizeLimit sets slapd's "sizelimit n": searches by anyone but the root
// DN (use ReaderDN) return at most n entries in total, paged or not, then fail
// with sizeLimitExceeded (4).
func WithSizeLimit(n int) Option {
	return WithDatabaseConfig("sizelimit " + strconv.Itoa(n))
}

// WithDatabaseConfig appends slapd.conf directives to the mdb database section
// (before the overlays), e.g. "limits dn.exact=\"cn=reader,dc=example,dc=com\" size=10".
func WithDatabaseConfig(lines string) Option {
	return func(c *config) { c.database = append(c.database, lines) }
}

// WithSyncprov adds the syncprov overlay (RFC 4533 content synchronization:
// syncrepl refreshOnly and refreshAndPersist) with a checkpoint and a session
// log of 10,000 operations, so a consumer's cookie resumes with deletes
// listed rather than a present phase.
func WithSyncprov() Option { return func(c *config) { c.syncprov = true } }

// Start starts a slapd for the test and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Launch(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch starts a slapd outside a test, e.g. for a benchmark or a demo: the
// same server Start gives, living in dir (an existing, empty directory the
// caller owns and removes). Stop it with Close.
func Launch(dir string, opts ...Option) (*Server, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	slapd, err := findSlapd()
	if err != nil {
		return nil, err
	}
	p, err := testpki.New("127.0.0.1", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	s := &Server{
		CAPEM:          string(p.CAPEM),
		BaseDN:         BaseDN,
		AdminDN:        AdminDN,
		AdminPassword:  randomSecret(),
		ReaderDN:       ReaderDN,
		ReaderPassword: randomSecret(),
		Dir:            dir,
		conf:           filepath.Join(dir, "slapd.conf"),
		slapd:          slapd,
	}
	if err := p.WriteFiles(dir, "ca.pem", "server.pem", "server.key"); err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	conf, err := s.slapdConf(c)
	if err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	if err := s.preload(c); err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}

	// A free port can be taken by someone else between probing and slapd's
	// bind; try fresh ports a few times.
	var startErr error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			return nil, fmt.Errorf("slapdtest: %w", err)
		}
		if s.tlsPort, err = freePort(); err != nil {
			return nil, fmt.Errorf("slapdtest: %w", err)
		}
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", s.port)
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.tlsPort)
		if startErr = s.launch(); startErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("slapdtest: %w", startErr)
}

// Close stops a server started with Launch, like Stop. Its directory stays.
func (s *Server) Close() { s.Stop() }

func findSlapd() (string, error) {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/sbin/slapd", "/usr/local/libexec/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("slapd not found: run `make test`, which installs it with apt (apt-get install slapd ldap-utils)")
}

func randomSecret() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findRepoFile finds testdata/<rel> next to this package's source, else in
// the working directory or one of its parents.
func findRepoFile(rel string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "..", "testdata", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "testdata", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("testdata/%s not found above %s", rel, wd)
		}
	}
}

// readRepoLDIF returns the text of testdata/ldif/<name>.
func readRepoLDIF(name string) (string, error) {
	p, err := findRepoFile(filepath.Join("ldif", name))
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	return string(b), err
}

// LDIF returns the text of testdata/ldif/<name>, e.g. LDIF(t, "rename.ldif").
func LDIF(t testing.TB, name string) string {
	t.Helper()
	text, err := readRepoLDIF(name)
	if err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	return text
}

func (s *Server) slapdConf(c config) (string, error) {
	adlite, err := findRepoFile("schema/adlite.schema")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, sch := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", sch)
	}
	fmt.Fprintf(&b, "include %q\n", adlite)
	fmt.Fprintf(&b, "pidfile %q\nargsfile %q\n", filepath.Join(s.Dir, "slapd.pid"), filepath.Join(s.Dir, "slapd.args"))
	b.WriteString("modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload memberof\n")
	if c.syncprov {
		b.WriteString("moduleload syncprov\n")
	}
	fmt.Fprintf(&b, "TLSCACertificateFile %q\nTLSCertificateFile %q\nTLSCertificateKeyFile %q\n",
		filepath.Join(s.Dir, "ca.pem"), filepath.Join(s.Dir, "server.pem"), filepath.Join(s.Dir, "server.key"))
	b.WriteString("database mdb\nmaxsize 1073741824\n")
	fmt.Fprintf(&b, "suffix %q\nrootdn %q\nrootpw %s\n", BaseDN, AdminDN, s.AdminPassword)
	fmt.Fprintf(&b, "directory %q\n", filepath.Join(s.Dir, "db"))
	// A test database need not survive a power cut; skipping fsync keeps writes fast.
	b.WriteString("dbnosync\n")
	b.WriteString("index objectClass,uid,cn,mail,member,memberOf,entryUUID,sAMAccountName,memberUid,uniqueMember eq\n")
	b.WriteString("access to attrs=userPassword by anonymous auth by * none\naccess to * by * read\n")
	for _, l := range c.database {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if c.syncprov {
		b.WriteString("index entryCSN eq\n")
	}
	b.WriteString("overlay memberof\nmemberof-refint TRUE\n")
	if c.syncprov {
		b.WriteString("overlay syncprov\nsyncprov-checkpoint 100 10\nsyncprov-sessionlog 10000\n")
	}
	return b.String(), nil
}

// bootstrapLDIF is in every server: the suffix entry and the reader account.
func (s *Server) bootstrapLDIF() string {
	return fmt.Sprintf(`dn: %s
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: %s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: %s
`, BaseDN, ReaderDN, s.ReaderPassword)
}

// preload writes every entry of the bootstrap, the base fixture and WithLDIF
// texts with slapadd, adding memberOf values as the memberof overlay would.
func (s *Server) preload(c config) error {
	texts := []string{s.bootstrapLDIF()}
	if !c.empty {
		base, err := readRepoLDIF("base.ldif")
		if err != nil {
			return err
		}
		texts = append(texts, base)
	}
	texts = append(texts, c.ldif...)
	var recs []record
	for i, text := range texts {
		rs, err := parseLDIF(text)
		if err != nil {
			return fmt.Errorf("preload LDIF #%d: %w", i, err)
		}
		for _, r := range rs {
			if r.changeType != changeAdd {
				return fmt.Errorf("preload LDIF #%d line %d: only add records can be preloaded, got changetype %s (use Load)", i, r.line, r.changeType)
			}
		}
		recs = append(recs, rs...)
	}
	addMemberOf(recs)
	var b strings.Builder
	for _, r := range recs {
		writeLDIF(&b, r)
	}
	path := filepath.Join(s.Dir, "preload.ldif")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	slapadd := filepath.Join(filepath.Dir(s.slapd), "slapadd")
	if _, err := os.Stat(slapadd); err != nil {
		slapadd = "slapadd"
	}
	for _, p := range append([]string{path}, c.ldifFiles...) {
		out, err := exec.Command(slapadd, "-q", "-f", s.conf, "-l", p).CombinedOutput()
		if err != nil {
			return fmt.Errorf("slapadd %s: %w: %s", p, err, out)
		}
	}
	return nil
}

// addMemberOf gives every entry that a groupOfNames lists as a member a
// memberOf value naming that group, like the memberof overlay does on add.
func addMemberOf(recs []record) {
	byDN := make(map[string]int, len(recs))
	for i, r := range recs {
		byDN[normDN(r.dn)] = i
	}
	for _, g := range recs {
		isGroup := false
		for _, a := range g.attrs {
			if strings.EqualFold(a.name, "objectClass") && strings.EqualFold(a.value, "groupOfNames") {
				isGroup = true
			}
		}
		if !isGroup {
			continue
		}
		for _, a := range g.attrs {
			if !strings.EqualFold(a.name, "member") {
				continue
			}
			i, ok := byDN[normDN(a.value)]
			if !ok {
				continue
			}
			dup := false
			for _, m := range recs[i].attrs {
				if strings.EqualFold(m.name, "memberOf") && normDN(m.value) == normDN(g.dn) {
					dup = true
				}
			}
			if !dup {
				recs[i].attrs = append(recs[i].attrs, attr{"memberOf", g.dn})
			}
		}
	}
}

// normDN folds a DN for comparison: attribute types and values lower-cased,
// spaces around separators dropped. Unparsable DNs are only lower-cased.
func normDN(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	rdns := make([]string, len(d.RDNs))
	for i, r := range d.RDNs {
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			parts[j] = strings.ToLower(a.Type) + "=" + strings.ToLower(a.Value)
		}
		rdns[i] = strings.Join(parts, "+")
	}
	return strings.Join(rdns, ",")
}

// launch runs slapd on s.port/s.tlsPort and waits until it answers.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.port, s.tlsPort)
	cmd := exec.Command(s.slapd, "-f", s.conf, "-h", urls, "-d", "0")
	s.stderr = &syncBuffer{}
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("slapd exited at start (%s): %s", cmd.ProcessState, strings.TrimSpace(s.stderr.String()))
		default:
		}
		if err := s.ping(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			s.cmd = nil
			return fmt.Errorf("slapd not ready after 15s: %v: %s", err, strings.TrimSpace(s.stderr.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping reads the root DSE.
func (s *Server) ping() error {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(time.Second)
	_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// Stop stops slapd with SIGTERM (SIGKILL after 10 s) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Kill stops slapd at once with SIGKILL, as if it crashed, and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a stopped or killed server again on the same ports and
// data; a running one is stopped first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		t.Fatalf("slapdtest: restart: %v", err)
	}
}

// Conn returns a connection bound as AdminDN, closed when the test ends.
func (s *Server) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("slapdtest: dial %s: %v", s.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(AdminDN, s.AdminPassword); err != nil {
		t.Fatalf("slapdtest: bind as %s: %v", AdminDN, err)
	}
	return c
}

// Load applies LDIF to the running server as AdminDN: content records and
// change records (changetype add, modify, delete, modrdn/moddn), in order.
// Overlays run, so memberOf follows. The first failing record fails the test.
func (s *Server) Load(t testing.TB, ldifText string) {
	t.Helper()
	recs, err := parseLDIF(ldifText)
	if err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	c := s.Conn(t)
	defer c.Close()
	for _, r := range recs {
		if err := apply(c, r); err != nil {
			t.Fatalf("slapdtest: LDIF line %d (%s %s): %v", r.line, r.changeType, r.dn, err)
		}
	}
}

func apply(c *ldap.Conn, r record) error {
	switch r.changeType {
	case changeAdd:
		req := ldap.NewAddRequest(r.dn, nil)
		var names []string
		vals := map[string][]string{}
		for _, a := range r.attrs {
			k := strings.ToLower(a.name)
			if _, ok := vals[k]; !ok {
				names = append(names, a.name)
			}
			vals[k] = append(vals[k], a.value)
		}
		for _, n := range names {
			req.Attribute(n, vals[strings.ToLower(n)])
		}
		return c.Add(req)
	case changeDelete:
		return c.Del(ldap.NewDelRequest(r.dn, nil))
	case changeModRDN:
		return c.ModifyDN(ldap.NewModifyDNRequest(r.dn, r.newRDN, r.deleteOld, r.newSup))
	case changeModify:
		req := ldap.NewModifyRequest(r.dn, nil)
		for _, m := range r.mods {
			switch m.op {
			case "add":
				req.Add(m.name, m.values)
			case "replace":
				req.Replace(m.name, m.values)
			case "delete":
				req.Delete(m.name, m.values)
			}
		}
		return c.Modify(req)
	}
	return fmt.Errorf("unknown changetype %q", r.changeType)
}

// Settings returns schema.Defaults("openldap") pointed at this server and the
// base fixture: enabled, plain ldap:// bound as AdminDN, users under ou=people
// (inetOrgPerson+organizationalPerson, username uid, externalId entryUUID),
// groupOfNames groups under ou=groups, periodic full sync daily, push off.
// Each call returns a fresh copy to change freely.
func (s *Server) Settings() *schema.Settings {
	st := schema.Defaults(schema.VendorOpenLDAP)
	st.Enabled = true
	st.Connection.URL = s.URL
	st.Connection.BindDN = AdminDN
	st.Connection.BindCredential = s.AdminPassword
	st.Users.UsersDN = PeopleDN
	st.Groups.GroupsDN = GroupsDN
	return &st
}

// PosixSettings returns Settings with groups read from ou=posix as posixGroup
// entries whose memberUid values name users by uid.
func (s *Server) PosixSettings() *schema.Settings {
	st := s.Settings()
	st.Groups.GroupsDN = PosixDN
	st.Groups.ObjectClasses = []string{"posixGroup"}
	st.Groups.Attributes.Membership = "memberUid"
	st.Groups.Attributes.MembershipAttributeType = schema.MembershipUID
	st.Groups.Attributes.MembershipUserAttribute = "uid"
	return st
}

// syncBuffer is a bytes.Buffer safe for slapd's output goroutines and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
