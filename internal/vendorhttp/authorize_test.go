package vendorhttp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// scriptedAuth is an Auth whose Authorize returns err and counts its calls.
type scriptedAuth struct {
	err   error
	calls atomic.Int64
}

func (a *scriptedAuth) Authorize(ctx context.Context, req *http.Request) error {
	a.calls.Add(1)
	return a.err
}

func (a *scriptedAuth) Invalidate() {}

// rejection is an Auth error the way a connector builds it after the vendor
// answered the login request with 401.
type rejection struct{ msg string }

func (e *rejection) Error() string { return e.msg }

func TestClientAuthorizeFailureRetries(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantCalls int64
	}{
		{"credential rejection is not retried", &rejection{"testvendor: log in failed with HTTP 401: the user name or password was rejected"}, 1},
		{"token request transport failure is retried", &Error{Op: "log in", Err: errors.New("connection refused")}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFaultServer(t, status(http.StatusOK))
			auth := &scriptedAuth{err: tc.err}
			c, _ := testClient(t, srv.URL, Config{Auth: auth, MaxAttempts: 3})

			_, err := c.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet, Path: "/agents", Idempotent: true})
			if err == nil {
				t.Fatal("want an error")
			}
			if got := auth.calls.Load(); got != tc.wantCalls {
				t.Errorf("Authorize called %d times, want %d", got, tc.wantCalls)
			}
			if srv.hits.Load() != 0 {
				t.Errorf("the vendor got %d requests without credentials", srv.hits.Load())
			}
		})
	}
}

func TestClientAuthorizeErrorKeepsChain(t *testing.T) {
	srv := newFaultServer(t, status(http.StatusOK))
	rejected := &rejection{"testvendor: log in failed with HTTP 401: the user name or password was rejected"}
	c, _ := testClient(t, srv.URL, Config{Auth: &scriptedAuth{err: rejected}, Secrets: []string{"testvendor", "hunter2"}})

	_, err := c.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet, Path: "/agents", Idempotent: true})
	if !errors.Is(err, rejected) {
		t.Errorf("error %v does not wrap the Auth's error", err)
	}
	if strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error %q redacts a password equal to the vendor name, which reveals it", err)
	}
	if want := "get agent: testvendor: log in failed with HTTP 401"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

func TestClientAuthorizeErrorRedactsSecret(t *testing.T) {
	srv := newFaultServer(t, status(http.StatusOK))
	const secret = "hunter2-password"
	c, _ := testClient(t, srv.URL, Config{Auth: &scriptedAuth{err: &rejection{"login as admin:" + secret + " failed"}}, Secrets: []string{secret}})

	_, err := c.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet, Path: "/agents", Idempotent: true})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v contains the secret", err)
	}
}
