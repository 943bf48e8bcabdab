package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// validate returns every problem of a settings document: the schema's rules
// and the LDAP syntax of its DNs and filters, as the admin API checks them.
func validate(s *schema.Settings) []schema.FieldError { return s.Problems(ldapsource.CheckSyntax) }

// storeFlags are the flags of the commands that work on a state store.
type storeFlags struct{ settings, db *string }

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		settings: fs.String("settings", "", "settings document (JSON); default: the settings stored in the database"),
		db:       fs.String("db", "", "state store path (default $SCIMBRIDGE_DB, else ./scimbridge.db)"),
	}
}

// open opens the state store --db names.
func (f storeFlags) open(ctx context.Context) (*store.DB, error) {
	return store.Open(ctx, dbPath(*f.db))
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
