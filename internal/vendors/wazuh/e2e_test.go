package wazuh_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/isolation"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
	"github.com/smartpt/smartpt/internal/wazuhar"
)

// buildPrograms compiles smartpt-isolation and smartpt-wazuh once per test
// binary; the integration is installed as integrations/custom-smartpt, as
// on a manager.
var (
	buildOnce    sync.Once
	buildDir     string
	buildErr     error
	buildOutput  []byte
	isolationBin string
	integrateBin string
)

func buildPrograms(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "smartpt-wazuh-e2e-")
		if buildErr != nil {
			return
		}
		isolationBin = filepath.Join(buildDir, "active-response", "bin", "smartpt-isolation")
		integrateBin = filepath.Join(buildDir, "integrations", "custom-smartpt")
		for bin, pkg := range map[string]string{
			isolationBin: "github.com/smartpt/smartpt/cmd/smartpt-isolation",
			integrateBin: "github.com/smartpt/smartpt/cmd/smartpt-wazuh",
		} {
			cmd := exec.Command("go", "build", "-o", bin, pkg)
			if buildOutput, buildErr = cmd.CombinedOutput(); buildErr != nil {
				return
			}
		}
		buildErr = os.MkdirAll(filepath.Join(buildDir, "logs"), 0o750)
	})
	if buildErr != nil {
		t.Fatalf("build programs: %v\n%s", buildErr, buildOutput)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// agentFiles are the files of the simulated agent.
type agentFiles struct {
	dir, log, record, state string
}

func (a agentFiles) argv() []string {
	return []string{
		isolationBin, "--backend=record", "--record-file=" + a.record, "--log=" + a.log, "--state=" + a.state,
		"--ossec-conf=" + filepath.Join(a.dir, "absent-ossec.conf"), "--agent-id={agent_id}", "--reply-wait=10s",
	}
}

func newAgentFiles(t *testing.T) agentFiles {
	dir := t.TempDir()
	return agentFiles{dir: dir, log: filepath.Join(dir, "active-responses.log"), record: filepath.Join(dir, "record.jsonl"), state: filepath.Join(dir, "state.json")}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// eventSink is a loopback stand-in for the gateway's event route.
type eventSink struct {
	mu     sync.Mutex
	events []map[string]string
	keys   []string
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/wazuh/events" {
		http.NotFound(w, r)
		return
	}
	var ev map[string]string
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.keys = append(s.keys, r.Header.Get("x-sha256"))
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// forward turns a result line into the alert the manager raises for it
// (stock json decoder: the line's keys under "data"; agent.id and location
// set by the manager) and runs the integration binary on it.
func forward(t *testing.T, line, agent, hookURL string) {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal([]byte(line), &data); err != nil {
		t.Fatal(err)
	}
	alert, _ := json.Marshal(map[string]any{
		"id":       "1733344268." + agent,
		"rule":     map[string]any{"id": "100711", "level": 10, "groups": []string{"smartpt", "smartpt_isolation"}},
		"agent":    map[string]any{"id": agent},
		"decoder":  map[string]any{"name": "json"},
		"location": "/var/ossec/logs/active-responses.log",
		"full_log": line,
		"data":     data,
	})
	alertFile := filepath.Join(t.TempDir(), "alert.json")
	if err := os.WriteFile(alertFile, alert, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(integrateBin, alertFile, "company-key-1", hookURL, "debug").CombinedOutput()
	if err != nil {
		t.Fatalf("integration: %v\n%s", err, out)
	}
}

// TestEndToEndIsolation follows one isolation and one release from the API
// call through the simulated manager, the agent's isolation program and its
// log line, to the event the integration posts to the gateway.
func TestEndToEndIsolation(t *testing.T) {
	buildPrograms(t)
	agent := newAgentFiles(t)
	sim, c, _ := newSim(t, wazuhsim.Options{Programs: map[string][]string{"smartpt-isolation": agent.argv()}})
	sink := &eventSink{}
	gateway := httptest.NewServer(sink)
	defer gateway.Close()
	ctx := context.Background()

	steps := []struct {
		call       func() (vendor.Outcome, error)
		wantAction string
		wantRecord string
	}{
		{func() (vendor.Outcome, error) {
			return c.Isolate(ctx, vendor.Endpoint{AgentID: "003"}, vendor.Options{ActionID: "act-e2e-1"})
		}, "isolate", "isolate"},
		{func() (vendor.Outcome, error) {
			return c.Release(ctx, vendor.Endpoint{AgentID: "003"}, vendor.Options{ActionID: "act-e2e-2"})
		}, "releaseisolate", "release"},
	}
	for i, step := range steps {
		out, err := step.call()
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		if !out.Pending {
			t.Errorf("step %d: outcome not pending: %+v", i+1, out)
		}

		runs := sim.WaitExecutions(i+1, 30*time.Second)
		if len(runs) != i+1 || !runs[i].Done {
			t.Fatalf("step %d: runs = %+v", i+1, runs)
		}
		run := runs[i]
		if run.Err != nil || run.Reply != "continue" || strings.Join(run.Keys, ",") != step.wantAction {
			t.Fatalf("step %d: run = %+v", i+1, run)
		}

		recs := readLines(t, agent.record)
		var rec isolation.RecordEntry
		if err := json.Unmarshal([]byte(recs[len(recs)-1]), &rec); err != nil || rec.Action != step.wantRecord {
			t.Fatalf("step %d: record %s", i+1, recs[len(recs)-1])
		}
		if step.wantRecord == "isolate" && strings.Join(rec.Allow, ",") != "192.0.2.10,198.51.100.0/24,2001:db8::5" {
			t.Errorf("allowed addresses = %v", rec.Allow)
		}

		lines := readLines(t, agent.log)
		line := lines[len(lines)-1]
		var result wazuhar.ResultLine
		if err := json.Unmarshal([]byte(line), &result); err != nil {
			t.Fatal(err)
		}
		if result.Result != "success" || result.Action != step.wantAction || result.Agent != "003" || result.ActionID != out.VendorRef {
			t.Fatalf("step %d: result line %s", i+1, line)
		}

		forward(t, line, "003", gateway.URL)
		sink.mu.Lock()
		got := sink.events[len(sink.events)-1]
		key := sink.keys[len(sink.keys)-1]
		sink.mu.Unlock()
		if got["agent_id"] != "003" || got["action"] != step.wantAction || got["result"] != "success" || key != "company-key-1" {
			t.Errorf("step %d: event %v with key %q", i+1, got, key)
		}
	}

	st, err := isolation.ReadState(agent.state)
	if err != nil || st.Isolated {
		t.Errorf("state after release = %+v, %v", st, err)
	}
	if data, err := os.ReadFile(filepath.Join(buildDir, "logs", "integrations.log")); err != nil || !strings.Contains(string(data), `"result":"forwarded"`) {
		t.Errorf("integrations.log = %s, %v", data, err)
	}
}

// TestEndToEndTimedIsolation runs the execd timeout list: a repeat within
// the timeout is aborted, and the expiry sends delete, which releases.
func TestEndToEndTimedIsolation(t *testing.T) {
	buildPrograms(t)
	agent := newAgentFiles(t)
	sim, c, _ := newSim(t, wazuhsim.Options{
		Programs:       map[string][]string{"smartpt-isolation": agent.argv()},
		CommandTimeout: time.Second,
	})
	ctx := context.Background()

	for i := 0; i < 2; i++ {
		if _, err := c.Isolate(ctx, vendor.Endpoint{AgentID: "010"}, vendor.Options{}); err != nil {
			t.Fatal(err)
		}
		sim.WaitExecutions(i+1, 30*time.Second)
	}
	runs := sim.WaitExecutions(3, 30*time.Second)
	if len(runs) != 3 {
		t.Fatalf("runs = %+v", runs)
	}
	if runs[0].Reply != "continue" || runs[1].Reply != "abort" || runs[2].Command != "delete" || runs[2].Reply != "continue" {
		t.Errorf("replies %q %q, third command %q reply %q", runs[0].Reply, runs[1].Reply, runs[2].Command, runs[2].Reply)
	}

	var actions []string
	for _, line := range readLines(t, agent.record) {
		var rec isolation.RecordEntry
		_ = json.Unmarshal([]byte(line), &rec)
		actions = append(actions, rec.Action)
	}
	if strings.Join(actions, ",") != "isolate,release" {
		t.Errorf("firewall changes = %v, want isolate then release", actions)
	}
}
