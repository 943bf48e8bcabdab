package scimserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// seedSmallStore writes a few users and nested groups straight through the
// store's Apply, for tests that need data but no directory.
func seedSmallStore(t testing.TB, db *store.DB) {
	t.Helper()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p := &bridge.Plan{
		GroupMembers: map[string][]bridge.Member{},
		Ancestors:    map[string][]string{"g2": {"g1"}},
	}
	for i, name := range []string{"amy", "Ben", "cleo"} {
		id := fmt.Sprintf("u%d", i+1)
		p.CreateUsers = append(p.CreateUsers, bridge.UserRow{
			ID: id,
			User: schema.User{
				DN: "uid=" + name + ",ou=people,dc=example,dc=com", ExternalID: "ext-" + id, UserName: name,
				GivenName: name, FamilyName: "Test", DisplayName: name + " Test", Email: name + "@example.com",
				Active: i != 2, Department: "Eng",
			},
			DNNorm: "uid=" + strings.ToLower(name) + ",ou=people,dc=example,dc=com", UserNameNorm: strings.ToLower(name),
			Hash: "h" + id, GroupsHash: "g" + id, Version: "v1-" + id,
			Created: at, LastModified: at.Add(time.Duration(i) * time.Hour),
		})
	}
	for i, name := range []string{"outer", "inner"} {
		id := fmt.Sprintf("g%d", i+1)
		p.CreateGroups = append(p.CreateGroups, bridge.GroupRow{
			ID: id, ExternalID: "ext-" + id, DN: "cn=" + name + ",ou=groups,dc=example,dc=com",
			DNNorm: "cn=" + name + ",ou=groups,dc=example,dc=com", Name: name, NameNorm: name,
			Hash: "h" + id, MembersHash: "m" + id, Version: "v1-" + id, Created: at, LastModified: at,
		})
	}
	p.GroupMembers["g1"] = []bridge.Member{{ID: "u1", Type: bridge.MemberUser}, {ID: "g2", Type: bridge.MemberGroup}}
	p.GroupMembers["g2"] = []bridge.Member{{ID: "u2", Type: bridge.MemberUser}}
	if err := db.Apply(context.Background(), p, nil); err != nil {
		t.Fatalf("seed store: %v", err)
	}
}

// FuzzListQuery sends arbitrary list parameters to /Users and /Groups, as a
// GET and as a POST /.search: the server must answer every request with a
// SCIM response that is never a 500 (nor a panic).
func FuzzListQuery(f *testing.F) {
	seeds := [][6]string{
		{`userName eq "amy"`, "", "", "", "1", "10"},
		{`emails[type eq "work"].value eq "amy@example.com"`, "userName,name.givenName", "", "userName", "1", "2"},
		{`id eq "g1" and members[value eq "u1"]`, "", "members", "displayName", "0", "-1"},
		{`meta.lastModified gt "2026-03-01T10:30:00Z" or not (active eq true)`, "", "groups", "", "", ""},
		{`emails[type eq "work" or value co "x"].value sw "a"`, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "", "", "2", "0"},
		{`userName eq "a\"b" and displayName co "\\"`, "emails.value", "meta", "USERNAME", "99999999999999999999", "1e3"},
		{`groups[value eq "g1"]`, ",,", ",", "meta.created", "-9223372036854775808", "9223372036854775807"},
		{`(((userName pr)))`, "", "", "", "", ""},
		{`emails[type eq "work"].value eq`, "", "", "", "", ""},
		{`x[y eq "z"].`, "", "", "", "", ""},
		{"userName eq \"\x00\xff\"", "", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], "descending")
	}
	db := openStore(f)
	seedSmallStore(f, db)
	h, err := New(db, Options{Tokens: []string{testToken}, MaxResults: 50, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, filter, attrs, excluded, sortBy, startIndex, count, sortOrder string) {
		for _, endpoint := range []string{"/Users", "/Groups"} {
			q := url.Values{}
			for k, v := range map[string]string{"filter": filter, "attributes": attrs, "excludedAttributes": excluded,
				"sortBy": sortBy, "sortOrder": sortOrder, "startIndex": startIndex, "count": count} {
				if v != "" {
					q.Set(k, v)
				}
			}
			checkNo500(t, h, httptest.NewRequest(http.MethodGet, endpoint+"?"+q.Encode(), nil))

			body := map[string]any{
				"schemas": []string{searchRequestSchema}, "filter": filter, "sortBy": sortBy, "sortOrder": sortOrder,
				"attributes": strings.Split(attrs, ","), "excludedAttributes": strings.Split(excluded, ","),
			}
			if n, err := strconv.Atoi(startIndex); err == nil {
				body["startIndex"] = n
			}
			if n, err := strconv.Atoi(count); err == nil {
				body["count"] = n
			}
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			checkNo500(t, h, httptest.NewRequest(http.MethodPost, endpoint+"/.search", strings.NewReader(string(raw))))
		}
	})
}

func checkNo500(t *testing.T, h http.Handler, req *http.Request) {
	t.Helper()
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != contentType {
		t.Fatalf("%s %s: Content-Type %q", req.Method, req.URL, ct)
	}
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v: %s", req.Method, req.URL, err, rec.Body)
	}
	if rec.Code == http.StatusOK && (v["totalResults"] == nil || v["Resources"] == nil) {
		t.Fatalf("%s %s: 200 without a ListResponse: %s", req.Method, req.URL, rec.Body)
	}
}
