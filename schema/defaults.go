package schema

// Defaults returns the settings a new document of vendor starts from. Unknown
// vendors, and "", get the OpenLDAP defaults; "" also records the vendor as
// "openldap". An unknown vendor name is kept so that Validate can report it.
//
// Common to every vendor: disabled, connect timeout 10 s, read timeout 60 s,
// page size 500, subtree scope, groups enabled with DN membership, a daily
// periodic full sync with at most 500 deletions unattended, and push switched
// off (with the RFC profile, bearer Authorization header, delete on
// deprovision, flattened group members, 4 parallel requests and 30 s timeouts
// once it is switched on).
//
//   - "openldap": inetOrgPerson/organizationalPerson users keyed by uid, mail,
//     givenName, sn, displayName and entryUUID; groupOfNames groups named by cn
//     with member DNs and entryUUID.
//   - "ad": person/user users keyed by sAMAccountName, with objectGUID as the
//     external id and userAccountControl bit 2 (ACCOUNTDISABLE) as "disabled";
//     group groups named by cn with member DNs and objectGUID.
//   - "other": the OpenLDAP attribute names but no external id attribute,
//     because generic servers differ (entryUUID, nsUniqueId, ipaUniqueID...) and
//     naming one the server lacks would leave every external id empty anyway;
//     users and groups are then matched by DN and name.
func Defaults(vendor string) Settings {
	if vendor == "" {
		vendor = VendorOpenLDAP
	}
	s := Settings{
		Vendor:  vendor,
		Enabled: false,
		Connection: Connection{
			ConnectTimeoutSeconds: 10,
			ReadTimeoutSeconds:    60,
			PageSize:              500,
		},
		Users: Users{
			ObjectClasses: []string{"inetOrgPerson", "organizationalPerson"},
			Scope:         ScopeSubtree,
			Attributes: UserAttributes{
				Username:    "uid",
				Email:       "mail",
				FirstName:   "givenName",
				LastName:    "sn",
				DisplayName: "displayName",
				ExternalID:  "entryUUID",
			},
		},
		Groups: Groups{
			Enabled:       true,
			ObjectClasses: []string{"groupOfNames"},
			Scope:         ScopeSubtree,
			Attributes: GroupAttributes{
				Name:                    "cn",
				Membership:              "member",
				MembershipAttributeType: MembershipDN,
				MembershipUserAttribute: "uid",
				ExternalID:              "entryUUID",
			},
		},
		Sync: Sync{
			PeriodicFullSync:        true,
			FullSyncIntervalSeconds: 86400,
			MaxDeletes:              500,
			LivePollSeconds:         DefaultLivePollSeconds,
		},
		Push: Push{ScopeGroups: []string{}}.WithDefaults(),
	}
	switch vendor {
	case VendorAD:
		s.Users.ObjectClasses = []string{"person", "user"}
		s.Users.Attributes = UserAttributes{
			Username:          "sAMAccountName",
			Email:             "mail",
			FirstName:         "givenName",
			LastName:          "sn",
			DisplayName:       "displayName",
			ExternalID:        "objectGUID",
			DisabledAttribute: "userAccountControl",
			DisabledBit:       2,
		}
		s.Groups.ObjectClasses = []string{"group"}
		s.Groups.Attributes.ExternalID = "objectGUID"
		// AD caps pages at its MaxPageSize (1,000 by default); 500 stays under it.
		s.Connection.PageSize = 500
	case VendorOther:
		s.Users.Attributes.ExternalID = ""
		s.Groups.Attributes.ExternalID = ""
	}
	return s
}

// WithDefaults returns p with each omitted (zero) field set to its default:
// the Authorization header (a bearer token), the rfc profile, delete on
// deprovision, flattened group members, 4 parallel requests and 30 s
// timeouts. Defaults uses it, and so does the push client for a section
// built in code.
func (p Push) WithDefaults() Push {
	if p.AuthHeader == "" {
		p.AuthHeader = "Authorization"
	}
	if p.Profile == "" {
		p.Profile = ProfileRFC
	}
	if p.Deprovision == "" {
		p.Deprovision = DeprovisionDelete
	}
	if p.GroupMembers == "" {
		p.GroupMembers = MembersFlatten
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 4
	}
	if p.TimeoutSeconds <= 0 {
		p.TimeoutSeconds = 30
	}
	return p
}
