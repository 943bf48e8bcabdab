// Package secret seals secrets at rest (the LDAP bind credential and the push
// token in the stored settings document) with AES-256-GCM under the key in the
// SCIMBRIDGE_SECRET_KEY environment variable.
//
// A sealed secret reads "enc:v1:" followed by the standard base64 encoding of
// a random 12-byte nonce and the ciphertext with its 16-byte tag. Each secret
// is sealed for one field (its JSON path, such as "connection.bindCredential"),
// which GCM authenticates along with the text: a value opens only for the
// field it was sealed for, so sealed values cannot be swapped between fields.
//
//	key, err := secret.ParseKey(os.Getenv(secret.EnvKey))
//	sealed, err := key.Seal("connection.bindCredential", "s3cret") // "enc:v1:..."
//	plain, err := key.Open("connection.bindCredential", sealed)    // "s3cret"
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// EnvKey is the environment variable that holds the key.
const EnvKey = "SCIMBRIDGE_SECRET_KEY"

// Prefix starts every sealed secret; the "v1" names the format.
const Prefix = "enc:v1:"

const keyBytes = 32

// ErrOpen is returned (wrapped) when a sealed secret cannot be decrypted.
var ErrOpen = errors.New("cannot decrypt stored secret: wrong " + EnvKey + ", or the stored value was altered")

// Key is an AES-256-GCM key. The zero Key seals and opens nothing (it returns
// an error); get one from ParseKey. Printing a Key never shows the key.
type Key struct {
	aead cipher.AEAD
}

// ParseKey reads a 32-byte key written as 64 hex digits or as base64 (standard
// or URL alphabet, padded or not). Surrounding white space is ignored. A key
// with almost no entropy (fewer than 16 different byte values, such as all
// zeros) is refused. Errors name SCIMBRIDGE_SECRET_KEY and never hold the value.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Key{}, fmt.Errorf("%s is empty; set it to 32 random bytes as 64 hex digits (openssl rand -hex 32)", EnvKey)
	}
	raw, ok := decodeKey(s)
	if !ok {
		return Key{}, fmt.Errorf("%s must be 32 bytes written as 64 hex digits or base64 (openssl rand -hex 32)", EnvKey)
	}
	if len(raw) != keyBytes {
		return Key{}, fmt.Errorf("%s must be 32 bytes, not %d (openssl rand -hex 32)", EnvKey, len(raw))
	}
	if n := distinctBytes(raw); n < minDistinctBytes {
		return Key{}, fmt.Errorf("%s has almost no entropy (%d different byte values in 32): use 32 random bytes (openssl rand -hex 32)", EnvKey, n)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", EnvKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", EnvKey, err)
	}
	return Key{aead: aead}, nil
}

// minDistinctBytes is the fewest different byte values a key may hold. 32
// random bytes hold about 30 (fewer than 16 happens about once in 10^12
// keys); an all-zero key, a repeated pattern or a word typed in hold few.
const minDistinctBytes = 16

func distinctBytes(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// decodeKey decodes hex or base64, preferring a decoding of the right length;
// otherwise it returns the first decoding that worked, for its length.
func decodeKey(s string) ([]byte, bool) {
	var first []byte
	ok := false
	try := func(b []byte, err error) bool {
		if err != nil {
			return false
		}
		if !ok {
			first, ok = b, true
		}
		return len(b) == keyBytes
	}
	if isHex(s) && try(hex.DecodeString(s)) {
		return first, true
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if try(b, err) {
			return b, true
		}
	}
	return first, ok
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// GenerateKey returns a new random key as 64 hex digits, ready for SCIMBRIDGE_SECRET_KEY.
func GenerateKey() (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate %s: %w", EnvKey, err)
	}
	return hex.EncodeToString(b), nil
}

// Seal encrypts plaintext for field (the setting's JSON path, which must not
// be empty) under a fresh random nonce, so sealing the same text twice gives
// different results. The empty secret seals to "".
func (k Key) Seal(field, plaintext string) (string, error) {
	if field == "" {
		return "", errors.New("cannot encrypt secret: no field named")
	}
	if plaintext == "" {
		return "", nil
	}
	if k.aead == nil {
		return "", fmt.Errorf("cannot encrypt %s: no %s configured", field, EnvKey)
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("cannot encrypt %s: %w", field, err)
	}
	sealed := k.aead.Seal(nonce, nonce, []byte(plaintext), additionalData(field))
	return Prefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// Open decrypts a secret that Seal sealed for field; "" opens to "". A value
// that is not sealed, was sealed under another key or for another field, or
// was altered returns an error that wraps ErrOpen or says what is wrong,
// never the value.
func (k Key) Open(field, sealed string) (string, error) {
	if field == "" {
		return "", errors.New("cannot decrypt stored secret: no field named")
	}
	if sealed == "" {
		return "", nil
	}
	body, ok := strings.CutPrefix(sealed, Prefix)
	if !ok {
		return "", fmt.Errorf("cannot decrypt stored secret: it does not start with %q", Prefix)
	}
	if k.aead == nil {
		return "", fmt.Errorf("cannot decrypt stored secret: no %s configured", EnvKey)
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", fmt.Errorf("%w (the stored value is damaged)", ErrOpen)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], additionalData(field))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

// additionalData is what GCM authenticates besides the text: the format
// prefix and the field, so a value sealed for one field fails for another.
func additionalData(field string) []byte {
	return []byte(Prefix + field)
}

// IsSealed reports whether s is in sealed form (or empty, which needs no sealing).
func IsSealed(s string) bool {
	return s == "" || strings.HasPrefix(s, Prefix)
}

// String hides the key.
func (k Key) String() string { return "secret.Key(redacted)" }

// GoString hides the key from %#v.
func (k Key) GoString() string { return "secret.Key(redacted)" }
