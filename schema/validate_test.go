package schema

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validOpenLDAP() Settings {
	s := Defaults(VendorOpenLDAP)
	s.Enabled = true
	s.Connection.URL = "ldap://127.0.0.1:389"
	s.Connection.BindDN = "cn=admin,dc=example,dc=com"
	s.Connection.BindCredential = "secret"
	s.Users.UsersDN = "ou=people,dc=example,dc=com"
	s.Groups.GroupsDN = "ou=groups,dc=example,dc=com"
	return s
}

func validAD() Settings {
	s := Defaults(VendorAD)
	s.Connection.URL = "ldaps://dc1.corp.example.com:636"
	s.Connection.BindDN = `CORP\svc-scim`
	s.Connection.BindCredential = "pw"
	s.Users.UsersDN = "CN=Users,DC=corp,DC=example,DC=com"
	s.Groups.GroupsDN = "OU=Groups,DC=corp,DC=example,DC=com"
	return s
}

func validPush() Push {
	p := Defaults("").Push
	p.Enabled = true
	p.URL = "https://iomete.example.com/api/v1/identity/scim/v2"
	p.Token = "pat-123"
	return p
}

// testCertPEM returns a freshly made self-signed certificate in PEM form.
func testCertPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test CA"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// assertFields checks that err is a *ValidationError naming exactly fields, in order.
func assertFields(t *testing.T, err error, fields ...string) []FieldError {
	t.Helper()
	if len(fields) == 0 {
		if err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	got := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		got[i] = f.Field
	}
	if !reflect.DeepEqual(got, fields) {
		t.Fatalf("fields = %q, want %q (%v)", got, fields, err)
	}
	return ve.Fields
}

func TestValidateAcceptsGoodDocuments(t *testing.T) {
	ca := testCertPEM(t)
	cases := map[string]func(*Settings){
		"openldap":           func(*Settings) {},
		"ad":                 func(s *Settings) { *s = validAD() },
		"other":              func(s *Settings) { s.Vendor = VendorOther; s.Users.Attributes.ExternalID = "" },
		"ldap with StartTLS": func(s *Settings) { s.Connection.StartTLS = true },
		"trailing slash":     func(s *Settings) { s.Connection.URL = "ldap://127.0.0.1/" },
		"StartTLS to a remote host": func(s *Settings) {
			s.Connection.URL, s.Connection.StartTLS = "ldap://ldap.example.com", true
		},
		"ldaps to a remote host":  func(s *Settings) { s.Connection.URL = "ldaps://ldap.example.com" },
		"plain ldap to 127.0.0.2": func(s *Settings) { s.Connection.URL = "ldap://127.0.0.2:389" },
		"plain ldap to localhost": func(s *Settings) { s.Connection.URL = "ldap://LocalHost:389" },
		"anonymous plain ldap to remote": func(s *Settings) {
			s.Connection.URL, s.Connection.BindDN, s.Connection.BindCredential = "ldap://ldap.example.com", "", ""
		},
		"plaintext bind allowed by admin": func(s *Settings) { s.Connection.URL, s.Connection.AllowPlaintextBind = "ldap://ldap.example.com", true },
		"IPv6 host":                       func(s *Settings) { s.Connection.URL = "ldap://[::1]:10389" },
		"upper-case scheme":               func(s *Settings) { s.Connection.URL = "LDAPS://ldap.example.com" },
		"CA certificate":                  func(s *Settings) { s.Connection.CACertPEM = ca },
		"two CA certificates":             func(s *Settings) { s.Connection.CACertPEM = ca + "\n" + ca + "\n" },
		"anonymous bind":                  func(s *Settings) { s.Connection.BindDN, s.Connection.BindCredential = "", "" },
		"bind credential stored":          func(s *Settings) { s.Connection.BindCredential, s.Connection.BindCredentialSet = "", true },
		"page size 10000":                 func(s *Settings) { s.Connection.PageSize = 10000 },
		"range size":                      func(s *Settings) { s.Connection.RangeSize = 1500 },
		"numeric OID attribute":           func(s *Settings) { s.Users.Attributes.Email = "0.9.2342.19200300.100.1.3" },
		"hyphenated attribute":            func(s *Settings) { s.Users.Attributes.Department = "x-dept-2" },
		"one-level scope":                 func(s *Settings) { s.Users.Scope = ScopeOne },
		"groups off ignore junk":          func(s *Settings) { s.Groups = Groups{Enabled: false, Scope: "bogus"} },
		"UID membership":                  func(s *Settings) { s.Groups.Attributes.MembershipAttributeType = MembershipUID },
		"no periodic sync, short":         func(s *Settings) { s.Sync.PeriodicFullSync = false; s.Sync.FullSyncIntervalSeconds = 5 },
		"interval 60":                     func(s *Settings) { s.Sync.FullSyncIntervalSeconds = 60 },
		"max deletes 0":                   func(s *Settings) { s.Sync.MaxDeletes = 0 },
		"push off ignores junk":           func(s *Settings) { s.Push = Push{Enabled: false, URL: "ftp://x", Concurrency: -5} },
		"push on":                         func(s *Settings) { s.Push = validPush() },
		"push iomete": func(s *Settings) {
			s.Push = validPush()
			s.Push.Profile = ProfileIOMETE
			s.Push.AuthHeader = "X-API-Token"
		},
		"push token stored":   func(s *Settings) { s.Push = validPush(); s.Push.Token = ""; s.Push.TokenSet = true },
		"push http localhost": func(s *Settings) { s.Push = validPush(); s.Push.URL = "http://localhost:8080/scim/v2" },
		"push http 127.0.0.1": func(s *Settings) { s.Push = validPush(); s.Push.URL = "http://127.0.0.1:8080/scim/v2" },
		"push http [::1]":     func(s *Settings) { s.Push = validPush(); s.Push.URL = "http://[::1]:8080/scim/v2" },
		"push CA":             func(s *Settings) { s.Push = validPush(); s.Push.CACertPEM = ca },
		"push limits":         func(s *Settings) { s.Push = validPush(); s.Push.Concurrency = 64; s.Push.TimeoutSeconds = 600 },
		"push nested deactivate": func(s *Settings) {
			s.Push = validPush()
			s.Push.GroupMembers, s.Push.Deprovision = MembersNested, DeprovisionOff
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := validOpenLDAP()
			mutate(&s)
			assertFields(t, s.Validate())
		})
	}
}

const plaintextBindMsg = "the bind credential would cross the network in clear text: use ldaps:// or startTls, or set connection.allowPlaintextBind"

func TestValidateNamesTheFieldOfEachProblem(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Settings)
		field  string
		msg    string // a phrase the message must contain
	}{
		{"unknown vendor", func(s *Settings) { s.Vendor = "AD" }, "vendor", "must be openldap, ad or other"},
		{"no url", func(s *Settings) { s.Connection.URL = " " }, "connection.url", "is required"},
		{"http url", func(s *Settings) { s.Connection.URL = "http://ldap.example.com" }, "connection.url", "must start with ldap:// or ldaps://"},
		{"no scheme", func(s *Settings) { s.Connection.URL = "ldap.example.com:389" }, "connection.url", "must start with ldap:// or ldaps://"},
		{"unparseable url", func(s *Settings) { s.Connection.URL = "ldap://exa mple.com:x" }, "connection.url", "cannot be parsed"},
		{"no host", func(s *Settings) { s.Connection.URL = "ldap://:389" }, "connection.url", "must name a host"},
		{"opaque", func(s *Settings) { s.Connection.URL = "ldap:example.com" }, "connection.url", "must name a host"},
		{"bad port", func(s *Settings) { s.Connection.URL = "ldap://example.com:70000" }, "connection.url", "port must be between 1 and 65535"},
		{"credentials in url", func(s *Settings) { s.Connection.URL = "ldap://admin:pw@example.com" }, "connection.url", "must not hold credentials"},
		{"path in url", func(s *Settings) { s.Connection.URL = "ldap://example.com/dc=example,dc=com" }, "connection.url", "must be only scheme, host and port"},
		{"startTls with ldaps", func(s *Settings) { s.Connection.URL = "ldaps://example.com"; s.Connection.StartTLS = true }, "connection.startTls", "needs an ldap:// URL"},
		{"bind DN without credential", func(s *Settings) { s.Connection.BindCredential = "" }, "connection.bindCredential", "is required when bindDn is set"},
		{"plaintext bind to a remote host", func(s *Settings) { s.Connection.URL = "ldap://ldap.example.com:389" }, "connection.url", plaintextBindMsg},
		{"plaintext bind, credential stored", func(s *Settings) {
			s.Connection.URL, s.Connection.BindCredential, s.Connection.BindCredentialSet = "LDAP://10.0.0.5", "", true
		}, "connection.url", plaintextBindMsg},
		{"plaintext bind to a remote IPv6 host", func(s *Settings) { s.Connection.URL = "ldap://[2001:db8::1]" }, "connection.url", plaintextBindMsg},
		{"plaintext bind to a loopback-looking name", func(s *Settings) { s.Connection.URL = "ldap://127.0.0.1.example.com" }, "connection.url", plaintextBindMsg},
		{"CA not PEM", func(s *Settings) { s.Connection.CACertPEM = "MIIB..." }, "connection.caCertPem", "must hold PEM certificates"},
		{"CA is a key", func(s *Settings) {
			s.Connection.CACertPEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}, "connection.caCertPem", `PEM block 1 is a "PRIVATE KEY", not a CERTIFICATE`},
		{"CA garbage cert", func(s *Settings) {
			s.Connection.CACertPEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, "connection.caCertPem", "certificate 1 cannot be parsed"},
		{"connect timeout 0", func(s *Settings) { s.Connection.ConnectTimeoutSeconds = 0 }, "connection.connectTimeoutSeconds", "between 1 and 300"},
		{"connect timeout huge", func(s *Settings) { s.Connection.ConnectTimeoutSeconds = 301 }, "connection.connectTimeoutSeconds", "between 1 and 300"},
		{"read timeout negative", func(s *Settings) { s.Connection.ReadTimeoutSeconds = -1 }, "connection.readTimeoutSeconds", "between 1 and 3600"},
		{"page size 0", func(s *Settings) { s.Connection.PageSize = 0 }, "connection.pageSize", "between 1 and 10000 (Active Directory serves at most 1000 per page)"},
		{"page size huge", func(s *Settings) { s.Connection.PageSize = 10001 }, "connection.pageSize", "between 1 and 10000"},
		{"range size negative", func(s *Settings) { s.Connection.RangeSize = -1 }, "connection.rangeSize", "must be 0"},
		{"no users dn", func(s *Settings) { s.Users.UsersDN = "" }, "users.usersDn", "is required"},
		{"users dn not a dn", func(s *Settings) { s.Users.UsersDN = "people" }, "users.usersDn", "must be a DN"},
		{"users scope", func(s *Settings) { s.Users.Scope = "base" }, "users.scope", "must be one or subtree"},
		{"no object classes", func(s *Settings) { s.Users.ObjectClasses = nil }, "users.objectClasses", "at least one object class"},
		{"empty object class", func(s *Settings) { s.Users.ObjectClasses = []string{"person", ""} }, "users.objectClasses[1]", "must not be empty"},
		{"object class with filter", func(s *Settings) { s.Users.ObjectClasses = []string{"person)(uid=*"} }, "users.objectClasses[0]", "not a valid object class name"},
		{"no username attribute", func(s *Settings) { s.Users.Attributes.Username = "" }, "users.attributes.username", "is required"},
		{"attribute with space", func(s *Settings) { s.Users.Attributes.Email = "e mail" }, "users.attributes.email", `"e mail" is not a valid LDAP attribute name`},
		{"attribute with option", func(s *Settings) { s.Users.Attributes.ExternalID = "objectGUID;binary" }, "users.attributes.externalId", "not a valid LDAP attribute name"},
		{"attribute starting with digit", func(s *Settings) { s.Users.Attributes.FirstName = "2name" }, "users.attributes.firstName", "not a valid LDAP attribute name"},
		{"attribute starting with hyphen", func(s *Settings) { s.Users.Attributes.LastName = "-sn" }, "users.attributes.lastName", "not a valid LDAP attribute name"},
		{"OID with leading zero", func(s *Settings) { s.Users.Attributes.DisplayName = "2.05.4.3" }, "users.attributes.displayName", "not a valid LDAP attribute name"},
		{"OID with one arc", func(s *Settings) { s.Users.Attributes.EmployeeNumber = "2" }, "users.attributes.employeeNumber", "not a valid LDAP attribute name"},
		{"bad disabled attribute", func(s *Settings) { s.Users.Attributes.DisabledAttribute = "uac!"; s.Users.Attributes.DisabledBit = 2 }, "users.attributes.disabledAttribute", "not a valid LDAP attribute name"},
		{"disabled bit 0", func(s *Settings) { s.Users.Attributes.DisabledAttribute = "userAccountControl" }, "users.attributes.disabledBit", "positive bit mask"},
		{"no groups dn", func(s *Settings) { s.Groups.GroupsDN = "" }, "groups.groupsDn", "is required"},
		{"groups scope", func(s *Settings) { s.Groups.Scope = "" }, "groups.scope", "must be one or subtree"},
		{"no group object class", func(s *Settings) { s.Groups.ObjectClasses = []string{} }, "groups.objectClasses", "at least one object class"},
		{"no group name", func(s *Settings) { s.Groups.Attributes.Name = "" }, "groups.attributes.name", "is required"},
		{"no membership", func(s *Settings) { s.Groups.Attributes.Membership = "" }, "groups.attributes.membership", "is required"},
		{"bad membership", func(s *Settings) { s.Groups.Attributes.Membership = "member;range=0-1499" }, "groups.attributes.membership", "not a valid LDAP attribute name"},
		{"bad group external id", func(s *Settings) { s.Groups.Attributes.ExternalID = "_id" }, "groups.attributes.externalId", "not a valid LDAP attribute name"},
		{"membership type", func(s *Settings) { s.Groups.Attributes.MembershipAttributeType = "dn" }, "groups.attributes.membershipAttributeType", "must be DN or UID"},
		{"UID without user attribute", func(s *Settings) {
			s.Groups.Attributes.MembershipAttributeType = MembershipUID
			s.Groups.Attributes.MembershipUserAttribute = ""
		}, "groups.attributes.membershipUserAttribute", "required when membershipAttributeType is UID"},
		{"interval 0", func(s *Settings) { s.Sync.FullSyncIntervalSeconds = 0 }, "sync.fullSyncIntervalSeconds", "an interval of 0 or negative"},
		{"interval 0 without periodic sync", func(s *Settings) { s.Sync.PeriodicFullSync = false; s.Sync.FullSyncIntervalSeconds = 0 }, "sync.fullSyncIntervalSeconds", "an interval of 0 or negative"},
		{"interval negative", func(s *Settings) { s.Sync.FullSyncIntervalSeconds = -60 }, "sync.fullSyncIntervalSeconds", "an interval of 0 or negative"},
		{"interval 59", func(s *Settings) { s.Sync.FullSyncIntervalSeconds = 59 }, "sync.fullSyncIntervalSeconds", "at least 60 when periodicFullSync is on"},
		{"interval over a year", func(s *Settings) { s.Sync.FullSyncIntervalSeconds = 365*24*3600 + 1 }, "sync.fullSyncIntervalSeconds", "at most 31536000"},
		{"max deletes negative", func(s *Settings) { s.Sync.MaxDeletes = -1 }, "sync.maxDeletes", "must be 0 or more"},
		{"changed interval negative", func(s *Settings) { s.Sync.ChangedSyncIntervalSeconds = -1 }, "sync.changedSyncIntervalSeconds", "must be 0 (off) or more"},
		{"changed interval over a year", func(s *Settings) { s.Sync.ChangedSyncIntervalSeconds = 365*24*3600 + 1 }, "sync.changedSyncIntervalSeconds", "at most 31536000"},
		{"live poll 0", func(s *Settings) { s.Sync.LivePollSeconds = 0 }, "sync.livePollSeconds", "must be at least 1"},
		{"live poll over an hour", func(s *Settings) { s.Sync.LivePollSeconds = 3601 }, "sync.livePollSeconds", "must be at most 3600 (one hour)"},
		{"push no url", func(s *Settings) { s.Push = validPush(); s.Push.URL = "" }, "push.url", "is required"},
		{"push http remote", func(s *Settings) { s.Push = validPush(); s.Push.URL = "http://iomete.example.com/scim/v2" }, "push.url",
			"must use https:// (http:// is allowed only for loopback hosts 127.0.0.0/8, localhost and [::1])"},
		{"push http other loopback-ish", func(s *Settings) { s.Push = validPush(); s.Push.URL = "http://127.0.0.1.example.com/" }, "push.url", "must use https://"},
		{"push ftp", func(s *Settings) { s.Push = validPush(); s.Push.URL = "ftp://example.com" }, "push.url", "must be an https:// URL with a host"},
		{"push no host", func(s *Settings) { s.Push = validPush(); s.Push.URL = "https:///scim" }, "push.url", "must be an https:// URL with a host"},
		{"push credentials", func(s *Settings) { s.Push = validPush(); s.Push.URL = "https://u:p@example.com/" }, "push.url", "must not hold credentials"},
		{"push unparseable", func(s *Settings) { s.Push = validPush(); s.Push.URL = "https://exa mple.com:x/" }, "push.url", "cannot be parsed"},
		// Finding 8 of issue 14: a query swallowed the request paths (…/settings?x=/ServiceProviderConfig).
		{"push query", func(s *Settings) { s.Push = validPush(); s.Push.URL = "https://example.com/settings?x=" }, "push.url", "must not hold a query"},
		{"push empty query", func(s *Settings) { s.Push = validPush(); s.Push.URL = "https://example.com/scim/v2?" }, "push.url", "must not hold a query"},
		{"push fragment", func(s *Settings) { s.Push = validPush(); s.Push.URL = "https://example.com/scim/v2#x" }, "push.url", "must not hold a query"},
		// Finding 1 of issue 14: a 91 KB filter of nested "(!" took the process down in go-ldap's compiler.
		{"users filter too long", func(s *Settings) { s.Users.Filter = "(cn=" + strings.Repeat("x", MaxLDAPFilterBytes) + ")" }, "users.filter",
			"is 4101 bytes long: the limit is 4096 bytes"},
		{"users filter too deep", func(s *Settings) { s.Users.Filter = strings.Repeat("(!", 33) + "(cn=x)" + strings.Repeat(")", 33) }, "users.filter",
			"nests 34 levels of parentheses: the limit is 32"},
		{"groups filter too deep", func(s *Settings) { s.Groups.Filter = strings.Repeat("(&", 32) + "(cn=x)" + strings.Repeat(")", 32) }, "groups.filter",
			"nests 33 levels of parentheses: the limit is 32"},
		{"push no token", func(s *Settings) { s.Push = validPush(); s.Push.Token = "" }, "push.token", "is required"},
		{"push header", func(s *Settings) { s.Push = validPush(); s.Push.AuthHeader = "X-API Token" }, "push.authHeader", "valid HTTP header name"},
		{"push empty header", func(s *Settings) { s.Push = validPush(); s.Push.AuthHeader = "" }, "push.authHeader", "valid HTTP header name"},
		{"push header with colon", func(s *Settings) { s.Push = validPush(); s.Push.AuthHeader = "Authorization:" }, "push.authHeader", "valid HTTP header name"},
		{"push profile", func(s *Settings) { s.Push = validPush(); s.Push.Profile = "okta" }, "push.profile", "must be rfc or iomete"},
		{"push deprovision", func(s *Settings) { s.Push = validPush(); s.Push.Deprovision = "disable" }, "push.deprovision", "must be delete or deactivate"},
		{"push members", func(s *Settings) { s.Push = validPush(); s.Push.GroupMembers = "flat" }, "push.groupMembers", "must be flatten or nested"},
		{"push concurrency 0", func(s *Settings) { s.Push = validPush(); s.Push.Concurrency = 0 }, "push.concurrency", "between 1 and 64"},
		{"push concurrency 65", func(s *Settings) { s.Push = validPush(); s.Push.Concurrency = 65 }, "push.concurrency", "between 1 and 64"},
		{"push timeout 0", func(s *Settings) { s.Push = validPush(); s.Push.TimeoutSeconds = 0 }, "push.timeoutSeconds", "between 1 and 600"},
		{"push timeout 601", func(s *Settings) { s.Push = validPush(); s.Push.TimeoutSeconds = 601 }, "push.timeoutSeconds", "between 1 and 600"},
		{"push CA", func(s *Settings) { s.Push = validPush(); s.Push.CACertPEM = "x" }, "push.caCertPem", "must hold PEM certificates"},
		{"push empty scope group", func(s *Settings) { s.Push = validPush(); s.Push.ScopeGroups = []string{"a", " "} }, "push.scopeGroups[1]", "must not be empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validOpenLDAP()
			c.mutate(&s)
			fields := assertFields(t, s.Validate(), c.field)
			if !strings.Contains(fields[0].Message, c.msg) {
				t.Fatalf("%s: message %q, want it to contain %q", c.field, fields[0].Message, c.msg)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	s := validOpenLDAP()
	s.Connection.URL = "https://ldap.example.com"
	s.Users.Scope = "sub"
	s.Sync.FullSyncIntervalSeconds = 0
	err := s.Validate()
	fields := assertFields(t, err, "connection.url", "users.scope", "sync.fullSyncIntervalSeconds")
	want := []FieldError{
		{Field: "connection.url", Message: "must start with ldap:// or ldaps://"},
		{Field: "users.scope", Message: "must be one or subtree"},
		{Field: "sync.fullSyncIntervalSeconds", Message: "must be positive (an interval of 0 or negative is not allowed)"},
	}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("fields = %+v", fields)
	}
	if got := err.Error(); got != "invalid settings: connection.url: must start with ldap:// or ldaps://; users.scope: must be one or subtree; "+
		"sync.fullSyncIntervalSeconds: must be positive (an interval of 0 or negative is not allowed)" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestValidateErrorsNeverEchoSecrets(t *testing.T) {
	s := validOpenLDAP()
	s.Connection.URL = "ldap://admin:hunter2@ldap.example.com"
	s.Push = validPush()
	s.Push.URL = "https://u:tok3n@exa mple.com/"
	s.Push.Token = "tok3n"
	err := s.Validate()
	assertFields(t, err, "connection.url", "push.url")
	if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "tok3n") {
		t.Fatalf("error leaks a secret: %s", msg)
	}
}
