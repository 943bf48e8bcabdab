// Package iometetest is an in-process fake of IOMETE IAM's SCIM endpoint that
// implements IOMETE's documented semantics (shared/docs/iomete-scim.md), for
// testing push's "iomete" profile:
//
//   - a user's id is its userName, a group's id is its displayName;
//   - users: GET, POST (409 if the userName exists), PUT, DELETE; no PATCH;
//     PUT with active:false deletes the user (and its memberships);
//   - groups: GET, POST, PUT, PATCH, DELETE; members is the complete list,
//     unknown members are skipped;
//   - lists: filter (userName eq / displayName eq), startIndex (default 0,
//     treated as 1) and count (default 10);
//   - every request is logged.
package iometetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Request is one logged request.
type Request struct {
	Method string
	Path   string // relative to the SCIM base, e.g. "/Users/alice"
	Query  map[string]string
	Body   map[string]any
	Status int
}

// User is a user as the fake holds it.
type User struct {
	UserName   string
	GivenName  string
	FamilyName string
	Email      string
	Active     bool
	// Raw is the body last received, returned on reads with id and userName set.
	Raw map[string]any
}

// Server is a running fake.
type Server struct {
	// URL is the SCIM base URL.
	URL string
	// Header and Token are what requests must carry: Header "Authorization"
	// wants "Bearer <Token>", any other header the raw token.
	Header, Token string

	srv    *httptest.Server
	mu     sync.Mutex
	users  map[string]*User
	groups map[string][]string // displayName -> member userNames, in order
	log    []Request
}

// Start runs a fake on a loopback port that accepts token in header.
func Start(header, token string) *Server {
	s := &Server{Header: header, Token: token, users: map[string]*User{}, groups: map[string][]string{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/api/v1/identity/scim/v2"
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Reset clears the request log.
func (s *Server) Reset() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

// Users returns a copy of the users by userName.
func (s *Server) Users() map[string]User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]User{}
	for k, u := range s.users {
		out[k] = *u
	}
	return out
}

// Groups returns the groups with their sorted member userNames.
func (s *Server) Groups() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, m := range s.groups {
		c := append([]string{}, m...)
		sort.Strings(c)
		out[k] = c
	}
	return out
}

// AddUser adds a user as if created by hand (another origin).
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	s.users[u.UserName] = &u
	s.mu.Unlock()
}

const base = "/api/v1/identity/scim/v2"

var filterRE = regexp.MustCompile(`^(userName|displayName) eq "((?:[^"\\]|\\.)*)"$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, base)
	entry := Request{Method: r.Method, Path: path, Query: map[string]string{}}
	for k, v := range r.URL.Query() {
		entry.Query[k] = v[0]
	}
	var body map[string]any
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	entry.Body = body
	rec := &statusWriter{ResponseWriter: w}
	s.serve(rec, r, path, body)
	entry.Status = rec.status
	s.log = append(s.log, entry)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func scimError(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status": strconv.Itoa(status), "scimType": scimType, "detail": detail})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string, body map[string]any) {
	want := s.Token
	if strings.EqualFold(s.Header, "Authorization") {
		want = "Bearer " + s.Token
	}
	if r.Header.Get(s.Header) != want {
		scimError(w, http.StatusUnauthorized, "", "unauthorized")
		return
	}
	kind, id, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch {
	case kind == "Users" && id == "" && r.Method == http.MethodGet:
		s.list(w, r, "userName", s.userNames(), func(n string) any { return s.userJSON(s.users[n]) })
	case kind == "Groups" && id == "" && r.Method == http.MethodGet:
		s.list(w, r, "displayName", s.groupNames(), func(n string) any { return s.groupJSON(n) })
	case kind == "Users" && id == "" && r.Method == http.MethodPost:
		u := userFrom(body)
		if u.UserName == "" {
			scimError(w, 400, "invalidValue", "userName is required")
			return
		}
		if _, ok := s.users[u.UserName]; ok {
			scimError(w, 409, "uniqueness", "user "+u.UserName+" already exists")
			return
		}
		s.users[u.UserName] = u
		reply(w, 201, s.userJSON(u))
	case kind == "Users" && id != "" && r.Method == http.MethodGet:
		if u := s.users[id]; u != nil {
			reply(w, 200, s.userJSON(u))
			return
		}
		scimError(w, 404, "", "user "+id+" not found")
	case kind == "Users" && id != "" && r.Method == http.MethodPut:
		if s.users[id] == nil {
			scimError(w, 404, "", "user "+id+" not found")
			return
		}
		u := userFrom(body)
		if !u.Active {
			s.deleteUser(id)
			reply(w, 200, s.userJSON(u))
			return
		}
		u.UserName = id
		s.users[id] = u
		reply(w, 200, s.userJSON(u))
	case kind == "Users" && id != "" && r.Method == http.MethodDelete:
		if s.users[id] == nil {
			scimError(w, 404, "", "user "+id+" not found")
			return
		}
		s.deleteUser(id)
		w.WriteHeader(204)
	case kind == "Groups" && id == "" && r.Method == http.MethodPost:
		name, _ := body["displayName"].(string)
		if name == "" {
			scimError(w, 400, "invalidValue", "displayName is required")
			return
		}
		if _, ok := s.groups[name]; ok {
			scimError(w, 409, "uniqueness", "group "+name+" already exists")
			return
		}
		s.groups[name] = s.knownMembers(body["members"])
		reply(w, 201, s.groupJSON(name))
	case kind == "Groups" && id != "" && r.Method == http.MethodGet:
		if _, ok := s.groups[id]; ok {
			reply(w, 200, s.groupJSON(id))
			return
		}
		scimError(w, 404, "", "group "+id+" not found")
	case kind == "Groups" && id != "" && r.Method == http.MethodPut:
		if _, ok := s.groups[id]; !ok {
			scimError(w, 404, "", "group "+id+" not found")
			return
		}
		s.groups[id] = s.knownMembers(body["members"]) // the complete list
		reply(w, 200, s.groupJSON(id))
	case kind == "Groups" && id != "" && r.Method == http.MethodPatch:
		s.patchGroup(w, id, body)
	case kind == "Groups" && id != "" && r.Method == http.MethodDelete:
		if _, ok := s.groups[id]; !ok {
			scimError(w, 404, "", "group "+id+" not found")
			return
		}
		delete(s.groups, id)
		w.WriteHeader(204)
	default:
		scimError(w, http.StatusMethodNotAllowed, "", r.Method+" "+path+" is not supported")
	}
}

func (s *Server) deleteUser(name string) {
	delete(s.users, name)
	for g, ms := range s.groups {
		s.groups[g] = remove(ms, name)
	}
}

func remove(ms []string, name string) []string {
	out := ms[:0:0]
	for _, m := range ms {
		if m != name {
			out = append(out, m)
		}
	}
	return out
}

// knownMembers keeps the member values that name existing users (others are skipped).
func (s *Server) knownMembers(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, m := range list {
		mm, _ := m.(map[string]any)
		val, _ := mm["value"].(string)
		if s.users[val] != nil && !contains(out, val) {
			out = append(out, val)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (s *Server) patchGroup(w http.ResponseWriter, id string, body map[string]any) {
	ms, ok := s.groups[id]
	if !ok {
		scimError(w, 404, "", "group "+id+" not found")
		return
	}
	ops, _ := body["Operations"].([]any)
	for _, o := range ops {
		op, _ := o.(map[string]any)
		kind := strings.ToLower(fmt.Sprint(op["op"]))
		path, _ := op["path"].(string)
		switch {
		case kind == "add" && path == "members":
			for _, m := range s.knownMembers(op["value"]) {
				if !contains(ms, m) {
					ms = append(ms, m)
				}
			}
		case kind == "remove" && strings.HasPrefix(path, "members[value eq "):
			v, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(path, "members[value eq "), "]"))
			ms = remove(ms, v)
		default:
			scimError(w, 400, "invalidPath", "unsupported patch operation")
			return
		}
	}
	s.groups[id] = ms
	reply(w, 200, s.groupJSON(id))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, attr string, names []string, render func(string) any) {
	q := r.URL.Query()
	if f := q.Get("filter"); f != "" {
		m := filterRE.FindStringSubmatch(f)
		if m == nil || m[1] != attr {
			scimError(w, 400, "invalidFilter", "unsupported filter "+f)
			return
		}
		v, _ := strconv.Unquote(`"` + m[2] + `"`)
		var hit []string
		for _, n := range names {
			if strings.EqualFold(n, v) {
				hit = append(hit, n)
			}
		}
		names = hit
	}
	start, count := 0, 10 // IOMETE's defaults
	if v := q.Get("startIndex"); v != "" {
		start, _ = strconv.Atoi(v)
	}
	if v := q.Get("count"); v != "" {
		count, _ = strconv.Atoi(v)
	}
	from := max(start, 1) - 1
	res := []any{}
	for i := from; i < len(names) && len(res) < count; i++ {
		res = append(res, render(names[i]))
	}
	reply(w, 200, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": len(names), "startIndex": start, "itemsPerPage": len(res), "Resources": res})
}

func (s *Server) userNames() []string {
	out := make([]string, 0, len(s.users))
	for n := range s.users {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *Server) groupNames() []string {
	out := make([]string, 0, len(s.groups))
	for n := range s.groups {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func userFrom(b map[string]any) *User {
	u := &User{Active: true, Raw: b}
	u.UserName, _ = b["userName"].(string)
	if a, ok := b["active"].(bool); ok {
		u.Active = a
	}
	if n, ok := b["name"].(map[string]any); ok {
		u.GivenName, _ = n["givenName"].(string)
		u.FamilyName, _ = n["familyName"].(string)
	}
	// Only the first email with primary=true is read.
	if es, ok := b["emails"].([]any); ok {
		for _, e := range es {
			em, _ := e.(map[string]any)
			if p, _ := em["primary"].(bool); p {
				u.Email, _ = em["value"].(string)
				break
			}
		}
	}
	return u
}

func (s *Server) userJSON(u *User) map[string]any {
	if u.Raw != nil {
		out := map[string]any{}
		for k, v := range u.Raw {
			out[k] = v
		}
		out["id"], out["userName"], out["active"] = u.UserName, u.UserName, u.Active
		return out
	}
	out := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"id": u.UserName, "userName": u.UserName, "active": u.Active}
	if u.GivenName != "" || u.FamilyName != "" {
		n := map[string]any{}
		if u.GivenName != "" {
			n["givenName"] = u.GivenName
		}
		if u.FamilyName != "" {
			n["familyName"] = u.FamilyName
		}
		out["name"] = n
	}
	if u.Email != "" {
		out["emails"] = []any{map[string]any{"value": u.Email, "type": "work", "primary": true}}
	}
	return out
}

func (s *Server) groupJSON(name string) map[string]any {
	ms := []any{}
	for _, m := range s.groups[name] {
		ms = append(ms, map[string]any{"value": m, "type": "User"})
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"id": name, "displayName": name, "members": ms}
}
