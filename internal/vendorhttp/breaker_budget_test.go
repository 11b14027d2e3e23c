package vendorhttp

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// A call that the rate budget rejects never reaches the vendor, so it must
// not count as a vendor failure. Otherwise a company that sends more calls
// than its budget allows opens its own circuit breaker, and every call of
// the integration, containment writes included, then fails with 502
// without being sent.
func TestBreakerIgnoresBudgetRejections(t *testing.T) {
	tests := []struct {
		name string
		// responses scripts the vendor, and the last one repeats.
		responses []func(http.ResponseWriter, *http.Request)
		// sent is the number of calls made without a deadline before the
		// rejected ones. Each of them reaches the vendor.
		sent int
		// waitCooldown lets the breaker's cool-down pass after the sent
		// calls, so that the first rejected call is the probe.
		waitCooldown bool
	}{
		{
			name:      "rejections in a row",
			responses: []func(http.ResponseWriter, *http.Request){status(200)},
			sent:      2,
		},
		{
			name:      "rejections after one vendor failure",
			responses: []func(http.ResponseWriter, *http.Request){status(200), status(503)},
			sent:      2,
		},
		{
			name:         "rejected probe",
			responses:    []func(http.ResponseWriter, *http.Request){status(503)},
			sent:         2,
			waitCooldown: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFaultServer(t, tc.responses...)
			c, _ := testClient(t, srv.URL, Config{
				Limits:           []Limit{{Count: 20, Per: time.Hour}},
				BreakerThreshold: 2,
				BreakerCooldown:  100 * time.Millisecond,
				MaxAttempts:      1,
			})
			req := Request{Op: "get machine", Method: http.MethodGet, Idempotent: true}

			for i := range tc.sent {
				if _, err := c.Do(context.Background(), req); err != nil {
					t.Fatalf("sent call %d: %v", i+1, err)
				}
			}
			if tc.waitCooldown {
				time.Sleep(150 * time.Millisecond)
			}

			// The bucket of 2 is spent and refills one call in 3 minutes. So
			// the budget rejects each call below at once, and none may open
			// the breaker.
			for i := range 4 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := c.Do(ctx, req)
				cancel()

				if errors.Is(err, ErrCircuitOpen) {
					t.Fatalf("rejected call %d: %v; want a rate budget rejection, because rejections are not vendor failures", i+1, err)
				}
				var ve *Error
				if !errors.As(err, &ve) {
					t.Fatalf("rejected call %d: error %v, want *Error", i+1, err)
				}
				if !ve.NotSent {
					t.Errorf("rejected call %d: NotSent is false, want true: %v", i+1, err)
				}
				if !ve.BudgetRefused || ve.RetryAfter <= 0 {
					t.Errorf("rejected call %d: BudgetRefused %t, RetryAfter %s; want true and the budget's wait, so that the API answers 429 with Retry-After: %v",
						i+1, ve.BudgetRefused, ve.RetryAfter, err)
				}
			}
			if got := srv.hits.Load(); got != int64(tc.sent) {
				t.Errorf("vendor received %d calls, want %d", got, tc.sent)
			}
		})
	}
}

// A call that an open breaker rejects is marked as not sent.
func TestBreakerOpenIsNotSent(t *testing.T) {
	srv := newFaultServer(t, status(503))
	c, _ := testClient(t, srv.URL, Config{BreakerThreshold: 1, BreakerCooldown: time.Minute, MaxAttempts: 1})
	req := Request{Op: "get machine", Method: http.MethodGet, Idempotent: true}
	if _, err := c.Do(context.Background(), req); err != nil {
		t.Fatalf("first call: %v", err)
	}

	_, err := c.Do(context.Background(), req)
	var ve *Error
	if !errors.As(err, &ve) || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("second call: %v, want *Error wrapping ErrCircuitOpen", err)
	}
	if !ve.NotSent {
		t.Errorf("second call: NotSent is false, want true: %v", err)
	}
}
