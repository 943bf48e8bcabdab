// Package settingsdoc stores the settings document in the state store with its
// secrets sealed. The bind credential (connection.bindCredential) and the push
// token (push.token) are encrypted with AES-GCM (package secret) before the
// document reaches the store and decrypted after it is read, so neither is ever
// at rest in plaintext. Each is sealed for its own field, so the two sealed
// values cannot be swapped in the store. A document whose secrets cannot be
// opened with the key — a wrong SCIMBRIDGE_SECRET_KEY, a plaintext value, a
// value altered or moved from the other field — is an error, never a silent
// fallback.
//
// Both `scimbridge serve` (admin API, scheduler) and `scimbridge sync` read the
// settings through Load, and the admin API writes them through Save.
package settingsdoc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/schema"
)

// Reader reads the raw settings document; *store.DB implements it.
type Reader interface {
	GetSettings(ctx context.Context) (doc []byte, updated time.Time, found bool, err error)
}

// Writer stores the raw settings document with the list of changed fields;
// *store.DB implements it.
type Writer interface {
	PutSettings(ctx context.Context, doc []byte, changedFields []string) error
}

// Load reads the stored settings document and opens its secrets with key. When
// no document is stored yet it returns the defaults of the default vendor
// (schema.Defaults), which are disabled: nothing is scheduled until an admin
// saves and enables settings. found tells the two cases apart.
func Load(ctx context.Context, st Reader, key secret.Key) (s *schema.Settings, found bool, err error) {
	doc, _, found, err := st.GetSettings(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read stored settings: %w", err)
	}
	if !found {
		d := schema.Defaults(schema.VendorOpenLDAP)
		return &d, false, nil
	}
	parsed, err := schema.Parse(doc)
	if err != nil {
		return nil, true, fmt.Errorf("parse stored settings: %w", err)
	}
	if parsed.Connection.BindCredential, err = open(key, schema.PathBindCredential, parsed.Connection.BindCredential); err != nil {
		return nil, true, err
	}
	if parsed.Push.Token, err = open(key, schema.PathPushToken, parsed.Push.Token); err != nil {
		return nil, true, err
	}
	parsed.Connection.BindCredentialSet = parsed.Connection.BindCredential != ""
	parsed.Push.TokenSet = parsed.Push.Token != ""
	return &parsed, true, nil
}

// Save seals the secrets of s with key and stores the document, recording
// changedFields (JSON paths, never values) in the settings history. s itself is
// not modified.
func Save(ctx context.Context, st Writer, key secret.Key, s *schema.Settings, changedFields []string) error {
	doc, err := Seal(key, s)
	if err != nil {
		return err
	}
	if changedFields == nil {
		changedFields = []string{}
	}
	if err := st.PutSettings(ctx, doc, changedFields); err != nil {
		return fmt.Errorf("store settings: %w", err)
	}
	if log, ok := st.(changeLog); ok && !s.Push.Enabled {
		if _, err := log.DropChangeLog(ctx); err != nil {
			return fmt.Errorf("settings stored, but: %w", err)
		}
	}
	return nil
}

// changeLog is a store that keeps a change log for the push client
// (*store.DB). Save drops it when the settings turn push off: nothing reads
// it then, and it would grow with every sync.
type changeLog interface {
	DropChangeLog(ctx context.Context) (int64, error)
}

// Seal returns the document as it is stored: the JSON of s with both secrets
// encrypted and the output-only *Set flags cleared.
func Seal(key secret.Key, s *schema.Settings) ([]byte, error) {
	c := *s
	var err error
	if c.Connection.BindCredential, err = key.Seal(schema.PathBindCredential, s.Connection.BindCredential); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", schema.PathBindCredential, err)
	}
	if c.Push.Token, err = key.Seal(schema.PathPushToken, s.Push.Token); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", schema.PathPushToken, err)
	}
	c.Connection.BindCredentialSet = false
	c.Push.TokenSet = false
	doc, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return doc, nil
}

// sealedFields are the secrets of the stored document, by JSON path.
var sealedFields = []string{schema.PathBindCredential, schema.PathPushToken}

// open decrypts the stored secret of field; "" stays "" (no secret stored).
// A value that opens only as another field's was moved there from that field.
func open(key secret.Key, field, sealed string) (string, error) {
	plain, err := key.Open(field, sealed)
	if err == nil {
		return plain, nil
	}
	if errors.Is(err, secret.ErrOpen) {
		for _, other := range sealedFields {
			if other == field {
				continue
			}
			if _, oerr := key.Open(other, sealed); oerr == nil {
				return "", fmt.Errorf("stored %s holds the value sealed for %s: the stored settings were altered: %w",
					field, other, err)
			}
		}
	}
	// Neither the sealed value nor the plaintext goes into the error.
	return "", fmt.Errorf("stored %s: %w", field, err)
}

// Loader returns a function that loads the settings from st with key, in the
// form scheduler.New takes.
func Loader(st Reader, key secret.Key) func(ctx context.Context) (*schema.Settings, error) {
	return func(ctx context.Context) (*schema.Settings, error) {
		s, _, err := Load(ctx, st, key)
		return s, err
	}
}
