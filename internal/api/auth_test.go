package api

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuthFailuresAnswerIdentically(t *testing.T) {
	h := newHarness(t, newFakeExecutor())
	body := `{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`

	tests := []struct {
		name string
		key  string
	}{
		{"missing key", ""},
		{"wrong key", strings.Repeat("0", 64)},
		{"revoked key", keyRevoked},
		{"disabled company", keyDisabled},
		{"not hex", "not-a-key"},
		{"uppercase key", strings.ToUpper(keyA)},
	}
	var first []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.call(http.MethodPost, "/wazuh/agents", map[string]string{KeyHeader: tt.key}, body)
			if got.Status != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", got.Status)
			}
			if string(got.Raw) != "{\"statusCode\":401,\"message\":\"Unauthorized\"}\n" {
				t.Errorf("body = %s, want the published 401 body", got.Raw)
			}
			if first == nil {
				first = got.Raw
			}
			if !bytes.Equal(got.Raw, first) {
				t.Errorf("body = %s differs from the first failure's %s", got.Raw, first)
			}
		})
	}

	for _, failure := range h.recorder.all() {
		for _, tt := range tests {
			if tt.key != "" && strings.Contains(failure, tt.key) {
				t.Errorf("recorded failure %q contains the presented key", failure)
			}
		}
	}
	if got, want := len(h.recorder.all()), len(tests); got != want {
		t.Errorf("recorded %d failures, want %d", got, want)
	}
}

func TestAuthBruteForceIsBlocked(t *testing.T) {
	h := newHarness(t, newFakeExecutor(), func(c *Config) {
		c.AuthLimit = AuthLimit{Window: time.Minute, DelayAfter: 2, Delay: 20 * time.Millisecond, MaxDelay: 40 * time.Millisecond, BlockAfter: 4}
	})
	body := `{"action":"status","Email":"analyst@example.com","agent_id":"001"}`
	attacker := map[string]string{KeyHeader: strings.Repeat("0", 64), "X-Forwarded-For": "203.0.113.7"}

	for i := 1; i <= 4; i++ {
		start := time.Now()
		got := h.call(http.MethodPost, "/wazuh/agents", attacker, body)
		if got.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status = %d, want 401", i, got.Status)
		}
		if i > 2 && time.Since(start) < 20*time.Millisecond {
			t.Errorf("failure %d answered after %s, want a delay of at least 20ms", i, time.Since(start))
		}
	}

	// Blocked now, even with a valid key.
	blocked := map[string]string{KeyHeader: keyA, "X-Forwarded-For": "203.0.113.7"}
	got := h.call(http.MethodPost, "/wazuh/agents", blocked, body)
	if got.Status != http.StatusTooManyRequests {
		t.Fatalf("status after 4 failures = %d, want 429", got.Status)
	}
	retry, err := strconv.Atoi(got.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After = %q, want 1 to 60 seconds", got.Header.Get("Retry-After"))
	}

	// Another client address is not affected.
	other := map[string]string{KeyHeader: keyA, "X-Forwarded-For": "203.0.113.8"}
	if got := h.call(http.MethodPost, "/wazuh/agents", other, body); got.Status != http.StatusOK {
		t.Errorf("other address: status = %d, want 200", got.Status)
	}

	failures := h.recorder.all()
	if len(failures) != 4 {
		t.Fatalf("recorded %d failures, want 4: %q", len(failures), failures)
	}
	if !strings.HasPrefix(failures[0], "203.0.113.7 /wazuh/agents ") {
		t.Errorf("failure = %q, want the client address and route", failures[0])
	}
}

func TestAuthLimiterWindowExpires(t *testing.T) {
	l := newAuthLimiter(AuthLimit{Window: time.Minute, DelayAfter: 1, Delay: time.Second, MaxDelay: 3 * time.Second, BlockAfter: 3})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }

	wantDelays := []time.Duration{0, time.Second, 2 * time.Second}
	for i, want := range wantDelays {
		if got := l.delay(l.fail("192.0.2.1")); got != want {
			t.Errorf("failure %d: delay = %s, want %s", i+1, got, want)
		}
	}
	if got := l.delay(10); got != 3*time.Second {
		t.Errorf("delay after 10 failures = %s, want the 3s maximum", got)
	}
	if got := l.blocked("192.0.2.1"); got != time.Minute {
		t.Errorf("blocked = %s, want 1m0s", got)
	}

	now = now.Add(time.Minute)
	if got := l.blocked("192.0.2.1"); got != 0 {
		t.Errorf("blocked after the window = %s, want 0", got)
	}
	if got := l.fail("192.0.2.1"); got != 1 {
		t.Errorf("first failure of a new window: failures = %d, want 1", got)
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted string
		want    string
	}{
		{"direct", "198.51.100.1:5000", nil, "", "198.51.100.1"},
		{"forwarded header from untrusted peer", "198.51.100.1:5000", []string{"203.0.113.9"}, "", "198.51.100.1"},
		{"trusted proxy", "10.0.0.5:5000", []string{"203.0.113.9"}, "10.0.0.0/8", "203.0.113.9"},
		{"spoofed leftmost hop", "10.0.0.5:5000", []string{"1.2.3.4, 203.0.113.9"}, "10.0.0.0/8", "203.0.113.9"},
		{"chain of trusted proxies", "10.0.0.5:5000", []string{"203.0.113.9, 10.0.0.7"}, "10.0.0.0/8", "203.0.113.9"},
		{"two headers", "10.0.0.5:5000", []string{"1.2.3.4", "203.0.113.9"}, "10.0.0.0/8", "203.0.113.9"},
		{"malformed hop", "10.0.0.5:5000", []string{"203.0.113.9, junk"}, "10.0.0.0/8", "10.0.0.5"},
		{"IPv6 peer", "[2001:db8::1]:5000", nil, "", "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:198.51.100.1]:5000", nil, "", "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, parsePrefixes(t, tt.trusted)); got != tt.want {
				t.Errorf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

func parsePrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	if s == "" {
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatalf("parse prefix %q: %v", s, err)
	}
	return []netip.Prefix{p}
}

// countingRecorder reports a stored failure count, as the audit trail does
// for failures that reached other replicas.
type countingRecorder struct {
	fakeRecorder
	stored int
}

func (c *countingRecorder) CountAuthFailures(ctx context.Context, clientAddr string, since time.Time) (int, error) {
	return c.stored, nil
}

func TestAuthCountsOtherReplicasFailures(t *testing.T) {
	rec := &countingRecorder{stored: 20}
	h := newHarness(t, newFakeExecutor(), func(c *Config) {
		c.AuthFailures = rec
		c.AuthLimit = AuthLimit{DelayAfter: 2, Delay: time.Millisecond, MaxDelay: time.Millisecond, BlockAfter: 20}
	})
	body := `{"action":"status","Email":"analyst@example.com","agent_id":"001"}`
	addr := map[string]string{KeyHeader: strings.Repeat("0", 64), "X-Forwarded-For": "203.0.113.50"}

	if got := h.call(http.MethodPost, "/wazuh/agents", addr, body); got.Status != http.StatusUnauthorized {
		t.Fatalf("first local failure: status %d, want 401", got.Status)
	}
	addr[KeyHeader] = keyA
	if got := h.call(http.MethodPost, "/wazuh/agents", addr, body); got.Status != http.StatusTooManyRequests {
		t.Errorf("after 20 failures across replicas: status %d, want 429", got.Status)
	}
}
