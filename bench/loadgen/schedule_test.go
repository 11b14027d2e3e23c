package loadgen

import (
	"testing"
	"time"
)

func TestScheduleDue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Schedule{Start: start, Rate: 3}

	cases := []struct {
		i    int64
		want time.Duration
	}{
		{0, 0},
		{1, 333_333_333},
		{3, time.Second},
		{3_000_000, 1_000_000 * time.Second},
	}
	for _, tc := range cases {
		if got := s.Due(tc.i).Sub(start); got != tc.want {
			t.Errorf("Due(%d) = start + %v, want start + %v", tc.i, got, tc.want)
		}
	}
}

func TestScheduleNoDrift(t *testing.T) {
	start := time.Now()
	s := Schedule{Start: start, Rate: 7000}

	// With an interval added per request, 142857 ns rounded down would lose
	// about 0.2 ms per second; multiplying keeps the millionth request on time.
	got := s.Due(7_000_000).Sub(start)
	if diff := got - 1000*time.Second; diff < -time.Microsecond || diff > time.Microsecond {
		t.Errorf("Due(7e6) at 7000/s = %v, want 1000 s within 1 µs", got)
	}
}

func TestScheduleCountWithin(t *testing.T) {
	start := time.Now()
	cases := []struct {
		rate float64
		d    time.Duration
		want int64
	}{
		{500, time.Second, 500},
		{500, time.Second + time.Nanosecond, 501},
		{3, time.Second, 3},
		{3, 999 * time.Millisecond, 3},
		{3, 666 * time.Millisecond, 2},
		{0.5, 10 * time.Second, 5},
		{1000, 0, 0},
	}
	for _, tc := range cases {
		s := Schedule{Start: start, Rate: tc.rate}
		n := s.CountWithin(tc.d)
		if n != tc.want {
			t.Errorf("CountWithin(%v) at %v/s = %d, want %d", tc.d, tc.rate, n, tc.want)
		}
		end := start.Add(tc.d)
		if n > 0 && !s.Due(n-1).Before(end) {
			t.Errorf("at %v/s, request %d is due at or after the end %v", tc.rate, n-1, tc.d)
		}
		if s.Due(n).Before(end) {
			t.Errorf("at %v/s, request %d is due before the end %v but not counted", tc.rate, n, tc.d)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	cases := []struct {
		name string
		l    Limits
		ok   bool
	}{
		{"defaults", Limits{Requests: 10_000, Duration: 10 * time.Second, Warmup: time.Second}, true},
		{"zero requests", Limits{Requests: 0, Duration: time.Second}, false},
		{"too many requests", Limits{Requests: MaxRequests + 1, Duration: time.Second}, false},
		{"too long", Limits{Requests: 1, Duration: MaxDuration + time.Second}, false},
		{"negative warm-up", Limits{Requests: 1, Duration: time.Second, Warmup: -time.Second}, false},
	}
	for _, tc := range cases {
		err := tc.l.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
