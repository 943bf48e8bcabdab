package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

// validate returns every problem of a settings document: the schema's rules
// and the LDAP syntax of its DNs and filters.
func validate(s *schema.Settings) []schema.FieldError {
	var fields []schema.FieldError
	var ve *schema.ValidationError
	if err := s.Validate(); errors.As(err, &ve) {
		fields = append(fields, ve.Fields...)
	} else if err != nil {
		fields = append(fields, schema.FieldError{Field: "", Message: err.Error()})
	}
	return append(fields, ldapsource.CheckSyntax(s)...)
}

// readSettingsFile reads, parses and validates a settings document file.
func readSettingsFile(path string) (*schema.Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("read settings: %v", err)}
	}
	s, err := schema.Parse(data)
	if err != nil {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("settings file %s: %v", path, err)}
	}
	if fields := validate(&s); len(fields) > 0 {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("settings file %s: %s", path, describeFields(fields))}
	}
	return &s, nil
}

func describeFields(fields []schema.FieldError) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid settings: " + strings.Join(parts, "; ")
}
