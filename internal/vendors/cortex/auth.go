package cortex

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// NonceLength is the length of the x-xdr-nonce of an advanced key (Cortex XDR
// API, "Get Started with Cortex XDR APIs": 64 random alphanumerics).
const NonceLength = 64

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// keyAuth sets the Cortex XDR authentication headers on every attempt, so a
// retried request carries a fresh nonce and timestamp.
//
// Standard key: "Authorization: <api key>". Advanced key: x-xdr-nonce,
// x-xdr-timestamp (milliseconds since the epoch) and
// "Authorization: hex(sha256(api key + nonce + timestamp))". Both send the key
// ID in x-xdr-auth-id.
type keyAuth struct {
	keyID    string
	apiKey   string
	advanced bool
	now      func() time.Time
}

func (a *keyAuth) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("x-xdr-auth-id", a.keyID)
	if !a.advanced {
		req.Header.Set("Authorization", a.apiKey)
		return nil
	}

	nonce, err := newNonce()
	if err != nil {
		return err
	}
	timestamp := strconv.FormatInt(a.now().UnixMilli(), 10)
	req.Header.Set("x-xdr-nonce", nonce)
	req.Header.Set("x-xdr-timestamp", timestamp)
	req.Header.Set("Authorization", AdvancedSignature(a.apiKey, nonce, timestamp))
	return nil
}

// Invalidate does nothing: an API key has no cached token to drop.
func (a *keyAuth) Invalidate() {}

// AdvancedSignature returns the Authorization value of an advanced key:
// the lowercase hex SHA-256 of key, nonce and timestamp concatenated.
func AdvancedSignature(apiKey, nonce, timestamp string) string {
	sum := sha256.Sum256([]byte(apiKey + nonce + timestamp))
	return hex.EncodeToString(sum[:])
}

// newNonce returns NonceLength characters drawn uniformly from nonceAlphabet
// with crypto/rand, rejecting bytes that would bias the draw.
func newNonce() (string, error) {
	const limit = 256 - 256%len(nonceAlphabet)

	out := make([]byte, 0, NonceLength)
	buf := make([]byte, NonceLength*2)
	for len(out) < NonceLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate nonce: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, nonceAlphabet[int(b)%len(nonceAlphabet)])
			if len(out) == NonceLength {
				break
			}
		}
	}
	return string(out), nil
}
