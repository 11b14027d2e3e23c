package vendorhttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// failingAuth is an Auth whose credentials cannot be fetched, as when a
// login endpoint does not respond.
type failingAuth struct{}

func (failingAuth) Authorize(ctx context.Context, req *http.Request) error {
	return &Error{Op: "log in", Err: errors.New("dial tcp 192.0.2.1:55000: connect: connection refused")}
}

func (failingAuth) Invalidate() {}

// closedURL returns the URL of a loopback port that refuses connections.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// TestWriteNotSent checks NotSent of a failed write. A write that never
// left the gateway, because no connection opened or its credentials could
// not be fetched, is NotSent, so the engine fails it at once instead of
// holding it as possibly done. A write written to a connection that then
// failed may have been done, so it is not NotSent.
func TestWriteNotSent(t *testing.T) {
	tests := []struct {
		name        string
		url         func(t *testing.T) string
		auth        Auth
		wantNotSent bool
	}{
		{name: "connection refused", url: closedURL, wantNotSent: true},
		{name: "credentials not fetched", url: func(t *testing.T) string { return newFaultServer(t, status(200)).URL }, auth: failingAuth{}, wantNotSent: true},
		{name: "connection closed after the request", url: func(t *testing.T) string { return newFaultServer(t, reset).URL }, wantNotSent: false},
		{name: "no response in time", url: func(t *testing.T) string { return newFaultServer(t, stall).URL }, wantNotSent: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := testClient(t, tc.url(t), Config{Auth: tc.auth})
			_, err := c.Do(context.Background(), Request{Op: "isolate host", Method: http.MethodPut, Body: []byte(`{}`)})
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("Do = %v, want *Error", err)
			}
			if ve.NotSent != tc.wantNotSent {
				t.Errorf("NotSent = %t, want %t: %v", ve.NotSent, tc.wantNotSent, err)
			}
		})
	}
}

// TestUnreachableVendorOpensBreaker: a call that was not sent because the
// vendor could not be reached is still a vendor failure for the circuit
// breaker, unlike one the rate budget rejected.
func TestUnreachableVendorOpensBreaker(t *testing.T) {
	c, _ := testClient(t, closedURL(t), Config{BreakerThreshold: 2, BreakerCooldown: time.Minute, MaxAttempts: 1})
	req := Request{Op: "isolate host", Method: http.MethodPut, Body: []byte(`{}`)}
	for i := range 2 {
		if _, err := c.Do(context.Background(), req); err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d: %v, want a connection failure", i+1, err)
		}
	}
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("third call: %v, want the open breaker after two unreachable calls", err)
	}
}
