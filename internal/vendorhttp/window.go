package vendorhttp

import (
	"context"
	"sync"
	"time"
)

// maxWindowCount is the largest limit enforced as an exact sliding window.
// The window keeps one time per call it allows, so a larger limit (one an
// operator raised with requests_per_minute) uses a token bucket instead.
const maxWindowCount = 100_000

// windowMargin is added to every window, because the vendor counts calls
// when they arrive, a little later and with some jitter after they leave.
// NOTE: on an overloaded host the jitter can exceed the margin; a bulk run
// at a load average of 9 met one burst of 429 at a window boundary, which
// the client then waited out and retried.
func windowMargin(per time.Duration) time.Duration {
	return max(per/200, 50*time.Millisecond)
}

// slidingWindow allows at most count calls in any span of per (plus a
// margin). Vendors count their limits in windows: the Wazuh API counts
// max_request_per_minute in one-minute windows that each start at the first
// request after the previous one ended. A token bucket that starts full
// allows its burst and then its refill within one window, up to twice the
// limit, and the vendor then answers 429. A sliding window cannot exceed the
// limit in any window the vendor may use, and still lets a burst of count
// calls through at once.
type slidingWindow struct {
	count int
	per   time.Duration

	mu    sync.Mutex
	times []time.Time // guarded by mu: the send times of the last count calls, as a ring
	next  int         // guarded by mu: the oldest entry once times is full

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newSlidingWindow(count int, per time.Duration) *slidingWindow {
	return &slidingWindow{count: count, per: per + windowMargin(per), now: time.Now, sleep: sleepCtx}
}

// Wait reserves the earliest time at which one more call keeps the window
// within its limit, and sleeps until then. Calls are served in the order
// they arrive. A call whose ctx ends before its time returns at once
// without a reservation, as rate.Limiter does; one whose ctx is canceled
// while it waits keeps its reservation, so the window errs on the side of
// fewer calls.
func (w *slidingWindow) Wait(ctx context.Context) error {
	w.mu.Lock()
	now := w.now()
	at := now
	if len(w.times) < w.count {
		w.times = append(w.times, now)
	} else {
		if ready := w.times[w.next].Add(w.per); ready.After(at) {
			at = ready
		}
		if deadline, ok := ctx.Deadline(); ok && at.After(deadline) {
			w.mu.Unlock()
			return &BudgetError{Wait: at.Sub(now)}
		}
		w.times[w.next] = at
		w.next = (w.next + 1) % w.count
	}
	w.mu.Unlock()

	if d := at.Sub(now); d > 0 {
		return w.sleep(ctx, d)
	}
	return ctx.Err()
}
