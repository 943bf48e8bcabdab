package scimserver

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// discardWriter is a ResponseWriter that throws the body away and counts it.
type discardWriter struct {
	header http.Header
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkRenderUserPage renders a ListResponse of 1,000 users with 1–3
// groups each, without the store: the rendering share of a /Users page.
func BenchmarkRenderUserPage(b *testing.B) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	users := make([]store.UserResource, 1000)
	for i := range users {
		name := fmt.Sprintf("user%06d", i)
		users[i] = store.UserResource{
			UserRow: bridge.UserRow{ID: fmt.Sprintf("7c9e6679-7425-40de-944b-e07fc1f9%04d", i), Version: "3f2a9c41d0e8",
				Created: at, LastModified: at, User: schema.User{UserName: name, ExternalID: fmt.Sprintf("0f8fad5b-d9cb-469f-a165-70867728%04d", i),
					GivenName: "Given", FamilyName: "Family", DisplayName: "Given Family", Email: name + "@example.com", Active: true}},
		}
		for j := range 1 + i%3 {
			users[i].Groups = append(users[i].Groups, store.GroupRef{ID: fmt.Sprintf("group-%04d", (i*7+j)%2000),
				Name: fmt.Sprintf("group%04d", (i*7+j)%2000), Direct: j == 0})
		}
	}
	for _, c := range []struct{ name, attributes, excluded string }{
		{"all", "", ""},
		{"attributes=userName", "userName", ""},
		{"excludedAttributes=groups", "", "groups"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newProjection(splitNonEmpty(c.attributes), splitNonEmpty(c.excluded))
			w := &discardWriter{header: http.Header{}}
			for b.Loop() {
				writeList(w, 100_000, 2001, users, func(b []byte, u *store.UserResource) []byte {
					res := newUserResource(u, testBase)
					return appendUser(b, &res, &p)
				})
			}
			b.SetBytes(int64(w.n / b.N))
		})
	}
}
