package wazuh

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// DefaultTokenLifetime is auth_token_exp_timeout's default (wazuh/wazuh
// v4.14.7 api/api/configuration.py), used when a token carries no exp claim.
const DefaultTokenLifetime = 900 * time.Second

// loginRetryAfter keeps a rejected login from being retried at once: the
// manager blocks a client IP after max_login_attempts (50 by default)
// within block_time, and a wrong password would otherwise spend them.
const loginRetryAfter = 10 * time.Second

// login fetches API tokens with POST /security/user/authenticate and HTTP
// Basic, as the Wazuh server API 4.x requires. It is the Fetch of the
// client's vendorhttp.TokenAuth.
type login struct {
	http     *vendorhttp.Client // without Auth
	username string
	password string
	now      func() time.Time

	mu        sync.Mutex
	lastErr   *vendor.Error // guarded by mu: the last rejected login
	lastErrAt time.Time     // guarded by mu
}

// loginSlotKey carries a *loginSlot in the context of one client call, so
// that the call can report the login's own error rather than the
// transport's summary of it.
type loginSlotKey struct{}

type loginSlot struct {
	mu  sync.Mutex
	err *vendor.Error
}

func withLoginSlot(ctx context.Context) (context.Context, *loginSlot) {
	slot := &loginSlot{}
	return context.WithValue(ctx, loginSlotKey{}, slot), slot
}

func (s *loginSlot) get() *vendor.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fetch logs in and returns the token with the time to renew it: a tenth
// of the lifetime (at most a minute) before the exp claim.
func (l *login) fetch(ctx context.Context) (string, time.Time, error) {
	token, err := l.fetchToken(ctx)
	if err != nil {
		if slot, ok := ctx.Value(loginSlotKey{}).(*loginSlot); ok {
			slot.mu.Lock()
			slot.err = err
			slot.mu.Unlock()
		}
		return "", time.Time{}, err
	}

	now := l.now()
	exp, ok := tokenExpiry(token)
	if !ok || !exp.After(now) {
		exp = now.Add(DefaultTokenLifetime)
	}
	margin := exp.Sub(now) / 10
	if margin > time.Minute {
		margin = time.Minute
	}
	return token, exp.Add(-margin), nil
}

func (l *login) fetchToken(ctx context.Context) (string, *vendor.Error) {
	l.mu.Lock()
	if l.lastErr != nil && l.now().Sub(l.lastErrAt) < loginRetryAfter {
		err := l.lastErr
		l.mu.Unlock()
		return "", err
	}
	l.mu.Unlock()

	header := http.Header{}
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(l.username+":"+l.password)))
	resp, err := l.http.Do(ctx, vendorhttp.Request{
		Op: "log in", Method: http.MethodPost, Path: "/security/user/authenticate", Header: header, Idempotent: true,
	})
	if err != nil {
		return "", vendor.FromTransport(vendor.KindWazuh, "log in", err)
	}

	if resp.Status != http.StatusOK {
		verr := mapHTTPError("log in", resp)
		if resp.Status == http.StatusUnauthorized {
			verr.Kind = vendor.ErrAuth
			verr.Detail = "the manager rejected the API user name or password (" + verr.Detail + "); check settings username and password"
		}
		l.mu.Lock()
		l.lastErr, l.lastErrAt = verr, l.now()
		l.mu.Unlock()
		return "", verr
	}

	var body struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.Data.Token == "" {
		return "", &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindWazuh, Op: "log in", Status: resp.Status,
			Detail: "the login response carries no data.token"}
	}
	l.mu.Lock()
	l.lastErr = nil
	l.mu.Unlock()
	return body.Data.Token, nil
}

// tokenExpiry reads the exp claim (seconds since the epoch) of a JWT
// without verifying it: the manager verifies its own tokens, and the
// client only needs to know when to renew.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil || *claims.Exp <= 0 || *claims.Exp > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(*claims.Exp), 0), true
}
