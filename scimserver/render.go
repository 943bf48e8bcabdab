package scimserver

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/store"
)

// timeFormat renders meta dates: RFC 3339 in UTC with the store's millisecond
// precision, so `meta.lastModified gt` with a served value excludes that resource.
const timeFormat = "2006-01-02T15:04:05.000Z"

// etag returns the weak entity tag of a resource version; meta.version and the ETag header carry it.
func etag(version string) string {
	return `W/"` + version + `"`
}

// resourceURL returns the URL of a resource under base, e.g. base + "/Users/" + id.
func resourceURL(base, endpoint, id string) string {
	return base + "/" + endpoint + "/" + url.PathEscape(id)
}

// The resource types below are the SCIM representation of stored users and
// groups. Their JSON tags are the reference encoding: appendUser and
// appendGroup write the same bytes by hand (render_test.go compares them),
// because a list page is rendered a thousand resources at a time and
// encoding/json's reflection dominated the cost of walking /Users.

// userResource is a SCIM User (RFC 7643 §4.1) with the enterprise extension.
type userResource struct {
	Schemas     []string        `json:"schemas"`
	ID          string          `json:"id"`
	ExternalID  string          `json:"externalId,omitempty"`
	UserName    string          `json:"userName"`
	Name        *userName       `json:"name,omitempty"`
	DisplayName string          `json:"displayName,omitempty"`
	Emails      []email         `json:"emails,omitempty"`
	Active      bool            `json:"active"`
	Groups      []refValue      `json:"groups,omitempty"`
	Enterprise  *enterpriseUser `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta        meta            `json:"meta"`
}

// userName is the complex "name" attribute; formatted is "given family".
type userName struct {
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	Formatted  string `json:"formatted,omitempty"`
}

// email is one element of "emails"; the one stored address is the primary work address.
type email struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

// refValue is one element of a user's "groups", whose type is "direct" or
// "indirect" (through nesting), or of a group's "members", whose type is
// "User" or "Group".
type refValue struct {
	Value   string `json:"value"`
	Display string `json:"display"`
	Type    string `json:"type"`
	Ref     string `json:"$ref"`
}

// enterpriseUser is the enterprise extension (RFC 7643 §4.3), present when one of its attributes is mapped.
type enterpriseUser struct {
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	Department     string `json:"department,omitempty"`
}

// groupResource is a SCIM Group (RFC 7643 §4.2) with its direct members.
type groupResource struct {
	Schemas     []string   `json:"schemas"`
	ID          string     `json:"id"`
	ExternalID  string     `json:"externalId,omitempty"`
	DisplayName string     `json:"displayName"`
	Members     []refValue `json:"members,omitempty"`
	Meta        meta       `json:"meta"`
}

// meta is the common "meta" attribute (RFC 7643 §3.1).
type meta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Version      string `json:"version"`
	Location     string `json:"location"`
}

var (
	userSchemas           = []string{userSchema}
	userEnterpriseSchemas = []string{userSchema, enterpriseSchema}
	groupSchemas          = []string{groupSchema}
)

// newUserResource renders a stored user: groups sorted by name then id.
func newUserResource(u *store.UserResource, base string) userResource {
	res := userResource{
		Schemas:     userSchemas,
		ID:          u.ID,
		ExternalID:  u.ExternalID,
		UserName:    u.UserName,
		DisplayName: u.DisplayName,
		Active:      u.Active,
		Meta:        newMeta("User", u.Created, u.LastModified, u.Version, resourceURL(base, "Users", u.ID)),
	}
	if u.GivenName != "" || u.FamilyName != "" {
		res.Name = &userName{
			GivenName:  u.GivenName,
			FamilyName: u.FamilyName,
			Formatted:  strings.TrimSpace(u.GivenName + " " + u.FamilyName),
		}
	}
	if u.Email != "" {
		res.Emails = []email{{Value: u.Email, Type: "work", Primary: true}}
	}
	if len(u.Groups) > 0 {
		res.Groups = make([]refValue, len(u.Groups))
		for i, g := range u.Groups {
			typ := "indirect"
			if g.Direct {
				typ = "direct"
			}
			res.Groups[i] = refValue{Value: g.ID, Display: g.Name, Type: typ, Ref: resourceURL(base, "Groups", g.ID)}
		}
		slices.SortFunc(res.Groups, func(a, b refValue) int {
			return byDisplay(a.Display, a.Value, b.Display, b.Value)
		})
	}
	if u.EmployeeNumber != "" || u.Department != "" {
		res.Schemas = userEnterpriseSchemas
		res.Enterprise = &enterpriseUser{EmployeeNumber: u.EmployeeNumber, Department: u.Department}
	}
	return res
}

// newGroupResource renders a stored group: member groups first, then by display name and id.
func newGroupResource(g *store.GroupResource, base string) groupResource {
	res := groupResource{
		Schemas:     groupSchemas,
		ID:          g.ID,
		ExternalID:  g.ExternalID,
		DisplayName: g.Name,
		Meta:        newMeta("Group", g.Created, g.LastModified, g.Version, resourceURL(base, "Groups", g.ID)),
	}
	if len(g.Members) > 0 {
		res.Members = make([]refValue, len(g.Members))
		for i, m := range g.Members {
			endpoint := "Users"
			if m.Type == bridge.MemberGroup {
				endpoint = "Groups"
			}
			res.Members[i] = refValue{Value: m.ID, Display: m.Display, Type: m.Type, Ref: resourceURL(base, endpoint, m.ID)}
		}
		slices.SortFunc(res.Members, func(a, b refValue) int {
			if aGroup := a.Type == bridge.MemberGroup; aGroup != (b.Type == bridge.MemberGroup) {
				if aGroup {
					return -1
				}
				return 1
			}
			return byDisplay(a.Display, a.Value, b.Display, b.Value)
		})
	}
	return res
}

// byDisplay orders references by display name, then by id.
func byDisplay(display1, id1, display2, id2 string) int {
	if c := strings.Compare(display1, display2); c != 0 {
		return c
	}
	return strings.Compare(id1, id2)
}

func newMeta(resourceType string, created, modified time.Time, version, location string) meta {
	return meta{
		ResourceType: resourceType,
		Created:      created.UTC().Format(timeFormat),
		LastModified: modified.UTC().Format(timeFormat),
		Version:      etag(version),
		Location:     location,
	}
}

// appendUser appends u as JSON, keeping the attributes p selects. schemas and
// id are always written; a complex or multi-valued attribute left without
// sub-attributes is left out.
func appendUser(b []byte, u *userResource, p *projection) []byte {
	b = append(b, `{"schemas":`...)
	b = appendStrings(b, u.Schemas)
	b = appendField(b, "id", u.ID)
	if u.ExternalID != "" && p.simple("externalid") {
		b = appendField(b, "externalId", u.ExternalID)
	}
	if p.simple("username") {
		b = appendField(b, "userName", u.UserName)
	}
	if n := u.Name; n != nil && p.wants("name") {
		o := openObject(b, "name")
		o.optional(p, "name", "givenName", n.GivenName)
		o.optional(p, "name", "familyName", n.FamilyName)
		o.optional(p, "name", "formatted", n.Formatted)
		b = o.close()
	}
	if u.DisplayName != "" && p.simple("displayname") {
		b = appendField(b, "displayName", u.DisplayName)
	}
	if len(u.Emails) > 0 && p.wants("emails") {
		a := openArray(b, "emails")
		for i := range u.Emails {
			e := &u.Emails[i]
			o := a.element()
			o.str(p, "emails", "value", e.Value)
			o.str(p, "emails", "type", e.Type)
			o.bool(p, "emails", "primary", e.Primary)
			a.b = o.close()
		}
		b = a.close()
	}
	if p.simple("active") {
		b = append(b, `,"active":`...)
		b = appendBool(b, u.Active)
	}
	if len(u.Groups) > 0 && p.wants("groups") {
		b = appendRefs(b, "groups", u.Groups, p)
	}
	if x := u.Enterprise; x != nil && p.wants(enterpriseKey) {
		o := openObject(b, enterpriseSchema)
		o.optional(p, enterpriseKey, "employeeNumber", x.EmployeeNumber)
		o.optional(p, enterpriseKey, "department", x.Department)
		b = o.close()
	}
	b = appendMeta(b, &u.Meta, p)
	return append(b, '}')
}

// appendGroup appends g as JSON, keeping the attributes p selects (see appendUser).
func appendGroup(b []byte, g *groupResource, p *projection) []byte {
	b = append(b, `{"schemas":`...)
	b = appendStrings(b, g.Schemas)
	b = appendField(b, "id", g.ID)
	if g.ExternalID != "" && p.simple("externalid") {
		b = appendField(b, "externalId", g.ExternalID)
	}
	if p.simple("displayname") {
		b = appendField(b, "displayName", g.DisplayName)
	}
	if len(g.Members) > 0 && p.wants("members") {
		b = appendRefs(b, "members", g.Members, p)
	}
	b = appendMeta(b, &g.Meta, p)
	return append(b, '}')
}

// appendRefs appends the reference list key ("groups" or "members"), keeping
// the sub-attributes p selects.
func appendRefs(b []byte, key string, refs []refValue, p *projection) []byte {
	a := openArray(b, key)
	for i := range refs {
		r := &refs[i]
		o := a.element()
		o.str(p, key, "value", r.Value)
		o.str(p, key, "display", r.Display)
		o.str(p, key, "type", r.Type)
		o.str(p, key, "$ref", r.Ref)
		a.b = o.close()
	}
	return a.close()
}

func appendMeta(b []byte, m *meta, p *projection) []byte {
	if !p.wants("meta") {
		return b
	}
	o := openObject(b, "meta")
	o.str(p, "meta", "resourceType", m.ResourceType)
	o.str(p, "meta", "created", m.Created)
	o.str(p, "meta", "lastModified", m.LastModified)
	o.str(p, "meta", "version", m.Version)
	o.str(p, "meta", "location", m.Location)
	return o.close()
}
