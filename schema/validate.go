package schema

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Bounds enforced by Validate.
const (
	MaxConnectTimeoutSeconds   = 300
	MaxReadTimeoutSeconds      = 3600
	MaxPageSize                = 10000
	MinFullSyncIntervalSeconds = 60
	// MaxFullSyncIntervalSeconds is one year; longer intervals are a typo.
	MaxFullSyncIntervalSeconds = 365 * 24 * 3600
	// DefaultLivePollSeconds is how often a polled live stream asks by default.
	DefaultLivePollSeconds = 5
	// MaxLivePollSeconds is one hour; a slower poll is the changed-entries pass.
	MaxLivePollSeconds    = 3600
	MaxPushConcurrency    = 64
	MaxPushTimeoutSeconds = 600
)

// Validate checks the whole document and returns nil or a *ValidationError
// that lists every problem at once, each under its JSON path. Group settings
// are checked only when groups.enabled, push settings only when push.enabled.
// DN and filter syntax is left to the directory adapter; Validate only checks
// that DNs look like name=value.
//
// Run MergeSecrets first when validating an admin update: a bind credential
// (with a bindDn) and push.token are required unless one is stored
// (connection.bindCredentialSet, push.tokenSet), and the message says so when
// MergeSecrets dropped a stored one because the connection or push target
// changed. A bind credential on plain ldap:// (no startTls) to a host that is
// not loopback is refused unless connection.allowPlaintextBind is set.
func (s *Settings) Validate() error {
	v := &validator{}
	switch s.Vendor {
	case VendorOpenLDAP, VendorAD, VendorOther:
	default:
		v.add("vendor", "must be openldap, ad or other")
	}
	v.connection(&s.Connection)
	v.users(&s.Users)
	if s.Groups.Enabled {
		v.groups(&s.Groups)
	}
	v.sync(&s.Sync)
	if s.Push.Enabled {
		v.push(&s.Push)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.errs}
}

// Validate checks a push section about to be used, whether or not
// push.enabled: the rules Settings.Validate applies to it, except that the
// token itself is required (a stored one must have been opened). It returns
// nil or a *ValidationError.
func (p *Push) Validate() error {
	v := &validator{}
	q := *p
	q.TokenSet = false
	v.push(&q)
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.errs}
}

type validator struct {
	errs []FieldError
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) between(field string, n, lo, hi int, note string) {
	if n < lo || n > hi {
		v.add(field, "must be between %d and %d%s", lo, hi, note)
	}
}

func (v *validator) connection(c *Connection) {
	switch {
	case strings.TrimSpace(c.URL) == "":
		v.add("connection.url", "is required (ldap://host:389 or ldaps://host:636)")
	default:
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			v.add("connection.url", "cannot be parsed: %v", stripURLErr(err))
		case !strings.EqualFold(u.Scheme, "ldap") && !strings.EqualFold(u.Scheme, "ldaps"):
			v.add("connection.url", "must start with ldap:// or ldaps://")
		case u.Opaque != "" || u.Hostname() == "":
			v.add("connection.url", "must name a host (ldap://host:389)")
		case u.User != nil:
			v.add("connection.url", "must not hold credentials; use bindDn and bindCredential")
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			v.add("connection.url", "must be only scheme, host and port (set the search bases in users.usersDn and groups.groupsDn)")
		default:
			badPort := false
			if p := u.Port(); p != "" {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					v.add("connection.url", "port must be between 1 and 65535")
					badPort = true
				}
			}
			if c.StartTLS && strings.EqualFold(u.Scheme, "ldaps") {
				v.add("connection.startTls", "needs an ldap:// URL (ldaps:// is TLS already)")
			}
			plain := strings.EqualFold(u.Scheme, "ldap") && !c.StartTLS
			if plain && !badPort && (c.BindCredential != "" || c.BindCredentialSet) && !c.AllowPlaintextBind && !isLoopback(u.Hostname()) {
				v.add("connection.url", "the bind credential would cross the network in clear text: use ldaps:// or startTls, or set connection.allowPlaintextBind")
			}
		}
	}
	// An empty password would be an unauthenticated bind that most servers
	// accept and that then reads nothing.
	if c.BindDN != "" && c.BindCredential == "" && !c.BindCredentialSet {
		if c.credentialDropped {
			v.add("connection.bindCredential", "required: the connection changed, enter the credential again")
		} else {
			v.add("connection.bindCredential", "is required when bindDn is set (empty bindDn binds anonymously)")
		}
	}
	if c.CACertPEM != "" {
		if err := checkPEM(c.CACertPEM); err != nil {
			v.add("connection.caCertPem", "%v", err)
		}
	}
	v.between("connection.connectTimeoutSeconds", c.ConnectTimeoutSeconds, 1, MaxConnectTimeoutSeconds, "")
	v.between("connection.readTimeoutSeconds", c.ReadTimeoutSeconds, 1, MaxReadTimeoutSeconds, "")
	v.between("connection.pageSize", c.PageSize, 1, MaxPageSize, " (Active Directory serves at most 1000 per page)")
	if c.RangeSize < 0 {
		v.add("connection.rangeSize", "must be 0 (server's choice) or more")
	}
}

func (v *validator) users(u *Users) {
	v.dn("users.usersDn", u.UsersDN)
	v.scope("users.scope", u.Scope)
	v.objectClasses("users.objectClasses", u.ObjectClasses)
	v.ldapFilter("users.filter", u.Filter)
	a := &u.Attributes
	if a.Username == "" {
		v.add("users.attributes.username", "is required (uid; sAMAccountName on Active Directory)")
	}
	for _, f := range []struct{ field, name string }{
		{"users.attributes.username", a.Username},
		{"users.attributes.email", a.Email},
		{"users.attributes.firstName", a.FirstName},
		{"users.attributes.lastName", a.LastName},
		{"users.attributes.displayName", a.DisplayName},
		{"users.attributes.externalId", a.ExternalID},
		{"users.attributes.employeeNumber", a.EmployeeNumber},
		{"users.attributes.department", a.Department},
		{"users.attributes.disabledAttribute", a.DisabledAttribute},
	} {
		v.attrName(f.field, f.name)
	}
	if a.DisabledAttribute != "" && a.DisabledBit <= 0 {
		v.add("users.attributes.disabledBit", "must be a positive bit mask when disabledAttribute is set (2 for userAccountControl)")
	}
}

func (v *validator) groups(g *Groups) {
	v.dn("groups.groupsDn", g.GroupsDN)
	v.scope("groups.scope", g.Scope)
	v.objectClasses("groups.objectClasses", g.ObjectClasses)
	v.ldapFilter("groups.filter", g.Filter)
	a := &g.Attributes
	if a.Name == "" {
		v.add("groups.attributes.name", "is required (cn)")
	}
	v.attrName("groups.attributes.name", a.Name)
	if a.Membership == "" {
		v.add("groups.attributes.membership", "is required (member, uniqueMember or memberUid)")
	}
	v.attrName("groups.attributes.membership", a.Membership)
	v.attrName("groups.attributes.externalId", a.ExternalID)
	switch a.MembershipAttributeType {
	case MembershipDN:
	case MembershipUID:
		if a.MembershipUserAttribute == "" {
			v.add("groups.attributes.membershipUserAttribute", "is required when membershipAttributeType is UID (uid)")
		}
	default:
		v.add("groups.attributes.membershipAttributeType", "must be DN or UID")
	}
	v.attrName("groups.attributes.membershipUserAttribute", a.MembershipUserAttribute)
}

func (v *validator) sync(s *Sync) {
	switch n := s.FullSyncIntervalSeconds; {
	case n <= 0:
		v.add("sync.fullSyncIntervalSeconds", "must be positive (an interval of 0 or negative is not allowed)")
	case n > MaxFullSyncIntervalSeconds:
		v.add("sync.fullSyncIntervalSeconds", "must be at most %d (one year)", MaxFullSyncIntervalSeconds)
	case s.PeriodicFullSync && n < MinFullSyncIntervalSeconds:
		v.add("sync.fullSyncIntervalSeconds", "must be at least %d when periodicFullSync is on", MinFullSyncIntervalSeconds)
	}
	if s.MaxDeletes < 0 {
		v.add("sync.maxDeletes", "must be 0 or more")
	}
	switch n := s.ChangedSyncIntervalSeconds; {
	case n < 0:
		v.add("sync.changedSyncIntervalSeconds", "must be 0 (off) or more")
	case n > MaxFullSyncIntervalSeconds:
		v.add("sync.changedSyncIntervalSeconds", "must be at most %d (one year)", MaxFullSyncIntervalSeconds)
	}
	switch n := s.LivePollSeconds; {
	case n < 1:
		v.add("sync.livePollSeconds", "must be at least 1")
	case n > MaxLivePollSeconds:
		v.add("sync.livePollSeconds", "must be at most %d (one hour)", MaxLivePollSeconds)
	}
}

func (v *validator) push(p *Push) {
	switch {
	case strings.TrimSpace(p.URL) == "":
		v.add("push.url", "is required when push is enabled (https://host/api/v1/identity/scim/v2)")
	default:
		u, err := url.Parse(p.URL)
		switch {
		case err != nil:
			v.add("push.url", "cannot be parsed: %v", stripURLErr(err))
		case u.Opaque != "" || u.Hostname() == "" || !(strings.EqualFold(u.Scheme, "https") || strings.EqualFold(u.Scheme, "http")):
			v.add("push.url", "must be an https:// URL with a host")
		case u.User != nil:
			v.add("push.url", "must not hold credentials; use push.token")
		case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(p.URL, "?#"):
			// Request paths such as /Users are appended to the URL: a query or
			// fragment would swallow them and send the token elsewhere.
			v.add("push.url", "must not hold a query (?…) or fragment (#…): it is the SCIM base URL, such as https://host/api/v1/identity/scim/v2")
		case strings.EqualFold(u.Scheme, "http") && !isLoopback(u.Hostname()):
			v.add("push.url", "must use https:// (http:// is allowed only for loopback hosts 127.0.0.0/8, localhost and [::1])")
		}
	}
	if p.Token == "" && !p.TokenSet {
		if p.tokenDropped {
			v.add("push.token", "required: the push target changed, enter the token again")
		} else {
			v.add("push.token", "is required when push is enabled")
		}
	}
	if !validHeaderName(p.AuthHeader) {
		v.add("push.authHeader", "must be a valid HTTP header name (Authorization or X-API-Token)")
	}
	switch p.Profile {
	case ProfileRFC, ProfileIOMETE:
	default:
		v.add("push.profile", "must be rfc or iomete")
	}
	switch p.Deprovision {
	case DeprovisionDelete, DeprovisionOff:
	default:
		v.add("push.deprovision", "must be delete or deactivate")
	}
	switch p.GroupMembers {
	case MembersFlatten, MembersNested:
	default:
		v.add("push.groupMembers", "must be flatten or nested")
	}
	v.between("push.concurrency", p.Concurrency, 1, MaxPushConcurrency, "")
	v.between("push.timeoutSeconds", p.TimeoutSeconds, 1, MaxPushTimeoutSeconds, "")
	if p.CACertPEM != "" {
		if err := checkPEM(p.CACertPEM); err != nil {
			v.add("push.caCertPem", "%v", err)
		}
	}
	for i, g := range p.ScopeGroups {
		if strings.TrimSpace(g) == "" {
			v.add(fmt.Sprintf("push.scopeGroups[%d]", i), "must not be empty")
		}
	}
}

func (v *validator) dn(field, dn string) {
	switch {
	case strings.TrimSpace(dn) == "":
		v.add(field, "is required")
	case !strings.Contains(dn, "="):
		v.add(field, "must be a DN such as ou=people,dc=example,dc=com")
	}
}

func (v *validator) scope(field, scope string) {
	if scope != ScopeOne && scope != ScopeSubtree {
		v.add(field, "must be one or subtree")
	}
}

func (v *validator) objectClasses(field string, classes []string) {
	if len(classes) == 0 {
		v.add(field, "must name at least one object class")
		return
	}
	for i, c := range classes {
		f := fmt.Sprintf("%s[%d]", field, i)
		if c == "" {
			v.add(f, "must not be empty")
		} else if !ValidAttributeName(c) {
			v.add(f, "is not a valid object class name (letters, digits and hyphens, or a numeric OID)")
		}
	}
}

func (v *validator) ldapFilter(field, f string) {
	if err := CheckLDAPFilter(f); err != nil {
		v.add(field, "%v", err)
	}
}

func (v *validator) attrName(field, name string) {
	if name != "" && !ValidAttributeName(name) {
		v.add(field, "%q is not a valid LDAP attribute name (letters, digits and hyphens starting with a letter, or a numeric OID)", name)
	}
}

// ValidAttributeName reports whether name is an LDAP attribute type as RFC
// 4512 allows it: a descriptor (a letter, then letters, digits and hyphens) or
// a numeric OID ("2.5.4.3"). Options such as ";binary" are not accepted.
func ValidAttributeName(name string) bool {
	if name == "" {
		return false
	}
	if c := name[0]; c >= '0' && c <= '9' {
		return validNumericOID(name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}

func validNumericOID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 1 && p[0] == '0' {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// validHeaderName reports whether h is an RFC 9110 field name (a token).
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// isLoopback reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1), where traffic never leaves the machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkPEM reports whether s holds one or more PEM certificates and nothing else.
func checkPEM(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d cannot be parsed: %v", n, err)
		}
	}
	if n == 0 {
		return fmt.Errorf("must hold PEM certificates (-----BEGIN CERTIFICATE-----)")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("has data after certificate %d that is not a PEM certificate", n)
	}
	return nil
}

// stripURLErr drops the URL itself from a url.Parse error, which may hold credentials.
func stripURLErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
