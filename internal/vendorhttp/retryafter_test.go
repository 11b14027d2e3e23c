package vendorhttp

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"12", 12 * time.Second, true},
		{" 3 ", 3 * time.Second, true},
		{"0.25", 250 * time.Millisecond, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"1e308", MaxRetryAfter, true},
		{"99999999999999999999", MaxRetryAfter, true},
		{"soon", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"Fri, 32 Dec 2026 00:00:00 GMT", 0, false},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		got, ok := RetryAfter(h, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.wantOK)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.5", "Wed, 21 Oct 2015 07:28:00 GMT", "garbage", "-5", "1e999", "NaN"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := RetryAfter(http.Header{"Retry-After": {v}}, now)
		if got < 0 || got > MaxRetryAfter || (!ok && got != 0) {
			t.Fatalf("RetryAfter(%q) = %v, %v: out of range", v, got, ok)
		}
	})
}

func TestRateLimitReset(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
		wantOK  bool
	}{
		{"budget left", map[string]string{"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "30"}, 0, false},
		{"no headers", nil, 0, false},
		{"spent, reset seconds", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"}, 42 * time.Second, true},
		{"spent, hyphen spelling", map[string]string{"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "5"}, 5 * time.Second, true},
		{"spent, reset date", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-ResetDate": now.Add(time.Minute).Format(time.RFC3339)}, time.Minute, true},
		{"spent, absurd reset", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "900000"}, MaxRetryAfter, true},
		{"spent, garbage reset", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "later"}, time.Second, true},
		{"garbage remaining", map[string]string{"X-RateLimit-Remaining": "none", "X-RateLimit-Reset": "5"}, 0, false},
	}
	for _, tc := range tests {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		until, ok := rateLimitReset(h, now)
		got := time.Duration(0)
		if ok {
			got = until.Sub(now)
		}
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: got %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestIsWazuhThrottle(t *testing.T) {
	tests := map[string]bool{
		`{"title":"Wazuh Error","detail":"Maximum number of requests per minute reached","code":6001}`: true,
		`{"error":6001}`: true,
		`{"code":6000}`:  false,
		`not json`:       false,
	}
	for body, want := range tests {
		if got := isWazuhThrottle([]byte(body)); got != want {
			t.Errorf("isWazuhThrottle(%s) = %v, want %v", body, got, want)
		}
	}
}
