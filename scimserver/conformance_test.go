package scimserver

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/store"
)

// The conformance suite follows /work/shared/docs/scim-conformance.md item by
// item (the numbers in the subtest names), for a read-only provider, against
// a store filled by a real sync of the base slapd fixture
// (testdata/ldif/README.md):
//
//	users:  alice bob carol dave erin frank gina ivan zoe (GINA and the entry
//	        without uid are skipped; mallory is out of scope)
//	groups: engineers ⊃ backend ⊃ platform ⊃ sre; cycle-a ⇄ cycle-b; design; ghosts
//	direct members: engineers {alice, backend}, backend {bob, platform},
//	        platform {carol, zoe, sre}, sre {dave}, cycle-a {erin, cycle-b},
//	        cycle-b {cycle-a}, design {zoe, frank, gina}, ghosts {}

// fixture is a SCIM server over a store synced from a real slapd.
type fixture struct {
	url  string // .../scim/v2
	root string // the server URL without /scim/v2
	ldap *slapdtest.Server
	db   *store.DB
	sync func()
	uid  map[string]string // userName → id
	gid  map[string]string // group name → id
}

var fixtureUsers = []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "ivan", "zoe"}

var fixtureGroups = []string{"backend", "cycle-a", "cycle-b", "design", "engineers", "ghosts", "platform", "sre"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	srv := slapdtest.Start(t)
	db := openStore(t)
	settings := srv.Settings()
	settings.Users.Attributes.EmployeeNumber = "employeeNumber"
	settings.Users.Attributes.Department = "departmentNumber"
	syncer := bridge.NewSyncer(db, ldapsource.Dial, discardLogger())
	fx := &fixture{ldap: srv, db: db}
	fx.sync = func() {
		t.Helper()
		rep, err := syncer.Run(ctx, settings, bridge.Options{Trigger: bridge.TriggerManual})
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		if rep.Status != bridge.StatusSucceeded {
			t.Fatalf("sync: status %s: %s", rep.Status, rep.Error)
		}
	}
	fx.sync()
	fx.root = serve(t, db, Options{Logger: discardLogger()})
	fx.url = fx.root + MountPath

	fx.uid, fx.gid = map[string]string{}, map[string]string{}
	r := fx.get(t, "/Users?count=100&attributes=userName")
	for _, res := range resources(t, r) {
		fx.uid[res["userName"].(string)] = res["id"].(string)
	}
	r = fx.get(t, "/Groups?count=100&attributes=displayName")
	for _, res := range resources(t, r) {
		fx.gid[res["displayName"].(string)] = res["id"].(string)
	}
	if got := sortedKeys(fx.uid); !reflect.DeepEqual(got, fixtureUsers) {
		t.Fatalf("synced users %v, want %v", got, fixtureUsers)
	}
	if got := sortedKeys(fx.gid); !reflect.DeepEqual(got, fixtureGroups) {
		t.Fatalf("synced groups %v, want %v", got, fixtureGroups)
	}
	return fx
}

func (fx *fixture) get(t *testing.T, path string, headers ...string) response {
	t.Helper()
	return call(t, http.MethodGet, fx.url+path, "", headers...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// resources returns a 200 ListResponse's Resources.
func resources(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.raw)
	}
	if s := r.body["schemas"]; !reflect.DeepEqual(s, []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"}) {
		t.Fatalf("schemas %v, want ListResponse: %s", s, r.raw)
	}
	list, ok := r.body["Resources"].([]any)
	if !ok {
		t.Fatalf("Resources is %T, want an array: %s", r.body["Resources"], r.raw)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}

// names returns the userName (or displayName) of each listed resource, in order.
func names(t *testing.T, r response) []string {
	t.Helper()
	out := []string{}
	for _, res := range resources(t, r) {
		if n, ok := res["userName"].(string); ok {
			out = append(out, n)
		} else {
			out = append(out, res["displayName"].(string))
		}
	}
	return out
}

// page checks a ListResponse's numbers.
func page(t *testing.T, r response, total, items, start int) {
	t.Helper()
	got := []any{r.body["totalResults"], r.body["itemsPerPage"], r.body["startIndex"]}
	want := []any{float64(total), float64(items), float64(start)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("totalResults, itemsPerPage, startIndex = %v, want %v: %s", got, want, r.raw)
	}
}

// scimErr checks a SCIM error response exactly.
func scimErr(t *testing.T, r response, status int, scimType, detail string) {
	t.Helper()
	want := map[string]any{
		"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status),
		"detail":  detail,
	}
	if scimType != "" {
		want["scimType"] = scimType
	}
	if r.status != status || !reflect.DeepEqual(r.body, want) {
		t.Fatalf("got %d %s\nwant %d %v", r.status, r.raw, status, want)
	}
	if ct := r.header.Get("Content-Type"); ct != contentType {
		t.Fatalf("error Content-Type %q", ct)
	}
}

func q(filter string) string { return url.QueryEscape(filter) }

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestConformance(t *testing.T) {
	fx := newFixture(t)
	base := fx.url

	t.Run("01 ServiceProviderConfig is truthful", func(t *testing.T) {
		r := fx.get(t, "/ServiceProviderConfig")
		want := map[string]any{
			"schemas":          []any{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
			"documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
			"patch":            map[string]any{"supported": false},
			"bulk":             map[string]any{"supported": false, "maxOperations": 0.0, "maxPayloadSize": 0.0},
			"filter":           map[string]any{"supported": true, "maxResults": 1000.0},
			"changePassword":   map[string]any{"supported": false},
			"sort":             map[string]any{"supported": true},
			"etag":             map[string]any{"supported": true},
			"authenticationSchemes": []any{map[string]any{
				"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
				"description": "Authorization: Bearer <token>, with a token from SCIMBRIDGE_SCIM_TOKEN",
				"specUri":     "https://www.rfc-editor.org/rfc/rfc6750",
			}},
			"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
		}
		if r.status != 200 || !reflect.DeepEqual(r.body, want) {
			t.Fatalf("got %d %s\nwant %v", r.status, r.raw, want)
		}
	})

	t.Run("02 ResourceTypes", func(t *testing.T) {
		r := fx.get(t, "/ResourceTypes")
		page(t, r, 2, 2, 1)
		got := map[string]any{}
		for _, res := range resources(t, r) {
			got[res["name"].(string)] = []any{res["endpoint"], res["schema"], res["schemaExtensions"]}
		}
		want := map[string]any{
			"User":  []any{"/Users", userSchema, []any{map[string]any{"schema": enterpriseSchema, "required": false}}},
			"Group": []any{"/Groups", groupSchema, []any{}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("resource types %v, want %v", got, want)
		}
		if r := fx.get(t, "/ResourceTypes?filter="+q(`name eq "User"`)); r.status != http.StatusForbidden {
			t.Fatalf("filtered /ResourceTypes: status %d, want 403", r.status)
		}
	})

	t.Run("03 Schemas", func(t *testing.T) {
		r := fx.get(t, "/Schemas")
		ids := []string{}
		for _, res := range resources(t, r) {
			ids = append(ids, res["id"].(string))
		}
		sort.Strings(ids)
		want := []string{
			"urn:ietf:params:scim:schemas:core:2.0:Group", "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
			"urn:ietf:params:scim:schemas:core:2.0:Schema", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
			"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
		}
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("schema ids %v, want %v", ids, want)
		}
		page(t, r, 6, 6, 1)
		r = fx.get(t, "/Schemas/"+userSchema)
		if r.status != 200 || r.body["id"] != userSchema {
			t.Fatalf("GET /Schemas/%s: %d %s", userSchema, r.status, r.raw)
		}
		var attrs []string
		for _, a := range r.body["attributes"].([]any) {
			a := a.(map[string]any)
			attrs = append(attrs, a["name"].(string)+":"+a["mutability"].(string))
		}
		wantAttrs := []string{"externalId:readOnly", "userName:readOnly", "name:readOnly", "displayName:readOnly", "emails:readOnly", "active:readOnly", "groups:readOnly"}
		if !reflect.DeepEqual(attrs, wantAttrs) {
			t.Fatalf("User schema attributes %v, want %v", attrs, wantAttrs)
		}
		if r := fx.get(t, "/Schemas/urn:example:nothing"); r.status != http.StatusNotFound {
			t.Fatalf("unknown schema: status %d, want 404", r.status)
		}
	})

	t.Run("04 missing or wrong token is 401", func(t *testing.T) {
		const detail = "missing or invalid bearer token: send Authorization: Bearer <token>"
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken, "Bearer"} {
			for _, path := range []string{"/Users", "/Users/" + fx.uid["alice"], "/ServiceProviderConfig", "/Schemas"} {
				r := call(t, http.MethodGet, base+path, "", "Authorization", auth)
				scimErr(t, r, http.StatusUnauthorized, "", detail)
				// RFC 6750 §3.1: error="invalid_token" only when a bearer token was sent.
				want := `Bearer realm="scimbridge"`
				if strings.HasPrefix(auth, "Bearer ") {
					want += `, error="invalid_token", error_description="the bearer token is not valid"`
				}
				if got := r.header.Get("WWW-Authenticate"); got != want {
					t.Fatalf("Authorization %q: WWW-Authenticate %q, want %q", auth, got, want)
				}
			}
		}
		// Every configured token works; the scheme name is case-insensitive.
		for _, auth := range []string{"Bearer " + testToken2, "bearer " + testToken} {
			if r := call(t, http.MethodGet, base+"/Users?count=0", "", "Authorization", auth); r.status != 200 {
				t.Fatalf("Authorization %q: status %d", auth, r.status)
			}
		}
	})

	t.Run("05 first page of users", func(t *testing.T) {
		r := fx.get(t, "/Users?count=1&startIndex=1&sortBy=userName")
		page(t, r, 9, 1, 1)
		res := resources(t, r)[0]
		got := []any{res["id"], res["userName"], res["name"].(map[string]any)["givenName"],
			res["name"].(map[string]any)["familyName"], res["active"], res["emails"].([]any)[0].(map[string]any)["value"]}
		want := []any{fx.uid["alice"], "alice", "Alice", "Anderson", true, "alice@example.com"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("first user %v, want %v", got, want)
		}
	})

	t.Run("06 get one user: exact representation, ETag", func(t *testing.T) {
		u, found, err := fx.db.GetUser(context.Background(), fx.uid["alice"])
		if err != nil || !found {
			t.Fatalf("store.GetUser: %v %v", found, err)
		}
		r := fx.get(t, "/Users/"+fx.uid["alice"])
		eng := fx.gid["engineers"]
		want := map[string]any{
			"schemas":     []any{userSchema, enterpriseSchema},
			"id":          fx.uid["alice"],
			"externalId":  u.ExternalID,
			"userName":    "alice",
			"name":        map[string]any{"givenName": "Alice", "familyName": "Anderson", "formatted": "Alice Anderson"},
			"displayName": "Alice Anderson",
			"emails":      []any{map[string]any{"value": "alice@example.com", "type": "work", "primary": true}},
			"active":      true,
			"groups": []any{map[string]any{"value": eng, "display": "engineers", "type": "direct",
				"$ref": base + "/Groups/" + eng}},
			enterpriseSchema: map[string]any{"employeeNumber": "1001", "department": "Engineering"},
			"meta": map[string]any{
				"resourceType": "User",
				"created":      u.Created.UTC().Format(timeFormat),
				"lastModified": u.LastModified.UTC().Format(timeFormat),
				"version":      `W/"` + u.Version + `"`,
				"location":     base + "/Users/" + fx.uid["alice"],
			},
		}
		if u.ExternalID == "" || u.Version == "" {
			t.Fatalf("store user lacks externalId or version: %+v", u)
		}
		if r.status != 200 || !reflect.DeepEqual(r.body, want) {
			t.Fatalf("got %d %s\nwant %v", r.status, r.raw, want)
		}
		if r.header.Get("ETag") != `W/"`+u.Version+`"` {
			t.Fatalf("ETag %q, want the version %q", r.header.Get("ETag"), u.Version)
		}
	})

	t.Run("07 unknown user is 404", func(t *testing.T) {
		scimErr(t, fx.get(t, "/Users/no-such-id"), http.StatusNotFound, "", `user "no-such-id" not found`)
		scimErr(t, fx.get(t, "/Groups/no-such-id"), http.StatusNotFound, "", `group "no-such-id" not found`)
	})

	t.Run("08 no match is an empty list, not 404", func(t *testing.T) {
		r := fx.get(t, "/Users?filter="+q(`userName eq "nonexistent"`))
		page(t, r, 0, 0, 1)
		if got := resources(t, r); len(got) != 0 {
			t.Fatalf("Resources %v, want []", got)
		}
	})

	t.Run("09 userName and attribute names compare case-insensitively", func(t *testing.T) {
		for _, f := range []string{`userName eq "ALICE"`, `USERNAME eq "alice"`, `username Eq "Alice"`} {
			if got := names(t, fx.get(t, "/Users?filter="+q(f))); !reflect.DeepEqual(got, []string{"alice"}) {
				t.Fatalf("%s: %v, want [alice]", f, got)
			}
		}
	})

	t.Run("10 externalId and emails value paths", func(t *testing.T) {
		u, _, err := fx.db.GetUser(context.Background(), fx.uid["bob"])
		if err != nil {
			t.Fatal(err)
		}
		cases := map[string][]string{
			`externalId eq "` + u.ExternalID + `"`:               {"bob"},
			`emails[type eq "work"].value eq "bob@example.com"`:  {"bob"},
			`emails[type eq "work" and value co "@example.com"]`: {"alice", "bob", "carol", "dave", "erin", "gina", "ivan", "zoe"},
			`emails[type eq "work" and value ew "@x"]`:           {},
			`userName eq "bob" and emails[type eq "work"]`:       {"bob"},
			`emails pr`:       {"alice", "bob", "carol", "dave", "erin", "gina", "ivan", "zoe"},
			`not (emails pr)`: {"frank"},
		}
		for f, want := range cases {
			if got := names(t, fx.get(t, "/Users?sortBy=userName&filter="+q(f))); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %v, want %v", f, got, want)
			}
		}
	})

	t.Run("11 pagination is 1-based", func(t *testing.T) {
		r := fx.get(t, "/Users?sortBy=userName&startIndex=2&count=1")
		page(t, r, 9, 1, 2)
		if got := names(t, r); !reflect.DeepEqual(got, []string{"bob"}) {
			t.Fatalf("startIndex=2: %v", got)
		}
		r = fx.get(t, "/Users?count=0")
		page(t, r, 9, 0, 1)
		if len(resources(t, r)) != 0 {
			t.Fatalf("count=0 returned resources: %s", r.raw)
		}
		for _, s := range []string{"0", "-3"} {
			r = fx.get(t, "/Users?sortBy=userName&count=2&startIndex="+s)
			page(t, r, 9, 2, 1)
			if got := names(t, r); !reflect.DeepEqual(got, []string{"alice", "bob"}) {
				t.Fatalf("startIndex=%s: %v", s, got)
			}
		}
		r = fx.get(t, "/Users?sortBy=userName&startIndex=8&count=5")
		page(t, r, 9, 2, 8)
		if got := names(t, r); !reflect.DeepEqual(got, []string{"ivan", "zoe"}) {
			t.Fatalf("last page: %v", got)
		}
		r = fx.get(t, "/Users?startIndex=50")
		page(t, r, 9, 0, 50)
		scimErr(t, fx.get(t, "/Users?count=ten"), http.StatusBadRequest, "invalidValue", `count must be an integer, got "ten"`)
		scimErr(t, fx.get(t, "/Users?startIndex=1.5"), http.StatusBadRequest, "invalidValue", `startIndex must be an integer, got "1.5"`)
	})

	t.Run("11 count is capped by maxResults", func(t *testing.T) {
		small := serve(t, fx.db, Options{MaxResults: 3, Logger: discardLogger()}) + MountPath
		for _, p := range []string{"/Users?sortBy=userName&count=100", "/Users?sortBy=userName"} {
			r := call(t, http.MethodGet, small+p, "")
			page(t, r, 9, 3, 1)
			if got := names(t, r); !reflect.DeepEqual(got, []string{"alice", "bob", "carol"}) {
				t.Fatalf("%s: %v", p, got)
			}
		}
		r := call(t, http.MethodGet, small+"/ServiceProviderConfig", "")
		if got := r.body["filter"]; !reflect.DeepEqual(got, map[string]any{"supported": true, "maxResults": 3.0}) {
			t.Fatalf("advertised filter %v", got)
		}
	})

	t.Run("12 attributes and excludedAttributes", func(t *testing.T) {
		alice := "/Users?filter=" + q(`userName eq "alice"`)
		cases := []struct {
			params string
			want   []string
		}{
			{"&attributes=userName", []string{"id", "schemas", "userName"}},
			{"&attributes=USERNAME,name.givenName", []string{"id", "name", "schemas", "userName"}},
			{"&attributes=urn:ietf:params:scim:schemas:core:2.0:User:displayName", []string{"displayName", "id", "schemas"}},
			{"&attributes=" + enterpriseSchema + ":department", []string{enterpriseSchema, "id", "schemas"}},
			{"&excludedAttributes=emails", []string{"active", "displayName", "externalId", "groups", "id", "meta", "name", "schemas", enterpriseSchema, "userName"}},
			{"&excludedAttributes=emails,groups,meta,id", []string{"active", "displayName", "externalId", "id", "name", "schemas", enterpriseSchema, "userName"}},
		}
		for _, c := range cases {
			res := resources(t, fx.get(t, alice+c.params))
			sort.Strings(c.want)
			if len(res) != 1 || !reflect.DeepEqual(keys(res[0]), c.want) {
				t.Fatalf("%s: keys %v, want %v", c.params, keys(res[0]), c.want)
			}
		}
		res := resources(t, fx.get(t, alice+"&attributes=name.givenName,emails.value,"+enterpriseSchema+":department"))[0]
		want := map[string]any{
			"schemas": []any{userSchema, enterpriseSchema}, "id": fx.uid["alice"],
			"name":           map[string]any{"givenName": "Alice"},
			"emails":         []any{map[string]any{"value": "alice@example.com"}},
			enterpriseSchema: map[string]any{"department": "Engineering"},
		}
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("sub-attribute projection %v, want %v", res, want)
		}
		res = resources(t, fx.get(t, alice+"&excludedAttributes=name.formatted,meta.location"))[0]
		if !reflect.DeepEqual(keys(res["name"].(map[string]any)), []string{"familyName", "givenName"}) ||
			!reflect.DeepEqual(keys(res["meta"].(map[string]any)), []string{"created", "lastModified", "resourceType", "version"}) {
			t.Fatalf("excluded sub-attributes: %v", res)
		}
		r := fx.get(t, "/Users/"+fx.uid["alice"]+"?attributes=userName")
		if r.status != 200 || !reflect.DeepEqual(keys(r.body), []string{"id", "schemas", "userName"}) {
			t.Fatalf("GET one with attributes=userName: %d %s", r.status, r.raw)
		}
	})

	t.Run("13 malformed filter is 400 invalidFilter", func(t *testing.T) {
		scimErr(t, fx.get(t, "/Users?filter="+q(`userName eq`)), http.StatusBadRequest, "invalidFilter",
			"the filter cannot be parsed: check quotes, operators and brackets")
		scimErr(t, fx.get(t, "/Users?filter="+q(`nickName eq "x"`)), http.StatusBadRequest, "invalidFilter",
			`unknown or unfilterable attribute "nickName"`)
		scimErr(t, fx.get(t, "/Groups?filter="+q(`meta.lastModified gt "soon"`)), http.StatusBadRequest, "invalidFilter",
			`meta.lastModified: "soon" is not an RFC 3339 date-time such as "2026-01-02T15:04:05Z"`)
	})

	t.Run("14-30 writes are refused and change nothing", func(t *testing.T) {
		ctx := context.Background()
		users, groups, err := fx.db.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := fx.get(t, "/Users/"+fx.uid["alice"])
		userBody := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mallory2","active":true}`
		patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":false}]}`
		groupBody := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"new"}`
		const userDetail = "scimbridge is read-only: LDAP is the source of truth; change the user in the directory"
		const groupDetail = "scimbridge is read-only: LDAP is the source of truth; change the group in the directory"
		cases := []struct{ method, path, body, detail string }{
			{http.MethodPost, "/Users", userBody, userDetail},
			{http.MethodPut, "/Users/" + fx.uid["alice"], userBody, userDetail},
			{http.MethodPatch, "/Users/" + fx.uid["alice"], patch, userDetail},
			{http.MethodDelete, "/Users/" + fx.uid["alice"], "", userDetail},
			{http.MethodPut, "/Users/unknown", userBody, userDetail},
			{http.MethodPost, "/Groups", groupBody, groupDetail},
			{http.MethodPut, "/Groups/" + fx.gid["engineers"], groupBody, groupDetail},
			{http.MethodPatch, "/Groups/" + fx.gid["engineers"], patch, groupDetail},
			{http.MethodDelete, "/Groups/" + fx.gid["engineers"], "", groupDetail},
		}
		for _, c := range cases {
			r := call(t, c.method, base+c.path, c.body)
			scimErr(t, r, http.StatusMethodNotAllowed, "", c.detail)
			if r.header.Get("Allow") != "GET" {
				t.Fatalf("%s %s: Allow %q", c.method, c.path, r.header.Get("Allow"))
			}
		}
		u2, g2, err := fx.db.Counts(ctx)
		if err != nil || u2 != users || g2 != groups {
			t.Fatalf("counts after writes %d/%d, before %d/%d (%v)", u2, g2, users, groups, err)
		}
		after := fx.get(t, "/Users/"+fx.uid["alice"])
		if !bytes.Equal(before.raw, after.raw) {
			t.Fatalf("alice changed:\n%s\n%s", before.raw, after.raw)
		}
	})

	t.Run("24 groups without members", func(t *testing.T) {
		r := fx.get(t, "/Groups?excludedAttributes=members&filter="+q(`displayName eq "engineers"`))
		res := resources(t, r)
		if len(res) != 1 || res[0]["id"] != fx.gid["engineers"] || res[0]["members"] != nil {
			t.Fatalf("got %s", r.raw)
		}
		r = fx.get(t, "/Groups/"+fx.gid["engineers"]+"?excludedAttributes=members")
		if r.status != 200 || !reflect.DeepEqual(keys(r.body), []string{"displayName", "externalId", "id", "meta", "schemas"}) {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		if got := names(t, fx.get(t, "/Groups?filter="+q(`displayName eq "ENGINEERS"`))); !reflect.DeepEqual(got, []string{"engineers"}) {
			t.Fatalf("displayName in another case: %v", got)
		}
	})

	t.Run("25 Entra membership check", func(t *testing.T) {
		check := func(group, user string, want int) {
			t.Helper()
			f := `id eq "` + fx.gid[group] + `" and members[value eq "` + fx.uid[user] + `"]`
			r := fx.get(t, "/Groups?filter="+q(f)+"&excludedAttributes=members")
			page(t, r, want, want, 1)
			for _, res := range resources(t, r) {
				if _, ok := res["members"]; ok || res["id"] != fx.gid[group] {
					t.Fatalf("%s: %s", f, r.raw)
				}
			}
		}
		check("engineers", "alice", 1)
		check("engineers", "bob", 0) // bob is in engineers only through backend
		check("backend", "bob", 1)
		check("sre", "alice", 0)
	})

	t.Run("31 nested groups visible both ways", func(t *testing.T) {
		type ref struct{ Display, Type, Ref string }
		groupsOf := func(user string) []ref {
			r := fx.get(t, "/Users/"+fx.uid[user])
			var out []ref
			gs, _ := r.body["groups"].([]any)
			for _, g := range gs {
				g := g.(map[string]any)
				if g["$ref"] != base+"/Groups/"+g["value"].(string) || fx.gid[g["display"].(string)] != g["value"] {
					t.Fatalf("%s: bad group reference %v", user, g)
				}
				out = append(out, ref{g["display"].(string), g["type"].(string), ""})
			}
			return out
		}
		wantGroups := map[string][]ref{
			"alice": {{"engineers", "direct", ""}},
			"bob":   {{"backend", "direct", ""}, {"engineers", "indirect", ""}},
			"carol": {{"backend", "indirect", ""}, {"engineers", "indirect", ""}, {"platform", "direct", ""}},
			"dave":  {{"backend", "indirect", ""}, {"engineers", "indirect", ""}, {"platform", "indirect", ""}, {"sre", "direct", ""}},
			"zoe":   {{"backend", "indirect", ""}, {"design", "direct", ""}, {"engineers", "indirect", ""}, {"platform", "direct", ""}},
			"erin":  {{"cycle-a", "direct", ""}, {"cycle-b", "indirect", ""}},
			"frank": {{"design", "direct", ""}},
			"gina":  {{"design", "direct", ""}},
			"ivan":  nil,
		}
		for user, want := range wantGroups {
			if got := groupsOf(user); !reflect.DeepEqual(got, want) {
				t.Errorf("%s's groups %v, want %v", user, got, want)
			}
		}
		type member struct{ Value, Display, Type, Ref string }
		membersOf := func(group string) []member {
			r := fx.get(t, "/Groups/"+fx.gid[group])
			var out []member
			ms, _ := r.body["members"].([]any)
			for _, m := range ms {
				m := m.(map[string]any)
				out = append(out, member{m["value"].(string), m["display"].(string), m["type"].(string), m["$ref"].(string)})
			}
			return out
		}
		u := func(name, display string) member {
			return member{fx.uid[name], display, "User", base + "/Users/" + fx.uid[name]}
		}
		g := func(name string) member {
			return member{fx.gid[name], name, "Group", base + "/Groups/" + fx.gid[name]}
		}
		wantMembers := map[string][]member{
			"engineers": {g("backend"), u("alice", "Alice Anderson")},
			"backend":   {g("platform"), u("bob", "Bob Brown")},
			"platform":  {g("sre"), u("carol", "Carol Clark"), u("zoe", "Zoë Ågren")},
			"sre":       {u("dave", "Dave Davis")},
			"cycle-a":   {g("cycle-b"), u("erin", "Erin Evans")},
			"cycle-b":   {g("cycle-a")},
			"design":    {u("frank", "Frank Fischer"), u("gina", "Gina Green"), u("zoe", "Zoë Ågren")},
			"ghosts":    nil,
		}
		for group, want := range wantMembers {
			if got := membersOf(group); !reflect.DeepEqual(got, want) {
				t.Errorf("%s's members %v, want %v", group, got, want)
			}
		}
		// The same, through filters evaluated by the store.
		f := `groups[value eq "` + fx.gid["engineers"] + `" and type eq "indirect"]`
		if got := names(t, fx.get(t, "/Users?sortBy=userName&filter="+q(f))); !reflect.DeepEqual(got, []string{"bob", "carol", "dave", "zoe"}) {
			t.Errorf("%s: %v", f, got)
		}
		f = `members.value eq "` + fx.uid["zoe"] + `"`
		if got := names(t, fx.get(t, "/Groups?sortBy=displayName&filter="+q(f))); !reflect.DeepEqual(got, []string{"design", "platform"}) {
			t.Errorf("%s: %v", f, got)
		}
	})

	t.Run("32 content type, ETag, If-None-Match, If-Match", func(t *testing.T) {
		path := "/Groups/" + fx.gid["engineers"]
		r := fx.get(t, path)
		tag := r.header.Get("ETag")
		if r.status != 200 || !strings.HasPrefix(tag, `W/"`) || r.body["meta"].(map[string]any)["version"] != tag {
			t.Fatalf("ETag %q, meta %v", tag, r.body["meta"])
		}
		for _, p := range []string{path, "/Users", "/Users/nope", "/ServiceProviderConfig", "/Schemas", "/ResourceTypes/User"} {
			if ct := fx.get(t, p).header.Get("Content-Type"); ct != contentType {
				t.Errorf("%s: Content-Type %q", p, ct)
			}
		}
		for _, inm := range []string{tag, strings.TrimPrefix(tag, "W/"), `"other", ` + tag, "*"} {
			r := fx.get(t, path, "If-None-Match", inm)
			if r.status != http.StatusNotModified || len(r.raw) != 0 || r.header.Get("ETag") != tag {
				t.Fatalf("If-None-Match %s: %d %q %s", inm, r.status, r.header.Get("ETag"), r.raw)
			}
		}
		if r := fx.get(t, path, "If-None-Match", `W/"old"`); r.status != 200 {
			t.Fatalf("If-None-Match with another version: %d", r.status)
		}
		if r := fx.get(t, path, "If-Match", tag); r.status != 200 {
			t.Fatalf("If-Match with the version: %d", r.status)
		}
		scimErr(t, fx.get(t, path, "If-Match", `W/"old"`), http.StatusPreconditionFailed, "",
			"the group has changed: its version is "+tag)
	})

	t.Run("filter operators on the synced directory", func(t *testing.T) {
		cases := map[string][]string{
			`userName ne "alice" and userName lt "d"`:                          {"bob", "carol"},
			`userName sw "CA" or userName ew "ANK"`:                            {"carol", "frank"},
			`displayName co "an"`:                                              {"alice", "erin", "frank", "ivan"},
			`not (userName ge "f")`:                                            {"alice", "bob", "carol", "dave", "erin"},
			`userName gt "gina" and userName le "zoe"`:                         {"ivan", "zoe"},
			`name.givenName pr and not (name.familyName sw "a")`:               {"bob", "carol", "dave", "erin", "gina", "ivan", "zoe"},
			`name.givenName eq "zoë"`:                                          {"zoe"},
			`active eq true`:                                                   {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "ivan", "zoe"},
			`active eq false`:                                                  {},
			enterpriseSchema + `:department eq "Engineering"`:                  {"alice", "bob"},
			`employeeNumber eq "1002"`:                                         {"bob"},
			`meta.lastModified gt "2000-01-01T00:00:00Z"`:                      fixtureUsers,
			`meta.created lt "2000-01-01T00:00:00Z"`:                           {},
			`id eq "` + fx.uid["dave"] + `" or id eq "` + fx.uid["erin"] + `"`: {"dave", "erin"},
		}
		for f, want := range cases {
			if got := names(t, fx.get(t, "/Users?sortBy=userName&filter="+q(f))); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %v, want %v", f, got, want)
			}
		}
	})

	t.Run("sortBy and sortOrder", func(t *testing.T) {
		if got := names(t, fx.get(t, "/Groups?sortBy=displayName&sortOrder=descending")); !reflect.DeepEqual(got,
			[]string{"sre", "platform", "ghosts", "engineers", "design", "cycle-b", "cycle-a", "backend"}) {
			t.Fatalf("groups by displayName descending: %v", got)
		}
		if got := names(t, fx.get(t, "/Users?sortBy=DISPLAYNAME&count=3")); !reflect.DeepEqual(got, []string{"alice", "bob", "carol"}) {
			t.Fatalf("users by displayName: %v", got)
		}
		scimErr(t, fx.get(t, "/Users?sortBy=nickName"), http.StatusBadRequest, "invalidValue",
			`sortBy supports userName, displayName and id, got "nickName"`)
		scimErr(t, fx.get(t, "/Groups?sortBy=userName"), http.StatusBadRequest, "invalidValue",
			`sortBy supports displayName and id, got "userName"`)
		scimErr(t, fx.get(t, "/Users?sortOrder=up"), http.StatusBadRequest, "invalidValue",
			`sortOrder must be ascending or descending, got "up"`)
	})

	t.Run(".search works like GET", func(t *testing.T) {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],` +
			`"filter":"id eq \"` + fx.uid["bob"] + `\" or userName sw \"c\"","attributes":["userName"],` +
			`"sortBy":"userName","sortOrder":"descending","startIndex":1,"count":5}`
		r := call(t, http.MethodPost, base+"/Users/.search", body)
		page(t, r, 2, 2, 1)
		want := []map[string]any{
			{"schemas": []any{userSchema}, "id": fx.uid["carol"], "userName": "carol"},
			{"schemas": []any{userSchema, enterpriseSchema}, "id": fx.uid["bob"], "userName": "bob"},
		}
		if got := resources(t, r); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		body = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"excludedAttributes":["members"],` +
			`"filter":"id eq \"` + fx.gid["backend"] + `\" and members[value eq \"` + fx.uid["bob"] + `\"]"}`
		r = call(t, http.MethodPost, base+"/Groups/.search", body)
		page(t, r, 1, 1, 1)
		if res := resources(t, r)[0]; res["id"] != fx.gid["backend"] || res["members"] != nil {
			t.Fatalf("group search: %s", r.raw)
		}
		scimErr(t, call(t, http.MethodPost, base+"/Users/.search", `{"filter":"userName pr"}`), http.StatusBadRequest,
			"invalidSyntax", "schemas must contain urn:ietf:params:scim:api:messages:2.0:SearchRequest")
		scimErr(t, call(t, http.MethodPost, base+"/Users/.search", `{"schemas":`), http.StatusBadRequest,
			"invalidSyntax", "the body is not a SearchRequest JSON object")
		scimErr(t, call(t, http.MethodPost, base+"/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq"}`),
			http.StatusBadRequest, "invalidFilter", "the filter cannot be parsed: check quotes, operators and brackets")
		big := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"` + strings.Repeat(" ", maxBody) + `"}`
		scimErr(t, call(t, http.MethodPost, base+"/Users/.search", big), http.StatusRequestEntityTooLarge, "",
			"the request body is larger than 1048576 bytes")
		r = fx.get(t, "/Users/.search")
		scimErr(t, r, http.StatusMethodNotAllowed, "", "/Users/.search takes POST with a SearchRequest body")
	})

	t.Run("unknown endpoint is 404", func(t *testing.T) {
		scimErr(t, fx.get(t, "/Bogus"), http.StatusNotFound, "",
			"unknown endpoint: the SCIM API serves /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas")
	})
}

// TestIncrementalPullAfterDirectoryChange changes the directory, syncs again
// and checks what a client pulling with meta.lastModified and ETags sees.
func TestIncrementalPullAfterDirectoryChange(t *testing.T) {
	fx := newFixture(t)
	before := map[string]response{}
	var newest string
	for _, name := range fixtureUsers {
		r := fx.get(t, "/Users/"+fx.uid[name])
		before[name] = r
		if lm := r.body["meta"].(map[string]any)["lastModified"].(string); lm > newest {
			newest = lm
		}
	}
	design := fx.get(t, "/Groups/"+fx.gid["design"])

	fx.ldap.Load(t, slapdtest.LDIF(t, "change-mail.ldif")) // alice's mail changes
	fx.ldap.Load(t, slapdtest.LDIF(t, "add-member.ldif"))  // ivan joins design
	fx.sync()

	r := fx.get(t, "/Users?sortBy=userName&filter="+q(`meta.lastModified gt "`+newest+`"`))
	if got := names(t, r); !reflect.DeepEqual(got, []string{"alice", "ivan"}) {
		t.Fatalf("users modified after %s: %v, want [alice ivan]", newest, got)
	}
	alice := fx.get(t, "/Users/"+fx.uid["alice"], "If-None-Match", before["alice"].header.Get("ETag"))
	if alice.status != 200 || alice.header.Get("ETag") == before["alice"].header.Get("ETag") {
		t.Fatalf("alice after the change: %d, ETag %q (was %q)", alice.status, alice.header.Get("ETag"), before["alice"].header.Get("ETag"))
	}
	if got := alice.body["emails"].([]any)[0].(map[string]any)["value"]; got != "alice.anderson@example.com" {
		t.Fatalf("alice's email %v", got)
	}
	ivan := fx.get(t, "/Users/"+fx.uid["ivan"])
	if got := ivan.body["groups"]; !reflect.DeepEqual(got, []any{map[string]any{"value": fx.gid["design"],
		"display": "design", "type": "direct", "$ref": fx.url + "/Groups/" + fx.gid["design"]}}) {
		t.Fatalf("ivan's groups %v", got)
	}
	bob := fx.get(t, "/Users/"+fx.uid["bob"], "If-None-Match", before["bob"].header.Get("ETag"))
	if bob.status != http.StatusNotModified {
		t.Fatalf("unchanged bob with his ETag: status %d", bob.status)
	}
	d := fx.get(t, "/Groups/"+fx.gid["design"], "If-None-Match", design.header.Get("ETag"))
	if d.status != 200 || len(d.body["members"].([]any)) != 4 {
		t.Fatalf("design after ivan joined: %d %s", d.status, d.raw)
	}
}

// TestStoreErrorIsGeneric500 reads from a closed store: the client gets a
// generic 500, the log gets the real error.
func TestStoreErrorIsGeneric500(t *testing.T) {
	db := openStore(t)
	seedSmallStore(t, db)
	var logs bytes.Buffer
	base := serve(t, db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}) + MountPath
	db.Close()
	for _, p := range []string{"/Users", "/Groups?filter=" + q(`displayName eq "x"`), "/Users/u1", "/Groups/g1"} {
		scimErr(t, call(t, http.MethodGet, base+p, ""), http.StatusInternalServerError, "", "internal server error")
	}
	if !strings.Contains(logs.String(), "scim: store read failed") || !strings.Contains(logs.String(), "closed") {
		t.Fatalf("log lacks the store error:\n%s", logs.String())
	}
}

func TestNewRefusesMissingTokensAndBadBaseURL(t *testing.T) {
	db := openStore(t)
	for _, opts := range []Options{{}, {Tokens: []string{" ", ""}}} {
		if _, err := New(db, opts); err == nil || !strings.Contains(err.Error(), "SCIMBRIDGE_SCIM_TOKEN") {
			t.Errorf("New(%+v): %v, want an error naming SCIMBRIDGE_SCIM_TOKEN", opts, err)
		}
	}
	if _, err := New(db, Options{Tokens: []string{"t"}, BaseURL: "scim/v2"}); err == nil {
		t.Error("New with a relative base URL: no error")
	}
	if got := ParseTokens(" a, ,b ,"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("ParseTokens = %v", got)
	}
}

func TestBaseURLOption(t *testing.T) {
	db := openStore(t)
	seedSmallStore(t, db)
	base := serve(t, db, Options{BaseURL: "https://scim.example.com/scim/v2/", Logger: discardLogger()}) + MountPath
	r := call(t, http.MethodGet, base+"/Groups/g1", "")
	want := []any{
		map[string]any{"value": "g2", "display": "inner", "type": "Group", "$ref": "https://scim.example.com/scim/v2/Groups/g2"},
		map[string]any{"value": "u1", "display": "amy Test", "type": "User", "$ref": "https://scim.example.com/scim/v2/Users/u1"},
	}
	if !reflect.DeepEqual(r.body["members"], want) || r.body["meta"].(map[string]any)["location"] != "https://scim.example.com/scim/v2/Groups/g1" {
		t.Fatalf("got %s", r.raw)
	}
}
