package scimserver

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

const testBase = "https://scim.example.com/scim/v2"

// sampleUsers are stored users covering every optional attribute, both
// membership types and strings that need escaping.
func sampleUsers() []store.UserResource {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123_000_000, time.FixedZone("CET", 3600))
	later := at.Add(36 * time.Hour)
	return []store.UserResource{
		{
			UserRow: bridge.UserRow{ID: "u-1", Version: "v1", Created: at, LastModified: later, User: schema.User{
				UserName: "alice", ExternalID: "ext-1", GivenName: "Alice", FamilyName: "Liddell",
				DisplayName: "Alice Liddell", Email: "alice@example.com", Active: true,
				EmployeeNumber: "42", Department: "R&D <west>",
			}},
			Groups: []store.GroupRef{{ID: "g-2", Name: "staff"}, {ID: "g-1", Name: "engineers", Direct: true}, {ID: "g-0", Name: "engineers"}},
		},
		{
			UserRow: bridge.UserRow{ID: "u/2 x", Version: `q"v`, Created: at, LastModified: at, User: schema.User{
				UserName: "b\"o\\b\t\n\x01\b\f\u2028\u2029\xff€𝄞", FamilyName: "Only",
			}},
		},
		{
			UserRow: bridge.UserRow{ID: "u-3", Version: "v3", Created: at, LastModified: at, User: schema.User{
				UserName: "carol", GivenName: "Carol", Department: "Sales",
			}},
			Groups: []store.GroupRef{{ID: "g-9", Name: "sales", Direct: true}},
		},
	}
}

func sampleGroups() []store.GroupResource {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return []store.GroupResource{
		{
			GroupRow: bridge.GroupRow{ID: "g-1", ExternalID: "gx-1", Name: "engineers", Version: "gv1", Created: at, LastModified: at},
			Members: []store.MemberRef{
				{ID: "u-2", Type: bridge.MemberUser, Display: "Bob"},
				{ID: "g-7", Type: bridge.MemberGroup, Display: "zeta"},
				{ID: "u-1", Type: bridge.MemberUser, Display: "Alice"},
				{ID: "g-5", Type: bridge.MemberGroup, Display: "alpha"},
			},
		},
		{GroupRow: bridge.GroupRow{ID: "g-2", Name: "empty <&>", Version: "gv2", Created: at, LastModified: at}},
	}
}

// TestRenderUserAndGroupExactJSON pins the complete representation of a user
// and a group: attributes, sort order of groups and members, meta, $ref.
func TestRenderUserAndGroupExactJSON(t *testing.T) {
	users, groups := sampleUsers(), sampleGroups()
	u := newUserResource(&users[0], testBase)
	got := string(appendUser(nil, &u, &projection{}))
	want := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],` +
		`"id":"u-1","externalId":"ext-1","userName":"alice",` +
		`"name":{"givenName":"Alice","familyName":"Liddell","formatted":"Alice Liddell"},"displayName":"Alice Liddell",` +
		`"emails":[{"value":"alice@example.com","type":"work","primary":true}],"active":true,` +
		`"groups":[{"value":"g-0","display":"engineers","type":"indirect","$ref":"` + testBase + `/Groups/g-0"},` +
		`{"value":"g-1","display":"engineers","type":"direct","$ref":"` + testBase + `/Groups/g-1"},` +
		`{"value":"g-2","display":"staff","type":"indirect","$ref":"` + testBase + `/Groups/g-2"}],` +
		`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42","department":"R\u0026D \u003cwest\u003e"},` +
		`"meta":{"resourceType":"User","created":"2026-03-01T09:00:00.123Z","lastModified":"2026-03-02T21:00:00.123Z",` +
		`"version":"W/\"v1\"","location":"` + testBase + `/Users/u-1"}}`
	if got != want {
		t.Errorf("user:\n got %s\nwant %s", got, want)
	}

	u = newUserResource(&users[1], testBase)
	got = string(appendUser(nil, &u, &projection{}))
	want = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u/2 x",` +
		`"userName":"b\"o\\b\t\n\u0001\b\f\u2028\u2029\ufffd€𝄞","name":{"familyName":"Only","formatted":"Only"},"active":false,` +
		`"meta":{"resourceType":"User","created":"2026-03-01T09:00:00.123Z","lastModified":"2026-03-01T09:00:00.123Z",` +
		`"version":"W/\"q\"v\"","location":"` + testBase + `/Users/u%2F2%20x"}}`
	if got != want {
		t.Errorf("user with escapes:\n got %s\nwant %s", got, want)
	}

	g := newGroupResource(&groups[0], testBase)
	got = string(appendGroup(nil, &g, &projection{}))
	want = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g-1","externalId":"gx-1","displayName":"engineers",` +
		`"members":[{"value":"g-5","display":"alpha","type":"Group","$ref":"` + testBase + `/Groups/g-5"},` +
		`{"value":"g-7","display":"zeta","type":"Group","$ref":"` + testBase + `/Groups/g-7"},` +
		`{"value":"u-1","display":"Alice","type":"User","$ref":"` + testBase + `/Users/u-1"},` +
		`{"value":"u-2","display":"Bob","type":"User","$ref":"` + testBase + `/Users/u-2"}],` +
		`"meta":{"resourceType":"Group","created":"2026-03-01T10:00:00.000Z","lastModified":"2026-03-01T10:00:00.000Z",` +
		`"version":"W/\"gv1\"","location":"` + testBase + `/Groups/g-1"}}`
	if got != want {
		t.Errorf("group:\n got %s\nwant %s", got, want)
	}
}

// TestAppendMatchesEncodingJSON pins the hand-written encoders to the JSON
// tags of the resource types: without a projection they write exactly the
// bytes json.Marshal writes.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, su := range sampleUsers() {
		u := newUserResource(&su, testBase)
		want, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendUser(nil, &u, &projection{}); string(got) != string(want) {
			t.Errorf("user %s:\n got %s\nwant %s", su.ID, got, want)
		}
	}
	for _, sg := range sampleGroups() {
		g := newGroupResource(&sg, testBase)
		want, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendGroup(nil, &g, &projection{}); string(got) != string(want) {
			t.Errorf("group %s:\n got %s\nwant %s", sg.ID, got, want)
		}
	}
}

// FuzzAppendString checks that appendString escapes any string as encoding/json does.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "<a href='x'>&amp;</a>", "\x00\x1f\x7f", "\b\f\n\r\t",
		"\u2028\u2029", "\xff\xfe", "é€𝄞", "\xe2\x80", "a\xc3(b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendString(%q) = %s, want x%s", s, got, want)
		}
	})
}

// TestProjectionMatchesMapProjection checks the projection on the
// hand-written encoders against the straightforward definition: render the
// whole resource, then delete attributes and sub-attributes from the decoded
// JSON object (mapProjection, how the server projected before it rendered
// resources by hand).
func TestProjectionMatchesMapProjection(t *testing.T) {
	ext := enterpriseSchema
	cases := []struct{ attributes, excluded string }{
		{"userName", ""},
		{"USERNAME,name.givenName", ""},
		{"urn:ietf:params:scim:schemas:core:2.0:User:displayName", ""},
		{ext + ":department", ""},
		{ext, ""},
		{"name.givenName,emails.value," + ext + ":department", ""},
		{"groups.display,groups.$REF,members.type", ""},
		{"emails.primary,meta.version,meta.location", ""},
		{"userName.x,active.y,displayName", ""},
		{"name.nickName,emails.nope", ""},
		{"name,name.givenName,groups", ""},
		{"id,schemas", ""},
		{"", "emails"},
		{"", "emails,groups,meta,id,schemas"},
		{"", "name.formatted,meta.location"},
		{"", "name.givenName,name.familyName,name.formatted"},
		{"", "groups.value,groups.display,groups.type,groups.$ref,members.value"},
		{"", "userName.x,externalId.y," + ext + ":employeeNumber"},
		{"", "urn:ietf:params:scim:schemas:core:2.0:Group:members,displayName"},
		{"name,emails,groups,members", "name.givenName,emails.type,groups.type"},
		{"name.givenName", "name"},
		{"meta.created,meta.version", "meta.version"},
		{"", ""},
	}
	users, groups := sampleUsers(), sampleGroups()
	for _, c := range cases {
		p := newProjection(splitNonEmpty(c.attributes), splitNonEmpty(c.excluded))
		for i := range users {
			u := newUserResource(&users[i], testBase)
			whole, err := json.Marshal(u)
			if err != nil {
				t.Fatal(err)
			}
			checkProjection(t, c.attributes, c.excluded, whole, appendUser(nil, &u, &p))
		}
		for i := range groups {
			g := newGroupResource(&groups[i], testBase)
			whole, err := json.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			checkProjection(t, c.attributes, c.excluded, whole, appendGroup(nil, &g, &p))
		}
	}
}

func splitNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func checkProjection(t *testing.T, attributes, excluded string, whole, got []byte) {
	t.Helper()
	var want, have map[string]any
	if err := json.Unmarshal(whole, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &have); err != nil {
		t.Fatalf("attributes=%q excludedAttributes=%q: invalid JSON %s: %v", attributes, excluded, got, err)
	}
	mapProjection(newProjection(splitNonEmpty(attributes), splitNonEmpty(excluded)), want)
	if !reflect.DeepEqual(have, want) {
		t.Errorf("attributes=%q excludedAttributes=%q:\n got %v\nwant %v", attributes, excluded, have, want)
	}
}

// mapProjection applies p to a decoded resource in place: schemas and id are
// always kept; a complex or multi-valued attribute left empty is removed.
func mapProjection(p projection, res map[string]any) {
	for key, v := range res {
		lk := strings.ToLower(key)
		if lk == "schemas" || lk == "id" {
			continue
		}
		if p.include != nil {
			subs, ok := p.include[lk]
			if !ok {
				delete(res, key)
				continue
			}
			if subs != nil {
				if v = keepSubs(v, subs, true); v == nil {
					delete(res, key)
					continue
				}
				res[key] = v
			}
		}
		if subs, ok := p.exclude[lk]; ok {
			if subs == nil {
				delete(res, key)
				continue
			}
			if v = keepSubs(v, subs, false); v == nil {
				delete(res, key)
				continue
			}
			res[key] = v
		}
	}
}

// keepSubs keeps (keep=true) or drops the named sub-attributes of a complex
// value or of each element of a multi-valued one; nil when nothing is left.
func keepSubs(v any, subs map[string]bool, keep bool) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if subs[strings.ToLower(k)] == keep {
				out[k] = x
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, e := range v {
			if x := keepSubs(e, subs, keep); x != nil {
				out = append(out, x)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	default:
		if keep {
			return nil
		}
		return v
	}
}
