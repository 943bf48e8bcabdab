// Package schema holds scimbridge's domain vocabulary: the settings document that
// admins edit, and the canonical User and Group records that LDAP entries are
// mapped to. It depends on nothing but the standard library.
//
// A whole settings document, as scimbridge reads it from a file or the admin API:
//
//	{
//	  "vendor": "openldap",
//	  "enabled": true,
//	  "connection": {"url": "ldap://127.0.0.1:389", "startTls": false, "caCertPem": "", "insecureSkipVerify": false,
//	                 "allowPlaintextBind": false, "bindDn": "cn=admin,dc=example,dc=com", "bindCredential": "secret",
//	                 "connectTimeoutSeconds": 10, "readTimeoutSeconds": 60, "pageSize": 500},
//	  "users":  {"usersDn": "ou=people,dc=example,dc=com", "objectClasses": ["inetOrgPerson", "organizationalPerson"],
//	             "filter": "", "scope": "subtree",
//	             "attributes": {"username": "uid", "email": "mail", "firstName": "givenName", "lastName": "sn",
//	                            "displayName": "displayName", "externalId": "entryUUID"}},
//	  "groups": {"enabled": true, "groupsDn": "ou=groups,dc=example,dc=com", "objectClasses": ["groupOfNames"],
//	             "filter": "", "scope": "subtree",
//	             "attributes": {"name": "cn", "membership": "member", "membershipAttributeType": "DN",
//	                            "membershipUserAttribute": "uid", "externalId": "entryUUID"}},
//	  "sync":   {"periodicFullSync": true, "fullSyncIntervalSeconds": 86400, "maxDeletes": 500},
//	  "push":   {"enabled": false}
//	}
//
// Omitted fields take the defaults of the document's vendor (see Defaults).
package schema

// Vendors understood by the "vendor" setting. The vendor only chooses defaults;
// every field stays editable.
const (
	VendorOpenLDAP = "openldap"
	VendorAD       = "ad"
	VendorOther    = "other"
)

// Search scopes of Users.Scope and Groups.Scope.
const (
	ScopeOne     = "one"
	ScopeSubtree = "subtree"
)

// Membership attribute types of GroupAttributes.MembershipAttributeType.
const (
	MembershipDN  = "DN"
	MembershipUID = "UID"
)

// Settings is the settings document: everything an admin configures on
// IOMETE's LDAP settings page, plus the push target. Its JSON names are a
// public contract.
type Settings struct {
	// Vendor is "openldap" (default), "ad" or "other"; it fills defaults only.
	Vendor string `json:"vendor"`
	// Enabled turns scheduled syncs and pushes on ("Enable LDAP").
	Enabled    bool       `json:"enabled"`
	Connection Connection `json:"connection"`
	Users      Users      `json:"users"`
	Groups     Groups     `json:"groups"`
	Sync       Sync       `json:"sync"`
	Push       Push       `json:"push"`
}

// Connection says how to reach and bind to the directory.
type Connection struct {
	// URL is ldap://host[:port] or ldaps://host[:port], e.g. "ldap://dc1.corp.example.com:389".
	URL string `json:"url"`
	// StartTLS upgrades an ldap:// connection with the StartTLS extended operation.
	StartTLS bool `json:"startTls"`
	// CACertPEM holds PEM certificates to trust in addition to the system roots.
	CACertPEM string `json:"caCertPem"`
	// InsecureSkipVerify turns TLS certificate verification off. Off by default; for tests only.
	InsecureSkipVerify bool `json:"insecureSkipVerify"`
	// AllowPlaintextBind lets a bind credential go over plain ldap:// without
	// StartTLS to a host that is not loopback. Off by default; for networks
	// the admin trusts (the password crosses them in clear text).
	AllowPlaintextBind bool `json:"allowPlaintextBind"`
	// BindDN is the simple-bind name: a DN, or on AD also "DOMAIN\user" or "user@realm".
	// Empty means an anonymous bind.
	BindDN string `json:"bindDn"`
	// BindCredential is the bind password. It is a secret: never logged, never returned by the API.
	BindCredential string `json:"bindCredential"`
	// BindCredentialSet is output only: whether a bind credential is stored.
	BindCredentialSet bool `json:"bindCredentialSet,omitempty"`
	// ConnectTimeoutSeconds bounds DNS, TCP, TLS and bind (default 10).
	ConnectTimeoutSeconds int `json:"connectTimeoutSeconds"`
	// ReadTimeoutSeconds bounds each LDAP response (default 60).
	ReadTimeoutSeconds int `json:"readTimeoutSeconds"`
	// PageSize is the RFC 2696 page size of searches (default 500; AD serves at most 1,000).
	PageSize int `json:"pageSize"`
	// RangeSize, when above 0, asks for multi-valued membership attributes in
	// slices of this many values (AD ranged retrieval, "member;range=0-1499").
	// 0 (default) asks plainly and follows the slices the server chooses to send.
	RangeSize int `json:"rangeSize"`

	// credentialDropped records that MergeSecrets did not carry the stored
	// credential over because the connection changed, so Validate can say so.
	credentialDropped bool
}

// Users says where and how to find users.
type Users struct {
	// UsersDN is the search base, e.g. "ou=people,dc=example,dc=com".
	UsersDN string `json:"usersDn"`
	// ObjectClasses an entry must all have, e.g. ["inetOrgPerson", "organizationalPerson"].
	ObjectClasses []string `json:"objectClasses"`
	// Filter is an extra LDAP filter ANDed with the object classes, e.g. "(department=sales)".
	Filter string `json:"filter"`
	// Scope is "one" or "subtree" (default).
	Scope      string         `json:"scope"`
	Attributes UserAttributes `json:"attributes"`
}

// UserAttributes maps canonical user fields to LDAP attribute names. An empty
// name leaves the field unmapped (except Username, which is required).
type UserAttributes struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	DisplayName string `json:"displayName"`
	// ExternalID is the entry's immutable id: entryUUID (OpenLDAP) or objectGUID (AD, binary).
	ExternalID string `json:"externalId"`
	// EmployeeNumber and Department fill SCIM's enterprise user extension.
	EmployeeNumber string `json:"employeeNumber"`
	Department     string `json:"department"`
	// DisabledAttribute names an integer bit-field attribute (AD: userAccountControl);
	// a user whose value has DisabledBit set is mapped as active=false. Empty: always active.
	DisabledAttribute string `json:"disabledAttribute"`
	// DisabledBit is the bit mask of DisabledAttribute meaning "disabled" (AD: 2, ACCOUNTDISABLE).
	DisabledBit int64 `json:"disabledBit"`
}

// Groups says where and how to find groups.
type Groups struct {
	// Enabled turns group sync on (default true).
	Enabled bool `json:"enabled"`
	// GroupsDN is the search base, e.g. "ou=groups,dc=example,dc=com".
	GroupsDN      string          `json:"groupsDn"`
	ObjectClasses []string        `json:"objectClasses"`
	Filter        string          `json:"filter"`
	Scope         string          `json:"scope"`
	Attributes    GroupAttributes `json:"attributes"`
}

// GroupAttributes maps canonical group fields to LDAP attribute names.
type GroupAttributes struct {
	Name string `json:"name"`
	// Membership is the member attribute: member, uniqueMember or memberUid.
	Membership string `json:"membership"`
	// MembershipAttributeType is "DN" (values are member DNs) or "UID" (values
	// are the MembershipUserAttribute of users, as in posixGroup/memberUid).
	MembershipAttributeType string `json:"membershipAttributeType"`
	// MembershipUserAttribute is the user attribute that UID values refer to, e.g. "uid".
	MembershipUserAttribute string `json:"membershipUserAttribute"`
	ExternalID              string `json:"externalId"`
}

// Sync says when full syncs run and how far they may go unattended.
type Sync struct {
	PeriodicFullSync        bool `json:"periodicFullSync"`
	FullSyncIntervalSeconds int  `json:"fullSyncIntervalSeconds"`
	// MaxDeletes is the most users, and separately groups, one run may delete
	// before it is held for an admin's approval (default 500).
	MaxDeletes int `json:"maxDeletes"`
	// ChangedSyncIntervalSeconds runs a changed-entries pass every so many
	// seconds: only the entries the directory says changed since the last
	// pass are read (DirSync on Active Directory, modifyTimestamp elsewhere).
	// 0 (default) turns it off.
	ChangedSyncIntervalSeconds int `json:"changedSyncIntervalSeconds"`
	// Live keeps a change stream open where the directory has one (syncrepl
	// on OpenLDAP with syncprov; DirSync polled every LivePollSeconds on
	// Active Directory) and applies each change as it comes. Default false.
	Live bool `json:"live"`
	// LivePollSeconds is how often a polled live stream asks (default 5).
	LivePollSeconds int `json:"livePollSeconds"`
}

// Push says where and how each sync's changes are sent as a SCIM client.
type Push struct {
	Enabled bool `json:"enabled"`
	// URL is the SCIM base URL, e.g. "https://iomete.example.com/api/v1/identity/scim/v2".
	URL string `json:"url"`
	// Token is a secret: never logged, never returned by the API.
	Token string `json:"token"`
	// TokenSet is output only: whether a push token is stored.
	TokenSet bool `json:"tokenSet,omitempty"`
	// AuthHeader "Authorization" (default) sends "Bearer <token>"; any other header sends the raw token.
	AuthHeader string `json:"authHeader"`
	// Profile is "rfc" (default) or "iomete".
	Profile string `json:"profile"`
	// Deprovision is "delete" (default) or "deactivate".
	Deprovision string `json:"deprovision"`
	// GroupMembers is "flatten" (default) or "nested".
	GroupMembers       string   `json:"groupMembers"`
	Concurrency        int      `json:"concurrency"`
	TimeoutSeconds     int      `json:"timeoutSeconds"`
	CACertPEM          string   `json:"caCertPem"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify"`
	ScopeGroups        []string `json:"scopeGroups"`

	// tokenDropped records that MergeSecrets did not carry the stored token
	// over because the push target changed, so Validate can say so.
	tokenDropped bool
}

// Push profiles, deprovision modes and group member modes.
const (
	ProfileRFC        = "rfc"
	ProfileIOMETE     = "iomete"
	DeprovisionDelete = "delete"
	DeprovisionOff    = "deactivate"
	MembersFlatten    = "flatten"
	MembersNested     = "nested"
)
