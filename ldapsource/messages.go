package ldapsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/schema"
)

// Steps of connecting, in order, as TestResult and StepError name them.
const (
	StepDNS    = "dns"
	StepTCP    = "tcp"
	StepTLS    = "tls"
	StepBind   = "bind"
	StepSearch = "search"
)

// StepError is a failure to connect, in words an admin understands. Message
// starts with the step ("bind: invalid credentials (49)") and never contains
// the bind credential.
type StepError struct {
	Step    string
	Message string
	Err     error
}

func (e *StepError) Error() string { return e.Message }

// Unwrap returns the underlying error (an *ldap.Error, net.Error, x509 error…).
func (e *StepError) Unwrap() error { return e.Err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "timed out")
}

func dnsMessage(host string, err error, timeout time.Duration) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return fmt.Sprintf("dns: no such host %s", host)
	case isTimeout(err):
		return fmt.Sprintf("dns: no answer resolving %s within %s (connection.connectTimeoutSeconds)", host, timeout)
	default:
		return fmt.Sprintf("dns: cannot resolve %s: %v", host, err)
	}
}

func tcpMessage(addr string, err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("tcp: connection refused at %s (nothing listens on that port)", addr)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("tcp: %s is unreachable from here (no route)", addr)
	case isTimeout(err):
		return fmt.Sprintf("tcp: no answer from %s within %s (connection.connectTimeoutSeconds); a firewall may drop the traffic", addr, timeout)
	default:
		var de *net.DNSError
		if errors.As(err, &de) {
			return "tcp: " + strings.TrimPrefix(dnsMessage(de.Name, err, timeout), "dns: ")
		}
		return fmt.Sprintf("tcp: cannot connect to %s: %v", addr, err)
	}
}

func tlsMessage(err error, timeout time.Duration) string {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	text := err.Error()
	switch {
	case errors.As(err, &ua) || strings.Contains(text, "certificate signed by unknown authority"):
		return "TLS: certificate signed by unknown authority; add the issuing CA to connection.caCertPem"
	case errors.As(err, &he):
		return fmt.Sprintf("TLS: the server certificate is not valid for %q (%v); use a host name the certificate names in connection.url", he.Host, he)
	case strings.Contains(text, "certificate is valid for") || strings.Contains(text, "doesn't contain any IP SANs"):
		return "TLS: the server certificate does not name the host in connection.url: " + text
	case errors.As(err, &ci) && ci.Reason == x509.Expired, strings.Contains(text, "has expired or is not yet valid"):
		return "TLS: the server certificate has expired or is not yet valid"
	case errors.As(err, &ci):
		return "TLS: the server certificate is invalid: " + ci.Error()
	case errors.As(err, &rh) || strings.Contains(text, "first record does not look like a TLS handshake"),
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return "TLS: the server did not answer with TLS; is this a plain LDAP port? (use ldap:// with StartTLS)"
	case isTimeout(err):
		return fmt.Sprintf("TLS: no handshake answer within %s (connection.connectTimeoutSeconds)", timeout)
	default:
		return "TLS: " + text
	}
}

func startTLSMessage(err error, timeout time.Duration) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork {
		return fmt.Sprintf("TLS: the server refused StartTLS: %s (%d)%s; use ldaps:// or turn connection.startTls off",
			ldap.LDAPResultCodeMap[le.ResultCode], le.ResultCode, diagnostic(le))
	}
	return tlsMessage(err, timeout)
}

var adDataCode = regexp.MustCompile(`data ([0-9a-fA-F]{3,4})`)

// adReasons are the sub-codes Active Directory puts in an invalidCredentials
// diagnostic ("… data 52e, v4563").
var adReasons = map[string]string{
	"525": "the user does not exist",
	"52e": "wrong password",
	"530": "logon not permitted at this time",
	"531": "logon not permitted from this workstation",
	"532": "password expired",
	"533": "account disabled",
	"701": "account expired",
	"773": "the user must reset the password",
	"775": "account locked out",
}

func bindMessage(cc schema.Connection, err error) string {
	if errors.Is(err, errEmptyCredential) {
		return fmt.Sprintf("bind: connection.bindCredential is empty; set the password of %q (an empty password would be an unauthenticated bind)", cc.BindDN)
	}
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode == ldap.ErrorNetwork {
		if isTimeout(err) {
			return "bind: no answer within connection.connectTimeoutSeconds"
		}
		return "bind: connection lost: " + err.Error()
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		msg := "bind: invalid credentials (49)"
		if m := adDataCode.FindStringSubmatch(le.Err.Error()); m != nil {
			if r, ok := adReasons[strings.ToLower(m[1])]; ok {
				msg += ": " + r + " (AD data " + strings.ToLower(m[1]) + ")"
			}
		}
		if cc.BindDN != "" && !strings.Contains(cc.BindDN, "=") && !strings.ContainsAny(cc.BindDN, `\@`) {
			msg += `; on Active Directory use "DOMAIN\user", "user@realm" or the full DN as connection.bindDn`
		}
		return msg
	case ldap.LDAPResultStrongAuthRequired:
		return "bind: the server requires an encrypted connection for simple binds (strongAuthRequired, 8): use ldaps:// or StartTLS"
	case ldap.LDAPResultConfidentialityRequired:
		return "bind: the server requires an encrypted connection (confidentialityRequired, 13): use ldaps:// or StartTLS"
	case ldap.LDAPResultInappropriateAuthentication:
		if cc.BindDN == "" {
			return "bind: the server does not allow anonymous binds (48): set connection.bindDn and connection.bindCredential"
		}
		return "bind: inappropriate authentication (48)" + diagnostic(le)
	case ldap.LDAPResultUnwillingToPerform:
		if cc.BindDN == "" {
			return "bind: the server refuses anonymous binds (unwillingToPerform, 53): set connection.bindDn and connection.bindCredential"
		}
		return "bind: the server is unwilling to perform the bind (53)" + diagnostic(le)
	default:
		return fmt.Sprintf("bind: %s (%d)%s", ldap.LDAPResultCodeMap[le.ResultCode], le.ResultCode, diagnostic(le))
	}
}

func searchMessage(dn string, err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode == ldap.ErrorNetwork {
		if isTimeout(err) {
			return "search: no answer within connection.readTimeoutSeconds"
		}
		return "search: connection lost: " + err.Error()
	}
	switch le.ResultCode {
	case ldap.LDAPResultNoSuchObject:
		msg := "search: no such object: " + dn
		if le.MatchedDN != "" {
			msg += " (the closest existing entry is " + le.MatchedDN + ")"
		}
		return msg
	case ldap.LDAPResultInsufficientAccessRights:
		return fmt.Sprintf("search: insufficient access to %s (50): the bind DN may not read it", dn)
	case ldap.LDAPResultInvalidDNSyntax:
		return fmt.Sprintf("search: %q is not a valid DN (34)", dn)
	default:
		return fmt.Sprintf("search: %s (%d)%s", ldap.LDAPResultCodeMap[le.ResultCode], le.ResultCode, diagnostic(le))
	}
}

// diagnostic is the server's diagnostic message, if any, as ": message".
func diagnostic(le *ldap.Error) string {
	if le.Err == nil {
		return ""
	}
	d := strings.TrimSpace(strings.TrimRight(le.Err.Error(), "\x00"))
	if d == "" {
		return ""
	}
	return ": " + d
}
