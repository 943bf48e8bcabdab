package scimserver

import (
	"net/url"
	"sort"
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

// renderUser renders a stored user as a SCIM User resource.
func renderUser(u *store.UserResource, base string) map[string]any {
	res := map[string]any{
		"schemas":  []string{userSchema},
		"id":       u.ID,
		"userName": u.UserName,
		"active":   u.Active,
		"meta":     renderMeta("User", u.Created, u.LastModified, u.Version, resourceURL(base, "Users", u.ID)),
	}
	if u.ExternalID != "" {
		res["externalId"] = u.ExternalID
	}
	name := map[string]any{}
	if u.GivenName != "" {
		name["givenName"] = u.GivenName
	}
	if u.FamilyName != "" {
		name["familyName"] = u.FamilyName
	}
	if f := strings.TrimSpace(u.GivenName + " " + u.FamilyName); f != "" {
		name["formatted"] = f
	}
	if len(name) > 0 {
		res["name"] = name
	}
	if u.DisplayName != "" {
		res["displayName"] = u.DisplayName
	}
	if u.Email != "" {
		res["emails"] = []any{map[string]any{"value": u.Email, "type": "work", "primary": true}}
	}
	if len(u.Groups) > 0 {
		groups := make([]store.GroupRef, len(u.Groups))
		copy(groups, u.Groups)
		sort.Slice(groups, func(i, j int) bool {
			if groups[i].Name != groups[j].Name {
				return groups[i].Name < groups[j].Name
			}
			return groups[i].ID < groups[j].ID
		})
		list := make([]any, len(groups))
		for i, g := range groups {
			typ := "indirect"
			if g.Direct {
				typ = "direct"
			}
			list[i] = map[string]any{
				"value":   g.ID,
				"display": g.Name,
				"type":    typ,
				"$ref":    resourceURL(base, "Groups", g.ID),
			}
		}
		res["groups"] = list
	}
	ext := map[string]any{}
	if u.EmployeeNumber != "" {
		ext["employeeNumber"] = u.EmployeeNumber
	}
	if u.Department != "" {
		ext["department"] = u.Department
	}
	if len(ext) > 0 {
		res["schemas"] = []string{userSchema, enterpriseSchema}
		res[enterpriseSchema] = ext
	}
	return res
}

// renderGroup renders a stored group as a SCIM Group resource with its direct members.
func renderGroup(g *store.GroupResource, base string) map[string]any {
	res := map[string]any{
		"schemas":     []string{groupSchema},
		"id":          g.ID,
		"displayName": g.Name,
		"meta":        renderMeta("Group", g.Created, g.LastModified, g.Version, resourceURL(base, "Groups", g.ID)),
	}
	if g.ExternalID != "" {
		res["externalId"] = g.ExternalID
	}
	if len(g.Members) > 0 {
		members := make([]store.MemberRef, len(g.Members))
		copy(members, g.Members)
		sort.Slice(members, func(i, j int) bool {
			if members[i].Type != members[j].Type {
				return members[i].Type == bridge.MemberGroup
			}
			if members[i].Display != members[j].Display {
				return members[i].Display < members[j].Display
			}
			return members[i].ID < members[j].ID
		})
		list := make([]any, len(members))
		for i, m := range members {
			endpoint := "Users"
			if m.Type == bridge.MemberGroup {
				endpoint = "Groups"
			}
			list[i] = map[string]any{
				"value":   m.ID,
				"display": m.Display,
				"type":    m.Type,
				"$ref":    resourceURL(base, endpoint, m.ID),
			}
		}
		res["members"] = list
	}
	return res
}

func renderMeta(resourceType string, created, modified time.Time, version, location string) map[string]any {
	return map[string]any{
		"resourceType": resourceType,
		"created":      created.UTC().Format(timeFormat),
		"lastModified": modified.UTC().Format(timeFormat),
		"version":      etag(version),
		"location":     location,
	}
}
