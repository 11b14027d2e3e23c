package vendorhttp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestPoolOptions_MaxRetryAfterCapsAbsurdValue(t *testing.T) {
	srv := newFaultServer(t, status(http.StatusTooManyRequests, "Retry-After", "999999999"), status(http.StatusOK))
	pool := NewPoolWithOptions(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxRetryAfter: 50 * time.Millisecond})
	c := pool.Client("company-a", "integration", Config{Vendor: "testvendor", BaseURL: srv.URL})

	start := time.Now()
	resp, err := c.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK {
		t.Errorf("status %d, want 200 after the capped wait", resp.Status)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("call took %s, want the Retry-After capped at 50ms", took)
	}
}

func TestPoolOptions_TimeoutBoundsAnAttempt(t *testing.T) {
	stall := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	srv := newFaultServer(t, stall)
	pool := NewPoolWithOptions(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Timeout: 100 * time.Millisecond})
	c := pool.Client("company-a", "integration", Config{Vendor: "testvendor", BaseURL: srv.URL})

	start := time.Now()
	_, err := c.Do(context.Background(), Request{Op: "isolate", Method: http.MethodPost})
	he, ok := err.(*Error)
	if !ok || !he.Timeout {
		t.Fatalf("Do error = %v, want a timeout *Error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("call took %s, want the 100ms attempt timeout", took)
	}
}
