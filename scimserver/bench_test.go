package scimserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// BenchmarkListPage1000 renders one page of 1,000 users with their groups out
// of a store of 5,000, each user directly in one of ten groups and, through
// nesting, in its parent (go test -bench ListPage ./scimserver).
func BenchmarkListPage1000(b *testing.B) {
	db := openStore(b)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p := &bridge.Plan{GroupMembers: map[string][]bridge.Member{}, Ancestors: map[string][]string{}}
	for i := range 10 {
		for _, id := range []string{fmt.Sprintf("g%02d", i), fmt.Sprintf("p%02d", i)} {
			p.CreateGroups = append(p.CreateGroups, bridge.GroupRow{ID: id, DN: "cn=" + id, DNNorm: "cn=" + id,
				Name: id, NameNorm: id, Hash: "h", MembersHash: "m", Version: "v", Created: at, LastModified: at})
		}
		child, parent := fmt.Sprintf("g%02d", i), fmt.Sprintf("p%02d", i)
		p.GroupMembers[parent] = []bridge.Member{{ID: child, Type: bridge.MemberGroup}}
		p.Ancestors[child] = []string{parent}
	}
	for i := range 5000 {
		id, name := fmt.Sprintf("u%05d", i), fmt.Sprintf("user%05d", i)
		p.CreateUsers = append(p.CreateUsers, bridge.UserRow{ID: id,
			User: schema.User{DN: "uid=" + name, UserName: name, GivenName: "Given", FamilyName: "Family",
				DisplayName: "Given Family", Email: name + "@example.com", Active: true},
			DNNorm: "uid=" + name, UserNameNorm: name, Hash: "h", GroupsHash: "g", Version: "v",
			Created: at, LastModified: at})
		gid := fmt.Sprintf("g%02d", i%10)
		p.GroupMembers[gid] = append(p.GroupMembers[gid], bridge.Member{ID: id, Type: bridge.MemberUser})
	}
	if err := db.Apply(context.Background(), p, nil); err != nil {
		b.Fatal(err)
	}
	h, err := New(db, Options{Tokens: []string{testToken}, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/Users?startIndex=2001&count=1000&sortBy=userName", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
