package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// field is the setting the tests seal for.
const field = "connection.bindCredential"

var keyBytes32 = []byte("\xa5\x11\x3c\xf0\x8e\x27\x6b\xd4\x19\xc2\x70\x5f\xe3\x04\x9a\xb6" +
	"\x4d\x81\xfa\x32\x6e\xc7\x15\xa9\x58\x0b\xde\x93\x2f\x74\xe8\x46")

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	return k
}

func TestParseKeyAcceptsHexAndBase64Forms(t *testing.T) {
	ref := mustKey(t, hex.EncodeToString(keyBytes32))
	sealed, err := ref.Seal(field, "pw")
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"hex lower":      hex.EncodeToString(keyBytes32),
		"hex upper":      strings.ToUpper(hex.EncodeToString(keyBytes32)),
		"hex newline":    hex.EncodeToString(keyBytes32) + "\n",
		"base64 std":     base64.StdEncoding.EncodeToString(keyBytes32),
		"base64 raw std": base64.RawStdEncoding.EncodeToString(keyBytes32),
		"base64 url":     base64.URLEncoding.EncodeToString(keyBytes32),
		"base64 raw url": base64.RawURLEncoding.EncodeToString(keyBytes32),
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			// Every form is the same key: it opens what the hex form sealed.
			got, err := mustKey(t, form).Open(field, sealed)
			if err != nil || got != "pw" {
				t.Fatalf("Open = %q, %v; want pw", got, err)
			}
		})
	}
}

func TestParseKeyRejectsWrongLengthsWithoutEchoingTheValue(t *testing.T) {
	b31, b33 := keyBytes32[:31], append(append([]byte{}, keyBytes32...), 0x42)
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "SCIMBRIDGE_SECRET_KEY is empty"},
		{"blank", "  \n", "SCIMBRIDGE_SECRET_KEY is empty"},
		{"31 bytes hex", hex.EncodeToString(b31), "must be 32 bytes, not 31"},
		{"33 bytes hex", hex.EncodeToString(b33), "must be 32 bytes, not 33"},
		{"31 bytes base64", base64.StdEncoding.EncodeToString(b31), "must be 32 bytes, not 31"},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(b33), "must be 32 bytes, not 33"},
		{"not an encoding", "correct horse battery staple!!", "must be 32 bytes written as 64 hex digits or base64"},
		// Finding 12 of issue 14: an all-zero key was accepted.
		{"all zero", strings.Repeat("00", 32), "has almost no entropy (1 different byte values in 32)"},
		{"repeated pattern", strings.Repeat("0f1e", 16), "has almost no entropy (2 different byte values in 32)"},
		{"a word in base64", base64.StdEncoding.EncodeToString([]byte("passwordpasswordpasswordpassword")), "has almost no entropy (7 different byte values in 32)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseKey(c.in)
			if err == nil {
				t.Fatal("ParseKey accepted the key")
			}
			msg := err.Error()
			if !strings.Contains(msg, "SCIMBRIDGE_SECRET_KEY") || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q, want it to name SCIMBRIDGE_SECRET_KEY and say %q", msg, c.want)
			}
			if v := strings.TrimSpace(c.in); v != "" && strings.Contains(msg, v) {
				t.Fatalf("error %q prints the key", msg)
			}
		})
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	for _, plain := range []string{"x", "s3cret pässwörd", strings.Repeat("long", 1000)} {
		sealed, err := k.Seal(field, plain)
		if err != nil {
			t.Fatal(err)
		}
		// "x" can appear in base64 by chance; longer text cannot by accident.
		if !strings.HasPrefix(sealed, "enc:v1:") || len(plain) > 1 && strings.Contains(sealed, plain) {
			t.Fatalf("sealed %q: want enc:v1: prefix and no plaintext", sealed)
		}
		if !IsSealed(sealed) {
			t.Fatalf("IsSealed(%q) = false", sealed)
		}
		got, err := k.Open(field, sealed)
		if err != nil || got != plain {
			t.Fatalf("Open = %q, %v; want %q", got, err, plain)
		}
	}
}

func TestEmptySecretSealsAndOpensToEmpty(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	if s, err := k.Seal(field, ""); s != "" || err != nil {
		t.Fatalf("Seal(\"\") = %q, %v", s, err)
	}
	if s, err := k.Open(field, ""); s != "" || err != nil {
		t.Fatalf("Open(\"\") = %q, %v", s, err)
	}
}

func TestTwoSealsOfTheSameTextDiffer(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	a, _ := k.Seal(field, "same")
	b, _ := k.Seal(field, "same")
	if a == b {
		t.Fatalf("two seals are equal: %q", a)
	}
}

func TestOpenWithWrongKeyFails(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	other := bytes.Clone(keyBytes32)
	other[0] ^= 1
	sealed, _ := k.Seal(field, "pw")
	_, err := mustKey(t, hex.EncodeToString(other)).Open(field, sealed)
	if !errors.Is(err, ErrOpen) || err.Error() != "cannot decrypt stored secret: wrong SCIMBRIDGE_SECRET_KEY, or the stored value was altered" {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
}

func TestOpenTamperedFails(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	sealed, _ := k.Seal(field, "pw")
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, Prefix))
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x80
		_, err := k.Open(field, Prefix+base64.StdEncoding.EncodeToString(bad))
		if !errors.Is(err, ErrOpen) {
			t.Fatalf("flipping byte %d: err = %v, want ErrOpen", i, err)
		}
	}
	for _, bad := range []string{
		Prefix + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), // truncated
		Prefix + "!!not base64!!",
		Prefix + base64.StdEncoding.EncodeToString(raw[:10]), // shorter than nonce+tag
	} {
		if _, err := k.Open(field, bad); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open(%q): err = %v, want ErrOpen", bad, err)
		}
	}
}

func TestOpenRejectsUnsealedValues(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	for _, v := range []string{"plaintext-password", "enc:v2:AAAA", "ENC:V1:AAAA"} {
		_, err := k.Open(field, v)
		if err == nil || !strings.HasPrefix(err.Error(), "cannot decrypt stored secret") || strings.Contains(err.Error(), v) {
			t.Fatalf("Open(%q): err = %v, want a refusal that does not echo the value", v, err)
		}
		if IsSealed(v) {
			t.Fatalf("IsSealed(%q) = true", v)
		}
	}
}

func TestZeroKeyRefusesToSeal(t *testing.T) {
	var k Key
	if _, err := k.Seal(field, "pw"); err == nil {
		t.Fatal("zero Key sealed a secret")
	}
	if _, err := k.Open(field, Prefix+"AAAA"); err == nil {
		t.Fatal("zero Key opened a secret")
	}
}

func TestKeyDoesNotPrint(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(f, k); got != "secret.Key(redacted)" {
			t.Fatalf("Sprintf(%s) = %q", f, got)
		}
	}
}

func TestGenerateKeyIsUsable(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateKey()
	if len(a) != 64 || a == b {
		t.Fatalf("GenerateKey = %q, %q", a, b)
	}
	k := mustKey(t, a)
	sealed, _ := k.Seal(field, "pw")
	if got, err := k.Open(field, sealed); got != "pw" || err != nil {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

// TestASecretOpensOnlyForItsField pins down that the field is authenticated:
// a value sealed for the bind credential does not open as the push token,
// nor the other way round, nor for a field that differs in one byte.
func TestASecretOpensOnlyForItsField(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	cred, err := k.Seal("connection.bindCredential", "bind-pw")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Seal("push.token", "push-tok")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ field, sealed string }{
		{"push.token", cred},
		{"connection.bindCredential", tok},
		{"connection.bindCredentiaL", cred},
		{"connection.bindCredential ", cred},
	} {
		if got, err := k.Open(c.field, c.sealed); !errors.Is(err, ErrOpen) || got != "" {
			t.Errorf("Open(%q, …) = %q, %v; want ErrOpen", c.field, got, err)
		}
	}
	if got, err := k.Open("connection.bindCredential", cred); got != "bind-pw" || err != nil {
		t.Fatalf("Open for its own field = %q, %v", got, err)
	}
	if got, err := k.Open("push.token", tok); got != "push-tok" || err != nil {
		t.Fatalf("Open for its own field = %q, %v", got, err)
	}
}

func TestSealAndOpenNeedAField(t *testing.T) {
	k := mustKey(t, hex.EncodeToString(keyBytes32))
	if s, err := k.Seal("", "pw"); err == nil || s != "" {
		t.Fatalf("Seal without a field = %q, %v", s, err)
	}
	sealed, _ := k.Seal(field, "pw")
	if s, err := k.Open("", sealed); err == nil || s != "" {
		t.Fatalf("Open without a field = %q, %v", s, err)
	}
}

func ExampleKey_Seal() {
	key, err := ParseKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	sealed, _ := key.Seal("connection.bindCredential", "s3cret")
	plain, _ := key.Open("connection.bindCredential", sealed)
	_, err = key.Open("push.token", sealed)
	fmt.Println(strings.HasPrefix(sealed, "enc:v1:"), plain, errors.Is(err, ErrOpen))
	// Output: true s3cret true
}
