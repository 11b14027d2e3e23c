package vendorhttp

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// stallAfterReceipt holds the response past the client's attempt timeout, after the
// vendor has received the request: the vendor acts, the caller never hears.
func stallAfterReceipt(w http.ResponseWriter, r *http.Request) {
	time.Sleep(500 * time.Millisecond)
	w.WriteHeader(http.StatusNoContent)
}

// TestRetryAfterLostAnswer covers a write whose first attempt reached the
// vendor but got no response, and whose retry was rejected. The rejection
// does not prove that nothing happened, so a write must end as a timeout
// (outcome unknown), while a read keeps the retry's response. The fault
// suite found this: a Cisco release recorded failed with the retry's 429
// although the vendor had accepted the first attempt.
func TestRetryAfterLostAnswer(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		retry     int
		wantError bool
	}{
		{"write then 429", http.MethodDelete, http.StatusTooManyRequests, true},
		{"write then 404", http.MethodDelete, http.StatusNotFound, true},
		{"write then 500", http.MethodPut, http.StatusInternalServerError, true},
		{"write then success", http.MethodDelete, http.StatusNoContent, false},
		{"read then 429", http.MethodGet, http.StatusTooManyRequests, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFaultServer(t, stallAfterReceipt, status(tc.retry))
			c, _ := testClient(t, srv.URL, Config{Timeout: 100 * time.Millisecond, MaxAttempts: 2})

			resp, err := c.Do(context.Background(), Request{Op: "release", Method: tc.method, Idempotent: true})
			if srv.hits.Load() != 2 {
				t.Fatalf("vendor saw %d attempts, want 2", srv.hits.Load())
			}
			if !tc.wantError {
				if err != nil || resp == nil || resp.Status != tc.retry {
					t.Fatalf("got %v, %v; want the retry's status %d", resp, err, tc.retry)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) || !ve.Timeout {
				t.Fatalf("got %v, %v; want a timeout error: the first attempt may have been carried out", resp, err)
			}
			if resp != nil {
				t.Errorf("got a response %d with the error, want none", resp.Status)
			}
		})
	}
}
