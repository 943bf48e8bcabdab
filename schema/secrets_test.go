package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestRedactedEmptiesSecretsAndSaysTheyAreSet(t *testing.T) {
	s := validOpenLDAP()
	s.Push = validPush()
	r := s.Redacted()
	if r.Connection.BindCredential != "" || !r.Connection.BindCredentialSet || r.Push.Token != "" || !r.Push.TokenSet {
		t.Fatalf("Redacted connection=%+v push=%+v", r.Connection, r.Push)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "secret") || strings.Contains(string(b), "pat-123") {
		t.Fatalf("redacted JSON holds a secret: %s", b)
	}
	if !strings.Contains(string(b), `"bindCredentialSet":true`) || !strings.Contains(string(b), `"tokenSet":true`) {
		t.Fatalf("redacted JSON lacks the set flags: %s", b)
	}
	// The original is untouched and shares no lists with the copy.
	r.Users.ObjectClasses[0] = "changed"
	if s.Connection.BindCredential != "secret" || s.Push.Token != "pat-123" || s.Users.ObjectClasses[0] != "inetOrgPerson" {
		t.Fatal("Redacted changed its receiver")
	}
}

func TestRedactedOfUnsetSecrets(t *testing.T) {
	r := Defaults("").Redacted()
	if r.Connection.BindCredentialSet || r.Push.TokenSet {
		t.Fatalf("set flags on a document without secrets: %+v %+v", r.Connection, r.Push)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "bindCredentialSet") || strings.Contains(string(b), "tokenSet") {
		t.Fatalf("unset flags are marshalled: %s", b)
	}
}

func TestMergeSecrets(t *testing.T) {
	stored := validOpenLDAP()
	stored.Push = validPush()
	cases := []struct {
		name           string
		update         func(*Settings)
		stored         *Settings
		wantCredential string
		wantToken      string
	}{
		{"empty secrets keep the stored ones", func(s *Settings) {}, &stored, "secret", "pat-123"},
		{"new secrets replace the stored ones", func(s *Settings) {
			s.Connection.BindCredential, s.Push.Token = "new-pw", "new-token"
		}, &stored, "new-pw", "new-token"},
		{"anonymous bind drops the credential", func(s *Settings) { s.Connection.BindDN = "" }, &stored, "", "pat-123"},
		{"nothing stored", func(s *Settings) {}, nil, "", ""},
		{"claimed flags are not trusted", func(s *Settings) {
			s.Connection.BindCredentialSet, s.Push.TokenSet = true, true
		}, nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := stored.Redacted()
			c.update(&s)
			s.MergeSecrets(c.stored)
			if s.Connection.BindCredential != c.wantCredential || s.Push.Token != c.wantToken {
				t.Fatalf("credential=%q token=%q, want %q %q", s.Connection.BindCredential, s.Push.Token, c.wantCredential, c.wantToken)
			}
			if s.Connection.BindCredentialSet != (c.wantCredential != "") || s.Push.TokenSet != (c.wantToken != "") {
				t.Fatalf("set flags %v %v", s.Connection.BindCredentialSet, s.Push.TokenSet)
			}
		})
	}
}

func TestMergedUpdateWithoutStoredTokenFailsValidation(t *testing.T) {
	s := validOpenLDAP()
	s.Push = validPush()
	s.Push.Token = ""
	s.Push.TokenSet = true // a client echoing a GET cannot fake a stored token
	s.MergeSecrets(nil)
	assertFields(t, s.Validate(), "push.token")
}

// TestMergeSecretsKeepsThemOnlyForTheirEndpoint pins down that a stored
// secret is never handed to a host, bind name or header other than the one
// it was given for: an unsaved form pointing elsewhere gets no secret, and
// validation asks for it again.
func TestMergeSecretsKeepsThemOnlyForTheirEndpoint(t *testing.T) {
	stored := validOpenLDAP()
	stored.Connection.URL = "ldaps://DC1.corp.example.com"
	stored.Push = validPush()
	stored.Push.URL = "https://iomete.example.com/api/v1/identity/scim/v2"
	// MergeSecrets compares the text only: it need not parse.
	stored.Connection.CACertPEM = "-----BEGIN CERTIFICATE-----\ncorp-ca\n-----END CERTIFICATE-----\n"
	stored.Push.CACertPEM = stored.Connection.CACertPEM
	const (
		keep    = true
		drop    = false
		otherCA = "-----BEGIN CERTIFICATE-----\nother-ca\n-----END CERTIFICATE-----\n"
	)
	cases := []struct {
		name   string
		update func(*Settings)
		cred   bool // the stored credential is kept
		token  bool // the stored token is kept
	}{
		{"unchanged", func(*Settings) {}, keep, keep},
		{"default port written out", func(s *Settings) {
			s.Connection.URL = "ldaps://dc1.corp.example.com:636/"
			s.Push.URL = "https://iomete.example.com:443/api/v1/identity/scim/v2"
		}, keep, keep},
		{"names differ only in case", func(s *Settings) {
			s.Connection.URL = "LDAPS://dc1.CORP.example.com"
			s.Connection.BindDN = "CN=Admin,DC=Example,DC=com"
			s.Push.URL = "HTTPS://IOMETE.example.com/api/v1/identity/scim/v2"
			s.Push.AuthHeader = "authorization"
		}, keep, keep},
		{"other settings changed", func(s *Settings) {
			s.Connection.PageSize = 100
			s.Push.URL = "https://iomete.example.com/other/scim/v2"
			s.Push.Concurrency = 2
		}, keep, keep},
		{"another LDAP host", func(s *Settings) { s.Connection.URL = "ldaps://evil.example.net" }, drop, keep},
		{"another LDAP port", func(s *Settings) { s.Connection.URL = "ldaps://dc1.corp.example.com:1636" }, drop, keep},
		{"ldap:// is another default port", func(s *Settings) {
			s.Connection.URL, s.Connection.StartTLS = "ldap://dc1.corp.example.com", true
		}, drop, keep},
		{"another bind DN", func(s *Settings) { s.Connection.BindDN = "cn=reader,dc=example,dc=com" }, drop, keep},
		// Finding 11 of issue 14: a downgrade on the same host and port kept the credential.
		{"ldaps given up for ldap on the same port", func(s *Settings) {
			s.Connection.URL, s.Connection.AllowPlaintextBind = "ldap://dc1.corp.example.com:636", true
		}, drop, keep},
		{"LDAP certificate checks turned off", func(s *Settings) { s.Connection.InsecureSkipVerify = true }, drop, keep},
		{"push certificate checks turned off", func(s *Settings) { s.Push.InsecureSkipVerify = true }, keep, drop},
		{"another LDAP certificate authority", func(s *Settings) { s.Connection.CACertPEM = otherCA }, drop, keep},
		{"another push certificate authority", func(s *Settings) { s.Push.CACertPEM = otherCA }, keep, drop},
		{"certificate authorities with other surrounding space", func(s *Settings) {
			s.Connection.CACertPEM = "\n" + s.Connection.CACertPEM + "  \n"
			s.Push.CACertPEM = " " + s.Push.CACertPEM
		}, keep, keep},
		{"LDAP URL emptied", func(s *Settings) { s.Connection.URL = "" }, drop, keep},
		{"another push host", func(s *Settings) { s.Push.URL = "https://collector.example.net/scim/v2" }, keep, drop},
		{"another push port", func(s *Settings) { s.Push.URL = "https://iomete.example.com:8443/api/v1/identity/scim/v2" }, keep, drop},
		{"push over http", func(s *Settings) { s.Push.URL = "http://iomete.example.com:443/api/v1/identity/scim/v2" }, keep, drop},
		{"another push header", func(s *Settings) { s.Push.AuthHeader = "X-API-Token" }, keep, drop},
		{"push URL unparseable", func(s *Settings) { s.Push.URL = "https://exa mple.com:x/" }, keep, drop},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := stored.Redacted()
			c.update(&s)
			s.MergeSecrets(&stored)
			wantCred, wantToken := "", ""
			if c.cred {
				wantCred = stored.Connection.BindCredential
			}
			if c.token {
				wantToken = stored.Push.Token
			}
			if s.Connection.BindCredential != wantCred || s.Push.Token != wantToken {
				t.Fatalf("credential=%q token=%q, want %q %q", s.Connection.BindCredential, s.Push.Token, wantCred, wantToken)
			}
			if s.Connection.BindCredentialSet != c.cred || s.Push.TokenSet != c.token {
				t.Fatalf("set flags %v %v, want %v %v", s.Connection.BindCredentialSet, s.Push.TokenSet, c.cred, c.token)
			}
		})
	}
}

// TestMergeSecretsDropsTheCredentialWhenStartTLSIsGivenUp: the same host and
// port, but the stored credential was given for a StartTLS connection.
func TestMergeSecretsDropsTheCredentialWhenStartTLSIsGivenUp(t *testing.T) {
	stored := validOpenLDAP()
	stored.Connection.URL, stored.Connection.StartTLS = "ldap://dc1.corp.example.com", true
	for _, c := range []struct {
		name     string
		url      string
		startTLS bool
		keep     bool
	}{
		{"still StartTLS", "ldap://dc1.corp.example.com:389", true, true},
		{"StartTLS off", "ldap://dc1.corp.example.com", false, false},
	} {
		s := stored.Redacted()
		s.Connection.URL, s.Connection.StartTLS, s.Connection.AllowPlaintextBind = c.url, c.startTLS, true
		s.MergeSecrets(&stored)
		if got := s.Connection.BindCredential != ""; got != c.keep {
			t.Errorf("%s: credential kept %v, want %v", c.name, got, c.keep)
		}
	}
}

func TestValidateAsksAgainForASecretDroppedByMergeSecrets(t *testing.T) {
	stored := validOpenLDAP()
	stored.Push = validPush()

	s := stored.Redacted()
	s.Connection.URL = "ldap://127.0.0.2:389"
	s.Push.URL = "https://collector.example.net/scim/v2"
	s.MergeSecrets(&stored)
	fields := assertFields(t, s.Validate(), "connection.bindCredential", "push.token")
	want := []FieldError{
		{Field: "connection.bindCredential", Message: "required: the connection changed, enter the credential again"},
		{Field: "push.token", Message: "required: the push target changed, enter the token again"},
	}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("fields = %+v, want %+v", fields, want)
	}

	// Typing the secrets again satisfies validation.
	s.Connection.BindCredential, s.Push.Token = "typed-again", "token-again"
	s.MergeSecrets(&stored)
	assertFields(t, s.Validate())

	// A document never merged keeps the plain message.
	s = stored
	s.Connection.BindCredential = ""
	fields = assertFields(t, s.Validate(), "connection.bindCredential")
	if fields[0].Message != "is required when bindDn is set (empty bindDn binds anonymously)" {
		t.Fatalf("message %q", fields[0].Message)
	}
}

func TestChangedFields(t *testing.T) {
	old := validOpenLDAP()
	cases := []struct {
		name   string
		change func(*Settings)
		want   []string
	}{
		{"nothing", func(*Settings) {}, nil},
		{"leaves in document order", func(s *Settings) {
			s.Push.Concurrency = 8
			s.Connection.URL = "ldaps://other"
			s.Users.Attributes.Email = "userPrincipalName"
		}, []string{"connection.url", "users.attributes.email", "push.concurrency"}},
		{"secrets by path", func(s *Settings) {
			s.Connection.BindCredential = "other"
			s.Push.Token = "t"
		}, []string{"connection.bindCredential", "push.token"}},
		{"lists as one leaf", func(s *Settings) { s.Users.ObjectClasses = []string{"inetOrgPerson"} }, []string{"users.objectClasses"}},
		{"list order counts", func(s *Settings) {
			s.Users.ObjectClasses = []string{"organizationalPerson", "inetOrgPerson"}
		}, []string{"users.objectClasses"}},
		{"output-only flags ignored", func(s *Settings) {
			s.Connection.BindCredentialSet = true
			s.Push.TokenSet = true
		}, nil},
		{"bools and int64", func(s *Settings) {
			s.Groups.Enabled = false
			s.Users.Attributes.DisabledBit = 2
		}, []string{"users.attributes.disabledBit", "groups.enabled"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := validOpenLDAP()
			c.change(&n)
			if got := ChangedFields(&old, &n); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("ChangedFields = %q, want %q", got, c.want)
			}
		})
	}
}

func TestChangedFieldsFromNothing(t *testing.T) {
	n := Defaults("")
	got := ChangedFields(nil, &n)
	want := []string{"vendor", "connection.connectTimeoutSeconds", "connection.readTimeoutSeconds", "connection.pageSize",
		"users.objectClasses", "users.scope", "users.attributes.username", "users.attributes.email",
		"users.attributes.firstName", "users.attributes.lastName", "users.attributes.displayName",
		"users.attributes.externalId", "groups.enabled", "groups.objectClasses", "groups.scope",
		"groups.attributes.name", "groups.attributes.membership", "groups.attributes.membershipAttributeType",
		"groups.attributes.membershipUserAttribute", "groups.attributes.externalId",
		"sync.periodicFullSync", "sync.fullSyncIntervalSeconds", "sync.maxDeletes", "sync.livePollSeconds",
		"push.authHeader", "push.profile", "push.deprovision", "push.groupMembers", "push.concurrency",
		"push.timeoutSeconds"} // an empty list equals none: push.scopeGroups is unchanged
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ChangedFields(nil, defaults) =\n%q\nwant\n%q", got, want)
	}
	if got := ChangedFields(nil, nil); got != nil {
		t.Fatalf("ChangedFields(nil, nil) = %q", got)
	}
}
