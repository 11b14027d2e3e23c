// Package mssim contains the simulator pieces that the Graph and Defender for
// Endpoint simulators share: a Microsoft identity platform token endpoint
// for the client-credentials flow, Microsoft's JSON error envelopes and a
// parser for the OData $filter expressions the simulators accept.
package mssim

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Issuer is a token endpoint for one tenant and one application
// registration. It issues opaque bearer tokens with a fixed lifetime for
// the audiences it accepts and checks them on API requests.
type Issuer struct {
	TenantID     string
	ClientID     string
	ClientSecret string

	// Certificate, when set, is the app's certificate credential: client
	// assertions signed with its key are accepted besides the secret.
	Certificate *x509.Certificate

	// Audiences are the resources tokens may be requested for, for example
	// "https://graph.microsoft.com". The scope is the audience + "/.default".
	Audiences []string

	// Lifetime is the expires_in of each token.
	Lifetime time.Duration

	mu       sync.Mutex        // guards tokens and requests
	tokens   map[string]issued // access token -> what it was issued for
	requests int               // successful token requests
}

type issued struct {
	audience string
	expires  time.Time
}

// TokenPath reports whether path is the v2.0 token endpoint of some tenant,
// "/{tenant}/oauth2/v2.0/token".
func TokenPath(path string) bool {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	return len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token"
}

// ServeToken serves POST /{tenant}/oauth2/v2.0/token. Failures use the
// token endpoint's own envelope with an AADSTS code, as Microsoft Entra
// does.
func (i *Issuer) ServeToken(w http.ResponseWriter, r *http.Request) {
	tenant := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
	if r.Method != http.MethodPost {
		writeTokenError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be read.")
		return
	}

	switch {
	case !strings.EqualFold(tenant, i.TenantID):
		writeTokenError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	case r.PostForm.Get("grant_type") != "client_credentials":
		writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	case !strings.EqualFold(r.PostForm.Get("client_id"), i.ClientID):
		writeTokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", r.PostForm.Get("client_id"), tenant))
		return
	}

	if assertion := r.PostForm.Get("client_assertion"); assertion != "" || r.PostForm.Has("client_assertion_type") {
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			writeTokenError(w, http.StatusBadRequest, "invalid_request", 50027, "The client_assertion_type is missing or invalid.")
			return
		}
		if problem := i.checkAssertion(r, assertion); problem != nil {
			writeTokenError(w, http.StatusUnauthorized, "invalid_client", problem.code, problem.description)
			return
		}
	} else if i.ClientSecret == "" || r.PostForm.Get("client_secret") != i.ClientSecret {
		writeTokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	}

	scope := r.PostForm.Get("scope")
	audience, ok := i.audienceOf(scope)
	if !ok {
		writeTokenError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}

	token := randomHex(32)
	i.mu.Lock()
	if i.tokens == nil {
		i.tokens = map[string]issued{}
	}
	i.tokens[token] = issued{audience: audience, expires: time.Now().Add(i.Lifetime)}
	i.requests++
	i.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(i.Lifetime / time.Second),
		"ext_expires_in": int(i.Lifetime / time.Second),
		"access_token":   token,
	})
}

func (i *Issuer) audienceOf(scope string) (string, bool) {
	for _, a := range i.Audiences {
		if strings.EqualFold(scope, a+"/.default") {
			return a, true
		}
	}
	return "", false
}

// TokenProblem is why a bearer token was rejected.
type TokenProblem int

const (
	TokenOK       TokenProblem = iota
	TokenMissing               // no Authorization: Bearer header
	TokenInvalid               // not a token this issuer issued
	TokenExpired               // past its lifetime, or expired with ExpireAll
	TokenAudience              // issued for another resource
)

// Check validates the bearer token of r for audience.
func (i *Issuer) Check(r *http.Request, audience string) TokenProblem {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return TokenMissing
	}

	i.mu.Lock()
	t, known := i.tokens[token]
	i.mu.Unlock()

	switch {
	case !known:
		return TokenInvalid
	case time.Now().After(t.expires):
		return TokenExpired
	case !strings.EqualFold(t.audience, audience):
		return TokenAudience
	}
	return TokenOK
}

// ExpireAll makes every token issued so far expired, as if time had passed.
func (i *Issuer) ExpireAll() {
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, t := range i.tokens {
		t.expires = time.Now().Add(-time.Second)
		i.tokens[k] = t
	}
}

// Requests returns the number of tokens issued.
func (i *Issuer) Requests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.requests
}

// writeTokenError writes the token endpoint's error envelope.
func writeTokenError(w http.ResponseWriter, status int, code string, aadsts int, description string) {
	trace, correlation := NewGUID(), NewGUID()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, description, trace, correlation, time.Now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    correlation,
	})
}

// NewGUID returns a random GUID in its 8-4-4-4-12 form.
func NewGUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
