package vendorhttp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock moves only when a waiter sleeps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

func TestSlidingWindowNeverExceedsItsLimit(t *testing.T) {
	tests := []struct {
		name  string
		count int
		per   time.Duration
		gaps  []time.Duration // wait before each call; the last one repeats
	}{
		{name: "burst", count: 3, per: time.Second, gaps: []time.Duration{0}},
		{name: "wazuh default, burst", count: 300, per: time.Minute, gaps: []time.Duration{0}},
		{name: "steady below the limit", count: 5, per: time.Second, gaps: []time.Duration{300 * time.Millisecond}},
		{name: "bursts after pauses", count: 4, per: time.Second, gaps: []time.Duration{0, 0, 0, 0, 0, 0, 900 * time.Millisecond, 0, 0, 0, 0, 0, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			w := newSlidingWindow(tt.count, tt.per)
			w.now, w.sleep = clock.now, clock.sleep

			var sent []time.Time
			for i := 0; i < 10*tt.count; i++ {
				gap := tt.gaps[min(i, len(tt.gaps)-1)]
				clock.t = clock.t.Add(gap)
				if err := w.Wait(context.Background()); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				sent = append(sent, clock.t)
			}

			// Any count+1 consecutive calls span more than per.
			for i := tt.count; i < len(sent); i++ {
				if span := sent[i].Sub(sent[i-tt.count]); span < tt.per {
					t.Fatalf("calls %d to %d within %s, limit %d per %s", i-tt.count, i, span, tt.count, tt.per)
				}
			}
			// The first count calls of a burst do not wait.
			if tt.gaps[0] == 0 && !sent[tt.count-1].Equal(sent[0]) {
				t.Errorf("the first %d calls waited %s", tt.count, sent[tt.count-1].Sub(sent[0]))
			}
		})
	}
}

func TestSlidingWindowSteadyRate(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	w := newSlidingWindow(300, time.Minute)
	w.now, w.sleep = clock.now, clock.sleep
	start := clock.t
	const calls = 3000
	for i := 0; i < calls; i++ {
		if err := w.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 3,000 calls at 300 a minute: 9 full windows after the first burst.
	want := 9 * (time.Minute + windowMargin(time.Minute))
	if got := clock.t.Sub(start); got != want {
		t.Errorf("3000 calls took %s, want %s", got, want)
	}
}

func TestSlidingWindowCanceled(t *testing.T) {
	w := newSlidingWindow(1, time.Hour)
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := w.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait over the limit with a short context: err = %v, want DeadlineExceeded", err)
	}
	var be *BudgetError
	if !errors.As(err, &be) || be.Wait < 59*time.Minute {
		t.Errorf("Wait over the limit: err = %v, want *BudgetError with the hour's remaining wait", err)
	}
}

func TestBudgetUsesTokenBucketForHugeLimits(t *testing.T) {
	b := NewBudget([]Limit{{Count: 300, Per: time.Minute}, {Count: 6_000_000, Per: time.Minute}})
	if len(b.limiters) != 3 {
		t.Fatalf("limiters = %d, want a bucket and a window for 300 a minute, and a bucket for 6,000,000", len(b.limiters))
	}
	if _, ok := b.limiters[1].(*slidingWindow); !ok {
		t.Errorf("300 a minute: second limiter %T, want *slidingWindow", b.limiters[1])
	}
	if _, ok := b.limiters[2].(*slidingWindow); ok {
		t.Errorf("6,000,000 a minute: got a sliding window, which would keep 6,000,000 times")
	}
}
