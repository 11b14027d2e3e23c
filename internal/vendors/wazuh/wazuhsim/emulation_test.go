package wazuhsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/isolation"
)

// eventGateway is a loopback stand-in for the gateway's event route.
type eventGateway struct {
	mu     sync.Mutex
	events []map[string]string
	keys   []string
	srv    *httptest.Server
}

func newEventGateway(t *testing.T) *eventGateway {
	g := &eventGateway{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/wazuh/events" {
			http.NotFound(w, r)
			return
		}
		var ev map[string]string
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.events = append(g.events, ev)
		g.keys = append(g.keys, r.Header.Get("x-sha256"))
		g.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *eventGateway) got() ([]map[string]string, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]string(nil), g.events...), append([]string(nil), g.keys...)
}

// arRequest is the body the gateway's client sends for an action.
func arRequest(action, allow, actionID string) string {
	args := []string{action}
	data := map[string]any{"action": action, "smartpt_action_id": actionID}
	if allow != "" {
		args = append(args, "allow="+allow)
		data["allow"] = strings.Split(allow, ",")
	}
	args = append(args, "action_id="+actionID)
	body, _ := json.Marshal(map[string]any{"command": "!smartpt-isolation", "arguments": args, "alert": map[string]any{"data": data}})
	return string(body)
}

func readRecords(t *testing.T, path string) []isolation.RecordEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []isolation.RecordEntry
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e isolation.RecordEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("record line %s: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// TestAgentEmulationForwardsResults sends active responses to emulated
// agents and checks what reaches the gateway: one event per run, with the
// agent's id, the action, the result and the company key.
func TestAgentEmulationForwardsResults(t *testing.T) {
	cases := []struct {
		name       string
		agent      string
		body       string
		wantAction string
		wantResult string
		wantDetail string
		wantRecord string // the record backend's action; empty for none
	}{
		{"isolate linux agent", "003", arRequest("isolate", "192.0.2.10", "act-1"), "isolate", "success", "isolated; reachable: 192.0.2.10/32", "isolate"},
		{"release", "003", arRequest("release", "", "act-2"), "releaseisolate", "success", "isolation released", "release"},
		{"isolate windows agent", "004", arRequest("isolate", "192.0.2.10,2001:db8::1", "act-3"), "isolate", "success", "isolated; reachable: 192.0.2.10/32,2001:db8::1/128", "isolate"},
		{"isolate without a reachable manager", "005", arRequest("isolate", "", "act-4"), "isolate", "failure", "no allowed address", ""},
		{"isolate allowing everything", "006", arRequest("isolate", "0.0.0.0/0", "act-5"), "isolate", "failure", "every address", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newEventGateway(t)
			c := newClient(t, Options{PendingDelay: 50 * time.Millisecond})
			dir := t.TempDir()
			if err := c.sim.EmulateAgents(AgentEmulation{HookURL: gw.srv.URL, CompanyKey: "company-key-1", Dir: dir}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.sim.Close)

			rec := c.do("PUT", "/active-response?agents_list="+tc.agent, tc.body, false)
			if rec.Code != http.StatusOK || decode(t, rec.Body.Bytes())["error"] != float64(0) {
				t.Fatalf("PUT /active-response: %d %s", rec.Code, rec.Body)
			}
			runs := c.sim.WaitExecutions(1, 10*time.Second)
			if len(runs) != 1 || !runs[0].Done || runs[0].Reply != "continue" {
				t.Fatalf("runs = %+v", runs)
			}

			events, keys := gw.got()
			if len(events) != 1 {
				t.Fatalf("events = %v, want one", events)
			}
			ev := events[0]
			if ev["agent_id"] != tc.agent || ev["action"] != tc.wantAction || ev["result"] != tc.wantResult || !strings.Contains(ev["detail"], tc.wantDetail) || ev["alert_id"] == "" {
				t.Errorf("event = %v, want agent %s, %s %s with %q", ev, tc.agent, tc.wantAction, tc.wantResult, tc.wantDetail)
			}
			if keys[0] != "company-key-1" {
				t.Errorf("x-sha256 = %q, want the company key", keys[0])
			}

			recs := readRecords(t, filepath.Join(dir, "agent-"+tc.agent, "record.jsonl"))
			switch {
			case tc.wantRecord == "" && len(recs) != 0:
				t.Errorf("the agent changed its firewall: %+v", recs)
			case tc.wantRecord != "" && (len(recs) != 1 || recs[0].Action != tc.wantRecord):
				t.Errorf("records = %+v, want one %s", recs, tc.wantRecord)
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "integrations", "*")); len(matches) != 0 {
				t.Errorf("alert files left behind: %v", matches)
			}
		})
	}
}

// TestAgentEmulationSequence isolates and releases one agent: each run
// forwards only its own line, and the state file follows.
func TestAgentEmulationSequence(t *testing.T) {
	gw := newEventGateway(t)
	c := newClient(t, Options{PendingDelay: 10 * time.Millisecond})
	dir := t.TempDir()
	if err := c.sim.EmulateAgents(AgentEmulation{HookURL: gw.srv.URL + "/", CompanyKey: "company-key-1", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.sim.Close)

	steps := []struct{ action, allow, wantAction string }{
		{"isolate", "192.0.2.10", "isolate"},
		{"release", "", "releaseisolate"},
		{"isolate", "192.0.2.10", "isolate"},
	}
	for i, step := range steps {
		c.do("PUT", "/active-response?agents_list=007", arRequest(step.action, step.allow, "act-seq"), false)
		c.sim.WaitExecutions(i+1, 10*time.Second)
		events, _ := gw.got()
		if len(events) != i+1 || events[i]["action"] != step.wantAction || events[i]["result"] != "success" {
			t.Fatalf("step %d: events = %v", i+1, events)
		}
		st, err := isolation.ReadState(filepath.Join(dir, "agent-007", "smartpt-isolation.json"))
		if err != nil || st.Isolated != (step.action == "isolate") || st.ActionID != "act-seq" {
			t.Errorf("step %d: state = %+v, %v", i+1, st, err)
		}
	}
}

// TestAgentEmulationRunsNothing covers the cases where no agent program
// runs and nothing reaches the gateway.
func TestAgentEmulationRunsNothing(t *testing.T) {
	cases := []struct {
		name    string
		emulate bool
		prepare func(s *Sim)
		query   string
		body    string
	}{
		{"emulation off", false, nil, "003", arRequest("isolate", "192.0.2.10", "a")},
		{"another custom command", true, nil, "003", `{"command":"!other-script","arguments":["isolate"]}`},
		{"built-in command", true, nil, "003", `{"command":"firewall-drop0","arguments":[]}`},
		{"disconnected agent", true, func(s *Sim) { s.SetAgentStatus("003", "disconnected") }, "003", arRequest("isolate", "192.0.2.10", "a")},
		{"unknown agent", true, nil, "999", arRequest("isolate", "192.0.2.10", "a")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newEventGateway(t)
			c := newClient(t, Options{})
			if tc.emulate {
				if err := c.sim.EmulateAgents(AgentEmulation{HookURL: gw.srv.URL, CompanyKey: "k"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.prepare != nil {
				tc.prepare(c.sim)
			}
			c.do("PUT", "/active-response?agents_list="+tc.query, tc.body, false)
			if runs := c.sim.WaitExecutions(1, 300*time.Millisecond); len(runs) != 0 {
				t.Errorf("runs = %+v, want none", runs)
			}
			c.sim.Close()
			if events, _ := gw.got(); len(events) != 0 {
				t.Errorf("events = %v, want none", events)
			}
		})
	}
}

// TestAgentEmulationCloseDropsPendingRuns closes the simulator while a run
// waits for its delay: the run never starts and the temporary folder goes.
func TestAgentEmulationCloseDropsPendingRuns(t *testing.T) {
	gw := newEventGateway(t)
	c := newClient(t, Options{PendingDelay: time.Hour})
	if err := c.sim.EmulateAgents(AgentEmulation{HookURL: gw.srv.URL, CompanyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	dir := c.sim.emulation.cfg.Dir
	c.do("PUT", "/active-response?agents_list=003", arRequest("isolate", "192.0.2.10", "a"), false)

	closed := make(chan struct{})
	go func() { c.sim.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the pending delay")
	}
	if runs := c.sim.Executions(); len(runs) != 0 {
		t.Errorf("runs = %+v, want none", runs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary folder %s still exists: %v", dir, err)
	}
}

func TestEmulateAgentsRejectsBadSettings(t *testing.T) {
	cases := []struct {
		name string
		cfg  AgentEmulation
		want string
	}{
		{"plain http to another host", AgentEmulation{HookURL: "http://smartpt.example.com", CompanyKey: "k"}, "plain HTTP"},
		{"no URL", AgentEmulation{CompanyKey: "k"}, "not an absolute URL"},
		{"no key", AgentEmulation{HookURL: "http://127.0.0.1:8080"}, "company key"},
		{"key with a space", AgentEmulation{HookURL: "http://127.0.0.1:8080", CompanyKey: "a b"}, "company key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			if err := s.EmulateAgents(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}

	s := New(Options{})
	defer s.Close()
	cfg := AgentEmulation{HookURL: "http://127.0.0.1:8080", CompanyKey: "k", Dir: t.TempDir()}
	if err := s.EmulateAgents(cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.EmulateAgents(cfg); err == nil || !strings.Contains(err.Error(), "already on") {
		t.Errorf("second call: err = %v, want already on", err)
	}
}

// TestAgentEmulationSkipsEarlierLines reuses an agent folder whose log
// already holds a result: only the new run's line is forwarded.
func TestAgentEmulationSkipsEarlierLines(t *testing.T) {
	gw := newEventGateway(t)
	c := newClient(t, Options{})
	dir := t.TempDir()
	old := `{"program":"smartpt-isolation","timestamp":"2026-12-01T10:00:00.000Z","action":"releaseisolate","agent":"003","result":"failure","detail":"old run"}` + "\n"
	if err := os.MkdirAll(filepath.Join(dir, "agent-003"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "agent-003", "active-responses.log"), []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.sim.EmulateAgents(AgentEmulation{HookURL: gw.srv.URL, CompanyKey: "k", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.sim.Close)

	c.do("PUT", "/active-response?agents_list=003", arRequest("isolate", "192.0.2.10", "a"), false)
	c.sim.WaitExecutions(1, 10*time.Second)
	if events, _ := gw.got(); len(events) != 1 || events[0]["action"] != "isolate" || events[0]["result"] != "success" {
		t.Errorf("events = %v, want only the new isolate", events)
	}
}
