package schema

import (
	"reflect"
	"slices"
)

// Paths of the secret settings and of their output-only "is set" flags.
const (
	PathBindCredential = "connection.bindCredential"
	PathPushToken      = "push.token"
)

// outputOnly are fields the server derives; ChangedFields ignores them.
var outputOnly = map[string]bool{
	"connection.bindCredentialSet": true,
	"push.tokenSet":                true,
}

// Redacted returns a deep copy of s fit to show: connection.bindCredential and
// push.token are emptied, and connection.bindCredentialSet and push.tokenSet say
// whether they were set.
func (s Settings) Redacted() Settings {
	c := s.clone()
	c.Connection.BindCredentialSet = s.Connection.BindCredential != "" || s.Connection.BindCredentialSet
	c.Connection.BindCredential = ""
	c.Push.TokenSet = s.Push.Token != "" || s.Push.TokenSet
	c.Push.Token = ""
	return c
}

// MergeSecrets gives an admin update the PUT semantics of a form with password
// fields: an empty secret in s keeps the one in stored, a non-empty one
// replaces it. An anonymous bind (empty connection.bindDn) keeps no bind
// credential. Afterwards connection.bindCredentialSet and push.tokenSet say
// whether s holds a secret, whatever the update claimed. stored may be nil.
func (s *Settings) MergeSecrets(stored *Settings) {
	if stored != nil {
		if s.Connection.BindCredential == "" {
			s.Connection.BindCredential = stored.Connection.BindCredential
		}
		if s.Push.Token == "" {
			s.Push.Token = stored.Push.Token
		}
	}
	if s.Connection.BindDN == "" {
		s.Connection.BindCredential = ""
	}
	s.Connection.BindCredentialSet = s.Connection.BindCredential != ""
	s.Push.TokenSet = s.Push.Token != ""
}

// ChangedFields returns the JSON paths of the leaf settings that differ
// between old and new, in document order, for the audit log. A list such as
// users.objectClasses is one leaf. Secrets are reported by path only, like any
// other field; the output-only *Set flags are not reported. A nil document
// counts as the zero document.
func ChangedFields(old, new *Settings) []string {
	var a, b Settings
	if old != nil {
		a = *old
	}
	if new != nil {
		b = *new
	}
	var out []string
	diff(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	return out
}

func diff(a, b reflect.Value, path string, out *[]string) {
	if a.Kind() == reflect.Struct {
		t := a.Type()
		for i := 0; i < t.NumField(); i++ {
			name := jsonName(t.Field(i))
			if name == "" {
				continue
			}
			diff(a.Field(i), b.Field(i), joinPath(path, name), out)
		}
		return
	}
	if outputOnly[path] {
		return
	}
	if a.Kind() == reflect.Slice {
		if !slices.Equal(a.Interface().([]string), b.Interface().([]string)) {
			*out = append(*out, path)
		}
		return
	}
	if !a.Equal(b) {
		*out = append(*out, path)
	}
}

// clone returns a copy of s that shares no slices with it.
func (s Settings) clone() Settings {
	s.Users.ObjectClasses = slices.Clone(s.Users.ObjectClasses)
	s.Groups.ObjectClasses = slices.Clone(s.Groups.ObjectClasses)
	s.Push.ScopeGroups = slices.Clone(s.Push.ScopeGroups)
	return s
}
