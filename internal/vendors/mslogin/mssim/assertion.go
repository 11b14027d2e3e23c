package mssim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// assertionProblem is a rejected client assertion: the AADSTS code and its
// description.
type assertionProblem struct {
	code        int
	description string
}

// checkAssertion verifies a client assertion against the issuer's
// certificate: RS256 signature, x5t thumbprint, iss and sub equal to the
// client id, aud equal to the token URL, and nbf and exp around now with
// five minutes of clock skew.
func (i *Issuer) checkAssertion(r *http.Request, assertion string) *assertionProblem {
	if i.Certificate == nil {
		return &assertionProblem{700027, "Client assertion failed signature validation: no certificate is registered for the application."}
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return &assertionProblem{50027, "JWT token is invalid or malformed."}
	}
	var header struct {
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
	}
	var claims struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Nbf int64  `json:"nbf"`
		Exp int64  `json:"exp"`
	}
	if decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil {
		return &assertionProblem{50027, "JWT token is invalid or malformed."}
	}

	thumb := sha1.Sum(i.Certificate.Raw)
	if header.Alg != "RS256" || header.X5t != base64.RawURLEncoding.EncodeToString(thumb[:]) {
		return &assertionProblem{700027, "Client assertion contains an invalid signature. The key was not found."}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	key, isRSA := i.Certificate.PublicKey.(*rsa.PublicKey)
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || !isRSA || rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return &assertionProblem{700027, "Client assertion failed signature validation."}
	}

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	tokenURL := scheme + "://" + r.Host + r.URL.Path
	now := time.Now()
	skew := 5 * time.Minute
	switch {
	case !strings.EqualFold(claims.Iss, i.ClientID) || !strings.EqualFold(claims.Sub, i.ClientID):
		return &assertionProblem{700021, "Client assertion application identifier doesn't match 'client_id' parameter."}
	case claims.Aud != tokenURL:
		return &assertionProblem{700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.", claims.Aud)}
	case time.Unix(claims.Exp, 0).Before(now.Add(-skew)) || time.Unix(claims.Nbf, 0).After(now.Add(skew)):
		return &assertionProblem{700024, "Client assertion is not within its valid time range."}
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// NewCertificate returns a self-signed RSA certificate for tests of
// certificate credentials, and the PEM bundle (certificate and PKCS #8
// key) that a client stores.
func NewCertificate() (*x509.Certificate, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "SmartPT simulator app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	return cert, bundle, nil
}
