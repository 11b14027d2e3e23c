package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
)

// startCommand runs a serving command in-process until the test ends and
// returns the base URL and company key it reported. stop ends the command
// early and checks that it exits 0.
func startCommand(t *testing.T, env map[string]string, args ...string) (url, key string, stdout *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	type started struct{ url, key string }
	ready := make(chan started, 1)
	c := &cli{stdout: stdout, stderr: stderr, getenv: func(k string) string { return env[k] },
		listening: func(url, key string) { ready <- started{url, key} }}

	done := make(chan int, 1)
	go func() { done <- c.run(ctx, args) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("%s exited %d after shutdown; stderr:\n%s", args[0], code, stderr.String())
				}
			case <-time.After(40 * time.Second):
				t.Errorf("%s did not stop within 40s of shutdown", args[0])
			}
		})
	}
	t.Cleanup(stop)

	select {
	case s := <-ready:
		return s.url, s.key, stdout, stop
	case code := <-done:
		t.Fatalf("%s exited %d before serving; stderr:\n%s", args[0], code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30s; stderr:\n%s", args[0], stderr.String())
	}
	return "", "", nil, nil
}

func postJSON(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-sha256", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: answer is not JSON: %s", url, raw)
	}
	return resp.StatusCode, out
}

func TestDemoServesEverySimulator(t *testing.T) {
	data := t.TempDir()
	demoKey := strings.Repeat("5e", 32)
	url, key, stdout, _ := startCommand(t, map[string]string{"SMARTPT_DEMO_KEY": demoKey}, "demo", "--data", data, "--addr", "127.0.0.1:0")

	if key != demoKey {
		t.Errorf("demo key = %q, want SMARTPT_DEMO_KEY", key)
	}
	if !strings.Contains(stdout.String(), "x-sha256: $SMARTPT_KEY") || !strings.Contains(stdout.String(), demoKey) {
		t.Errorf("demo output lacks the key or the curl commands:\n%s", stdout.String())
	}

	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz status = %d, want 200", resp.StatusCode)
	}

	if code, body := postJSON(t, url+"/wazuh/agents", strings.Repeat("0", 64), `{"action":"status","Email":"a@demo.example","agent_id":"001"}`); code != 401 || body["message"] != "Unauthorized" {
		t.Errorf("wrong key: %d %v, want 401 Unauthorized", code, body)
	}

	// One status call per simulator that the demo configured.
	tested := 0
	for _, kind := range simharness.Kinds() {
		svc, ok := demoServices[kind]
		if _, hasClient := vendor.Lookup(kind); !ok || !hasClient {
			continue
		}
		tested++
		path, field, act := "", "agent_id", "status"
		for p, s := range vendor.Routes {
			if s == svc {
				path = p
			}
		}
		if svc == vendor.ServiceAzureAD {
			field, act = "upn", "AzureADStatus"
		}
		body := `{"action":"` + act + `","Email":"analyst@demo.example","` + field + `":"` + demoTargets[svc] + `"}`
		code, out := postJSON(t, url+path, key, body)
		if code != http.StatusOK {
			t.Errorf("%s %s: status %d, body %v", path, act, code, out)
		}
	}
	t.Logf("status calls through %d simulators", tested)
}

func TestDemoRestartKeepsData(t *testing.T) {
	data := t.TempDir()
	url, key, _, stop := startCommand(t, nil, "demo", "--data", data, "--addr", "127.0.0.1:0")
	if !keyPattern.MatchString(key) {
		t.Fatalf("demo key %q is not 64 lowercase hex characters", key)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); err != nil {
		t.Errorf("demo created no master key file: %v", err)
	}
	if code, _ := postJSON(t, url+"/wazuh/agents", key, `{"action":"status","Email":"analyst@demo.example"}`); code != http.StatusBadRequest {
		t.Errorf("missing agent_id: status %d, want 400", code)
	}
	stop()

	// A second run on the same folder keeps company demo and prints a key
	// that works.
	url, key2, _, _ := startCommand(t, nil, "demo", "--data", data, "--addr", "127.0.0.1:0")
	if key2 == key {
		t.Errorf("restart printed the first key again; only its digest is stored, so it must rotate")
	}
	if code, body := postJSON(t, url+"/wazuh/agents", key2, `{"action":"status","Email":"analyst@demo.example"}`); code != http.StatusBadRequest {
		t.Errorf("key of the second run: status %d (%v), want 400 for the missing agent_id", code, body)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	data := t.TempDir()
	config := filepath.Join(t.TempDir(), "smartpt.yaml")
	if err := os.WriteFile(config, []byte("listen: 127.0.0.1:0\nlog: {level: warn, format: text}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _, _, _ := startCommand(t, map[string]string{"SMARTPT_DATA_DIR": data}, "serve", "--config", config)

	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz status = %d, want 200", resp.StatusCode)
	}
}
