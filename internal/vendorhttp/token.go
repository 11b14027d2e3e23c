package vendorhttp

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// TokenFunc fetches a new bearer token and its expiry time.
type TokenFunc func(ctx context.Context) (token string, expiry time.Time, err error)

// TokenAuth is an Auth that sends "Authorization: Bearer <token>" and caches
// the token until RenewBefore ahead of its expiry. Concurrent requests that
// find no valid token wait for a single fetch, so a burst causes exactly one
// renewal.
type TokenAuth struct {
	Fetch TokenFunc

	// RenewBefore renews a token this long before it expires. Zero means
	// one minute.
	RenewBefore time.Duration

	mu     sync.Mutex // guards token and expiry, and serialises fetches
	token  string
	expiry time.Time
}

// Authorize sets the Authorization header, fetching a token when needed.
func (a *TokenAuth) Authorize(ctx context.Context, req *http.Request) error {
	token, err := a.Token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// Token returns the cached token, or fetches a new one.
func (a *TokenAuth) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()

	renewBefore := a.RenewBefore
	if renewBefore <= 0 {
		renewBefore = time.Minute
	}
	if a.token != "" && time.Until(a.expiry) > renewBefore {
		return a.token, nil
	}

	token, expiry, err := a.Fetch(ctx)
	if err != nil {
		return "", err
	}
	a.token, a.expiry = token, expiry
	return token, nil
}

// Invalidate drops the cached token.
func (a *TokenAuth) Invalidate() {
	a.mu.Lock()
	a.token = ""
	a.mu.Unlock()
}

// InvalidateFor drops the cached token only when req carried it, so that a
// token another caller renewed meanwhile is kept.
func (a *TokenAuth) InvalidateFor(req *http.Request) {
	a.mu.Lock()
	if a.token != "" && req.Header.Get("Authorization") == "Bearer "+a.token {
		a.token = ""
	}
	a.mu.Unlock()
}
