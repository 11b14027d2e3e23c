// Package secret seals credentials at rest with AES-256-GCM and resolves
// secret references (env:, file:, aws-sm:, vault:) at use.
//
// A sealed value is the printable string "sealed:v1:" followed by the
// unpadded base64url encoding of a random 96-bit nonce and the GCM
// ciphertext with its 16-byte tag. The additional authenticated data binds
// the value to a context string chosen by the caller (for example the
// company, service and secret name), so a sealed value copied to another
// field fails to open instead of silently moving a credential.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SealedPrefix starts every value made by Seal and SealFor.
const SealedPrefix = "sealed:v1:"

// aadLabel prefixes the additional authenticated data, so that a value
// sealed by another program under the same key does not open here.
const aadLabel = "smartpt sealed v1\x00"

// ErrOpen is wrapped by every error of Open and OpenFor.
var ErrOpen = errors.New("open sealed value")

// Sealer encrypts and decrypts values under the master key. It is safe for
// concurrent use.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a sealer for a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != 32 {
		return nil, fmt.Errorf("master key is %d bytes; AES-256 needs 32 (64 hex characters or base64 of 32 bytes)", len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("create AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create GCM: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext with no caller context; the result is printable
// and self-describing. Prefer SealFor where the value belongs to one field.
func (s *Sealer) Seal(plaintext string) (string, error) { return s.SealFor(plaintext, "") }

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed string) (string, error) { return s.OpenFor(sealed, "") }

// SealFor encrypts plaintext bound to context: OpenFor succeeds only with
// the same context string.
func (s *Sealer) SealFor(plaintext, context string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("read random nonce: %w", err)
	}

	// The ciphertext is appended to the nonce, so the encoded value holds
	// nonce||ciphertext||tag.
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), aad(context))
	return SealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenFor decrypts a value made by SealFor with the same context. Errors
// wrap ErrOpen and never contain the value.
func (s *Sealer) OpenFor(sealed, context string) (string, error) {
	encoded, ok := strings.CutPrefix(sealed, SealedPrefix)
	if !ok {
		return "", fmt.Errorf("%w: not a sealed value (it must start with %q)", ErrOpen, SealedPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", fmt.Errorf("%w: invalid base64url after %q", ErrOpen, SealedPrefix)
	}
	if len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", fmt.Errorf("%w: %d bytes is too short to be a sealed value", ErrOpen, len(raw))
	}

	nonce, ciphertext := raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, ciphertext, aad(context))
	if err != nil {
		return "", fmt.Errorf("%w: authentication failed: the value was altered, copied from another field, or sealed under a different master key", ErrOpen)
	}
	return string(plain), nil
}

// IsSealed reports whether v has the form of a sealed value.
func IsSealed(v string) bool { return strings.HasPrefix(v, SealedPrefix) }

func aad(context string) []byte { return []byte(aadLabel + context) }
