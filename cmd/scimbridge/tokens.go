package main

import (
	"fmt"

	"github.com/scimbridge/scimbridge/schema"
)

// checkTokens refuses weak bearer tokens and an admin token that is also a
// SCIM token (as the servers compare them: surrounding white space
// ignored), naming the variable and never printing a token.
func checkTokens(scimTokens []string, adminToken string) error {
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
	return nil
}
