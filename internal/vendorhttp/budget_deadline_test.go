package vendorhttp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A wait that would pass the caller's deadline is rejected at once, before
// the deadline, with *BudgetError. The error still reads as out of time, and
// it carries the wait the budget needs.
func TestBudgetWaitPastDeadline(t *testing.T) {
	tests := []struct {
		name     string
		limits   []Limit
		park     time.Duration // parks the budget this long after the first call
		wantWait time.Duration // lower bound of BudgetError.Wait
	}{
		{name: "one call an hour", limits: []Limit{{Count: 1, Per: time.Hour}}, wantWait: 59 * time.Minute},
		{name: "one call a minute", limits: []Limit{{Count: 1, Per: time.Minute}}, wantWait: 59 * time.Second},
		{name: "parked by the vendor", limits: nil, park: 10 * time.Minute, wantWait: 9 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget(tc.limits)
			if err := b.Wait(context.Background()); err != nil {
				t.Fatalf("first wait, within the budget: %v", err)
			}
			if tc.park > 0 {
				b.Park(time.Now().Add(tc.park))
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := b.Wait(ctx)
			if ctx.Err() != nil {
				t.Fatalf("Wait returned after the deadline (%v): want a rejection at once", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrRateBudget) {
				t.Fatalf("Wait past the deadline = %v, want an error matching context.DeadlineExceeded and ErrRateBudget", err)
			}
			var be *BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("Wait past the deadline = %T, want *BudgetError", err)
			}
			if be.Wait < tc.wantWait {
				t.Errorf("BudgetError.Wait = %s, want at least %s", be.Wait, tc.wantWait)
			}
		})
	}
}
