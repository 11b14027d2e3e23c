package mslogin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Credentials identify an application registration in a Microsoft Entra
// tenant. Exactly one of ClientSecret and Certificate is set.
type Credentials struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	Certificate  *Certificate
}

// tenantPattern accepts a directory (tenant) GUID or a verified domain name
// such as contoso.onmicrosoft.com. Anything else could change the token URL
// path.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$`)

// guidPattern is a GUID in its 8-4-4-4-12 hex form.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate checks the credentials before any request is sent.
func (c Credentials) Validate() error {
	if !tenantPattern.MatchString(c.TenantID) {
		return fmt.Errorf("tenant_id %q is invalid: use the directory (tenant) ID GUID or a domain such as contoso.onmicrosoft.com", c.TenantID)
	}
	if !guidPattern.MatchString(c.ClientID) {
		return fmt.Errorf("client_id %q is invalid: use the application (client) ID GUID of the app registration", c.ClientID)
	}
	if c.ClientSecret == "" && c.Certificate == nil {
		return fmt.Errorf("client_secret and client_certificate are both missing: store a client secret or a certificate of the app registration in the integration")
	}
	if c.ClientSecret != "" && c.Certificate != nil {
		return fmt.Errorf("client_secret and client_certificate are both set: keep one")
	}
	return nil
}

// tokenResponse is the body of a successful client-credentials token
// request (Microsoft identity platform, "OAuth 2.0 client credentials
// flow", successful response).
type tokenResponse struct {
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	AccessToken string          `json:"access_token"`
}

// TokenErrorBody is the error body of the token endpoint, for example
// {"error":"invalid_client","error_description":"AADSTS7000215: ...",
// "error_codes":[7000215]}.
type TokenErrorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes,omitempty"`
	Timestamp     string `json:"timestamp,omitempty"`
	TraceID       string `json:"trace_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// TokenSource returns a vendorhttp.TokenFunc that requests an app-only
// token for scope from {loginURL}/{tenant}/oauth2/v2.0/token, with the
// client secret or a client assertion signed with the certificate. The
// login client must have loginURL as its BaseURL. Errors are *vendor.Error
// of the given vendor kind.
func TokenSource(login *vendorhttp.Client, loginURL string, kind vendor.Kind, creds Credentials, scope string) vendorhttp.TokenFunc {
	path := "/" + url.PathEscape(creds.TenantID) + "/oauth2/v2.0/token"
	return func(ctx context.Context) (string, time.Time, error) {
		form := url.Values{
			"grant_type": {"client_credentials"},
			"client_id":  {creds.ClientID},
			"scope":      {scope},
		}
		if creds.Certificate != nil {
			assertion, err := creds.Certificate.Assertion(creds.ClientID, loginURL+path, time.Now())
			if err != nil {
				return "", time.Time{}, &vendor.Error{Kind: vendor.ErrMisconfigure, Vendor: kind, Op: "sign client assertion", Detail: err.Error()}
			}
			form.Set("client_assertion_type", ClientAssertionType)
			form.Set("client_assertion", assertion)
		} else {
			form.Set("client_secret", creds.ClientSecret)
		}
		req := vendorhttp.Request{
			Op:     "request access token",
			Method: http.MethodPost,
			Path:   path,
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body:   []byte(form.Encode()),
			// A token request creates nothing, so sending it again is safe.
			Idempotent: true,
		}

		start := time.Now()
		resp, err := login.Do(ctx, req)
		if err != nil {
			return "", time.Time{}, vendor.FromTransport(kind, req.Op, err)
		}
		if resp.Status != http.StatusOK {
			return "", time.Time{}, tokenError(kind, req.Op, resp)
		}

		token, lifetime, err := ParseToken(resp.Body)
		if err != nil {
			return "", time.Time{}, &vendor.Error{Kind: vendor.ErrAuth, Vendor: kind, Op: req.Op, Status: resp.Status, Detail: err.Error()}
		}
		return token, cacheExpiry(start, lifetime), nil
	}
}

// RenewBefore is the margin vendorhttp.TokenAuth keeps before a token's
// expiry: NewTokenAuth sets it, and TokenSource reports expiries relative
// to it.
const RenewBefore = time.Minute

// cacheExpiry returns the expiry to report to vendorhttp.TokenAuth so that
// it renews the token RenewBefore ahead of the real expiry, or at half its
// lifetime when the token lives less than two RenewBefore margins (a short
// token would otherwise be renewed on every request).
func cacheExpiry(issued time.Time, lifetime time.Duration) time.Time {
	renewAt := issued.Add(lifetime - min(lifetime/2, RenewBefore))
	return renewAt.Add(RenewBefore)
}

// ParseToken reads a token response and returns the access token and its
// lifetime. expires_in is a number of seconds, and older endpoints send it as a
// string.
func ParseToken(body []byte) (string, time.Duration, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("invalid token response: %w", err)
	}
	if tr.AccessToken == "" {
		return "", 0, fmt.Errorf("token response has no access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", 0, fmt.Errorf("token response has token_type %q, want Bearer", tr.TokenType)
	}

	raw := strings.Trim(string(tr.ExpiresIn), `"`)
	var secs int64
	if _, err := fmt.Sscan(raw, &secs); err != nil || secs <= 0 || secs > 86400*2 {
		return "", 0, fmt.Errorf("token response has an invalid expires_in %q", raw)
	}
	return tr.AccessToken, time.Duration(secs) * time.Second, nil
}

// tokenError maps a failed token request. Every 4xx from the token endpoint
// means the integration's tenant, client id, secret or scope is wrong, which
// the operator must fix, so it is ErrAuth. A 429 or 5xx keeps its meaning.
func tokenError(kind vendor.Kind, op string, resp *vendorhttp.Response) *vendor.Error {
	var body TokenErrorBody
	_ = json.Unmarshal(resp.Body, &body)

	e := &vendor.Error{Kind: vendor.ErrAuth, Vendor: kind, Op: op, Status: resp.Status, Code: body.Error, Detail: firstLine(body.Description)}
	switch {
	case resp.Status == http.StatusTooManyRequests:
		e.Kind = vendor.ErrThrottled
		e.RetryAfter, _ = vendorhttp.RetryAfter(resp.Header, time.Now())
	case resp.Status >= 500:
		e.Kind = vendor.ErrUnavailable
	}
	return e
}

// firstLine keeps the first line of an AADSTS description, because the
// following lines contain trace and correlation ids.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
