package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// jsonOf marshals v and decodes it generically so documents compare by value.
func jsonOf(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func docOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test document: %v", err)
	}
	return m
}

const commonDefaults = `
  "enabled": false,
  "sync": {"periodicFullSync": true, "fullSyncIntervalSeconds": 86400, "maxDeletes": 500,
           "changedSyncIntervalSeconds": 0, "live": false, "livePollSeconds": 5},
  "push": {"enabled": false, "url": "", "token": "", "authHeader": "Authorization", "profile": "rfc",
           "deprovision": "delete", "groupMembers": "flatten", "concurrency": 4, "timeoutSeconds": 30,
           "caCertPem": "", "insecureSkipVerify": false, "scopeGroups": []},
  "connection": {"url": "", "startTls": false, "caCertPem": "", "insecureSkipVerify": false, "allowPlaintextBind": false, "bindDn": "",
                 "bindCredential": "", "connectTimeoutSeconds": 10, "readTimeoutSeconds": 60, "pageSize": 500,
                 "rangeSize": 0},`

func TestDefaultsPerVendor(t *testing.T) {
	openldap := `{"vendor": "openldap",` + commonDefaults + `
	  "users": {"usersDn": "", "objectClasses": ["inetOrgPerson", "organizationalPerson"], "filter": "", "scope": "subtree",
	            "attributes": {"username": "uid", "email": "mail", "firstName": "givenName", "lastName": "sn",
	                           "displayName": "displayName", "externalId": "entryUUID", "employeeNumber": "",
	                           "department": "", "disabledAttribute": "", "disabledBit": 0}},
	  "groups": {"enabled": true, "groupsDn": "", "objectClasses": ["groupOfNames"], "filter": "", "scope": "subtree",
	             "attributes": {"name": "cn", "membership": "member", "membershipAttributeType": "DN",
	                            "membershipUserAttribute": "uid", "externalId": "entryUUID"}}}`
	ad := `{"vendor": "ad",` + commonDefaults + `
	  "users": {"usersDn": "", "objectClasses": ["person", "user"], "filter": "", "scope": "subtree",
	            "attributes": {"username": "sAMAccountName", "email": "mail", "firstName": "givenName", "lastName": "sn",
	                           "displayName": "displayName", "externalId": "objectGUID", "employeeNumber": "",
	                           "department": "", "disabledAttribute": "userAccountControl", "disabledBit": 2}},
	  "groups": {"enabled": true, "groupsDn": "", "objectClasses": ["group"], "filter": "", "scope": "subtree",
	             "attributes": {"name": "cn", "membership": "member", "membershipAttributeType": "DN",
	                            "membershipUserAttribute": "uid", "externalId": "objectGUID"}}}`
	other := `{"vendor": "other",` + commonDefaults + `
	  "users": {"usersDn": "", "objectClasses": ["inetOrgPerson", "organizationalPerson"], "filter": "", "scope": "subtree",
	            "attributes": {"username": "uid", "email": "mail", "firstName": "givenName", "lastName": "sn",
	                           "displayName": "displayName", "externalId": "", "employeeNumber": "",
	                           "department": "", "disabledAttribute": "", "disabledBit": 0}},
	  "groups": {"enabled": true, "groupsDn": "", "objectClasses": ["groupOfNames"], "filter": "", "scope": "subtree",
	             "attributes": {"name": "cn", "membership": "member", "membershipAttributeType": "DN",
	                            "membershipUserAttribute": "uid", "externalId": ""}}}`
	for _, c := range []struct{ vendor, want string }{
		{"", openldap}, {"openldap", openldap}, {"ad", ad}, {"other", other},
	} {
		t.Run("vendor="+c.vendor, func(t *testing.T) {
			got := jsonOf(t, Defaults(c.vendor))
			if want := docOf(t, c.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("Defaults(%q)\n got %v\nwant %v", c.vendor, got, want)
			}
		})
	}
}

func TestDefaultsDoNotShareSlices(t *testing.T) {
	a := Defaults("ad")
	a.Users.ObjectClasses[0] = "changed"
	if Defaults("ad").Users.ObjectClasses[0] != "person" {
		t.Fatal("Defaults returned a shared slice")
	}
}

func TestDefaultsNeedOnlyTheSiteSpecificFields(t *testing.T) {
	// A fresh document fails validation only for what no default can know.
	s := Defaults("")
	assertFields(t, s.Validate(), "connection.url", "users.usersDn", "groups.groupsDn")
}

func TestParseFillsOmittedFieldsFromTheVendorDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"vendor": "ad", "connection": {"url": "ldaps://dc1.corp.example.com"},
	  "users": {"usersDn": "CN=Users,DC=corp,DC=example,DC=com", "attributes": {"email": "userPrincipalName"}},
	  "push": {"scopeGroups": ["Engineers"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults("ad")
	want.Connection.URL = "ldaps://dc1.corp.example.com"
	want.Users.UsersDN = "CN=Users,DC=corp,DC=example,DC=com"
	want.Users.Attributes.Email = "userPrincipalName"
	want.Push.ScopeGroups = []string{"Engineers"}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Parse\n got %+v\nwant %+v", s, want)
	}
}

func TestParseWithoutVendorUsesOpenLDAP(t *testing.T) {
	s, err := Parse([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Defaults(VendorOpenLDAP)) {
		t.Fatalf("Parse({}) = %+v", s)
	}
}

func TestParseReplacesListsWholesale(t *testing.T) {
	s, err := Parse([]byte(`{"users": {"objectClasses": ["posixAccount"]}, "groups": {"objectClasses": []}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Users.ObjectClasses, []string{"posixAccount"}) || s.Groups.ObjectClasses == nil || len(s.Groups.ObjectClasses) != 0 {
		t.Fatalf("objectClasses = %q / %q", s.Users.ObjectClasses, s.Groups.ObjectClasses)
	}
}

func TestParseRoundTripsAFullDocument(t *testing.T) {
	in := validAD()
	in.Push = validPush()
	in.Connection.BindCredential = "enc:v1:c2VhbGVk" // stored documents hold sealed secrets
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
	}
}

func TestParseFieldErrors(t *testing.T) {
	cases := []struct {
		name, doc    string
		field, which string
	}{
		{"unknown top-level field", `{"vendr": "ad"}`, "vendr", "unknown field"},
		{"unknown nested field", `{"users": {"attributes": {"mial": "mail"}}}`, "users.attributes.mial", "unknown field"},
		{"wrong letter case", `{"connection": {"bindDN": "cn=a"}}`, "connection.bindDN", `unknown field (did you mean "bindDn"?)`},
		{"string for a number", `{"sync": {"fullSyncIntervalSeconds": "86400"}}`, "sync.fullSyncIntervalSeconds", "must be a number"},
		{"fraction", `{"connection": {"pageSize": 1.5}}`, "connection.pageSize", "must be a whole number"},
		{"exponent", `{"connection": {"pageSize": 1e3}}`, "connection.pageSize", "must be a whole number"},
		{"too big", `{"sync": {"maxDeletes": 99999999999999999999}}`, "sync.maxDeletes", "is out of range"},
		{"string for a bool", `{"enabled": "true"}`, "enabled", "must be true or false"},
		{"number for a string", `{"connection": {"url": 389}}`, "connection.url", "must be a string"},
		{"string for a list", `{"users": {"objectClasses": "inetOrgPerson"}}`, "users.objectClasses", "must be a list of strings"},
		{"number in a list", `{"push": {"scopeGroups": ["a", 2]}}`, "push.scopeGroups[1]", "must be a string"},
		{"string for an object", `{"users": "ou=people"}`, "users", "must be an object"},
		{"null", `{"connection": {"bindDn": null}}`, "connection.bindDn", "must not be null (a string expected)"},
		{"vendor of the wrong type", `{"vendor": 1}`, "vendor", "must be a string"},
		{"output-only field of the wrong type", `{"push": {"tokenSet": "yes"}}`, "push.tokenSet", "must be true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			want := []FieldError{{Field: c.field, Message: c.which}}
			if !reflect.DeepEqual(ve.Fields, want) {
				t.Fatalf("fields = %+v, want %+v", ve.Fields, want)
			}
			if !strings.Contains(err.Error(), c.field+": "+c.which) {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestParseReportsEveryMistakeAtOnce(t *testing.T) {
	_, err := Parse([]byte(`{"vendor": "ad", "connection": {"pageSize": "500", "colour": "blue"}, "sync": {"periodicFullSync": 1}}`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []FieldError{
		{Field: "connection.colour", Message: "unknown field"},
		{Field: "connection.pageSize", Message: "must be a number"},
		{Field: "sync.periodicFullSync", Message: "must be true or false"},
	}
	if !reflect.DeepEqual(ve.Fields, want) {
		t.Fatalf("fields = %+v\nwant %+v", ve.Fields, want)
	}
}

func TestParseRejectsDocumentsThatAreNotOneObject(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{``, "settings document is empty"},
		{`  `, "settings document is empty"},
		{`{"vendor": "ad"`, "settings document is not valid JSON"},
		{`{} {}`, "settings document has data after its end"},
		{`{}x`, "settings document has data after its end"},
		{`{}]`, "settings document has data after its end"},
		{`[]`, "settings document must be a JSON object"},
		{`null`, "settings document must be a JSON object"},
		{`"x"`, "settings document must be a JSON object"},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Parse(%q) err = %v, want %q", c.doc, err, c.want)
		}
		var ve *ValidationError
		if errors.As(err, &ve) {
			t.Errorf("Parse(%q) returned a field error for a document-level problem", c.doc)
		}
	}
	if _, err := Parse([]byte("{}\n\t ")); err != nil {
		t.Fatalf("trailing white space rejected: %v", err)
	}
}

func TestParseDoesNotValidate(t *testing.T) {
	s, err := Parse([]byte(`{"vendor": "novell", "connection": {"pageSize": -1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Vendor != "novell" || s.Connection.PageSize != -1 || s.Users.Attributes.Username != "uid" {
		t.Fatalf("Parse = %+v", s)
	}
}
