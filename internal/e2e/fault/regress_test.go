package fault

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/faultproxy"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

// TestWriteRespondsWithinActionTimeout sends an isolate to a vendor that
// responds to every call with 429 and an absurd Retry-After. The gateway may
// refuse or time out, but it must respond within the API's action timeout
// rather than hold the caller while the integration waits out the
// Retry-After.
func TestWriteRespondsWithinActionTimeout(t *testing.T) {
	const apiTimeout = 3 * time.Second
	h := newHarness(t, options{
		dialect: store.SQLite, companies: 1, rate: 1, seed: 1,
		faults:     []faultproxy.Fault{faultproxy.Throttle},
		retryAfter: []faultproxy.RetryAfterForm{faultproxy.RetryAfterAbsurd},
		apiTimeout: apiTimeout,
		kinds:      []vendor.Kind{vendor.KindDefender, vendor.KindCisco},
	})
	h.client.Timeout = 4 * apiTimeout

	for _, in := range h.integrations {
		t.Run(string(in.profile.Kind), func(t *testing.T) {
			for _, act := range []vendor.ActionKind{vendor.ActionIsolate, vendor.ActionStatus} {
				resp := h.send(context.Background(), request{id: "timeout-" + string(in.profile.Kind) + "-" + string(act), company: in.company, profile: in.profile, action: act, host: "demo-host-03"})
				if resp.err != nil {
					t.Errorf("%s: no response within %s (action timeout %s): %v", act, h.client.Timeout, apiTimeout, resp.err)
					continue
				}
				if resp.elapsed > apiTimeout+time.Second {
					t.Errorf("%s: answered %d after %s, want within the action timeout %s", act, resp.status, resp.elapsed.Round(time.Millisecond), apiTimeout)
				}
				if resp.status == http.StatusOK {
					t.Errorf("%s: answered 200 although the vendor refused every call", act)
				}
			}
		})
	}
}

// TestDeduplicatedFailureRecorded sends two identical isolates at once to a
// vendor that fails every call. The second shares the first one's run; its
// request must still leave a record in the audit trail, as every request
// does.
func TestDeduplicatedFailureRecorded(t *testing.T) {
	h := newHarness(t, options{
		dialect: store.SQLite, companies: 1, rate: 1, seed: 2,
		faults: []faultproxy.Fault{faultproxy.ServerError},
		kinds:  []vendor.Kind{vendor.KindCisco},
	})
	in := h.integrations[0]
	reqs := []request{
		{id: "dedup-leader", company: in.company, profile: in.profile, action: vendor.ActionIsolate, host: "demo-host-05"},
		{id: "dedup-follower", company: in.company, profile: in.profile, action: vendor.ActionIsolate, host: "demo-host-05"},
	}
	resps := make([]response, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The leader's retries of the failing lookup take about a
			// second; the follower arrives during them.
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			resps[i] = h.send(context.Background(), reqs[i])
		}()
	}
	wg.Wait()

	for i, r := range resps {
		if r.err != nil || r.status == http.StatusOK {
			t.Fatalf("request %s: status %d, error %v; want a refusal", reqs[i].id, r.status, r.err)
		}
	}
	ctx := context.Background()
	h.checkNoneLost(ctx, reqs, resps, h.loadActions(ctx))
}

// TestLostWazuhAnswerAwaitsAgentEvent resets the connection after the Wazuh
// manager accepted an active response. Wazuh cannot report an endpoint's
// isolation state, so the gateway must not record the isolation as failed:
// the agent ran the command, and its result event must confirm the action.
func TestLostWazuhAnswerAwaitsAgentEvent(t *testing.T) {
	h := newHarness(t, options{
		dialect: store.SQLite, companies: 1, rate: 1, seed: 3,
		faults: []faultproxy.Fault{faultproxy.ResetAfter},
		kinds:  []vendor.Kind{vendor.KindWazuh},
		exempt: func(r *http.Request) bool { return r.URL.Path != "/active-response" },
		// The agent's program reports after the gateway has settled the
		// lost response.
		agentDelay: time.Second,
	})
	in := h.integrations[0]
	ctx := context.Background()
	resp := h.send(ctx, request{id: "lost-wazuh", company: in.company, profile: in.profile, action: vendor.ActionIsolate, host: "demo-host-05"})
	if resp.err != nil {
		t.Fatalf("isolate: %v", resp.err)
	}

	if open := h.waitFinal(ctx, 20*time.Second); len(open) > 0 {
		t.Fatalf("action %s is still %s: %s", open[0].id, open[0].state, open[0].detail)
	}
	actions := h.loadActions(ctx)
	if len(actions) != 1 {
		t.Fatalf("got %d actions, want 1", len(actions))
	}
	for _, a := range actions {
		if a.state != "confirmed" {
			t.Errorf("action %s is %s (%q), want confirmed by the agent's event", a.id, a.state, a.detail)
		}
	}
	h.checkSideEffects(actions)
}
