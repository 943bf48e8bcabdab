package scimserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// The schemas describe exactly the attributes scimbridge serves; all are
// read-only because LDAP is the source of truth.

func str(name, desc string, caseExact bool) schema.SimpleParams {
	return schema.SimpleStringParams(schema.StringParams{
		Name: name, Description: optional.NewString(desc), CaseExact: caseExact,
		Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
	})
}

func canonical(name, desc string, values ...string) schema.SimpleParams {
	return schema.SimpleStringParams(schema.StringParams{
		Name: name, Description: optional.NewString(desc), CanonicalValues: values,
		Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
	})
}

func ref(desc string, types ...schema.AttributeReferenceType) schema.SimpleParams {
	return schema.SimpleReferenceParams(schema.ReferenceParams{
		Name: "$ref", Description: optional.NewString(desc), ReferenceTypes: types,
		Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
	})
}

func complexAttr(name, desc string, multi bool, subs ...schema.SimpleParams) schema.CoreAttribute {
	return schema.ComplexCoreAttribute(schema.ComplexParams{
		Name: name, Description: optional.NewString(desc), MultiValued: multi, SubAttributes: subs,
		Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
	})
}

func userSchemaDef() schema.Schema {
	return schema.Schema{
		ID:          userSchema,
		Name:        optional.NewString("User"),
		Description: optional.NewString("User account, synced from the LDAP directory"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "userName", Description: optional.NewString("Unique identifier for the user, from the directory's username attribute."),
				Required: true, Uniqueness: schema.AttributeUniquenessServer(),
				Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
			})),
			complexAttr("name", "The components of the user's name.", false,
				str("formatted", "The full name: givenName and familyName.", false),
				str("familyName", "The family name.", false),
				str("givenName", "The given name.", false)),
			schema.SimpleCoreAttribute(str("displayName", "The name of the user, suitable for display.", false)),
			complexAttr("emails", "The user's email address (one, type work, primary).", true,
				str("value", "The email address.", false),
				canonical("type", "Always \"work\".", "work"),
				schema.SimpleBooleanParams(schema.BooleanParams{
					Name: "primary", Description: optional.NewString("Always true."),
					Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
				})),
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
				Name: "active", Description: optional.NewString("Whether the account is enabled in the directory."),
				Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
			})),
			complexAttr("groups", "Every group the user belongs to, directly or through nested groups.", true,
				str("value", "The group's id.", true),
				ref("The URI of the group.", "Group"),
				str("display", "The group's displayName.", false),
				canonical("type", "\"direct\" when the user is a direct member, else \"indirect\".", "direct", "indirect")),
		},
	}
}

func enterpriseSchemaDef() schema.Schema {
	return schema.Schema{
		ID:          enterpriseSchema,
		Name:        optional.NewString("EnterpriseUser"),
		Description: optional.NewString("Enterprise user attributes, present when mapped from the directory"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(str("employeeNumber", "The employee number.", false)),
			schema.SimpleCoreAttribute(str("department", "The department.", false)),
		},
	}
}

func groupSchemaDef() schema.Schema {
	return schema.Schema{
		ID:          groupSchema,
		Name:        optional.NewString("Group"),
		Description: optional.NewString("Group, synced from the LDAP directory"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "displayName", Description: optional.NewString("The group's name."), Required: true,
				Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedDefault(),
			})),
			complexAttr("members", "The direct members: users and nested groups.", true,
				str("value", "The member's id.", true),
				ref("The URI of the member.", "User", "Group"),
				str("display", "The member's displayName (users: else userName).", false),
				canonical("type", "\"User\" or \"Group\".", "User", "Group")),
		},
	}
}

// resourceTypes are the resource types elimity serves at /ResourceTypes and
// whose schemas it serves at /Schemas. Requests to their endpoints never reach
// elimity (see Handler.ServeHTTP), so they need no ResourceHandler.
func resourceTypes() []scim.ResourceType {
	return []scim.ResourceType{
		{
			ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
			Description:      optional.NewString("User Account"),
			Schema:           userSchemaDef(),
			SchemaExtensions: []scim.SchemaExtension{{Schema: enterpriseSchemaDef()}},
		},
		{
			ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
			Description: optional.NewString("Group"),
			Schema:      groupSchemaDef(),
		},
	}
}

// newDiscovery builds the elimity server that answers /Schemas and /ResourceTypes.
func newDiscovery(maxResults int, log *slog.Logger) (http.Handler, error) {
	srv, err := scim.NewServer(&scim.ServerArgs{
		// Never served from here (Handler.ServeHTTP answers /ServiceProviderConfig
		// truthfully); elimity uses MaxResults as its default list count.
		ServiceProviderConfig: &scim.ServiceProviderConfig{MaxResults: maxResults, SupportFiltering: true},
		ResourceTypes:         resourceTypes(),
	}, scim.WithLogger(elimityLogger{log}))
	if err != nil {
		return nil, fmt.Errorf("build the SCIM discovery endpoints: %w", err)
	}
	return srv, nil
}

// elimityLogger adapts slog to elimity's logger, which passes a message then
// key/value pairs; its "error" key becomes "err", the key of every error
// scimbridge logs.
type elimityLogger struct{ log *slog.Logger }

func (l elimityLogger) Error(args ...any) {
	if len(args) == 0 {
		return
	}
	kv := args[1:]
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "error" {
			kv[i] = "err"
		}
	}
	l.log.Error("scim discovery: "+fmt.Sprint(args[0]), kv...)
}

// fixItemsPerPage rewrites a ListResponse body from elimity so that
// itemsPerPage is the number of resources returned (elimity echoes the
// requested count). Other bodies are returned unchanged.
func fixItemsPerPage(body []byte) []byte {
	var lr map[string]json.RawMessage
	if err := json.Unmarshal(body, &lr); err != nil || lr["Resources"] == nil {
		return body
	}
	var resources []json.RawMessage
	if err := json.Unmarshal(lr["Resources"], &resources); err != nil {
		return body
	}
	if resources == nil {
		lr["Resources"] = json.RawMessage("[]")
	}
	lr["itemsPerPage"] = json.RawMessage(fmt.Sprint(len(resources)))
	out, err := json.Marshal(lr)
	if err != nil {
		return body
	}
	return out
}

// bufferWriter captures a response so it can be rewritten before it is sent.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// serviceProviderConfig is the truthful /ServiceProviderConfig document.
func serviceProviderConfig(maxResults int, base string) map[string]any {
	return map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
		"patch":            map[string]any{"supported": false},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "Authorization: Bearer <token>, with a token from SCIMBRIDGE_SCIM_TOKEN",
			"specUri":     "https://www.rfc-editor.org/rfc/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     base + "/ServiceProviderConfig",
		},
	}
}
