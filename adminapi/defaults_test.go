package adminapi_test

import (
	"net/http"
	"testing"
)

// TestDefaultsOfAVendor: the defaults a vendor's document starts from, and a
// clear refusal of an unknown vendor.
func TestDefaultsOfAVendor(t *testing.T) {
	e := newEnv(t)
	for vendor, username := range map[string]string{"openldap": "uid", "ad": "sAMAccountName", "other": "uid"} {
		r := e.must(e.call("GET", "/api/v1/settings/defaults?vendor="+vendor, nil), http.StatusOK, "defaults of "+vendor)
		if r.body["vendor"] != vendor || get(r.body, "users.attributes.username") != username ||
			get(r.body, "connection.bindCredentialSet") != false || r.body["enabled"] != false {
			t.Errorf("defaults of %s: %s", vendor, r.raw)
		}
	}
	for _, vendor := range []string{"", "novell"} {
		r := e.must(e.call("GET", "/api/v1/settings/defaults?vendor="+vendor, nil), http.StatusBadRequest, "defaults of "+vendor)
		if r.body["error"] != "vendor must be openldap, ad or other" {
			t.Errorf("vendor %q: %s", vendor, r.raw)
		}
	}
}
