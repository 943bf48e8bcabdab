// Package scimserver serves scimbridge's synced users and groups as a
// read-only SCIM 2.0 service provider (RFC 7643/7644), for clients such as
// Entra ID, Okta or IOMETE that pull identities. LDAP is the source of truth:
// every write is refused.
//
// Routes, relative to where the handler is mounted (Mount uses /scim/v2):
//
//	GET  /Users, /Groups                 lists: filter, startIndex, count, sortBy, sortOrder, attributes, excludedAttributes
//	POST /Users/.search, /Groups/.search the same, as a SearchRequest body
//	GET  /Users/{id}, /Groups/{id}       one resource; ETag, If-None-Match (304), If-Match (412)
//	GET  /ServiceProviderConfig, /ResourceTypes[/{name}], /Schemas[/{urn}]
//
// Requests need "Authorization: Bearer <token>". Filters are translated into
// store expressions and evaluated by the store in SQL; a list request never
// loads more than the page it returns. /Schemas and /ResourceTypes are served
// by github.com/elimity-com/scim; resources and /ServiceProviderConfig are
// served here because elimity's versions do not meet the requirements
// (itemsPerPage, projection, sorting, ETags, /.search filters on common
// attributes, a truthful configuration).
package scimserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/store"
)

// Reader is what the SCIM server needs from the state store; *store.DB implements it.
type Reader interface {
	// ListUsers returns the total number of users matching q.Filter and the requested page.
	ListUsers(ctx context.Context, q store.Query) (total int, users []store.UserResource, err error)
	// ListGroups returns the total number of groups matching q.Filter and the requested page.
	ListGroups(ctx context.Context, q store.Query) (total int, groups []store.GroupResource, err error)
	// GetUser returns one user with its groups; found is false for an unknown id.
	GetUser(ctx context.Context, id string) (user store.UserResource, found bool, err error)
	// GetGroup returns one group with its direct members; found is false for an unknown id.
	GetGroup(ctx context.Context, id string) (group store.GroupResource, found bool, err error)
}

// Options configures the SCIM server.
type Options struct {
	// Tokens are the accepted bearer tokens (at least one), usually
	// ParseTokens(os.Getenv("SCIMBRIDGE_SCIM_TOKEN")).
	Tokens []string
	// BaseURL is the external URL of the SCIM root, used for meta.location and
	// $ref, e.g. "https://scimbridge.example.com/scim/v2". Empty: derived from
	// each request's Host, TLS state and mount path (X-Forwarded-* headers are
	// not trusted; set BaseURL behind a proxy).
	BaseURL string
	// MaxResults caps the count of one list page (default 1000); it is
	// advertised in /ServiceProviderConfig and is the default count.
	MaxResults int
	// Logger receives internal errors, which clients never see (default slog.Default()).
	Logger *slog.Logger
}

// DefaultMaxResults is the page cap when Options.MaxResults is 0.
const DefaultMaxResults = 1000

// maxBody bounds request bodies (.search requests).
const maxBody = 1 << 20

const contentType = "application/scim+json"

// ParseTokens splits a comma-separated token list (the SCIMBRIDGE_SCIM_TOKEN
// format), dropping blanks around and between tokens.
func ParseTokens(s string) []string {
	var tokens []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	return tokens
}

// handler is the http.Handler New returns.
type handler struct {
	st        Reader
	tokens    [][sha256.Size]byte
	base      string
	max       int
	log       *slog.Logger
	discovery http.Handler
}

// New returns the SCIM server as an http.Handler serving the routes of the
// package documentation at its root; mount it with Mount or http.StripPrefix.
func New(st Reader, opts Options) (http.Handler, error) {
	if st == nil {
		return nil, errors.New("scimserver: no store")
	}
	h := &handler{st: st, max: opts.MaxResults, log: opts.Logger}
	for _, t := range opts.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
		}
	}
	if len(h.tokens) == 0 {
		return nil, errors.New("scimserver: no bearer token configured: set SCIMBRIDGE_SCIM_TOKEN (comma-separated for several)")
	}
	if h.max <= 0 {
		h.max = DefaultMaxResults
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("scimserver: base URL %q: want an absolute http(s) URL such as https://host/scim/v2", opts.BaseURL)
		}
		h.base = strings.TrimRight(opts.BaseURL, "/")
	}
	d, err := newDiscovery(h.max, h.log)
	if err != nil {
		return nil, err
	}
	h.discovery = d
	return h, nil
}

// MountPath is where Mount serves the SCIM API.
const MountPath = "/scim/v2"

// Mount serves h (from New) on e under MountPath, e.g. /scim/v2/Users.
func Mount(e *echo.Echo, h http.Handler) {
	wrapped := echo.WrapHandler(http.StripPrefix(MountPath, h))
	e.Any(MountPath, wrapped)
	e.Any(MountPath+"/*", wrapped)
}

// resourceKind is what differs between /Users and /Groups.
type resourceKind struct {
	name     string // resource type: "User" or "Group"
	endpoint string // "Users" or "Groups"
	noun     string // "user" or "group", for messages
	def      resourceDef
}

var (
	usersKind  = resourceKind{name: "User", endpoint: "Users", noun: "user", def: userDef}
	groupsKind = resourceKind{name: "Group", endpoint: "Groups", noun: "group", def: groupDef}
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", contentType)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("scim: panic while serving a request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, http.StatusInternalServerError, "", "internal server error")
		}
	}()
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimbridge"`)
		writeError(w, http.StatusUnauthorized, "", "missing or invalid bearer token: send Authorization: Bearer <token>")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)

	// Split the escaped path so that an id holding an escaped "/" stays one segment.
	path := strings.Trim(r.URL.EscapedPath(), "/")
	first, rest, _ := strings.Cut(path, "/")
	switch {
	case strings.EqualFold(first, usersKind.endpoint):
		h.resource(w, r, usersKind, rest)
	case strings.EqualFold(first, groupsKind.endpoint):
		h.resource(w, r, groupsKind, rest)
	case strings.EqualFold(first, "ServiceProviderConfig") && rest == "":
		if !isRead(r) {
			notAllowed(w, "the service provider configuration is read-only")
			return
		}
		writeJSON(w, http.StatusOK, serviceProviderConfig(h.max, h.baseURL(r)))
	case first == "Schemas" || first == "ResourceTypes":
		h.serveDiscovery(w, r)
	default:
		writeError(w, http.StatusNotFound, "", "unknown endpoint: the SCIM API serves /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas")
	}
}

// authorized checks the bearer token in constant time against every configured token.
func (h *handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for i := range h.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], h.tokens[i][:])
	}
	return match == 1
}

func isRead(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

// serveDiscovery lets elimity answer /Schemas and /ResourceTypes, fixing its
// list responses' itemsPerPage.
func (h *handler) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !isRead(r) {
		notAllowed(w, "discovery endpoints are read-only")
		return
	}
	if r.URL.Query().Has("filter") {
		// RFC 7644 §4: filtering discovery resources is not supported, so refuse rather than ignore it.
		writeError(w, http.StatusForbidden, "", "filtering /Schemas and /ResourceTypes is not supported")
		return
	}
	buf := &bufferWriter{header: http.Header{}}
	h.discovery.ServeHTTP(buf, r)
	body := buf.body.Bytes()
	if buf.status == http.StatusOK {
		body = fixItemsPerPage(body)
	}
	for k, v := range buf.header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(body)
}

// resource routes /Users... and /Groups...; rest is the path after the endpoint.
func (h *handler) resource(w http.ResponseWriter, r *http.Request, k resourceKind, rest string) {
	switch {
	case rest == "":
		if !isRead(r) {
			h.refuseWrite(w, k, "GET")
			return
		}
		p, err := listParamsFromQuery(r.URL.Query())
		if err != nil {
			writeClientError(w, err)
			return
		}
		h.list(w, r, k, p)
	case rest == ".search":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "", "/"+k.endpoint+"/.search takes POST with a SearchRequest body")
			return
		}
		p, err := listParamsFromBody(r.Body)
		if err != nil {
			writeClientError(w, err)
			return
		}
		h.list(w, r, k, p)
	default:
		id, err := url.PathUnescape(rest)
		if err != nil || id == "" || strings.Contains(rest, "/") {
			writeError(w, http.StatusNotFound, "", fmt.Sprintf("%s not found", k.noun))
			return
		}
		if !isRead(r) {
			h.refuseWrite(w, k, "GET")
			return
		}
		h.get(w, r, k, id)
	}
}

// refuseWrite answers a write: scimbridge is read-only and changes nothing.
func (h *handler) refuseWrite(w http.ResponseWriter, k resourceKind, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "",
		fmt.Sprintf("scimbridge is read-only: LDAP is the source of truth; change the %s in the directory", k.noun))
}

func notAllowed(w http.ResponseWriter, detail string) {
	w.Header().Set("Allow", "GET")
	writeError(w, http.StatusMethodNotAllowed, "", detail)
}

// list answers a list or search request with one page from the store.
func (h *handler) list(w http.ResponseWriter, r *http.Request, k resourceKind, p listParams) {
	expr, err := parseFilter(p.filter, k.def)
	if err != nil {
		writeClientError(w, err)
		return
	}
	q := store.Query{Filter: expr, StartIndex: p.startIndex, Count: p.count, Descending: p.descending}
	if q.Count < 0 || q.Count > h.max {
		q.Count = h.max
	}
	if q.SortBy, err = sortAttr(p.sortBy, k); err != nil {
		writeClientError(w, err)
		return
	}
	base := h.baseURL(r)
	switch k.name {
	case usersKind.name:
		q.WithGroups = p.proj.wants("groups")
		total, users, err := h.st.ListUsers(r.Context(), q)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		writeList(w, total, q.StartIndex, users, func(b []byte, u *store.UserResource) []byte {
			res := newUserResource(u, base)
			return appendUser(b, &res, &p.proj)
		})
	default:
		q.WithMembers = p.proj.wants("members")
		total, groups, err := h.st.ListGroups(r.Context(), q)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		writeList(w, total, q.StartIndex, groups, func(b []byte, g *store.GroupResource) []byte {
			res := newGroupResource(g, base)
			return appendGroup(b, &res, &p.proj)
		})
	}
}

// get answers GET /Users/{id} or /Groups/{id}.
func (h *handler) get(w http.ResponseWriter, r *http.Request, k resourceKind, id string) {
	var (
		render  func(b []byte, p *projection) []byte
		version string
		found   bool
		err     error
	)
	switch k.name {
	case usersKind.name:
		var u store.UserResource
		if u, found, err = h.st.GetUser(r.Context(), id); found {
			res := newUserResource(&u, h.baseURL(r))
			render = func(b []byte, p *projection) []byte { return appendUser(b, &res, p) }
			version = u.Version
		}
	default:
		var g store.GroupResource
		if g, found, err = h.st.GetGroup(r.Context(), id); found {
			res := newGroupResource(&g, h.baseURL(r))
			render = func(b []byte, p *projection) []byte { return appendGroup(b, &res, p) }
			version = g.Version
		}
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("%s %q not found", k.noun, id))
		return
	}
	tag := etag(version)
	w.Header().Set("ETag", tag)
	if im := r.Header.Get("If-Match"); im != "" && !etagMatches(im, version) {
		writeError(w, http.StatusPreconditionFailed, "", fmt.Sprintf("the %s has changed: its version is %s", k.noun, tag))
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, version) {
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	q := r.URL.Query()
	proj := newProjection(q["attributes"], q["excludedAttributes"])
	writeResource(w, func(b []byte) []byte { return render(b, &proj) })
}

// etagMatches reports whether an If-Match / If-None-Match header names the
// version, comparing weakly (RFC 9110 §8.8.3.2); "*" matches any version.
func etagMatches(header, version string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
			t = t[1 : len(t)-1]
		}
		if t == version {
			return true
		}
	}
	return false
}

// storeError answers a failed store read: 400 for a filter the store cannot
// evaluate, else a generic 500; the real error goes only to the log.
func (h *handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrBadFilter) {
		writeError(w, http.StatusBadRequest, "invalidFilter", "the filter cannot be evaluated on this resource type")
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	h.log.Error("scim: store read failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "", "internal server error")
}

// baseURL is the configured base URL, or one derived from the request.
func (h *handler) baseURL(r *http.Request) string {
	if h.base != "" {
		return h.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// The mount prefix is what http.StripPrefix removed from the request path.
	prefix := ""
	if orig, _, _ := strings.Cut(r.RequestURI, "?"); orig != "" {
		prefix = strings.TrimSuffix(orig, r.URL.EscapedPath())
		if strings.Contains(prefix, "://") { // absolute-form request target
			if u, err := url.Parse(prefix); err == nil {
				prefix = u.EscapedPath()
			}
		}
	}
	return scheme + "://" + r.Host + strings.TrimRight(prefix, "/")
}

// listParams are the parameters of a list or search request.
type listParams struct {
	filter     string
	startIndex int
	count      int // -1: not given
	sortBy     string
	descending bool
	proj       projection
}

// clientError is a request the client got wrong: status, scimType, detail.
type clientError struct {
	status   int
	scimType string
	detail   string
}

func (e *clientError) Error() string { return e.detail }

func invalidValue(format string, args ...any) error {
	return &clientError{status: http.StatusBadRequest, scimType: "invalidValue", detail: fmt.Sprintf(format, args...)}
}

func listParamsFromQuery(q url.Values) (listParams, error) {
	p := listParams{filter: q.Get("filter"), startIndex: 1, count: -1, sortBy: q.Get("sortBy")}
	var err error
	if s := q.Get("startIndex"); s != "" {
		if p.startIndex, err = strconv.Atoi(strings.TrimSpace(s)); err != nil {
			return p, invalidValue("startIndex must be an integer, got %q", s)
		}
	}
	if s := q.Get("count"); s != "" {
		if p.count, err = strconv.Atoi(strings.TrimSpace(s)); err != nil {
			return p, invalidValue("count must be an integer, got %q", s)
		}
		if p.count < 0 {
			p.count = 0
		}
	}
	if p.startIndex < 1 {
		p.startIndex = 1
	}
	if p.descending, err = sortOrder(q.Get("sortOrder")); err != nil {
		return p, err
	}
	p.proj = newProjection(q["attributes"], q["excludedAttributes"])
	return p, nil
}

// searchRequest is the body of POST /.search (RFC 7644 §3.4.3).
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
}

const searchRequestSchema = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

func listParamsFromBody(body io.Reader) (listParams, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return listParams{}, &clientError{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("the request body is larger than %d bytes", maxBody)}
		}
		return listParams{}, &clientError{status: http.StatusBadRequest, scimType: "invalidSyntax", detail: "the request body could not be read"}
	}
	var sr searchRequest
	if err := json.Unmarshal(data, &sr); err != nil {
		return listParams{}, &clientError{status: http.StatusBadRequest, scimType: "invalidSyntax", detail: "the body is not a SearchRequest JSON object"}
	}
	hasSchema := false
	for _, s := range sr.Schemas {
		hasSchema = hasSchema || s == searchRequestSchema
	}
	if !hasSchema {
		return listParams{}, &clientError{status: http.StatusBadRequest, scimType: "invalidSyntax", detail: "schemas must contain " + searchRequestSchema}
	}
	p := listParams{filter: sr.Filter, startIndex: 1, count: -1, sortBy: sr.SortBy}
	if sr.StartIndex != nil && *sr.StartIndex > 1 {
		p.startIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		p.count = max(*sr.Count, 0)
	}
	if p.descending, err = sortOrder(sr.SortOrder); err != nil {
		return p, err
	}
	p.proj = newProjection(sr.Attributes, sr.ExcludedAttributes)
	return p, nil
}

func sortOrder(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ascending":
		return false, nil
	case "descending":
		return true, nil
	}
	return false, invalidValue("sortOrder must be ascending or descending, got %q", s)
}

// sortAttr maps sortBy to the store's sort key.
func sortAttr(s string, k resourceKind) (string, error) {
	a := strings.ToLower(strings.TrimSpace(s))
	for _, urn := range k.def.schemas {
		a = strings.TrimPrefix(a, strings.ToLower(urn)+":")
	}
	switch {
	case a == "" || a == "id":
		return "", nil
	case a == "displayname":
		return "displayName", nil
	case a == "username" && k.name == usersKind.name:
		return "userName", nil
	}
	if k.name == usersKind.name {
		return "", invalidValue("sortBy supports userName, displayName and id, got %q", s)
	}
	return "", invalidValue("sortBy supports displayName and id, got %q", s)
}

// writeClientError answers a *clientError or *filterError.
func writeClientError(w http.ResponseWriter, err error) {
	var ce *clientError
	if errors.As(err, &ce) {
		writeError(w, ce.status, ce.scimType, ce.detail)
		return
	}
	writeError(w, http.StatusBadRequest, "invalidFilter", err.Error())
}

// scimError is the SCIM error body (RFC 7644 §3.12).
type scimError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail"`
}

func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	writeJSON(w, status, scimError{
		Schemas:  []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		Status:   strconv.Itoa(status),
		ScimType: scimType,
		Detail:   detail,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only values built here are marshalled; this cannot fail for them.
		panic(fmt.Sprintf("scimserver: marshal response: %v", err))
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
