package attack

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/vendors"
)

// simRequests returns the request count of every simulator of company name.
func (s *stack) simRequests(name string) int64 {
	var n int64
	for _, sim := range s.Companies[name].Sims {
		n += sim.requests.Load()
	}
	return n
}

// TestTenantIsolation checks that one company's key never reads, confirms
// or acts on another company's actions and integrations.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	a, b := s.Companies["a"], s.Companies["b"]
	if _, ok := a.Sims[vendor.ServiceWazuh]; !ok {
		t.Skip("no Wazuh simulator in this build")
	}
	c := s.addCompany("c", false)

	// Company A isolates a Wazuh agent. Wazuh never reports the outcome of
	// an active response, so the action stays unfinished until an event
	// confirms it.
	bBefore := s.simRequests("b")
	resp := s.post(t, "/wazuh/agents", a.Key, map[string]any{"action": "isolate", "Email": requester, "agent_id": "demo-host-01"})
	if resp.Status != http.StatusOK {
		t.Fatalf("isolate by A: status %d, body %s", resp.Status, resp.Body)
	}
	aAction := decode(t, resp)["body"].(map[string]any)["action_id"].(string)
	if got := s.simRequests("b"); got != bBefore {
		t.Errorf("A's isolate sent %d request(s) to B's simulators, want none", got-bBefore)
	}

	t.Run("B cannot read A's action", func(t *testing.T) {
		other := s.do(t, request{Method: "GET", Path: "/v1/actions/" + aAction, Key: b.Key})
		checkJSONError(t, other, http.StatusNotFound)
		unknown := s.do(t, request{Method: "GET", Path: "/v1/actions/" + strings.Repeat("0", len(aAction)), Key: b.Key})

		checkJSONError(t, unknown, http.StatusNotFound)
		unknownID := strings.Repeat("0", len(aAction))
		if strings.ReplaceAll(string(other.Body), aAction, "ID") != strings.ReplaceAll(string(unknown.Body), unknownID, "ID") {
			t.Errorf("A's action id gets %s but an unknown id gets %s; the responses must not tell them apart", other.Body, unknown.Body)
		}
		own := s.do(t, request{Method: "GET", Path: "/v1/actions/" + aAction, Key: a.Key})
		if own.Status != http.StatusOK {
			t.Errorf("A reading its own action: status %d, want 200; body %s", own.Status, own.Body)
		}
	})

	t.Run("C without integrations cannot act", func(t *testing.T) {
		before := s.quiesce()
		for path := range vendor.Routes {
			body := map[string]any{"action": "isolate", "Email": requester, "agent_id": "demo-host-01"}
			if path == "/azuread/users" {
				body = map[string]any{"action": "AzureADBlock", "Email": requester, "upn": "user01@demo.example"}
			}
			resp := s.post(t, path, c.Key, body)
			checkJSONError(t, resp, http.StatusFailedDependency)
		}
		s.checkNoVendorCall(t, before)
	})

	t.Run("B cannot confirm A's Wazuh action", func(t *testing.T) {
		// An event names the agent by its Wazuh id; a host name or an
		// address is rejected before any lookup.
		for _, tc := range []struct {
			agent string
			want  int
		}{{"001", http.StatusNotFound}, {"demo-host-01", http.StatusBadRequest}, {"10.20.0.1", http.StatusBadRequest}} {
			for _, result := range []string{"success", "failure"} {
				resp := s.post(t, "/v1/wazuh/events", b.Key, map[string]any{"agent_id": tc.agent, "action": "isolate", "result": result})
				checkJSONError(t, resp, tc.want)
			}
		}
		own := decode(t, s.do(t, request{Method: "GET", Path: "/v1/actions/" + aAction, Key: a.Key}))
		if state := own["state"]; state != "dispatched" {
			t.Errorf("A's action state after B's events = %v, want dispatched", state)
		}
	})

	t.Run("idempotency key is per company", func(t *testing.T) {
		if _, ok := a.Sims[vendor.ServiceDefender]; !ok {
			t.Skip("no Defender simulator in this build")
		}
		key := map[string]string{"Idempotency-Key": "shared-key-1"}
		first := s.do(t, request{Path: "/defender/machines", Key: a.Key, Header: key, Body: object("action", "status", "Email", requester, "agent_id", "demo-host-02")})
		bSimBefore := b.Sims[vendor.ServiceDefender].requests.Load()
		second := s.do(t, request{Path: "/defender/machines", Key: b.Key, Header: key, Body: object("action", "status", "Email", requester, "agent_id", "demo-host-02")})
		if first.Status != http.StatusOK || second.Status != http.StatusOK {
			t.Fatalf("status A %d, B %d, want 200 both; bodies %s / %s", first.Status, second.Status, first.Body, second.Body)
		}
		idA := decode(t, first)["body"].(map[string]any)["action_id"]
		idB := decode(t, second)["body"].(map[string]any)["action_id"]
		if idA == idB {
			t.Errorf("B got A's action %v for the same Idempotency-Key", idA)
		}
		if b.Sims[vendor.ServiceDefender].requests.Load() == bSimBefore {
			t.Error("B's request did not reach B's Defender simulator")
		}
	})

	// Two x-sha256 headers are ambiguous: a proxy may read the other one.
	t.Run("two key headers", func(t *testing.T) {
		hr, _ := http.NewRequest("GET", s.URL+"/v1/actions/"+aAction, nil)
		hr.Header.Add("x-sha256", b.Key)
		hr.Header.Add("x-sha256", a.Key)
		resp := s.send(t, hr)
		checkJSONError(t, resp, http.StatusUnauthorized)
	})

	t.Run("audit trails stay apart", func(t *testing.T) {
		s.quiesce()
		ctx := context.Background()
		for _, co := range []*company{a, b, c} {
			events, err := s.Audit.List(ctx, co.ID, audit.Filter{Limit: 1000})
			if err != nil {
				t.Fatalf("list audit events of %s: %v", co.Name, err)
			}
			for _, ev := range events {
				if ev.CompanyID != co.ID {
					t.Errorf("audit of %s holds event %d of company %s", co.Name, ev.Seq, ev.CompanyID)
				}
				if co != a && ev.ActionID == aAction {
					t.Errorf("audit of %s holds A's action %s: %+v", co.Name, aAction, ev)
				}
			}
			if brk, err := s.Audit.Verify(ctx, co.ID); err != nil || brk != nil {
				t.Errorf("verify audit of %s: break %v, error %v", co.Name, brk, err)
			}
		}
	})
}
