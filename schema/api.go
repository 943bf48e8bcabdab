package schema

import "strings"

// FieldError is one problem with one setting, named by its JSON path
// ("connection.url", "users.attributes.username").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a settings document at once.
type ValidationError struct {
	Fields []FieldError
}

// Error lists every field problem as "field: message", separated by "; ".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid settings: " + strings.Join(parts, "; ")
}

// EntryError says why one directory entry was skipped.
type EntryError struct {
	DN     string
	Reason string
}

// Error returns "DN: reason".
func (e *EntryError) Error() string { return e.DN + ": " + e.Reason }
