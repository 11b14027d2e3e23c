// Package secret seals credentials at rest with AES-256-GCM and resolves
// secret references (env:, file:, aws-sm:, vault:) at use.
//
// NOTE: placeholders until the implementation lands; the signatures are the
// contract other packages use.
package secret

import "context"

// Sealer encrypts and decrypts values under the master key.
type Sealer struct{ key []byte }

// NewSealer returns a sealer for a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) { panic("not implemented") }

// Seal encrypts plaintext; the result is printable and self-describing.
func (s *Sealer) Seal(plaintext string) (string, error) { panic("not implemented") }

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed string) (string, error) { panic("not implemented") }

// Resolver turns a secret reference into its value.
type Resolver struct{}

// IsReference reports whether v is a reference rather than a plain value.
func IsReference(v string) bool { panic("not implemented") }

// Resolve returns the value a reference points to.
func (r *Resolver) Resolve(ctx context.Context, ref string) (string, error) { panic("not implemented") }
