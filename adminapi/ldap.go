package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// formSettings returns the settings a test button works on: the document in
// the body when there is one (unsaved form values; an omitted secret is the
// stored one only while the form names the same host, port and bind DN or
// push target, see schema.Settings.MergeSecrets), else the stored settings. Problems with the fields under
// relevant (JSON paths or their prefixes) are a 400; others are ignored, as
// the form may be half filled.
func (s *server) formSettings(c echo.Context, relevant ...string) (*schema.Settings, error) {
	ctx := c.Request().Context()
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	stored, _, err := s.load(ctx)
	if err != nil {
		return nil, internal("reading the stored settings", err)
	}
	st := stored
	if len(strings.TrimSpace(string(body))) > 0 {
		if st, _, err = parseDocument(body); err != nil {
			return nil, err
		}
		st.MergeSecrets(stored)
		setSecretFlags(st)
	}
	if fields := only(s.validate(st), relevant); len(fields) > 0 {
		return nil, badRequest("invalid settings", fields...)
	}
	return st, nil
}

// only keeps the field errors whose field is one of paths or lies under one.
func only(fields []schema.FieldError, paths []string) []schema.FieldError {
	var out []schema.FieldError
	for _, f := range fields {
		for _, p := range paths {
			if f.Field == p || strings.HasPrefix(f.Field, p+".") {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// testConnection is "Test connection": dns, tcp and tls, no bind.
func (s *server) testConnection(c echo.Context) error {
	st, err := s.formSettings(c, "connection")
	if err != nil {
		return err
	}
	res := s.testLDAP(c.Request().Context(), st, false)
	s.log.Info("LDAP connection tested", "ok", res.OK, "step", res.Step)
	return c.JSON(http.StatusOK, res)
}

// testAuthentication is "Test authentication": the connection, the bind and
// a read of users.usersDn.
func (s *server) testAuthentication(c echo.Context) error {
	st, err := s.formSettings(c, "connection", "users.usersDn")
	if err != nil {
		return err
	}
	res := s.testLDAP(c.Request().Context(), st, true)
	s.log.Info("LDAP authentication tested", "ok", res.OK, "step", res.Step)
	return c.JSON(http.StatusOK, res)
}

var errNoPush = &apiError{status: http.StatusNotImplemented, body: errorBody{Error: "push not available in this build"}}

// testPush reaches the SCIM push target, checks its ServiceProviderConfig and
// the token. The push section is checked as if push were enabled.
func (s *server) testPush(c echo.Context) error {
	if s.pusher == nil {
		return errNoPush
	}
	st, err := s.formSettings(c)
	if err != nil {
		return err
	}
	st.Push.Enabled = true
	if fields := only(s.validate(st), []string{"push"}); len(fields) > 0 {
		return badRequest("invalid settings", fields...)
	}
	res := s.pusher.TestPush(c.Request().Context(), st)
	s.log.Info("push target tested", "ok", res.OK, "step", res.Step)
	return c.JSON(http.StatusOK, res)
}

// previewLimit is how many users "Validate user filters" shows.
const previewLimit = 10

// PreviewUser is one user of a preview: the entry's DN, the record it maps
// to (nil when the entry would be skipped) and the problems found.
type PreviewUser struct {
	DN       string         `json:"dn"`
	User     *PreviewRecord `json:"user"`
	Problems []string       `json:"problems"`
}

// PreviewRecord is a mapped user as the sync would store it.
type PreviewRecord struct {
	UserName       string `json:"userName"`
	Email          string `json:"email"`
	FirstName      string `json:"firstName"`
	LastName       string `json:"lastName"`
	DisplayName    string `json:"displayName"`
	ExternalID     string `json:"externalId"`
	EmployeeNumber string `json:"employeeNumber"`
	Department     string `json:"department"`
	Active         bool   `json:"active"`
}

// Preview is the answer of "Validate user filters".
type Preview struct {
	OK         bool          `json:"ok"`
	Message    string        `json:"message"`
	DurationMs int64         `json:"durationMs"`
	Users      []PreviewUser `json:"users"`
}

var errPreviewFull = errors.New("preview: enough users read")

// previewUsers is "Validate user filters": the first users the user settings
// would sync, mapped, with the problems of each.
func (s *server) previewUsers(c echo.Context) error {
	st, err := s.formSettings(c, "connection", "users")
	if err != nil {
		return err
	}
	p := s.preview(c.Request().Context(), st)
	s.log.Info("user filters previewed", "ok", p.OK, "users", len(p.Users))
	return c.JSON(http.StatusOK, p)
}

func (s *server) preview(ctx context.Context, st *schema.Settings) Preview {
	start := time.Now()
	p := Preview{Users: []PreviewUser{}}
	done := func(err error) Preview {
		p.DurationMs = time.Since(start).Milliseconds()
		p.OK = err == nil
		if err != nil {
			p.Message = err.Error()
		}
		return p
	}
	dir, err := s.dial(ctx, st)
	if err != nil {
		return done(err)
	}
	defer dir.Close()
	err = dir.Users(ctx, func(e *schema.Entry) error {
		p.Users = append(p.Users, previewEntry(e, st))
		if len(p.Users) == previewLimit {
			return errPreviewFull
		}
		return nil
	})
	if errors.Is(err, errPreviewFull) {
		err = nil
	}
	if err == nil && len(p.Users) == 0 {
		p.Message = "no entries match the user settings under users.usersDn"
	}
	return done(err)
}

// previewEntry maps one entry and lists its problems: why it would be
// skipped, or which mapped attributes it lacks.
func previewEntry(e *schema.Entry, st *schema.Settings) PreviewUser {
	pu := PreviewUser{DN: e.DN, Problems: []string{}}
	u, err := schema.MapUser(e, st)
	if err != nil {
		reason := err.Error()
		var ee *schema.EntryError
		if errors.As(err, &ee) {
			reason = ee.Reason
		}
		pu.Problems = append(pu.Problems, "skipped: "+reason)
		return pu
	}
	pu.User = &PreviewRecord{
		UserName: u.UserName, Email: u.Email, FirstName: u.GivenName, LastName: u.FamilyName,
		DisplayName: u.DisplayName, ExternalID: u.ExternalID, EmployeeNumber: u.EmployeeNumber,
		Department: u.Department, Active: u.Active,
	}
	a := st.Users.Attributes
	for _, m := range []struct{ field, attr, value string }{
		{"email", a.Email, u.Email},
		{"firstName", a.FirstName, u.GivenName},
		{"lastName", a.LastName, u.FamilyName},
		{"displayName", a.DisplayName, u.DisplayName},
		{"externalId", a.ExternalID, u.ExternalID},
		{"employeeNumber", a.EmployeeNumber, u.EmployeeNumber},
		{"department", a.Department, u.Department},
	} {
		if m.attr != "" && m.value == "" {
			pu.Problems = append(pu.Problems, m.field+": attribute "+strconv.Quote(m.attr)+" is missing or empty")
		}
	}
	return pu
}

// enable is "Enable LDAP": refused with the reasons while the saved settings
// are invalid; otherwise scheduled syncs (and pushes) start at once.
func (s *server) enable(c echo.Context) error {
	return s.setEnabled(c, true)
}

// disable is "Disable LDAP": stops scheduled syncs and pushes, keeps the
// state store.
func (s *server) disable(c echo.Context) error {
	return s.setEnabled(c, false)
}

func (s *server) setEnabled(c echo.Context, on bool) error {
	ctx := c.Request().Context()
	s.settingsMu.Lock()
	defer s.settingsMu.Unlock()
	st, found, err := s.load(ctx)
	if err != nil {
		return internal("reading the settings", err)
	}
	if on {
		if fields := s.validate(st); len(fields) > 0 {
			msg := "cannot enable LDAP: the saved settings are invalid; fix them with PUT /api/v1/settings"
			if !found {
				msg = "cannot enable LDAP: no settings saved yet; save them with PUT /api/v1/settings"
			}
			return conflict(msg, fields...)
		}
	}
	if st.Enabled != on {
		st.Enabled = on
		if err := s.save(c, st, []string{"enabled"}); err != nil {
			return err
		}
		if on {
			s.log.Info("LDAP enabled")
		} else {
			s.log.Info("LDAP disabled")
		}
	}
	return s.writeStatus(c, st)
}

// removeImported is "Remove imported users and groups": it empties the state
// store (settings and run history stay). With push enabled, the target keeps
// the users unless ?deprovision=true, which deprovisions them there first.
// Deprovisioning and emptying hold the sync lock, so no sync (of this process
// or another) runs in between; while one runs the answer is 409.
func (s *server) removeImported(c echo.Context) error {
	ctx := c.Request().Context()
	deprovision, err := boolParam(c, "deprovision")
	if err != nil {
		return err
	}
	st, _, err := s.load(ctx)
	if err != nil {
		return internal("reading the settings", err)
	}
	if deprovision {
		if !st.Push.Enabled {
			return conflict("deprovision=true needs push to be enabled (push.enabled)")
		}
		if s.pusher == nil {
			return errNoPush
		}
	}
	out := map[string]any{}
	var users, groups int
	err = s.sched.Exclusive(ctx, func(ctx context.Context) error {
		if deprovision {
			rep, err := s.pusher.Deprovision(ctx, st)
			if err != nil {
				return &apiError{status: http.StatusBadGateway,
					body: errorBody{Error: "deprovisioning at the push target failed; nothing was removed: " + err.Error()}, err: err}
			}
			out["deprovision"] = json.RawMessage(rep)
		}
		var err error
		if users, groups, err = s.st.Counts(ctx); err != nil {
			return internal("counting imported users and groups", err)
		}
		if err := s.st.Clear(ctx); err != nil {
			return internal("removing imported users and groups", err)
		}
		return nil
	})
	var busy *bridge.BusyError
	if errors.As(err, &busy) {
		return s.busyRemoving(ctx, busy)
	}
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		return internal("removing imported users and groups", err)
	}
	s.log.Info("imported users and groups removed", "users", users, "groups", groups, "deprovisioned", deprovision)
	out["usersRemoved"] = users
	out["groupsRemoved"] = groups
	return c.JSON(http.StatusOK, out)
}

// busyRemoving is the 409 of a removal refused because a sync runs.
func (s *server) busyRemoving(ctx context.Context, busy *bridge.BusyError) error {
	id := s.runningRun(ctx, busy)
	msg := "a sync is running: wait for it to finish"
	if id == 0 {
		msg = "a sync is running in another scimbridge process: wait for it to finish"
	}
	return &apiError{status: http.StatusConflict, body: errorBody{Error: msg, RunID: id}}
}

// busyWait bounds how long runningRun waits for a starting run's record.
const busyWait = time.Second

// runningRun is the id of the run that made busy, or 0 if none is known. A
// run of another process, or one still being recorded, has no id in busy;
// its run record says it once written, which takes milliseconds.
func (s *server) runningRun(ctx context.Context, busy *bridge.BusyError) int64 {
	if busy.RunID != 0 {
		return busy.RunID
	}
	deadline := time.Now().Add(busyWait)
	for {
		if last, ok, err := s.st.LastRun(ctx); err == nil && ok && last.Status == bridge.StatusRunning {
			return last.ID
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// boolParam reads an optional true/false query parameter.
func boolParam(c echo.Context, name string) (bool, error) {
	v := c.QueryParam(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(name + " must be true or false")
	}
	return b, nil
}
