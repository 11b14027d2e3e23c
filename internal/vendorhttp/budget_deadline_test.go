package vendorhttp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A wait that would pass the caller's deadline must read as out of time,
// so that the API returns 504 and not 502.
func TestBudgetWaitPastDeadline(t *testing.T) {
	for _, limit := range []Limit{{Count: 1, Per: time.Hour}, {Count: 1, Per: time.Minute}} {
		b := NewBudget([]Limit{limit})
		if err := b.Wait(context.Background()); err != nil {
			t.Fatalf("first wait with %+v: %v", limit, err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := b.Wait(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second wait with %+v = %v, want an error matching context.DeadlineExceeded", limit, err)
		}
	}
}
