package attack

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/api"
)

// unauthorizedBody is the only body a failed authentication may get.
const unauthorizedBody = `{"statusCode":401,"message":"Unauthorized"}`

// clientFrom returns an HTTP client whose connections come from the
// loopback address local, for example 127.0.0.2.
func clientFrom(local string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true},
	}
}

// TestUnauthorizedBodyIdentical checks that every kind of failed
// authentication, on every authenticated route, gets exactly the same
// response.
func TestUnauthorizedBodyIdentical(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{
		Companies:    []string{"a", "revoked", "disabled"},
		NoSimulators: true,
		AuthLimit:    api.AuthLimit{DelayAfter: 1000, BlockAfter: 2000},
	})
	ctx := context.Background()
	a := s.Companies["a"]

	// The revoked company rotates its key, then revokes the first one.
	revoked := s.Companies["revoked"]
	keys, err := s.Tenants.Keys(ctx, "revoked")
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys of revoked: %v, %v", keys, err)
	}
	if _, _, err := s.Tenants.RotateKey(ctx, "revoked"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if err := s.Tenants.RevokeKey(ctx, "revoked", keys[0].ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := s.Tenants.SetDisabled(ctx, "disabled", true); err != nil {
		t.Fatalf("disable: %v", err)
	}

	presented := []struct {
		name string
		key  string
		omit bool
	}{
		{name: "missing header", omit: true},
		{name: "empty", key: ""},
		{name: "short", key: "abc"},
		{name: "wrong key", key: strings.Repeat("0", 64)},
		{name: "digest of the right key", key: sha256Hex(a.Key)},
		{name: "upper case of the right key", key: strings.ToUpper(a.Key)},
		{name: "right key with suffix", key: a.Key + "0"},
		{name: "right key truncated", key: a.Key[:63]},
		{name: "right key twice", key: a.Key + a.Key},
		{name: "revoked key", key: revoked.Key},
		{name: "disabled company", key: s.Companies["disabled"].Key},
		{name: "very long", key: strings.Repeat("f", 16<<10)},
		{name: "SQL injection", key: "' OR '1'='1' --"},
		{name: "wildcard", key: "*"},
		{name: "non-ASCII", key: "\u00e9" + a.Key[1:]},
		{name: "two keys in one header", key: a.Key + "," + a.Key},
		{name: "bearer prefix", key: "Bearer " + a.Key},
	}
	routes := []struct{ method, path string }{
		{"POST", "/wazuh/agents"},
		{"POST", "/azuread/users"},
		{"POST", "/paloalto/endpoints"},
		{"GET", "/v1/actions/0123456789abcdef"},
		{"POST", "/v1/wazuh/events"},
	}
	for _, route := range routes {
		for _, p := range presented {
			t.Run(strings.TrimPrefix(route.path, "/")+"/"+p.name, func(t *testing.T) {
				hr, _ := http.NewRequest(route.method, s.URL+route.path, strings.NewReader(`{"action":"status","Email":"`+requester+`","agent_id":"001"}`))
				hr.Header.Set("Content-Type", "application/json")
				if !p.omit {
					hr.Header["X-Sha256"] = []string{p.key}
				}
				resp := s.send(t, hr)
				checkJSONError(t, resp, http.StatusUnauthorized)
				if got := strings.TrimSpace(string(resp.Body)); got != unauthorizedBody {
					t.Errorf("body = %s, want exactly %s", got, unauthorizedBody)
				}
				if resp.Header.Get("WWW-Authenticate") != "" || resp.Header.Get("Retry-After") != "" {
					t.Errorf("headers reveal more than the body: %v", resp.Header)
				}
			})
		}
	}
}

// TestBruteForceSlowedThenBlocked checks that wrong keys from one address
// are slowed down, then get 429 with Retry-After, while another address
// with a valid key is still served.
func TestBruteForceSlowedThenBlocked(t *testing.T) {
	t.Parallel()
	limit := api.AuthLimit{
		Window:     4 * time.Second,
		DelayAfter: 2,
		Delay:      150 * time.Millisecond,
		MaxDelay:   300 * time.Millisecond,
		BlockAfter: 5,
	}
	s := newStack(t, stackOptions{Companies: []string{"a"}, NoSimulators: true, AuthLimit: limit})
	a := s.Companies["a"]
	attacker := clientFrom("127.0.0.1")
	defender := clientFrom("127.0.0.2")

	guess := func(c *http.Client, key string, spoof string) (*response, time.Duration) {
		t.Helper()
		hr, _ := http.NewRequest("GET", s.URL+"/v1/actions/0123456789abcdef", nil)
		hr.Header.Set("x-sha256", key)
		if spoof != "" {
			hr.Header.Set("X-Forwarded-For", spoof)
		}
		saved := s.client
		s.client = c
		defer func() { s.client = saved }()
		start := time.Now()
		resp := s.send(t, hr)
		return resp, time.Since(start)
	}

	// Failures up to DelayAfter are answered at once; later ones are
	// delayed; from BlockAfter on, the address gets 429.
	for i := 1; i <= limit.BlockAfter; i++ {
		wrong := randomHex(t, 64)
		resp, took := guess(attacker, wrong, "10.9.8."+strconv.Itoa(i))
		checkJSONError(t, resp, http.StatusUnauthorized)
		if i > limit.DelayAfter {
			want := min(time.Duration(i-limit.DelayAfter)*limit.Delay, limit.MaxDelay)
			if took < want {
				t.Errorf("failure %d answered in %v, want a delay of at least %v", i, took, want)
			}
		}
	}

	for _, key := range []string{randomHex(t, 64), a.Key} {
		resp, took := guess(attacker, key, "10.9.8.200")
		checkJSONError(t, resp, http.StatusTooManyRequests)
		seconds, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || seconds < 1 || seconds > int(limit.Window/time.Second) {
			t.Errorf("Retry-After = %q, want 1 to %d seconds", resp.Header.Get("Retry-After"), int(limit.Window/time.Second))
		}
		if took > 2*time.Second {
			t.Errorf("429 took %v; a blocked address must be answered at once", took)
		}
	}

	// Another address with the right key is served.
	resp, _ := guess(defender, a.Key, "")
	checkJSONError(t, resp, http.StatusNotFound)

	// After the window the attacker may try again.
	time.Sleep(limit.Window + 200*time.Millisecond)
	resp, _ = guess(attacker, a.Key, "")
	checkJSONError(t, resp, http.StatusNotFound)
}
