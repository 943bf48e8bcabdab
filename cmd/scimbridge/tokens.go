package main

import (
	"fmt"

	"github.com/scimbridge/scimbridge/schema"
)

// checkTokens refuses weak bearer tokens and an admin token that is also a
// SCIM or metrics token (as the servers compare them: surrounding white
// space ignored), naming the variable and never printing a token. The
// metrics token is optional ("": /metrics is open).
func checkTokens(scimTokens []string, adminToken, metricsToken string) error {
	for i, t := range scimTokens {
		if err := schema.CheckBearerToken(t); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("SCIMBRIDGE_SCIM_TOKEN: token %d of %d: %v", i+1, len(scimTokens), err)}
		}
	}
	if err := schema.CheckBearerToken(adminToken); err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("SCIMBRIDGE_ADMIN_TOKEN: %v", err)}
	}
	for _, t := range scimTokens {
		if schema.SameToken(t, adminToken) {
			return &exitError{code: 2, msg: "SCIMBRIDGE_ADMIN_TOKEN must differ from every SCIM token (SCIMBRIDGE_SCIM_TOKEN): otherwise a SCIM client could change the settings"}
		}
	}
	if metricsToken == "" {
		return nil
	}
	if err := schema.CheckBearerToken(metricsToken); err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("SCIMBRIDGE_METRICS_TOKEN: %v", err)}
	}
	if schema.SameToken(metricsToken, adminToken) {
		return &exitError{code: 2, msg: "SCIMBRIDGE_ADMIN_TOKEN must differ from SCIMBRIDGE_METRICS_TOKEN: otherwise a metrics scraper could change the settings"}
	}
	return nil
}
