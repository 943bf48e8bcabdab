package push

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"sort"

	"github.com/scimbridge/scimbridge/store"
)

// SCIM schema URNs the client sends.
const (
	userSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	groupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	patchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

type name struct {
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

type email struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type enterprise struct {
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	Department     string `json:"department,omitempty"`
}

// userBody is the SCIM representation of a user the client sends. Its
// attribute set (schemas and id left out) is what the pushed hash covers.
type userBody struct {
	Schemas     []string    `json:"schemas,omitempty"`
	ID          string      `json:"id,omitempty"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        *name       `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Emails      []email     `json:"emails,omitempty"`
	Active      bool        `json:"active"`
	Enterprise  *enterprise `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
}

type member struct {
	Value string `json:"value"`
	Type  string `json:"type,omitempty"`
}

// groupBody is the SCIM representation of a group; members are tracked apart
// (push_members), so the hash covers displayName and externalId only.
type groupBody struct {
	Schemas     []string  `json:"schemas,omitempty"`
	ID          string    `json:"id,omitempty"`
	ExternalID  string    `json:"externalId,omitempty"`
	DisplayName string    `json:"displayName"`
	Members     *[]member `json:"members,omitempty"`
}

func newUserBody(u *store.PushUser) *userBody {
	b := &userBody{ExternalID: u.ExternalID, UserName: u.UserName, DisplayName: u.DisplayName, Active: u.Active}
	if u.GivenName != "" || u.FamilyName != "" {
		b.Name = &name{GivenName: u.GivenName, FamilyName: u.FamilyName}
	}
	if u.Email != "" {
		b.Emails = []email{{Value: u.Email, Type: "work", Primary: true}}
	}
	if u.EmployeeNumber != "" || u.Department != "" {
		b.Enterprise = &enterprise{EmployeeNumber: u.EmployeeNumber, Department: u.Department}
	}
	return b
}

// attrs returns the body without schemas and id: what is compared and hashed.
func (b *userBody) attrs() *userBody {
	c := *b
	c.Schemas, c.ID = nil, ""
	return &c
}

// wire returns the body to send, with its schemas.
func (b *userBody) wire() *userBody {
	c := *b.attrs()
	c.Schemas = []string{userSchema}
	if c.Enterprise != nil {
		c.Schemas = append(c.Schemas, enterpriseSchema)
	}
	return &c
}

// projectUser reads a target's user into the attributes the client manages,
// so drift in any of them is seen; the target's primary (else first) email counts.
func projectUser(raw json.RawMessage) (*userBody, string) {
	var r struct {
		userBody
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &r)
	b := r.userBody.attrs()
	if len(b.Emails) > 0 {
		pick := b.Emails[0]
		for _, e := range b.Emails {
			if e.Primary {
				pick = e
				break
			}
		}
		b.Emails = []email{pick}
	}
	if b.Name != nil && *b.Name == (name{}) {
		b.Name = nil
	}
	if b.Enterprise != nil && *b.Enterprise == (enterprise{}) {
		b.Enterprise = nil
	}
	return b, r.ID
}

func newGroupBody(name, externalID string) *groupBody {
	return &groupBody{DisplayName: name, ExternalID: externalID}
}

func (b *groupBody) attrs() *groupBody {
	return &groupBody{ExternalID: b.ExternalID, DisplayName: b.DisplayName}
}

func (b *groupBody) wire(members []member) *groupBody {
	c := *b.attrs()
	c.Schemas = []string{groupSchema}
	if members != nil {
		c.Members = &members
	}
	return &c
}

// projectGroup reads a target's group: its attributes, id and member ids.
func projectGroup(raw json.RawMessage) (*groupBody, string, []string) {
	var r struct {
		ID          string   `json:"id"`
		ExternalID  string   `json:"externalId"`
		DisplayName string   `json:"displayName"`
		Members     []member `json:"members"`
	}
	_ = json.Unmarshal(raw, &r)
	ids := make([]string, 0, len(r.Members))
	for _, m := range r.Members {
		ids = append(ids, m.Value)
	}
	return &groupBody{ExternalID: r.ExternalID, DisplayName: r.DisplayName}, r.ID, ids
}

// hashOf hashes v's JSON form (maps and struct fields encode in a fixed order).
func hashOf(v any) (string, string) {
	b, _ := json.Marshal(v) // the bodies above always encode
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), string(b)
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

func newPatch(ops []patchOp) *patchRequest {
	return &patchRequest{Schemas: []string{patchSchema}, Operations: ops}
}

// userPatch returns the operations that turn old (nil: unknown) into want:
// replace what changed, remove what was dropped.
func userPatch(old, want *userBody) []patchOp {
	var ops []patchOp
	field := func(path string, o, w any, empty bool) {
		if old != nil && reflect.DeepEqual(o, w) {
			return
		}
		switch {
		case !empty:
			ops = append(ops, patchOp{Op: "replace", Path: path, Value: w})
		case old != nil:
			ops = append(ops, patchOp{Op: "remove", Path: path})
		}
	}
	var o userBody
	if old != nil {
		o = *old
	}
	field("userName", o.UserName, want.UserName, want.UserName == "")
	field("externalId", o.ExternalID, want.ExternalID, want.ExternalID == "")
	field("name", o.Name, want.Name, want.Name == nil)
	field("displayName", o.DisplayName, want.DisplayName, want.DisplayName == "")
	field("emails", o.Emails, want.Emails, len(want.Emails) == 0)
	var oe, we enterprise
	if o.Enterprise != nil {
		oe = *o.Enterprise
	}
	if want.Enterprise != nil {
		we = *want.Enterprise
	}
	field(enterpriseSchema+":employeeNumber", oe.EmployeeNumber, we.EmployeeNumber, we.EmployeeNumber == "")
	field(enterpriseSchema+":department", oe.Department, we.Department, we.Department == "")
	if old == nil || o.Active != want.Active {
		ops = append(ops, patchOp{Op: "replace", Path: "active", Value: want.Active})
	}
	return ops
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
