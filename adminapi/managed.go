package adminapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/schema"
)

// managedFields answers which fields serve sets at every start (its
// --settings file, secret files): the form shows them read-only.
func (s *server) managedFields(c echo.Context) error {
	fields := s.managed
	if fields == nil {
		fields = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"fields": fields, "source": s.managedSource})
}

// refuseManaged answers 409 naming every changed field that is managed as
// code: a save would be undone at the next start.
func (s *server) refuseManaged(changed []string) error {
	var fields []schema.FieldError
	for _, f := range changed {
		for _, m := range s.managed {
			if f == m || strings.HasPrefix(f, m+".") {
				fields = append(fields, schema.FieldError{Field: f,
					Message: "managed by " + s.managedSource + "; change it there and restart scimbridge serve"})
				break
			}
		}
	}
	if len(fields) > 0 {
		return conflict("nothing was saved: the settings change fields that are managed as code", fields...)
	}
	return nil
}
