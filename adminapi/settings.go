package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/schema"
)

// getSettings answers the settings document with both secrets emptied and
// connection.bindCredentialSet / push.tokenSet saying whether one is stored.
func (s *server) getSettings(c echo.Context) error {
	st, _, err := s.load(c.Request().Context())
	if err != nil {
		return internal("reading the settings", err)
	}
	return s.writeSettings(c, http.StatusOK, st)
}

// writeSettings renders st redacted. The *Set flags are always present (the
// schema omits them when false).
func (s *server) writeSettings(c echo.Context, status int, st *schema.Settings) error {
	red := st.Redacted()
	raw, err := json.Marshal(&red)
	if err != nil {
		return internal("encoding the settings", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return internal("encoding the settings", err)
	}
	if conn, ok := doc["connection"].(map[string]any); ok {
		conn["bindCredential"] = ""
		conn["bindCredentialSet"] = red.Connection.BindCredentialSet
	}
	if push, ok := doc["push"].(map[string]any); ok {
		push["token"] = ""
		push["tokenSet"] = red.Push.TokenSet
	}
	return c.JSON(status, doc)
}

// parseDocument reads a settings document from the body: strict JSON, every
// field-level problem named. The second result lists the top-level keys the
// body carries, so omitted sections can be told from given ones.
func parseDocument(body []byte) (*schema.Settings, map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, badRequest("empty body: send the settings document as JSON")
	}
	parsed, err := schema.Parse(body)
	if err != nil {
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			return nil, nil, badRequest("invalid settings document", ve.Fields...)
		}
		return nil, nil, badRequest(err.Error())
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, badRequest("malformed settings document: " + err.Error())
	}
	return &parsed, top, nil
}

// putSettings validates a whole settings document and stores it. An empty or
// omitted secret keeps the stored one; an omitted "enabled" keeps the stored
// enablement (enable and disable have their own routes). The new schedule
// applies at once.
func (s *server) putSettings(c echo.Context) error {
	ctx := c.Request().Context()
	body, err := readBody(c)
	if err != nil {
		return err
	}
	next, top, err := parseDocument(body)
	if err != nil {
		return err
	}

	s.settingsMu.Lock()
	defer s.settingsMu.Unlock()
	old, found, err := s.load(ctx)
	if err != nil {
		return internal("reading the stored settings", err)
	}
	if _, ok := top["enabled"]; !ok {
		next.Enabled = old.Enabled
	}
	next.MergeSecrets(old)
	setSecretFlags(next)
	// A managed field is named first: its change could never be saved.
	if err := s.refuseManaged(schema.ChangedFields(old, next)); err != nil {
		return err
	}
	if fields := s.validate(next); len(fields) > 0 {
		return badRequest("invalid settings: nothing was saved", fields...)
	}
	changed := schema.ChangedFields(old, next)
	if found && len(changed) == 0 {
		return s.writeSettings(c, http.StatusOK, next)
	}
	if err := s.save(c, next, changed); err != nil {
		return err
	}
	s.log.Info("settings saved", "changedFields", changed)
	return s.writeSettings(c, http.StatusOK, next)
}

// setSecretFlags makes the output-only *Set flags tell the truth, whatever
// the client sent in them.
func setSecretFlags(st *schema.Settings) {
	st.Connection.BindCredentialSet = st.Connection.BindCredential != ""
	st.Push.TokenSet = st.Push.Token != ""
}

// save stores st and applies its schedule at once.
func (s *server) save(c echo.Context, st *schema.Settings, changed []string) error {
	ctx := c.Request().Context()
	if err := s.refuseManaged(changed); err != nil {
		return err
	}
	if err := settingsdoc.Save(ctx, s.st, s.key, st, changed); err != nil {
		return internal("saving the settings", err)
	}
	if err := s.sched.Reschedule(ctx); err != nil {
		return internal("the settings were saved, but applying the new schedule", err)
	}
	return nil
}

// settingChange is one entry of the settings audit list.
type settingChange struct {
	At     time.Time `json:"at"`
	Fields []string  `json:"fields"`
}

// settingsHistory answers the audit list of settings changes, newest first:
// when, and which fields changed — never values.
func (s *server) settingsHistory(c echo.Context) error {
	limit, offset, err := page(c, 50, 500)
	if err != nil {
		return err
	}
	hist, err := s.st.SettingsHistory(c.Request().Context(), limit, offset)
	if err != nil {
		return internal("reading the settings history", err)
	}
	out := make([]settingChange, 0, len(hist))
	for _, h := range hist {
		f := h.Fields
		if f == nil {
			f = []string{}
		}
		out = append(out, settingChange{At: h.At.UTC(), Fields: f})
	}
	return c.JSON(http.StatusOK, map[string]any{"changes": out, "limit": limit, "offset": offset})
}

// page reads the limit and offset query parameters.
func page(c echo.Context, def, max int) (limit, offset int, err error) {
	limit, offset = def, 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return 0, 0, badRequest("limit must be a whole number from 1 to " + strconv.Itoa(max))
		}
		limit = n
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, badRequest("offset must be a whole number, 0 or more")
		}
		offset = n
	}
	return limit, offset, nil
}
