// Package push is scimbridge's SCIM client: after each sync it sends what
// changed in the state store to a SCIM 2.0 service provider (IOMETE IAM, or
// any RFC 7644 provider).
//
// The store's change log (outbox) says which users and groups to look at; for
// each, the client compares the store's current state with its bookkeeping of
// what the target holds (push_state, push_members) and sends only the
// difference, in a fixed order: users created or updated, then groups and
// added members, then removed members, then deleted groups, then deprovisioned
// users. Re-running after a crash is therefore idempotent: a create whose
// answer was lost is found by a lookup (userName eq / displayName eq) and
// adopted, never duplicated. An entry deleted and re-created under the same
// name (a new store id) adopts the target's resource the same way, and the
// old id's bookkeeping is handed over, never deprovisioned: a remote resource
// held by a stored user or group is not deleted or deactivated. The cursor
// over the change log moves only once every resource it names is delivered or
// marked failed (failed ones are retried on the next run), and the entries it
// passed are then pruned.
//
// The "push" section of the settings document configures it:
//
//	"push": {"enabled": true, "url": "https://iomete.example.com/api/v1/identity/scim/v2",
//	         "token": "…", "authHeader": "Authorization", "profile": "iomete",
//	         "deprovision": "delete", "groupMembers": "flatten", "concurrency": 4,
//	         "timeoutSeconds": 30, "scopeGroups": ["analytics"]}
//
// Wiring:
//
//	pc := push.New(db, logger)
//	syncer.SetPusher(pc)             // push after each applied sync
//	rep, err := pc.Reconcile(ctx, s) // full compare with the target, repairs drift
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

const (
	deprovisionDelete = schema.DeprovisionDelete
	membersNested     = schema.MembersNested
	maxFailuresListed = 100
)

// Report is what one push run did. Its JSON form is the "push" object of
// `scimbridge sync`'s output line.
type Report struct {
	// Sent counts HTTP requests, retries and lookups included.
	Sent    int `json:"sent"`
	Created int `json:"created"`
	Updated int `json:"updated"`
	// Deleted counts deprovisioned users (deleted or deactivated) and deleted groups.
	Deleted int `json:"deleted"`
	// Failed counts resources whose request failed this run; they are retried next run.
	Failed int `json:"failed"`
	// Pending counts resources not yet delivered after this run (failed included).
	Pending  int       `json:"pending"`
	Failures []Failure `json:"failures,omitempty"`
	// Error says why the run stopped early (e.g. the target was unreachable).
	Error      string `json:"error,omitempty"`
	DryRun     bool   `json:"dryRun,omitempty"`
	Reconcile  bool   `json:"reconcile,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// Failure is one resource the target refused.
type Failure struct {
	Type   string `json:"type"` // "User" or "Group"
	ID     string `json:"id"`   // the store's id
	Name   string `json:"name"`
	Status int    `json:"status,omitempty"` // HTTP status, 0 for other errors
	Error  string `json:"error"`
}

// Status lists what the push client has not delivered yet.
type Status struct {
	// Cursor is the last change log entry drained.
	Cursor int64 `json:"cursor"`
	// PendingChanges counts change log entries after the cursor.
	PendingChanges int          `json:"pendingChanges"`
	Items          []StatusItem `json:"items"`
}

// StatusItem is one resource pending or failed.
type StatusItem struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Status   string    `json:"status"` // "pending" or "failed"
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	Updated  time.Time `json:"updated"`
}

// Client pushes the store's changes to a SCIM target. It is safe for
// concurrent use; runs are serialised.
type Client struct {
	db  *store.DB
	log *slog.Logger

	// Attempts is how often one request is tried (default 5).
	Attempts int
	// BaseBackoff is the first retry's backoff ceiling (default 250ms); it
	// doubles per attempt, with full jitter.
	BaseBackoff time.Duration
	// MaxBackoff caps a backoff and a Retry-After wait (default 30s).
	MaxBackoff time.Duration
	// HTTPClient replaces the client built from the settings (TLS, CA) when set.
	HTTPClient *http.Client
	// OnResponse, when set, is called after each attempt of a request with
	// its method, its path below the target's URL and the answer's status
	// code (0 when none came), e.g. to count requests for metrics.
	OnResponse func(method, path string, status int)

	mu  sync.Mutex
	spc map[string]bool // base URL -> PATCH supported
}

// New returns a push client over the state store.
func New(db *store.DB, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{db: db, log: log, spc: map[string]bool{}}
}

var _ bridge.Pusher = (*Client)(nil)

// config is the push section with defaults applied and checked.
type config struct {
	push        schema.Push
	profile     string
	iomete      bool
	deprovision string
	members     string
	concurrency int
	scope       []string          // folded names
	scopeNames  map[string]string // folded name -> as configured, for errors
}

// newConfig applies schema's defaults and checks the section as schema says.
func newConfig(p schema.Push) (*config, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &config{push: p, profile: p.Profile, iomete: p.Profile == schema.ProfileIOMETE, deprovision: p.Deprovision,
		members: p.GroupMembers, concurrency: p.Concurrency, scopeNames: map[string]string{}}
	for _, g := range p.ScopeGroups {
		g = strings.TrimSpace(g)
		if folded := strings.ToLower(g); folded != "" {
			c.scope = append(c.scope, folded)
			if _, ok := c.scopeNames[folded]; !ok {
				c.scopeNames[folded] = g
			}
		}
	}
	slices.Sort(c.scope)
	c.scope = slices.Compact(c.scope)
	return c, nil
}

// target identifies whose ids the bookkeeping holds; shape what a full pass
// must re-evaluate when it changes.
func (c *config) target() string { return c.push.URL + "|" + c.profile }
func (c *config) shape() string {
	return c.members + "|" + c.deprovision + "|" + strings.Join(c.scope, ",")
}

// Push drains the change log to the target; the bridge calls it after each
// applied sync. The JSON Report is returned even when the run stopped early
// (its error field says why); an error means the push could not run at all.
func (c *Client) Push(ctx context.Context, s *schema.Settings, runID int64, full bool) (json.RawMessage, error) {
	mode := modeDrain
	if full {
		mode = modeReconcile
	}
	rep, err := c.run(ctx, s, mode, nil)
	if rep == nil {
		return nil, err
	}
	if err != nil {
		c.log.Warn("push stopped early", "run", runID, "err", err)
	}
	return json.Marshal(rep)
}

// Run drains the change log to the target (`scimbridge push`).
func (c *Client) Run(ctx context.Context, s *schema.Settings) (*Report, error) {
	return c.run(ctx, s, modeDrain, nil)
}

// Reconcile compares the target's users and groups (listed with paging) with
// the store and repairs any drift: resources deleted or changed by hand are
// restored, ones created by hand for stored users and groups are adopted.
// Resources at the target that the store does not know are left alone.
func (c *Client) Reconcile(ctx context.Context, s *schema.Settings) (*Report, error) {
	return c.run(ctx, s, modeReconcile, nil)
}

// DryRun writes to w, one per line, the requests a push would send now
// ("METHOD /path?query {body}"), sending none and changing nothing. Lookups
// are assumed to find nothing and PATCH to be supported.
func (c *Client) DryRun(ctx context.Context, s *schema.Settings, w io.Writer) (*Report, error) {
	return c.run(ctx, s, modeDry, w)
}

// Status lists the resources that are pending or failed, and how much of the
// change log is not drained yet.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	cursor, err := c.db.PushCursor(ctx)
	if err != nil {
		return nil, err
	}
	changes, err := c.db.PushChanges(ctx, cursor)
	if err != nil {
		return nil, err
	}
	states, err := c.db.ListPushStates(ctx, "", store.PushPending, store.PushFailed)
	if err != nil {
		return nil, err
	}
	st := &Status{Cursor: cursor, PendingChanges: len(changes), Items: []StatusItem{}}
	for _, s := range states {
		st.Items = append(st.Items, StatusItem{Type: s.ResourceType, ID: s.ResourceID, Name: s.Name, Status: s.Status,
			Attempts: s.Attempts, Error: s.LastError, Updated: s.Updated})
	}
	return st, nil
}

const (
	modeDrain = iota
	modeReconcile
	modeDry
)

func (c *Client) retry() retry {
	r := retry{attempts: c.Attempts, base: c.BaseBackoff, max: c.MaxBackoff}
	if r.attempts <= 0 {
		r.attempts = 5
	}
	if r.base <= 0 {
		r.base = 250 * time.Millisecond
	}
	if r.max <= 0 {
		r.max = 30 * time.Second
	}
	return r
}

// patchSupported reads /ServiceProviderConfig once per target.
func (c *Client) patchSupported(ctx context.Context, d *doer) (bool, error) {
	if v, ok := c.spc[d.base]; ok {
		return v, nil
	}
	resp, err := d.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, nil)
	if err != nil {
		return false, fmt.Errorf("read the target's ServiceProviderConfig: %w", err)
	}
	var spc struct {
		Patch struct {
			Supported bool `json:"supported"`
		} `json:"patch"`
	}
	if err := json.Unmarshal(resp.body, &spc); err != nil {
		return false, fmt.Errorf("read the target's ServiceProviderConfig: %w", err)
	}
	c.spc[d.base] = spc.Patch.Supported
	return spc.Patch.Supported, nil
}

type key struct{ typ, id string }

// newEngine checks the push section of s and prepares one run against its
// target, with requests retried as r says.
func (c *Client) newEngine(s *schema.Settings, r retry) (*engine, error) {
	cfg, err := newConfig(s.Push)
	if err != nil {
		return nil, err
	}
	d, err := newDoer(&cfg.push, r, c.HTTPClient)
	if err != nil {
		return nil, err
	}
	d.observe = c.OnResponse
	return &engine{db: c.db, cfg: cfg, http: d, ustate: map[string]*store.PushState{}, gstate: map[string]*store.PushState{},
		members: map[string]map[string]bool{}, uaff: map[string]bool{}, moved: map[string]bool{},
		want: map[string][]member{}, touched: map[string]bool{}}, nil
}

func (c *Client) run(ctx context.Context, s *schema.Settings, mode int, w io.Writer) (*Report, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	e, err := c.newEngine(s, c.retry())
	if err != nil {
		return nil, err
	}
	e.dry = w
	e.rep.DryRun, e.rep.Reconcile = mode == modeDry, mode == modeReconcile
	runErr := c.runEngine(ctx, e, mode)
	if runErr == nil && e.abort != nil {
		runErr = e.abort
	}
	rep := &e.rep
	if mode != modeDry {
		rep.Sent = int(e.http.sent.Load())
	}
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	if err := c.countPending(context.WithoutCancel(ctx), e, rep); err != nil && runErr == nil {
		runErr = err
	}
	rep.DurationMs = time.Since(start).Milliseconds()
	c.log.Info("push done", "sent", rep.Sent, "created", rep.Created, "updated", rep.Updated, "deleted", rep.Deleted,
		"failed", rep.Failed, "pending", rep.Pending, "dryRun", rep.DryRun, "reconcile", rep.Reconcile, "err", rep.Error)
	return rep, runErr
}

func (c *Client) countPending(ctx context.Context, e *engine, rep *Report) error {
	if e.dry != nil {
		return nil
	}
	cursor, err := c.db.PushCursor(ctx)
	if err != nil {
		return err
	}
	changes, err := c.db.PushChanges(ctx, cursor)
	if err != nil {
		return err
	}
	states, err := c.db.ListPushStates(ctx, "", store.PushPending, store.PushFailed)
	if err != nil {
		return err
	}
	set := map[key]bool{}
	for _, ch := range changes {
		set[key{ch.ResourceType, ch.ResourceID}] = true
	}
	for _, s := range states {
		set[key{s.ResourceType, s.ResourceID}] = true
	}
	rep.Pending = len(set)
	return nil
}

// resolveScope finds the groups push.scopeGroups names and the groups nested
// in them. A name no synced group has is an error: an empty scope would take
// every user out of it, and deprovision them all.
func (e *engine) resolveScope(ctx context.Context) error {
	if len(e.cfg.scope) == 0 {
		return nil
	}
	byName, err := e.db.GroupIDsByName(ctx, e.cfg.scope)
	if err != nil {
		return err
	}
	var roots []string
	var errs []error
	for _, name := range e.cfg.scope {
		if len(byName[name]) == 0 {
			errs = append(errs, fmt.Errorf("push.scopeGroups: no synced group is named %q", e.cfg.scopeNames[name]))
		}
		roots = append(roots, byName[name]...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	desc, err := e.db.GroupDescendants(ctx, roots)
	if err != nil {
		return err
	}
	e.scopeRoots, e.scopeGroups = setOf(roots), setOf(desc)
	return nil
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func keys(m map[string]bool) []string { return sortedKeys(m) }

func addAll(ctx context.Context, db *store.DB, uids, gids map[string]bool) error {
	us, err := db.AllUserIDs(ctx)
	if err != nil {
		return err
	}
	gs, err := db.AllGroupIDs(ctx)
	if err != nil {
		return err
	}
	states, err := db.ListPushStates(ctx, "")
	if err != nil {
		return err
	}
	for _, id := range us {
		uids[id] = true
	}
	for _, id := range gs {
		gids[id] = true
	}
	for _, s := range states {
		if s.ResourceType == bridge.MemberUser {
			uids[s.ResourceID] = true
		} else {
			gids[s.ResourceID] = true
		}
	}
	return nil
}

// scopeDrift adds the users and groups entering or leaving the scope: the
// set in scope now against the set delivered.
func (e *engine) scopeDrift(ctx context.Context, uids, gids map[string]bool) error {
	inUsers, err := e.db.UsersInGroups(ctx, keys(e.scopeRoots))
	if err != nil {
		return err
	}
	states, err := e.db.ListPushStates(ctx, "", store.PushDelivered, store.PushFailed)
	if err != nil {
		return err
	}
	in := setOf(inUsers)
	had := map[key]bool{}
	for _, s := range states {
		had[key{s.ResourceType, s.ResourceID}] = true
		switch {
		case s.ResourceType == bridge.MemberUser && !in[s.ResourceID]:
			uids[s.ResourceID] = true
		case s.ResourceType == bridge.MemberGroup && !e.scopeGroups[s.ResourceID]:
			gids[s.ResourceID] = true
		}
	}
	for id := range in {
		if !had[key{bridge.MemberUser, id}] {
			uids[id] = true
		}
	}
	for id := range e.scopeGroups {
		if !had[key{bridge.MemberGroup, id}] {
			gids[id] = true
		}
	}
	return nil
}

// loadGroups loads the groups to look at, their bookkeeping, and the
// bookkeeping of every member they may list.
func (e *engine) loadGroups(ctx context.Context, gids map[string]bool) error {
	db := e.db
	ids := keys(gids)
	var err error
	if e.groups, err = db.PushGroups(ctx, ids); err != nil {
		return err
	}
	if e.gstate, err = db.PushStates(ctx, bridge.MemberGroup, ids); err != nil {
		return err
	}
	pm, err := db.PushMembers(ctx, ids)
	if err != nil {
		return err
	}
	e.members = make(map[string]map[string]bool, len(ids))
	for _, id := range ids {
		e.members[id] = setOf(pm[id])
	}
	e.alignWithSnapshot(bridge.MemberGroup)
	needU, needG := map[string]bool{}, map[string]bool{}
	for _, g := range e.groups {
		if e.cfg.members == membersNested {
			for _, m := range g.Members {
				if m.Type == bridge.MemberUser && e.ustate[m.ID] == nil {
					needU[m.ID] = true
				} else if m.Type == bridge.MemberGroup && e.gstate[m.ID] == nil {
					needG[m.ID] = true
				}
			}
			continue
		}
		for _, id := range g.Users {
			if e.ustate[id] == nil {
				needU[id] = true
			}
		}
	}
	us, err := db.PushStates(ctx, bridge.MemberUser, keys(needU))
	if err != nil {
		return err
	}
	for id, s := range us {
		e.ustate[id] = s
	}
	gs, err := db.PushStates(ctx, bridge.MemberGroup, keys(needG))
	if err != nil {
		return err
	}
	for id, s := range gs {
		e.gstate[id] = s
	}
	return nil
}

// levels orders groups so that nested groups come before the groups that
// contain them (one level in flatten mode); groups in a nesting cycle, and
// those that contain one, are returned apart as cyclic.
func (e *engine) levels(ids []string) (levels [][]string, cyclic []string) {
	if e.cfg.members != membersNested {
		return [][]string{ids}, nil
	}
	pending := setOf(ids)
	for len(pending) > 0 {
		var ready []string
		for _, id := range keys(pending) {
			ok := true
			for _, m := range e.groups[id].Members {
				if m.Type == bridge.MemberGroup && m.ID != id && pending[m.ID] {
					ok = false
					break
				}
			}
			if ok {
				ready = append(ready, id)
			}
		}
		if len(ready) == 0 {
			return levels, keys(pending)
		}
		for _, id := range ready {
			delete(pending, id)
		}
		levels = append(levels, ready)
	}
	return levels, nil
}
