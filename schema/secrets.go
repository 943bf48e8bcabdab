package schema

import (
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// Paths of the secret settings and of their output-only "is set" flags.
const (
	PathBindCredential = "connection.bindCredential"
	PathPushToken      = "push.token"
)

// outputOnly are fields the server derives; ChangedFields ignores them.
var outputOnly = map[string]bool{
	"connection.bindCredentialSet": true,
	"push.tokenSet":                true,
}

// Redacted returns a deep copy of s fit to show: connection.bindCredential and
// push.token are emptied, and connection.bindCredentialSet and push.tokenSet say
// whether they were set.
func (s Settings) Redacted() Settings {
	c := s.clone()
	c.Connection.BindCredentialSet = s.Connection.BindCredential != "" || s.Connection.BindCredentialSet
	c.Connection.BindCredential = ""
	c.Push.TokenSet = s.Push.Token != "" || s.Push.TokenSet
	c.Push.Token = ""
	return c
}

// MergeSecrets gives an admin update the PUT semantics of a form with password
// fields: an empty secret in s keeps the one in stored, a non-empty one
// replaces it. A stored secret is kept only for the place it was given for,
// so that a form pointing elsewhere cannot send it there:
//
//   - connection.bindCredential only while the host and port of
//     connection.url (389 for ldap://, 636 for ldaps:// when none is given)
//     and connection.bindDn are unchanged;
//   - push.token only while the scheme, host and port of push.url (443 for
//     https://, 80 for http://) and push.authHeader are unchanged;
//   - neither when the transport to it got weaker: TLS (ldaps:// or startTls)
//     given up, insecureSkipVerify turned on, or caCertPem changed (another
//     authority could vouch for another server at the same address).
//
// Names compare case-insensitively. A secret not kept is left empty, and
// Validate then asks for it again. An anonymous bind (empty
// connection.bindDn) keeps no bind credential. Afterwards
// connection.bindCredentialSet and push.tokenSet say whether s holds a
// secret, whatever the update claimed. stored may be nil.
func (s *Settings) MergeSecrets(stored *Settings) {
	s.Connection.credentialDropped, s.Push.tokenDropped = false, false
	if stored != nil {
		if s.Connection.BindCredential == "" && stored.Connection.BindCredential != "" {
			if sameLDAPEndpoint(&s.Connection, &stored.Connection) && !weakerLDAPTransport(&s.Connection, &stored.Connection) {
				s.Connection.BindCredential = stored.Connection.BindCredential
			} else {
				s.Connection.credentialDropped = true
			}
		}
		if s.Push.Token == "" && stored.Push.Token != "" {
			if samePushTarget(&s.Push, &stored.Push) && !weakerTrust(s.Push.InsecureSkipVerify, stored.Push.InsecureSkipVerify,
				s.Push.CACertPEM, stored.Push.CACertPEM) {
				s.Push.Token = stored.Push.Token
			} else {
				s.Push.tokenDropped = true
			}
		}
	}
	if s.Connection.BindDN == "" {
		s.Connection.BindCredential = ""
		s.Connection.credentialDropped = false
	}
	s.Connection.BindCredentialSet = s.Connection.BindCredential != ""
	s.Push.TokenSet = s.Push.Token != ""
}

// ldapPorts and httpPorts are the default ports of the URL schemes.
var (
	ldapPorts = map[string]string{"ldap": "389", "ldaps": "636"}
	httpPorts = map[string]string{"http": "80", "https": "443"}
)

// sameLDAPEndpoint reports whether a and b bind as the same name to the same
// host and port.
func sameLDAPEndpoint(a, b *Connection) bool {
	_, ha, okA := endpoint(a.URL, ldapPorts)
	_, hb, okB := endpoint(b.URL, ldapPorts)
	return okA && okB && ha == hb && strings.EqualFold(strings.TrimSpace(a.BindDN), strings.TrimSpace(b.BindDN))
}

// weakerLDAPTransport reports whether a reaches the directory over a weaker
// transport than b: without TLS where b had it, or with a certificate check
// b did not make (see weakerTrust). A credential given for a protected
// connection is not sent over a weaker one to the same host and port.
func weakerLDAPTransport(a, b *Connection) bool {
	return usesTLS(b) && !usesTLS(a) || weakerTrust(a.InsecureSkipVerify, b.InsecureSkipVerify, a.CACertPEM, b.CACertPEM)
}

// weakerTrust reports whether the certificate check of a (skip, ca) is not
// the one of b: verification turned off, or other certificate authorities
// (PEM text compared without surrounding space).
func weakerTrust(skipA, skipB bool, caA, caB string) bool {
	return skipA && !skipB || strings.TrimSpace(caA) != strings.TrimSpace(caB)
}

// usesTLS reports whether c's connection is encrypted: ldaps:// or startTls.
func usesTLS(c *Connection) bool {
	scheme, _, ok := endpoint(c.URL, ldapPorts)
	return ok && (scheme == "ldaps" || c.StartTLS)
}

// samePushTarget reports whether a and b send the token in the same header
// to the same scheme, host and port.
func samePushTarget(a, b *Push) bool {
	sa, ha, okA := endpoint(a.URL, httpPorts)
	sb, hb, okB := endpoint(b.URL, httpPorts)
	return okA && okB && sa == sb && ha == hb && strings.EqualFold(strings.TrimSpace(a.AuthHeader), strings.TrimSpace(b.AuthHeader))
}

// endpoint returns the scheme and "host:port" of rawURL in lower case, the
// port filled in from defaultPorts (by scheme). ok is false for a URL that
// does not parse, has no host or has a scheme not in defaultPorts.
func endpoint(rawURL string, defaultPorts map[string]string) (scheme, hostPort string, ok bool) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Hostname() == "" {
		return "", "", false
	}
	scheme = strings.ToLower(u.Scheme)
	port, ok := defaultPorts[scheme]
	if !ok {
		return "", "", false
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return scheme, net.JoinHostPort(strings.ToLower(u.Hostname()), port), true
}

// ChangedFields returns the JSON paths of the leaf settings that differ
// between old and new, in document order, for the audit log. A list such as
// users.objectClasses is one leaf. Secrets are reported by path only, like any
// other field; the output-only *Set flags are not reported. A nil document
// counts as the zero document.
func ChangedFields(old, new *Settings) []string {
	var a, b Settings
	if old != nil {
		a = *old
	}
	if new != nil {
		b = *new
	}
	var out []string
	diff(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	return out
}

func diff(a, b reflect.Value, path string, out *[]string) {
	if a.Kind() == reflect.Struct {
		t := a.Type()
		for i := 0; i < t.NumField(); i++ {
			name := jsonName(t.Field(i))
			if name == "" {
				continue
			}
			diff(a.Field(i), b.Field(i), joinPath(path, name), out)
		}
		return
	}
	if outputOnly[path] {
		return
	}
	if a.Kind() == reflect.Slice {
		if !slices.Equal(a.Interface().([]string), b.Interface().([]string)) {
			*out = append(*out, path)
		}
		return
	}
	if !a.Equal(b) {
		*out = append(*out, path)
	}
}

// clone returns a copy of s that shares no slices with it.
func (s Settings) clone() Settings {
	s.Users.ObjectClasses = slices.Clone(s.Users.ObjectClasses)
	s.Groups.ObjectClasses = slices.Clone(s.Groups.ObjectClasses)
	s.Push.ScopeGroups = slices.Clone(s.Push.ScopeGroups)
	return s
}
