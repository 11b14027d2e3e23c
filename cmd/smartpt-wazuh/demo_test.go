package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// demoGateway runs "smartpt demo" (the gateway with every simulator) on a
// free loopback port and returns its URL, company key and data folder.
func demoGateway(t *testing.T, dir string) (string, string, string) {
	t.Helper()
	bin := filepath.Join(dir, "smartpt")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/smartpt/smartpt/cmd/smartpt").CombinedOutput(); err != nil {
		t.Fatalf("build smartpt: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	key := strings.Repeat("7a", 32)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "demo", "--data", data, "--addr", addr)
	cmd.Env = append(os.Environ(), "SMARTPT_DEMO_KEY="+key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, key, data
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("smartpt demo did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func callDemo(t *testing.T, method, url, key, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-sha256", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return out
}

// TestDemoConfirmationAndAlertAction runs both programs against the demo
// gateway: an isolation is confirmed by the integration's event, and the
// ar program, fed the documented alert message, starts an isolation that
// the audit trail records.
func TestDemoConfirmationAndAlertAction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole gateway")
	}
	dir := t.TempDir()
	url, key, data := demoGateway(t, dir)

	// 1. Isolate agent 003 through the API; the action waits for the agent.
	out := callDemo(t, "POST", url+"/wazuh/agents", key, `{"action":"isolate","Email":"analyst@demo.example","agent_id":"003"}`)
	body := out["body"].(map[string]any)
	actionID, _ := body["action_id"].(string)
	if actionID == "" || body["state"] != "dispatched" {
		t.Fatalf("isolate response = %v", out)
	}

	// 2. The agent's result line comes back as an alert; the integration
	// forwards it, and the action is confirmed.
	integration := filepath.Join(dir, "integrations", "custom-smartpt")
	if out, err := exec.Command("go", "build", "-o", integration, ".").CombinedOutput(); err != nil {
		t.Fatalf("build smartpt-wazuh: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o750); err != nil {
		t.Fatal(err)
	}
	line := resultLine(t, wazuhar.ResultLine{Action: "isolate", Agent: "003", Result: "success", Detail: "isolated; reachable: 10.20.0.254/32", ActionID: actionID})
	alertFile := writeAlert(t, alertFromLine(t, line, "003", agentLog))
	if out, err := exec.Command(integration, alertFile, key, url).CombinedOutput(); err != nil {
		t.Fatalf("integration: %v\n%s", err, out)
	}
	record := callDemo(t, "GET", url+"/v1/actions/"+actionID, key, "")
	if record["state"] != "confirmed" {
		t.Errorf("action after the event = %v", record)
	}

	// 3. The ar program, fed the documented alert for agent 005.
	arBin := filepath.Join(dir, "smartpt-wazuh")
	if err := os.Link(integration, arBin); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "smartpt.yaml")
	if err := os.WriteFile(cfg, []byte("url: "+url+"\ncompany_key: "+key+"\nrequester: soc@demo.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	arLog := filepath.Join(dir, "active-responses.log")
	cmd := exec.Command(arBin, "ar", "--config", cfg, "--log", arLog, "isolate")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, _ = stdin.Write([]byte(fixtureInput(t, "005", nil, nil) + "\n"))
	if _, err := wazuhar.ReadLine(bufio.NewReader(stdout), wazuhar.MaxLineBytes); err != nil {
		t.Fatalf("no check_keys: %v", err)
	}
	_ = wazuhar.WriteControl(stdin, "node01", wazuhar.CommandContinue)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		logData, _ := os.ReadFile(arLog)
		t.Fatalf("ar: %v\n%s", err, logData)
	}

	audit, err := exec.Command(filepath.Join(dir, "smartpt"), "audit", "list", "demo", "--data", data, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("audit list: %v\n%s", err, audit)
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(string(audit)), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil && ev["type"] == "requested" && ev["target"] == "005" && ev["requester"] == "soc@demo.example" {
			found = true
		}
	}
	if !found {
		t.Errorf("the audit trail lacks the ar request for agent 005:\n%s", audit)
	}
}
