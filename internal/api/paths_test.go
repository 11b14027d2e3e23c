package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUncleanPathNotFound checks that a path with empty, "." or ".."
// segments gets a JSON 404 instead of http.ServeMux's redirect to the
// cleaned path, which sent /v1/actions/../../etc/passwd to /etc/passwd.
func TestUncleanPathNotFound(t *testing.T) {
	h := newHarness(t, newFakeExecutor())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, path := range []string{
		"/v1/actions/../../etc/passwd",
		"/v1/actions/..%2F..%2Fetc%2Fpasswd",
		"/wazuh//agents",
		"/wazuh/./agents",
		"/wazuh/x/../agents",
		"//wazuh/agents",
	} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(KeyHeader, keyA)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v", path, err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)

			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("status %d, want 404; Location %q, body %s", resp.StatusCode, resp.Header.Get("Location"), raw)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil || body["statusCode"] != float64(http.StatusNotFound) {
				t.Errorf("body %s, want a JSON error with statusCode 404", raw)
			}
		})
	}
}

// TestTwoKeyHeadersUnauthorized checks that a request carrying two x-sha256
// headers gets 401 even when one of them is a valid key: which one a proxy
// or a log reads is not defined.
func TestTwoKeyHeadersUnauthorized(t *testing.T) {
	h := newHarness(t, newFakeExecutor())
	for _, keys := range [][]string{{keyA, keyB}, {keyA, keyA}, {"wrong", keyA}} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/actions/act-1", nil)
		req.Header[http.CanonicalHeaderKey(KeyHeader)] = keys
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || strings.TrimSpace(string(raw)) != `{"statusCode":401,"message":"Unauthorized"}` {
			t.Errorf("keys %q: status %d, body %s; want 401 Unauthorized", keys, resp.StatusCode, raw)
		}
	}
}
