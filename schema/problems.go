package schema

import (
	"cmp"
	"errors"
	"reflect"
	"slices"
	"strings"
)

// Problems returns every problem of s at once, one per field, in the order of
// the settings form: Validate's, then those syntax finds in fields Validate
// passed. syntax is the directory adapter's check of what only an LDAP
// library can judge, the syntax of DNs and filters (ldapsource.CheckSyntax);
// nil checks nothing more. The admin API and the command line both validate
// with it, so a document fails the same way in both.
func (s *Settings) Problems(syntax func(*Settings) []FieldError) []FieldError {
	var fields []FieldError
	if err := s.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return []FieldError{{Field: "", Message: err.Error()}}
		}
		fields = append(fields, ve.Fields...)
	}
	if syntax == nil {
		return fields
	}
	// One message per field: a DN that is not name=value fails both checks.
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		seen[f.Field] = true
	}
	for _, f := range syntax(s) {
		if !seen[f.Field] {
			seen[f.Field] = true
			fields = append(fields, f)
		}
	}
	slices.SortStableFunc(fields, func(a, b FieldError) int {
		return cmp.Compare(fieldRank(a.Field), fieldRank(b.Field))
	})
	return fields
}

// fieldOrder ranks the JSON paths of the settings document in document order,
// so field errors from several checks read top to bottom like the form.
var fieldOrder = func() map[string]int {
	m := map[string]int{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			m[path] = len(m)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path)
			}
		}
	}
	walk(reflect.TypeFor[Settings](), "")
	return m
}()

// fieldRank is a path's place in the document; list elements ("x[2]") rank
// with their list, unknown paths last.
func fieldRank(path string) int {
	path, _, _ = strings.Cut(path, "[")
	if r, ok := fieldOrder[path]; ok {
		return r
	}
	return len(fieldOrder)
}
