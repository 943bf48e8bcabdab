package ldapsource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

const (
	people = ",ou=people,dc=example,dc=com"
	groups = ",ou=groups,dc=example,dc=com"
)

// allPeople are the base fixture's entries that users.objectClasses
// [inetOrgPerson, organizationalPerson] select under ou=people, scope subtree.
var allPeople = []string{
	"uid=alice" + people, "uid=bob" + people, "uid=carol" + people, "uid=dave" + people,
	"uid=erin" + people, "uid=zoe" + people, "uid=frank" + people,
	"cn=Gina Grey" + people, "cn=Gina Green" + people,
	"uid=ivan,ou=interns" + people, "cn=No Username" + people,
}

func open(t *testing.T, s *schema.Settings) *ldapsource.Conn {
	t.Helper()
	c, err := ldapsource.Open(context.Background(), s)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// read collects the DNs a read delivers, sorted.
func read(t *testing.T, read func(context.Context, func(*schema.Entry) error) error) []string {
	t.Helper()
	var dns []string
	if err := read(context.Background(), func(e *schema.Entry) error {
		dns = append(dns, e.DN)
		return nil
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	slices.Sort(dns)
	return dns
}

// keep copies an entry, which is valid only while the callback runs.
func keep(e *schema.Entry) *schema.Entry {
	c := &schema.Entry{DN: e.DN, Attrs: map[string][][]byte{}}
	for k, vs := range e.Attrs {
		c.Attrs[k] = make([][]byte, 0, len(vs))
		for _, v := range vs {
			c.Attrs[k] = append(c.Attrs[k], slices.Clone(v))
		}
	}
	return c
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestUsersPagedReadOfBaseFixture(t *testing.T) {
	// The reader may get at most 2 entries per search unless it pages: a read
	// that returns all 11 entries proves the cookie loop.
	srv := slapdtest.Start(t, slapdtest.WithDatabaseConfig(
		`limits dn.exact="cn=reader,dc=example,dc=com" size.soft=2 size.hard=2 size.pr=2 size.prtotal=unlimited`))
	s := srv.Settings()
	s.Connection.BindDN, s.Connection.BindCredential = srv.ReaderDN, srv.ReaderPassword
	s.Connection.PageSize = 2
	if got := read(t, open(t, s).Users); !slices.Equal(got, sorted(allPeople)) {
		t.Errorf("users:\n got %q\nwant %q", got, sorted(allPeople))
	}

	s.Connection.PageSize = 0 // default 500: one page, beyond the reader's limit
	err := open(t, s).Users(context.Background(), func(*schema.Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "adminLimitExceeded") {
		t.Errorf("read in pages of 500 beyond size.pr=2: err = %v, want an adminLimitExceeded error", err)
	}
}

func TestUsersEntryAttributes(t *testing.T) {
	srv := slapdtest.Start(t)
	s := srv.Settings()
	s.Users.Attributes.DisabledAttribute = "userAccountControl"
	s.Users.Attributes.EmployeeNumber = "employeeNumber"
	got := map[string]*schema.Entry{}
	if err := open(t, s).Users(context.Background(), func(e *schema.Entry) error {
		got[e.DN] = keep(e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	alice := got["uid=alice"+people]
	if alice == nil {
		t.Fatal("alice not read")
	}
	var keys []string
	for k := range alice.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"displayname", "employeenumber", "entryuuid", "givenname", "mail", "sn", "uid", "useraccountcontrol"}
	if !slices.Equal(keys, want) {
		t.Errorf("alice's attributes = %q, want exactly %q", keys, want)
	}
	if v := string(alice.First("employeeNumber")); v != "1001" {
		t.Errorf("employeeNumber = %q", v)
	}
	if v := string(got["uid=zoe"+people].First("displayName")); v != "Zoë Ågren" {
		t.Errorf("zoe's displayName = %q, want Zoë Ågren", v)
	}
	frank := got["uid=frank"+people]
	if frank.First("mail") != nil || frank.First("givenName") != nil || string(frank.First("sn")) != "Fischer" {
		t.Errorf("frank = %q, want sn only of mail/givenName/sn", frank.Attrs)
	}
	if v := string(got["uid=ivan,ou=interns"+people].First("userAccountControl")); v != "514" {
		t.Errorf("ivan's userAccountControl = %q, want 514", v)
	}
	if len(alice.First("entryUUID")) != 36 {
		t.Errorf("entryUUID = %q", alice.First("entryUUID"))
	}

	// memberUid-style groups need the users' uid; it is requested once.
	s = srv.PosixSettings()
	s.Users.Attributes.Username = "sAMAccountName"
	gotUID := map[string]string{}
	if err := open(t, s).Users(context.Background(), func(e *schema.Entry) error {
		gotUID[string(e.First("sAMAccountName"))] = string(e.First("uid"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if gotUID["aanderson"] != "alice" || gotUID["ggrey"] != "GINA" || gotUID[""] != "" {
		t.Errorf("sAMAccountName → uid = %q", gotUID)
	}
}

func TestUsersFiltersAndScope(t *testing.T) {
	srv := slapdtest.Start(t)
	cases := []struct {
		name    string
		classes []string
		filter  string
		scope   string
		want    []string
	}{
		{"object classes only", []string{"inetOrgPerson"}, "", "", allPeople},
		{"extra filter", []string{"inetOrgPerson"}, "(givenName=Gina)", "", []string{"cn=Gina Grey" + people, "cn=Gina Green" + people}},
		{"filter without parentheses", []string{"inetOrgPerson"}, "sAMAccountName=g*", "", []string{"cn=Gina Grey" + people, "cn=Gina Green" + people}},
		{"compound filter", nil, "(|(uid=alice)(uid=bob))", "", []string{"uid=alice" + people, "uid=bob" + people}},
		{"direct memberOf", []string{"inetOrgPerson"}, "(memberOf=cn=design,ou=groups,dc=example,dc=com)", "",
			[]string{"uid=zoe" + people, "uid=frank" + people, "cn=Gina Grey" + people, "cn=Gina Green" + people, "cn=No Username" + people}},
		// OpenLDAP does not implement the AD in-chain rule: the filter is
		// valid, but selects nothing there.
		{"AD in-chain rule", []string{"inetOrgPerson"}, "(memberOf:1.2.840.113556.1.4.1941:=cn=engineers,ou=groups,dc=example,dc=com)", "", nil},
		{"hostile object class is escaped", []string{"inetOrgPerson", "*)(uid=*"}, "", "", nil},
		{"hostile class alone", []string{"*)(|(objectClass=*"}, "", "", nil},
		{"scope one", []string{"inetOrgPerson"}, "", schema.ScopeOne, slices.DeleteFunc(slices.Clone(allPeople), func(dn string) bool {
			return strings.Contains(dn, "ou=interns")
		})},
		{"no user without uid", []string{"inetOrgPerson"}, "(!(uid=*))", "", []string{"cn=No Username" + people}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := srv.Settings()
			s.Users.ObjectClasses, s.Users.Filter, s.Users.Scope = tc.classes, tc.filter, tc.scope
			if got, want := read(t, open(t, s).Users), sorted(tc.want); !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}

	s := srv.Settings()
	s.Users.Filter = "(uid=alice"
	err := open(t, s).Users(context.Background(), func(*schema.Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "users.filter") {
		t.Errorf("unbalanced filter: err = %v, want one naming users.filter", err)
	}
}

func TestGroups(t *testing.T) {
	srv := slapdtest.Start(t)
	got := map[string][]string{}
	collect := func(e *schema.Entry) error {
		var vals []string
		for _, v := range e.Values("member") {
			vals = append(vals, string(v))
		}
		for _, v := range e.Values("memberUid") {
			vals = append(vals, string(v))
		}
		got[string(e.First("cn"))] = vals
		if len(e.First("entryUUID")) != 36 {
			t.Errorf("%s: entryUUID = %q", e.DN, e.First("entryUUID"))
		}
		return nil
	}
	if err := open(t, srv.Settings()).Groups(context.Background(), collect); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"engineers": {"uid=alice" + people, "CN=Backend,OU=Groups,DC=Example,DC=Com", "uid=mallory,ou=contractors,dc=example,dc=com", "uid=ghost" + people},
		"backend":   {"UID=Bob, OU=People, DC=Example, DC=Com", "cn=platform, ou=groups, dc=example, dc=com"},
		"platform":  {"uid=carol" + people, "uid=zoe" + people, "cn=sre" + groups},
		"sre":       {"uid=dave" + people},
		"cycle-a":   {"uid=erin" + people, "cn=cycle-b" + groups},
		"cycle-b":   {"cn=cycle-a" + groups},
		"design":    {"uid=zoe" + people, "uid=frank" + people, "cn=Gina Green" + people, "cn=Gina Grey" + people, "cn=No Username" + people},
		"ghosts":    {"uid=ghost" + people},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups:\n got %q\nwant %q", got, want)
	}

	clear(got)
	if err := open(t, srv.PosixSettings()).Groups(context.Background(), collect); err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{"developers": {"alice", "bob", "zoe", "nobody"}, "ops": {"carol", "dave"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("posix groups:\n got %q\nwant %q", got, want)
	}

	s := srv.Settings()
	s.Groups.Enabled = false
	if err := open(t, s).Groups(context.Background(), func(e *schema.Entry) error {
		t.Errorf("groups disabled, yet read %s", e.DN)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestReferencesAreSkippedAndCounted(t *testing.T) {
	srv := slapdtest.Start(t)
	srv.Load(t, testLDIF(t, "referral.ldif"))
	c := open(t, srv.Settings())
	if got := read(t, c.Users); !slices.Equal(got, sorted(allPeople)) {
		t.Errorf("users = %q", got)
	}
	if c.Referrals() != 1 {
		t.Errorf("Referrals() = %d, want 1", c.Referrals())
	}
}

// forward accepts connections on addr and relays them to target.
func forward(t *testing.T, addr, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return l.Addr().String()
}

func TestTLS(t *testing.T) {
	srv := slapdtest.Start(t)
	// 127.0.0.2 is not in the server certificate.
	otherHost := forward(t, "127.0.0.2:0", strings.TrimPrefix(srv.LDAPSURL, "ldaps://"))
	cases := []struct {
		name     string
		url      string
		startTLS bool
		ca       bool
		insecure bool
		wantErr  string // substring of the error; "" for success
	}{
		{"ldaps with the CA", srv.LDAPSURL, false, true, false, ""},
		{"ldaps without the CA", srv.LDAPSURL, false, false, false, "TLS: certificate signed by unknown authority"},
		{"ldaps insecureSkipVerify", srv.LDAPSURL, false, false, true, ""},
		{"StartTLS with the CA", srv.URL, true, true, false, ""},
		{"StartTLS without the CA", srv.URL, true, false, false, "TLS: certificate signed by unknown authority"},
		{"ldaps to the plain port", strings.Replace(srv.URL, "ldap://", "ldaps://", 1), false, true, false, "did not answer with TLS"},
		{"host not in the certificate", "ldaps://" + otherHost, false, true, false, "not valid for"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := srv.Settings()
			s.Connection.URL, s.Connection.StartTLS, s.Connection.InsecureSkipVerify = tc.url, tc.startTLS, tc.insecure
			if tc.ca {
				s.Connection.CACertPEM = srv.CAPEM
			}
			c, err := ldapsource.Open(context.Background(), s)
			if tc.wantErr != "" {
				var se *ldapsource.StepError
				if err == nil || !errors.As(err, &se) || se.Step != ldapsource.StepTLS || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a tls StepError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := read(t, c.Users); len(got) != len(allPeople) {
				t.Errorf("read %d users over TLS, want %d", len(got), len(allPeople))
			}
		})
	}
}

func TestTestButton(t *testing.T) {
	srv := slapdtest.Start(t)
	strong := slapdtest.Start(t, slapdtest.Empty(), slapdtest.WithDatabaseConfig("security simple_bind=128"))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		name   string
		edit   func(*schema.Settings)
		auth   bool
		steps  string // the steps run, the last one failing unless ok
		ok     bool
		msg    string // substring of the result's message
		absent string // must not appear anywhere in the result
	}{
		{"connection only", func(*schema.Settings) {}, false, "dns tcp tls", true, "TLS: not used", ""},
		{"authentication", func(*schema.Settings) {}, true, "dns tcp tls bind search", true, "search: read ou=people,dc=example,dc=com", srv.AdminPassword},
		{"ldaps with CA", func(s *schema.Settings) { s.Connection.URL, s.Connection.CACertPEM = srv.LDAPSURL, srv.CAPEM }, true,
			"dns tcp tls bind search", true, "search: read", ""},
		{"StartTLS", func(s *schema.Settings) { s.Connection.StartTLS, s.Connection.CACertPEM = true, srv.CAPEM }, false,
			"dns tcp tls", true, "with a verified certificate", ""},
		{"anonymous", func(s *schema.Settings) { s.Connection.BindDN, s.Connection.BindCredential = "", "" }, true,
			"dns tcp tls bind search", true, "search: read", ""},
		{"wrong password", func(s *schema.Settings) { s.Connection.BindCredential = "wrong-Pa55word" }, true,
			"dns tcp tls bind", false, "bind: invalid credentials (49)", "wrong-Pa55word"},
		{"empty password", func(s *schema.Settings) { s.Connection.BindCredential = "" }, true,
			"dns tcp tls bind", false, "bind: connection.bindCredential is empty", ""},
		{"unknown base", func(s *schema.Settings) { s.Users.UsersDN = "ou=nowhere,dc=example,dc=com" }, true,
			"dns tcp tls bind search", false, "search: no such object: ou=nowhere,dc=example,dc=com", ""},
		{"closed port", func(s *schema.Settings) { s.Connection.URL = "ldap://" + closedAddr }, false,
			"dns tcp", false, "tcp: connection refused at " + closedAddr, ""},
		{"unknown host", func(s *schema.Settings) { s.Connection.URL = "ldap://no-such-host.invalid:389" }, false,
			"dns", false, "dns: no such host no-such-host.invalid", ""},
		{"bad URL", func(s *schema.Settings) { s.Connection.URL = "http://127.0.0.1:389" }, false,
			"dns", false, "must start with ldap:// or ldaps://", ""},
		{"ldaps without CA", func(s *schema.Settings) { s.Connection.URL = srv.LDAPSURL }, true,
			"dns tcp tls", false, "TLS: certificate signed by unknown authority", ""},
		{"simple bind needs TLS", func(s *schema.Settings) {
			s.Connection.URL, s.Connection.BindCredential = strong.URL, strong.AdminPassword
		}, true, "dns tcp tls bind", false, "use ldaps:// or StartTLS", strong.AdminPassword},
		{"simple bind over StartTLS", func(s *schema.Settings) {
			s.Connection.URL, s.Connection.BindCredential = strong.URL, strong.AdminPassword
			s.Connection.StartTLS, s.Connection.CACertPEM = true, strong.CAPEM
			s.Users.UsersDN = slapdtest.BaseDN
		}, true, "dns tcp tls bind search", true, "search: read dc=example,dc=com", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := srv.Settings()
			tc.edit(s)
			r := ldapsource.Test(context.Background(), s, tc.auth)
			var steps []string
			for i, st := range r.Steps {
				steps = append(steps, st.Step)
				if last := i == len(r.Steps)-1; st.OK != (!last || tc.ok) {
					t.Errorf("step %s ok = %v: %s", st.Step, st.OK, st.Message)
				}
			}
			if got := strings.Join(steps, " "); got != tc.steps {
				t.Errorf("steps = %q, want %q (%+v)", got, tc.steps, r)
			}
			if r.OK != tc.ok || r.Step != steps[len(steps)-1] || !strings.Contains(r.Message, tc.msg) {
				t.Errorf("result = %+v, want ok=%v and message containing %q", r, tc.ok, tc.msg)
			}
			if tc.absent != "" && strings.Contains(fmt.Sprintf("%+v", r), tc.absent) {
				t.Errorf("result contains %q: %+v", tc.absent, r)
			}
			// Open connects the same way: a connect step that fails the test
			// fails Open at that step, in the same words.
			if tc.auth && !tc.ok && r.Step != ldapsource.StepSearch {
				_, err := ldapsource.Open(context.Background(), s)
				var se *ldapsource.StepError
				if !errors.As(err, &se) || se.Step != r.Step || se.Message != r.Message {
					t.Errorf("Open: err = %v, want a %s StepError %q", err, r.Step, r.Message)
				}
			}
		})
	}
}

func TestOpenErrorsNameTheStep(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Empty())
	s := srv.Settings()
	s.Connection.BindCredential = "not-the-password"
	_, err := ldapsource.Dial(context.Background(), s)
	var se *ldapsource.StepError
	if !errors.As(err, &se) || se.Step != ldapsource.StepBind || !strings.Contains(err.Error(), "(49)") ||
		strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("err = %v, want a bind StepError with (49) and without the password", err)
	}

	// A server that accepts connections but never answers: the bind is
	// bounded by connection.connectTimeoutSeconds.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s.Connection.URL = "ldap://" + silent.Addr().String()
	s.Connection.ConnectTimeoutSeconds = 1
	start := time.Now()
	_, err = ldapsource.Open(context.Background(), s)
	if !errors.As(err, &se) || se.Step != ldapsource.StepBind || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: err = %v after %s, want a bind StepError after ~1s", err, time.Since(start))
	}
}

// bulk returns LDIF for n extra users under ou=people.
func bulk(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "dn: uid=bulk%05d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: bulk%05d\ncn: Bulk %d\nsn: Bulk\n\n", i, i, i)
	}
	return b.String()
}

func TestPartialReadsFail(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.WithLDIF(bulk(3000)), slapdtest.WithSizeLimit(1000))
	total := 3000 + len(allPeople)

	t.Run("complete read as root", func(t *testing.T) {
		s := srv.Settings()
		s.Connection.PageSize = 250
		n := 0
		if err := open(t, s).Users(context.Background(), func(*schema.Entry) error { n++; return nil }); err != nil || n != total {
			t.Fatalf("read %d entries, err %v; want %d, nil", n, err, total)
		}
	})

	t.Run("size limit", func(t *testing.T) {
		s := srv.Settings()
		s.Connection.BindDN, s.Connection.BindCredential = srv.ReaderDN, srv.ReaderPassword
		s.Connection.PageSize = 100
		n := 0
		err := open(t, s).Users(context.Background(), func(*schema.Entry) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), "sizeLimitExceeded") || !strings.Contains(err.Error(), `search users under "ou=people,dc=example,dc=com"`) {
			t.Errorf("err = %v, want a size limit error naming the search", err)
		}
		if n != 1000 {
			t.Errorf("delivered %d entries before the error, want 1000", n)
		}
	})

	t.Run("callback error stops the read", func(t *testing.T) {
		stop := errors.New("stop here")
		n := 0
		err := open(t, srv.Settings()).Users(context.Background(), func(*schema.Entry) error {
			if n++; n == 7 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 7 {
			t.Errorf("err = %v after %d entries, want %v after 7", err, n, stop)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		s := srv.Settings()
		s.Connection.PageSize = 100
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		err := open(t, s).Users(ctx, func(*schema.Entry) error {
			if n++; n == 150 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || n >= total {
			t.Errorf("err = %v after %d entries, want context.Canceled before %d", err, n, total)
		}
	})

	// Last: it kills the server.
	t.Run("server killed mid-read", func(t *testing.T) {
		s := srv.Settings()
		s.Connection.PageSize = 50
		n := 0
		err := open(t, s).Users(context.Background(), func(*schema.Entry) error {
			if n++; n == 500 {
				srv.Kill()
			}
			return nil
		})
		if err == nil || n >= total {
			t.Errorf("err = %v after %d of %d entries, want an error", err, n, total)
		}
		if err != nil && !strings.Contains(err.Error(), `search users under "ou=people,dc=example,dc=com"`) {
			t.Errorf("err = %v, want it to name the search", err)
		}
	})
}

func TestCheckSyntax(t *testing.T) {
	cases := []struct {
		name string
		edit func(*schema.Settings)
		want []string // fields
	}{
		{"valid", func(*schema.Settings) {}, nil},
		{"AD bind names are not DNs", func(s *schema.Settings) { s.Connection.BindDN = `CORP\svc-scim` }, nil},
		{"UPN bind name", func(s *schema.Settings) { s.Connection.BindDN = "svc-scim@corp.example.com" }, nil},
		{"in-chain filter", func(s *schema.Settings) {
			s.Users.Filter = "(memberOf:1.2.840.113556.1.4.1941:=cn=scim,ou=groups,dc=example,dc=com)"
		}, nil},
		{"filter without parentheses", func(s *schema.Settings) { s.Users.Filter = "department=sales" }, nil},
		{"bad bind DN", func(s *schema.Settings) { s.Connection.BindDN = "cn=admin,dc" }, []string{"connection.bindDn"}},
		{"bad DNs and filters", func(s *schema.Settings) {
			s.Users.UsersDN, s.Users.Filter = "ou=people,,dc=example", "(uid=alice"
			s.Groups.GroupsDN, s.Groups.Filter = "nonsense", "(cn=a)(cn=b)"
		}, []string{"users.usersDn", "users.filter", "groups.groupsDn", "groups.filter"}},
		{"groups disabled are not checked", func(s *schema.Settings) {
			s.Groups.Enabled, s.Groups.GroupsDN, s.Groups.Filter = false, "nonsense", "(("
		}, nil},
	}
	srv := &slapdtest.Server{URL: "ldap://127.0.0.1:389"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := srv.Settings()
			tc.edit(s)
			var fields []string
			for _, fe := range ldapsource.CheckSyntax(s) {
				fields = append(fields, fe.Field)
				if fe.Message == "" {
					t.Errorf("%s: empty message", fe.Field)
				}
			}
			if !slices.Equal(fields, tc.want) {
				t.Errorf("fields = %q, want %q", fields, tc.want)
			}
		})
	}
}
