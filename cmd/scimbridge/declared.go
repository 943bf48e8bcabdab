package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// envSecret reads a secret from $NAME or from the file $NAME_FILE names (the
// usual convention for container secrets), without its final line break.
// Both set is an error: one of them would be silently ignored.
func envSecret(name string) (string, error) {
	v, file := os.Getenv(name), os.Getenv(name+"_FILE")
	switch {
	case file == "":
		return v, nil
	case v != "":
		return "", &exitError{code: 2, msg: fmt.Sprintf("both %s and %s_FILE are set: set only one", name, name)}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", &exitError{code: 2, msg: fmt.Sprintf("%s_FILE: %v", name, err)}
	}
	v = strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", &exitError{code: 2, msg: fmt.Sprintf("%s_FILE: %s is empty", name, file)}
	}
	return v, nil
}

// Settings secrets that serve takes from the environment or files at start.
const (
	envBindCredential = "SCIMBRIDGE_BIND_CREDENTIAL"
	envPushToken      = "SCIMBRIDGE_PUSH_TOKEN"
)

// declared is what serve is told at start about the settings: a settings
// file and secrets from the environment. They are applied at every start,
// as code, and the admin API refuses to change the fields they set.
type declared struct {
	file           string
	bindCredential string
	pushToken      string
}

func readDeclared(file string) (declared, error) {
	d := declared{file: file}
	var err error
	if d.bindCredential, err = envSecret(envBindCredential); err != nil {
		return d, err
	}
	if d.pushToken, err = envSecret(envPushToken); err != nil {
		return d, err
	}
	return d, nil
}

// source names where the managed fields come from, for the admin API.
func (d declared) source() string {
	var parts []string
	if d.file != "" {
		parts = append(parts, "the settings file "+d.file)
	}
	for _, v := range []struct{ name, val string }{{envBindCredential, d.bindCredential}, {envPushToken, d.pushToken}} {
		if v.val != "" {
			parts = append(parts, v.name+" (or "+v.name+"_FILE)")
		}
	}
	return strings.Join(parts, " and ")
}

// apply lays the declared fields over the stored settings and stores the
// result when it differs. A field the file leaves out keeps its stored value
// (the vendor's default when nothing is stored). It returns the managed
// fields: the file's leaf fields and the secrets given.
func (d declared) apply(ctx context.Context, st *store.DB, key secret.Key, log *slog.Logger) (managed []string, err error) {
	if d.file == "" && d.bindCredential == "" && d.pushToken == "" {
		return nil, nil
	}
	old, found, err := settingsdoc.Load(ctx, st, key)
	if err != nil {
		return nil, err
	}
	var next *schema.Settings
	switch {
	case d.file != "":
		next, managed, err = overlayFile(d.file, old, found)
		if err != nil {
			return nil, err
		}
	case found:
		c := *old
		next = &c
	default:
		return nil, &exitError{code: 2, msg: fmt.Sprintf("%s: no settings to apply it to: give serve --settings FILE, or save the settings through the admin API first", d.source())}
	}
	if d.bindCredential != "" {
		next.Connection.BindCredential = d.bindCredential
		managed = append(managed, "connection.bindCredential")
	}
	if d.pushToken != "" {
		next.Push.Token = d.pushToken
		managed = append(managed, "push.token")
	}
	if fields := validate(next); len(fields) > 0 {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("settings given at start (%s): %s", d.source(), describeFields(fields))}
	}
	slices.Sort(managed)
	managed = slices.Compact(managed)

	base := old
	if !found {
		def := schema.Defaults(next.Vendor)
		base = &def
	}
	changed := schema.ChangedFields(base, next)
	if found && len(changed) == 0 {
		return managed, nil
	}
	if err := settingsdoc.Save(ctx, st, key, next, changed); err != nil {
		return nil, err
	}
	log.Info("settings stored from the start-up settings", "source", d.source(), "changedFields", changed)
	return managed, nil
}

// overlayFile parses the settings file and lays its fields over the stored
// settings (when found). It returns the result and the file's leaf fields.
func overlayFile(path string, old *schema.Settings, found bool) (*schema.Settings, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &exitError{code: 2, msg: fmt.Sprintf("read settings: %v", err)}
	}
	// The file alone must be a well-formed document: unknown fields and
	// wrong types are reported against the file.
	if _, err := schema.Parse(data); err != nil {
		return nil, nil, &exitError{code: 2, msg: fmt.Sprintf("settings file %s: %v", path, err)}
	}
	fileDoc, err := decodeObject(data)
	if err != nil {
		return nil, nil, &exitError{code: 2, msg: fmt.Sprintf("settings file %s: %v", path, err)}
	}
	var leaves []string
	leafPaths(fileDoc, "", &leaves)
	if found {
		stored, err := json.Marshal(old)
		if err != nil {
			return nil, nil, err
		}
		doc, err := decodeObject(stored)
		if err != nil {
			return nil, nil, err
		}
		overlay(doc, fileDoc)
		if data, err = json.Marshal(doc); err != nil {
			return nil, nil, err
		}
	}
	s, err := schema.Parse(data)
	if err != nil {
		return nil, nil, &exitError{code: 2, msg: fmt.Sprintf("settings file %s over the stored settings: %v", path, err)}
	}
	if found {
		s.MergeSecrets(old) // an empty secret in the file keeps the stored one
	}
	// An empty secret in the file declares nothing.
	leaves = slices.DeleteFunc(leaves, func(p string) bool {
		return (p == "connection.bindCredential" || p == "push.token") && isEmptyString(fileDoc, p)
	})
	return &s, leaves, nil
}

func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// overlay sets every leaf of top in base, object by object.
func overlay(base, top map[string]any) {
	for k, v := range top {
		tm, ok := v.(map[string]any)
		bm, bok := base[k].(map[string]any)
		if ok && bok {
			overlay(bm, tm)
			continue
		}
		base[k] = v
	}
}

// leafPaths lists the dotted paths of doc's non-object values, as the
// settings' field errors name them.
func leafPaths(doc map[string]any, prefix string, out *[]string) {
	for k, v := range doc {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok {
			leafPaths(m, p, out)
			continue
		}
		*out = append(*out, p)
	}
}

// isEmptyString says whether the dotted path names "" in doc.
func isEmptyString(doc map[string]any, path string) bool {
	parts := strings.Split(path, ".")
	for _, k := range parts[:len(parts)-1] {
		m, ok := doc[k].(map[string]any)
		if !ok {
			return false
		}
		doc = m
	}
	v, ok := doc[parts[len(parts)-1]].(string)
	return ok && v == ""
}
