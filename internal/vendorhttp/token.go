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
// renewal. A waiting request gives up when its own context ends, even while
// the fetch it waits for is still running.
type TokenAuth struct {
	Fetch TokenFunc

	// RenewBefore renews a token this long before it expires. Zero means
	// one minute.
	RenewBefore time.Duration

	mu       sync.Mutex    // guards token, expiry and fetching
	token    string        // guarded by mu
	expiry   time.Time     // guarded by mu
	fetching chan struct{} // guarded by mu; closed when the running fetch ends, nil when none runs
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

// Token returns the cached token, or fetches a new one. When another call
// is fetching, it waits for that fetch or for ctx to end, whichever comes
// first; after a failed fetch the next caller fetches again.
func (a *TokenAuth) Token(ctx context.Context) (string, error) {
	renewBefore := a.RenewBefore
	if renewBefore <= 0 {
		renewBefore = time.Minute
	}

	for {
		a.mu.Lock()
		if a.token != "" && time.Until(a.expiry) > renewBefore {
			token := a.token
			a.mu.Unlock()
			return token, nil
		}
		wait := a.fetching
		if wait == nil {
			done := make(chan struct{})
			a.fetching = done
			a.mu.Unlock()
			return a.fetch(ctx, done)
		}
		a.mu.Unlock()

		select {
		case <-wait:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// fetch runs Fetch, stores its token and then closes done.
func (a *TokenAuth) fetch(ctx context.Context, done chan struct{}) (string, error) {
	token, expiry, err := a.Fetch(ctx)

	a.mu.Lock()
	if err == nil {
		a.token, a.expiry = token, expiry
	}
	a.fetching = nil
	a.mu.Unlock()
	close(done)

	if err != nil {
		return "", err
	}
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
