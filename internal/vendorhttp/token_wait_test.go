package vendorhttp

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestTokenWaiterHonoursItsDeadline checks that a call waiting for another
// call's token fetch returns when its own context ends, while the fetch
// goes on and still fills the cache. A vendor whose token endpoint stalls
// made every waiting request of the integration hang until the fetch ended.
func TestTokenWaiterHonoursItsDeadline(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	auth := &TokenAuth{Fetch: func(ctx context.Context) (string, time.Time, error) {
		fetches.Add(1)
		<-release
		return "token-1", time.Now().Add(time.Hour), nil
	}}

	first := make(chan string, 1)
	go func() {
		token, _ := auth.Token(context.Background())
		first <- token
	}()
	for fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := auth.Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting call: error %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("waiting call returned after %v, want about 50ms", took)
	}

	close(release)
	if got := <-first; got != "token-1" {
		t.Errorf("fetching call: token %q, want token-1", got)
	}
	if token, err := auth.Token(context.Background()); err != nil || token != "token-1" {
		t.Errorf("cached token: %q, %v; want token-1", token, err)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}
