package schema_test

import (
	"fmt"

	"github.com/scimbridge/scimbridge/schema"
)

func ExampleParse() {
	s, err := schema.Parse([]byte(`{
	  "vendor": "ad",
	  "connection": {"url": "ldaps://dc1.corp.example.com", "bindDn": "CORP\\svc-scim", "bindCredential": "pw"},
	  "users": {"usersDn": "CN=Users,DC=corp,DC=example,DC=com"},
	  "groups": {"groupsDn": "OU=Groups,DC=corp,DC=example,DC=com"}
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Users.Attributes.Username, s.Users.Attributes.ExternalID, s.Validate())
	// Output: sAMAccountName objectGUID <nil>
}

func ExampleSettings_Validate() {
	s := schema.Defaults(schema.VendorOpenLDAP)
	s.Connection.URL = "http://ldap.example.com"
	s.Users.UsersDN = "ou=people,dc=example,dc=com"
	s.Groups.Enabled = false
	fmt.Println(s.Validate())
	// Output: invalid settings: connection.url: must start with ldap:// or ldaps://
}

func ExampleMapUser() {
	s := schema.Defaults(schema.VendorAD)
	e := &schema.Entry{DN: "CN=John Doe,CN=Users,DC=corp", Attrs: map[string][][]byte{
		"samaccountname":     {[]byte("jdoe")},
		"objectguid":         {{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
		"useraccountcontrol": {[]byte("514")},
	}}
	u, err := schema.MapUser(e, &s)
	fmt.Println(u.UserName, u.ExternalID, u.Active, err)
	// Output: jdoe 33221100-5544-7766-8899-aabbccddeeff false <nil>
}
