package mslogin

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"
)

// ClientAssertionType is the client_assertion_type of a certificate
// credential (RFC 7523, JWT bearer client authentication).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion stays valid. Microsoft
// identity platform, "Certificate credentials": exp and nbf bound the
// assertion, and a few minutes is ample for one token request.
const assertionLifetime = 10 * time.Minute

// Certificate is an app registration's certificate credential: the
// certificate uploaded to the app and its RSA private key.
type Certificate struct {
	Leaf *x509.Certificate
	Key  *rsa.PrivateKey
}

// ParseCertificate reads a PEM bundle with one CERTIFICATE block and its
// RSA private key (PKCS #8 "PRIVATE KEY" or PKCS #1 "RSA PRIVATE KEY").
func ParseCertificate(bundle []byte) (*Certificate, error) {
	var c Certificate
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			if c.Leaf != nil {
				continue // a chain: the first certificate is the app's
			}
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			c.Leaf = leaf
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse private key: %w", err)
			}
			rsaKey, ok := key.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the private key is %T: Microsoft Entra certificate credentials use RSA", key)
			}
			c.Key = rsaKey
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse private key: %w", err)
			}
			c.Key = key
		}
	}

	switch {
	case c.Leaf == nil:
		return nil, fmt.Errorf("no CERTIFICATE block found: paste the certificate and its private key as PEM")
	case c.Key == nil:
		return nil, fmt.Errorf("no private key found: add the certificate's RSA private key as a PEM block")
	case !c.Key.PublicKey.Equal(c.Leaf.PublicKey):
		return nil, fmt.Errorf("the private key does not belong to the certificate")
	}
	return &c, nil
}

// Assertion returns a client assertion for a token request to tokenURL: a
// JWT signed with RS256, with the certificate's SHA-1 and SHA-256
// thumbprints in x5t and x5t#S256, and aud, iss, sub, jti, nbf, iat and exp
// claims as the Microsoft identity platform requires.
func (c *Certificate) Assertion(clientID, tokenURL string, now time.Time) (string, error) {
	sha1Sum := sha1.Sum(c.Leaf.Raw)
	sha256Sum := sha256.Sum256(c.Leaf.Raw)
	header := map[string]string{
		"alg":      "RS256",
		"typ":      "JWT",
		"x5t":      base64.RawURLEncoding.EncodeToString(sha1Sum[:]),
		"x5t#S256": base64.RawURLEncoding.EncodeToString(sha256Sum[:]),
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := map[string]any{
		"aud": tokenURL,
		"iss": clientID,
		"sub": clientID,
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}

	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.Key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
