package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestActionRouteRejectsBadRequests(t *testing.T) {
	h := newHarness(t, newFakeExecutor())
	user := `"Email":"analyst@example.com","upn":"user@domain.com"`
	agent := `"Email":"analyst@example.com","agent_id":"001"`

	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		wantStatus  int
		wantMessage string // exact when wantExact, else a substring
		wantExact   bool
	}{
		{"missing upn", "/azuread/users", "", `{"action":"AzureADBlock","Email":"analyst@example.com"}`, 400, "Bad Request: Missing 'upn' parameter", true},
		{"missing Email", "/azuread/users", "", `{"action":"AzureADBlock","upn":"user@domain.com"}`, 400, "Bad Request: Missing 'Email' parameter", true},
		{"missing agent_id", "/wazuh/agents", "", `{"action":"isolate","Email":"analyst@example.com"}`, 400, "Bad Request: Missing 'agent_id' parameter", true},
		{"missing action", "/wazuh/agents", "", `{` + agent + `}`, 400, "Bad Request: Missing 'action' parameter", true},
		{"empty action", "/wazuh/agents", "", `{"action":"",` + agent + `}`, 400, "Bad Request: Missing 'action' parameter", true},
		{"unknown endpoint action", "/wazuh/agents", "", `{"action":"x",` + agent + `}`, 400, "Bad Request: Unknown action 'x'; valid actions: isolate, releaseisolate, status", true},
		{"unknown user action", "/azuread/users", "", `{"action":"isolate",` + user + `}`, 400, "Bad Request: Unknown action 'isolate'; valid actions: AzureADBlock, AzureADUnblock, AzureADStatus, AzureADSreport", true},
		{"action in wrong case", "/wazuh/agents", "", `{"action":"Isolate",` + agent + `}`, 400, "Unknown action 'Isolate'", false},
		{"invalid JSON", "/wazuh/agents", "", `{"action":`, 400, "Bad Request: Invalid JSON", false},
		{"invalid JSON token", "/wazuh/agents", "", `{"action":isolate}`, 400, "Bad Request: Invalid JSON", false},
		{"string where boolean", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"dry_run":"yes"}`, 400, "Bad Request: Field 'dry_run' must be a boolean", true},
		{"number where string", "/wazuh/agents", "", `{"action":"isolate","Email":"analyst@example.com","agent_id":1}`, 400, "Bad Request: Field 'agent_id' must be a string", true},
		{"null where string", "/wazuh/agents", "", `{"action":"isolate","Email":null,"agent_id":"001"}`, 400, "Bad Request: Field 'Email' must be a string", true},
		{"object where string", "/wazuh/agents", "", `{"action":{"a":1},` + agent + `}`, 400, "Field 'action' must be a string", false},
		{"unknown field", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"foo":1}`, 400, "Bad Request: Unknown field 'foo' for /wazuh/agents; accepted fields: action, Email, agent_id, comment, dry_run", true},
		{"field in wrong case", "/wazuh/agents", "", `{"action":"isolate","email":"analyst@example.com","agent_id":"001"}`, 400, "Bad Request: Unknown field 'email'; did you mean 'Email'?", true},
		{"isolation_type outside Defender", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"isolation_type":"Full"}`, 400, "Unknown field 'isolation_type' for /wazuh/agents", false},
		{"unlock_code outside Cisco", "/defender/machines", "", `{"action":"isolate",` + agent + `,"unlock_code":"abc"}`, 400, "Unknown field 'unlock_code' for /defender/machines", false},
		{"duplicate key", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"agent_id":"002"}`, 400, "Bad Request: Duplicate field 'agent_id'; send each field once", true},
		{"trailing object", "/wazuh/agents", "", `{"action":"isolate",` + agent + `} {}`, 400, "Bad Request: Unexpected data after the JSON object", true},
		{"trailing garbage", "/wazuh/agents", "", `{"action":"isolate",` + agent + `}x`, 400, "Bad Request: Unexpected data after the JSON object", true},
		{"invalid UTF-8", "/wazuh/agents", "", "{\"action\":\"isolate\",\"Email\":\"analyst@example.com\",\"agent_id\":\"\xff\"}", 400, "Bad Request: The request body is not valid UTF-8", true},
		{"deep nesting", "/wazuh/agents", "", `{"comment":[[[[[["x"]]]]]]}`, 400, "Bad Request: JSON nesting is deeper than 4 levels", true},
		{"array body", "/wazuh/agents", "", `[]`, 400, "Bad Request: The request body must be a JSON object", true},
		{"empty body", "/wazuh/agents", "", ` `, 400, "Bad Request: The request body is empty; send a JSON object", true},
		{"display name in Email", "/wazuh/agents", "", `{"action":"isolate","Email":"Ann <analyst@example.com>","agent_id":"001"}`, 400, "Bad Request: Invalid 'Email' parameter", false},
		{"not an address", "/wazuh/agents", "", `{"action":"isolate","Email":"analyst","agent_id":"001"}`, 400, "Bad Request: Invalid 'Email' parameter 'analyst'", false},
		{"comment too long", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"comment":"` + strings.Repeat("x", 1001) + `"}`, 400, "Bad Request: Invalid 'comment' parameter: longer than 1000 characters", true},
		{"control character in comment", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"comment":"a\u0000b"}`, 400, "Invalid 'comment' parameter", false},
		{"control character in agent_id", "/wazuh/agents", "", `{"action":"isolate","Email":"analyst@example.com","agent_id":"00\n1"}`, 400, "Invalid 'agent_id' parameter", false},
		{"invalid isolation_type", "/defender/machines", "", `{"action":"isolate",` + agent + `,"isolation_type":"Partial"}`, 400, "Bad Request: Invalid 'isolation_type' parameter 'Partial'; valid values: Full, Selective", true},
		{"isolation_type on status", "/defender/machines", "", `{"action":"status",` + agent + `,"isolation_type":"Full"}`, 400, "Bad Request: 'isolation_type' applies only to the isolate action", true},
		{"invalid unlock_code", "/cisco/computers", "", `{"action":"isolate",` + agent + `,"unlock_code":"a b!"}`, 400, "Bad Request: Invalid 'unlock_code' parameter", false},
		{"text content type", "/wazuh/agents", "text/plain", `{"action":"isolate",` + agent + `}`, 415, "Unsupported Media Type: Content-Type must be application/json", true},
		{"form content type", "/wazuh/agents", "application/x-www-form-urlencoded", `a=b`, 415, "Unsupported Media Type", false},
		{"latin1 charset", "/wazuh/agents", "application/json; charset=latin1", `{"action":"isolate",` + agent + `}`, 415, "Unsupported Media Type", false},
		{"unknown parameter", "/wazuh/agents", "application/json; version=2", `{"action":"isolate",` + agent + `}`, 415, "Unsupported Media Type", false},
		{"body over 64 KiB", "/wazuh/agents", "", `{"action":"isolate",` + agent + `,"comment":"` + strings.Repeat("x", 70_000) + `"}`, 413, "Payload Too Large: the request body exceeds 65536 bytes", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{KeyHeader: keyA}
			if tt.contentType != "" {
				header["Content-Type"] = tt.contentType
			}
			got := h.call(http.MethodPost, tt.path, header, tt.body)

			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %s", got.Status, tt.wantStatus, got.Raw)
			}
			msg := message(got)
			if tt.wantExact && msg != tt.wantMessage {
				t.Errorf("message = %q, want %q", msg, tt.wantMessage)
			}
			if !tt.wantExact && !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMessage)
			}
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	h := newHarness(t, newFakeExecutor())

	t.Run("wrong method", func(t *testing.T) {
		got := h.call(http.MethodGet, "/wazuh/agents", map[string]string{KeyHeader: keyA}, "")
		if got.Status != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405", got.Status)
		}
		if allow := got.Header.Get("Allow"); allow != "POST" {
			t.Errorf("Allow = %q, want POST", allow)
		}
		if msg := message(got); msg != "Method Not Allowed: use POST for /wazuh/agents" {
			t.Errorf("message = %q", msg)
		}
	})

	t.Run("wrong method on a read route", func(t *testing.T) {
		got := h.call(http.MethodDelete, "/v1/actions/abc", map[string]string{KeyHeader: keyA}, "")
		if got.Status != http.StatusMethodNotAllowed || got.Header.Get("Allow") != "GET" {
			t.Errorf("status = %d, Allow = %q, want 405 and GET", got.Status, got.Header.Get("Allow"))
		}
	})

	t.Run("unknown route", func(t *testing.T) {
		got := h.call(http.MethodPost, "/wazuh/agent", map[string]string{KeyHeader: keyA}, `{}`)
		if got.Status != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", got.Status)
		}
		if msg := message(got); !strings.HasPrefix(msg, "Not Found: no route /wazuh/agent") {
			t.Errorf("message = %q", msg)
		}
	})

	t.Run("trailing slash", func(t *testing.T) {
		got := h.call(http.MethodPost, "/wazuh/agents/", map[string]string{KeyHeader: keyA}, `{}`)
		if got.Status != http.StatusNotFound {
			t.Errorf("status = %d, want 404", got.Status)
		}
	})
}
