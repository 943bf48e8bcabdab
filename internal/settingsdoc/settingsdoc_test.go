package settingsdoc_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/schema"
)

const (
	keyA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	keyB = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

	bindSecret = "Bind-Credential-7f3a9c"
	pushSecret = "Push-Token-51b2e8"
)

func mustKey(t *testing.T, s string) secret.Key {
	t.Helper()
	k, err := secret.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sample() *schema.Settings {
	s := schema.Defaults(schema.VendorOpenLDAP)
	s.Connection.URL = "ldap://127.0.0.1:389"
	s.Connection.BindDN = "cn=admin,dc=example,dc=com"
	s.Connection.BindCredential = bindSecret
	s.Users.UsersDN = "ou=people,dc=example,dc=com"
	s.Groups.GroupsDN = "ou=groups,dc=example,dc=com"
	s.Push.URL = "https://scim.example.com/scim/v2"
	s.Push.Token = pushSecret
	return &s
}

func TestLoadWithoutStoredSettingsReturnsDisabledDefaults(t *testing.T) {
	db, _ := bridgetest.OpenStore(t)
	got, found, err := settingsdoc.Load(context.Background(), db, mustKey(t, keyA))
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Fatal("found = true on an empty store")
	}
	want := schema.Defaults(schema.VendorOpenLDAP)
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Load = %+v, want the openldap defaults %+v", *got, want)
	}
	if got.Enabled {
		t.Fatal("defaults are enabled")
	}
}

func TestSaveSealsSecretsAndLoadOpensThem(t *testing.T) {
	ctx := context.Background()
	db, path := bridgetest.OpenStore(t)
	key := mustKey(t, keyA)
	in := sample()
	if err := settingsdoc.Save(ctx, db, key, in, []string{"connection.url"}); err != nil {
		t.Fatal(err)
	}
	if in.Connection.BindCredential != bindSecret || in.Push.Token != pushSecret {
		t.Fatal("Save modified its argument's secrets")
	}

	doc, _, _, err := db.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{bindSecret, pushSecret} {
		if bytes.Contains(doc, []byte(s)) {
			t.Fatalf("stored document holds the secret %q in plaintext: %s", s, doc)
		}
	}
	if n := strings.Count(string(doc), secret.Prefix); n != 2 {
		t.Fatalf("stored document has %d sealed values, want 2: %s", n, doc)
	}
	for _, f := range []string{path, path + "-wal"} {
		raw, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, s := range []string{bindSecret, pushSecret} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("%s holds the secret %q in plaintext", filepath.Base(f), s)
			}
		}
	}

	got, found, err := settingsdoc.Load(ctx, db, key)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("found = false after Save")
	}
	want := *in
	want.Connection.BindCredentialSet = true
	want.Push.TokenSet = true
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Load = %+v\nwant %+v", *got, want)
	}
	hist, err := db.SettingsHistory(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || !reflect.DeepEqual(hist[0].Fields, []string{"connection.url"}) {
		t.Fatalf("history = %+v, want one entry listing connection.url", hist)
	}
}

func TestEmptySecretsStayEmpty(t *testing.T) {
	ctx := context.Background()
	db, _ := bridgetest.OpenStore(t)
	key := mustKey(t, keyA)
	in := sample()
	in.Connection.BindCredential, in.Push.Token = "", ""
	if err := settingsdoc.Save(ctx, db, key, in, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := settingsdoc.Load(ctx, db, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Connection.BindCredential != "" || got.Connection.BindCredentialSet || got.Push.Token != "" || got.Push.TokenSet {
		t.Fatalf("empty secrets came back as %+v / %+v", got.Connection, got.Push)
	}
}

func TestLoadWithWrongKeyFails(t *testing.T) {
	ctx := context.Background()
	db, _ := bridgetest.OpenStore(t)
	if err := settingsdoc.Save(ctx, db, mustKey(t, keyA), sample(), nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := settingsdoc.Load(ctx, db, mustKey(t, keyB))
	if err == nil {
		t.Fatal("Load with another key succeeded")
	}
	if !errors.Is(err, secret.ErrOpen) || !strings.Contains(err.Error(), "connection.bindCredential") ||
		!strings.Contains(err.Error(), secret.EnvKey) {
		t.Fatalf("error %q does not name the setting and %s", err, secret.EnvKey)
	}
	if _, _, err := settingsdoc.Load(ctx, db, secret.Key{}); err == nil {
		t.Fatal("Load with the zero key succeeded")
	}
}

// TestLoadRefusesSwappedSecrets pins down that the sealed values are bound to
// their fields: someone who can write the store and swaps the sealed bind
// credential and push token (so the bind credential would be sent to the
// push target and the other way round) gets a Load error, not swapped secrets.
func TestLoadRefusesSwappedSecrets(t *testing.T) {
	ctx := context.Background()
	db, _ := bridgetest.OpenStore(t)
	key := mustKey(t, keyA)
	if err := settingsdoc.Save(ctx, db, key, sample(), nil); err != nil {
		t.Fatal(err)
	}
	doc, _, _, err := db.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stored schema.Settings
	if stored, err = schema.Parse(doc); err != nil {
		t.Fatal(err)
	}
	cred, tok := stored.Connection.BindCredential, stored.Push.Token
	if !strings.HasPrefix(cred, secret.Prefix) || !strings.HasPrefix(tok, secret.Prefix) {
		t.Fatalf("stored secrets are not sealed: %q %q", cred, tok)
	}
	swapped := bytes.Replace(doc, []byte(cred), []byte("CRED"), 1)
	swapped = bytes.Replace(swapped, []byte(tok), []byte(cred), 1)
	swapped = bytes.Replace(swapped, []byte("CRED"), []byte(tok), 1)
	if bytes.Equal(swapped, doc) {
		t.Fatal("nothing swapped")
	}
	if err := db.PutSettings(ctx, swapped, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := settingsdoc.Load(ctx, db, key)
	if got != nil || !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("Load of swapped secrets = %+v, %v; want an error", got, err)
	}
	want := "stored connection.bindCredential holds the value sealed for push.token: the stored settings were altered: "
	if msg := err.Error(); !strings.HasPrefix(msg, want) {
		t.Fatalf("error %q, want it to start with %q", msg, want)
	}
	if msg := err.Error(); strings.Contains(msg, bindSecret) || strings.Contains(msg, pushSecret) || strings.Contains(msg, cred) {
		t.Fatalf("error %q holds a secret or a sealed value", msg)
	}

	// Moving one sealed value over the other is caught too.
	moved := bytes.Replace(doc, []byte(tok), []byte(cred), 1)
	if err := db.PutSettings(ctx, moved, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = settingsdoc.Load(ctx, db, key)
	want = "stored push.token holds the value sealed for connection.bindCredential: the stored settings were altered: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Load of a moved secret: %v, want %q", err, want)
	}
}

func TestLoadRefusesPlaintextSecrets(t *testing.T) {
	ctx := context.Background()
	db, _ := bridgetest.OpenStore(t)
	doc := `{"connection":{"url":"ldap://127.0.0.1","bindDn":"cn=a,dc=x","bindCredential":"plain"},"users":{"usersDn":"dc=x"}}`
	if err := db.PutSettings(ctx, []byte(doc), nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := settingsdoc.Load(ctx, db, mustKey(t, keyA))
	if err == nil {
		t.Fatal("a plaintext stored secret was accepted")
	}
	if strings.Contains(err.Error(), "plain\"") {
		t.Fatalf("error shows the stored value: %v", err)
	}
}

func TestLoaderFeedsTheScheduler(t *testing.T) {
	ctx := context.Background()
	db, _ := bridgetest.OpenStore(t)
	key := mustKey(t, keyA)
	if err := settingsdoc.Save(ctx, db, key, sample(), nil); err != nil {
		t.Fatal(err)
	}
	got, err := settingsdoc.Loader(db, key)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Connection.BindCredential != bindSecret {
		t.Fatalf("Loader bind credential = %q", got.Connection.BindCredential)
	}
}

// TestSavingWithPushOffDropsTheChangeLog pins down finding 9 of issue 14:
// the change log grew without bound while push was off (198k rows after
// 150k users and 45k changes). Saving settings with push on keeps it.
func TestSavingWithPushOffDropsTheChangeLog(t *testing.T) {
	ctx := context.Background()
	db, _ := bridgetest.OpenStore(t)
	key := mustKey(t, keyA)
	p := &bridge.Plan{Changes: []bridge.Change{
		{ResourceType: bridge.MemberUser, ResourceID: "u1", Op: bridge.OpCreate, Name: "ann"},
		{ResourceType: bridge.MemberUser, ResourceID: "u2", Op: bridge.OpCreate, Name: "bo"},
	}}
	if err := db.Apply(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		ch, err := db.PushChanges(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ch)
	}
	on := sample()
	on.Push.Enabled = true
	if err := settingsdoc.Save(ctx, db, key, on, []string{"push.enabled"}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("push on: %d changes, want 2 kept", n)
	}
	off := sample()
	if err := settingsdoc.Save(ctx, db, key, off, []string{"push.enabled"}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("push off: %d changes, want 0", n)
	}
}
