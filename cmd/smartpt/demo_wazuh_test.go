package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func getJSON(t *testing.T, url, key string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("x-sha256", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("GET %s: answer is not JSON: %s", url, raw)
	}
	return out
}

// wazuhDemoCall posts one action on /wazuh/agents for demo-host-01 and
// returns the response body.
func wazuhDemoCall(t *testing.T, url, key, action string) map[string]any {
	t.Helper()
	code, out := postJSON(t, url+"/wazuh/agents", key, `{"action":"`+action+`","Email":"analyst@demo.example","agent_id":"demo-host-01"}`)
	body, _ := out["body"].(map[string]any)
	if code != http.StatusOK || body == nil {
		t.Fatalf("%s: status %d, answer %v", action, code, out)
	}
	return body
}

// waitState polls an action until it reaches want, and fails on any other
// final state or after 20 seconds.
func waitState(t *testing.T, url, key, actionID, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec := getJSON(t, url+"/v1/actions/"+actionID, key)
		switch state := rec["state"]; {
		case state == want:
			return rec
		case state == "failed" || state == "expired" || state == "rejected" || time.Now().After(deadline):
			t.Fatalf("action %s is %v, want %s: %v", actionID, state, want, rec)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func isolationOf(t *testing.T, body map[string]any) any {
	t.Helper()
	ep, _ := body["endpoint"].(map[string]any)
	return ep["isolation"]
}

// TestDemoWazuhIsolationCompletes follows a Wazuh isolation and a release
// queued behind it through the demo: the simulated agents run the isolation
// program (record backend) and the manager's integration reports back, so
// both actions end confirmed, status follows, and the audit trail holds
// each step.
func TestDemoWazuhIsolationCompletes(t *testing.T) {
	data := t.TempDir()
	url, key, _, _ := startCommand(t, nil, "demo", "--data", data, "--addr", "127.0.0.1:0")

	iso := wazuhDemoCall(t, url, key, "isolate")
	isoID, _ := iso["action_id"].(string)
	if iso["state"] != "dispatched" || isoID == "" {
		t.Fatalf("isolate answer = %v, want a dispatched action", iso)
	}
	// The release waits until the isolation is final.
	rel := wazuhDemoCall(t, url, key, "releaseisolate")
	relID, _ := rel["action_id"].(string)
	if rel["state"] != "requested" || relID == "" {
		t.Fatalf("release answer = %v, want a queued action", rel)
	}

	isoRec := waitState(t, url, key, isoID, "confirmed")
	if !strings.Contains(lastDetail(isoRec), "reported by the agent: isolated; reachable: 10.20.0.254/32") {
		t.Errorf("isolation history = %v, want the agent's report", isoRec["history"])
	}
	relRec := waitState(t, url, key, relID, "confirmed")
	if !strings.Contains(lastDetail(relRec), "reported by the agent: isolation released") {
		t.Errorf("release history = %v, want the agent's report", relRec["history"])
	}
	if got := isolationOf(t, wazuhDemoCall(t, url, key, "status")); got != "not_isolated" {
		t.Errorf("status after the release: isolation %v, want not_isolated", got)
	}

	again := wazuhDemoCall(t, url, key, "isolate")
	againID, _ := again["action_id"].(string)
	waitState(t, url, key, againID, "confirmed")
	if got := isolationOf(t, wazuhDemoCall(t, url, key, "status")); got != "isolated" {
		t.Errorf("status after the second isolation: isolation %v, want isolated", got)
	}

	// What the agent would have done, written by the record backend.
	records, err := os.ReadFile(filepath.Join(data, "wazuh-agents", "agent-001", "record.jsonl"))
	if err != nil || strings.Count(string(records), "\n") != 3 || !strings.Contains(string(records), `"action":"release"`) {
		t.Errorf("agent 001 records (%v):\n%s", err, records)
	}

	code, out, errOut := runCLI(t, nil, "audit", "list", "demo", "--data", data, "--json")
	if code != 0 {
		t.Fatalf("audit list: exit %d, stderr %s", code, errOut)
	}
	steps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Action   string `json:"action"`
			Detail   string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %s: %v", line, err)
		}
		steps[ev.ActionID] = append(steps[ev.ActionID], ev.Type)
		if ev.Type == "confirmed" && ev.Action != "status" && !strings.Contains(ev.Detail, "reported by the agent") {
			t.Errorf("confirmation of action %s does not come from the agent's report: %s", ev.ActionID, line)
		}
	}
	for _, id := range []string{isoID, relID, againID} {
		if got := strings.Join(steps[id], ","); got != "requested,dispatched,confirmed" {
			t.Errorf("audit trail of action %s: %q, want requested,dispatched,confirmed\n%s", id, got, out)
		}
	}
}

// lastDetail returns the detail of an action's last history entry.
func lastDetail(rec map[string]any) string {
	hist, _ := rec["history"].([]any)
	if len(hist) == 0 {
		return ""
	}
	last, _ := hist[len(hist)-1].(map[string]any)
	detail, _ := last["detail"].(string)
	return detail
}
