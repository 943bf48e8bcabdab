package adminapi

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/schema"
)

// vendors are the values of the vendor setting.
var vendors = []string{schema.VendorOpenLDAP, schema.VendorAD, schema.VendorOther}

// defaults answers the settings a new document of ?vendor= starts from, so
// the console can switch a form's defaults when the vendor changes.
func (s *server) defaults(c echo.Context) error {
	vendor := c.QueryParam("vendor")
	if !slices.Contains(vendors, vendor) {
		return badRequest("vendor must be openldap, ad or other")
	}
	d := schema.Defaults(vendor)
	return s.writeSettings(c, http.StatusOK, &d)
}
