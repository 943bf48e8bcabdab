package schema

import (
	"reflect"
	"testing"
)

func TestPushWithDefaultsFillsOnlyOmittedFields(t *testing.T) {
	got := Push{URL: "https://iomete.example.com/scim/v2", Token: "pat-123", Profile: ProfileIOMETE, Concurrency: 8}.WithDefaults()
	want := Push{URL: "https://iomete.example.com/scim/v2", Token: "pat-123", AuthHeader: "Authorization", Profile: ProfileIOMETE,
		Deprovision: DeprovisionDelete, GroupMembers: MembersFlatten, Concurrency: 8, TimeoutSeconds: 30}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
	if d := Defaults(VendorAD).Push; !reflect.DeepEqual(d, Push{ScopeGroups: []string{}}.WithDefaults()) {
		t.Fatalf("Defaults(ad).Push = %+v, want the zero section WithDefaults", d)
	}
}

func TestPushValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Push)
		fields []string
	}{
		{"valid", func(*Push) {}, nil},
		{"checked while push is off", func(p *Push) { p.Enabled = false; p.Profile = "okta" }, []string{"push.profile"}},
		{"a stored token is not the token", func(p *Push) { p.Token, p.TokenSet = "", true }, []string{"push.token"}},
		{"every problem at once", func(p *Push) { p.URL, p.Deprovision = "ftp://example.com", "disable" }, []string{"push.url", "push.deprovision"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPush()
			c.mutate(&p)
			assertFields(t, p.Validate(), c.fields...)
		})
	}
	s := validOpenLDAP()
	s.Push = validPush()
	s.Push.Token, s.Push.TokenSet = "", true
	assertFields(t, s.Validate())
}
