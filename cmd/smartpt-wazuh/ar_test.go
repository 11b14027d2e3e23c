package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhar"
	"github.com/smartpt/smartpt/internal/wazuhintegration"
)

// gateway is a loopback stand-in for the SmartPT API. It records requests
// and responds with the statuses in script, then with 200.
type gateway struct {
	mu       sync.Mutex
	requests []recorded
	script   []int
	srv      *httptest.Server
}

type recorded struct {
	Path, Key, IdempotencyKey string
	Body                      map[string]string
}

func newGateway(t *testing.T, script ...int) *gateway {
	g := &gateway{script: script}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		g.mu.Lock()
		g.requests = append(g.requests, recorded{Path: r.URL.Path, Key: r.Header.Get("x-sha256"), IdempotencyKey: r.Header.Get("Idempotency-Key"), Body: body})
		status := http.StatusOK
		if len(g.script) > 0 {
			status, g.script = g.script[0], g.script[1:]
		}
		g.mu.Unlock()
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"statusCode":%d}`, status)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) got() []recorded {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]recorded(nil), g.requests...)
}

// arHarness runs arRun over pipes, playing wazuh-execd.
type arHarness struct {
	t      *testing.T
	r      *arRun
	stdin  *io.PipeWriter
	stdout *bufio.Reader
	exit   chan int
}

func newAR(t *testing.T, g *gateway, action string) *arHarness {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := wazuhintegration.NewPoster()
	p.Sleep = func(context.Context, time.Duration) error { return nil }
	h := &arHarness{t: t, stdin: inW, stdout: bufio.NewReader(outR), exit: make(chan int, 1)}
	h.r = &arRun{
		in: bufio.NewReader(inR), out: outW, action: action, replyWait: 2 * time.Second, poster: p,
		cfg:     config{URL: g.srv.URL, CompanyKey: "company-key-1", Requester: "soc@example.com"},
		logPath: filepath.Join(t.TempDir(), "active-responses.log"),
	}
	go func() {
		code := h.r.run(context.Background())
		outW.Close()
		h.exit <- code
	}()
	t.Cleanup(func() { inW.Close() })
	return h
}

func (h *arHarness) send(line string) {
	go func() { _, _ = h.stdin.Write([]byte(line + "\n")) }()
}

func (h *arHarness) checkKeys() []string {
	h.t.Helper()
	line, err := wazuhar.ReadLine(h.stdout, wazuhar.MaxLineBytes)
	if err != nil {
		h.t.Fatalf("no check_keys: %v", err)
	}
	ck, err := wazuhar.ParseCheckKeys(line)
	if err != nil {
		h.t.Fatal(err)
	}
	return ck.Keys
}

func (h *arHarness) reply(command string) {
	var buf bytes.Buffer
	_ = wazuhar.WriteControl(&buf, "node01", command)
	h.send(strings.TrimSuffix(buf.String(), "\n"))
}

func (h *arHarness) wait() int {
	h.t.Helper()
	select {
	case code := <-h.exit:
		return code
	case <-time.After(10 * time.Second):
		h.t.Fatal("ar did not exit")
		return -1
	}
}

func (h *arHarness) lastLog() arLogLine {
	h.t.Helper()
	data, _ := os.ReadFile(h.r.logPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var l arLogLine
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &l)
	return l
}

// fixtureInput returns the documented stdin message with agent.id set to
// agent and data fields merged in, as one line.
func fixtureInput(t *testing.T, agent string, extraArgs []string, data map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "ar_stdin_add_firewall_drop_full_alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatal(err)
	}
	params := msg["parameters"].(map[string]any)
	params["extra_args"] = extraArgs
	alert := params["alert"].(map[string]any)
	alert["agent"].(map[string]any)["id"] = agent
	for k, v := range data {
		alert["data"].(map[string]any)[k] = v
	}
	line, _ := json.Marshal(msg)
	return string(line)
}

func TestARIsolatesAlertAgent(t *testing.T) {
	g := newGateway(t)
	h := newAR(t, g, "isolate")
	// The log text names agent 007; only agent.id may be used.
	h.send(fixtureInput(t, "005", nil, map[string]any{"agent_id": "007"}))
	if keys := h.checkKeys(); strings.Join(keys, ",") != "005,isolate" {
		t.Errorf("keys = %q, want [005 isolate]", keys)
	}
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d: %+v", code, h.lastLog())
	}

	reqs := g.got()
	if len(reqs) != 1 {
		t.Fatalf("requests = %+v", reqs)
	}
	r := reqs[0]
	if r.Path != "/wazuh/agents" || r.Key != "company-key-1" || len(r.IdempotencyKey) != 32 {
		t.Errorf("request = %+v", r)
	}
	want := map[string]string{"action": "isolate", "Email": "soc@example.com", "agent_id": "005"}
	if len(r.Body) != 3 || r.Body["action"] != want["action"] || r.Body["Email"] != want["Email"] || r.Body["agent_id"] != want["agent_id"] {
		t.Errorf("body = %v, want %v", r.Body, want)
	}
	if l := h.lastLog(); l.Result != "success" || l.AgentID != "005" {
		t.Errorf("log = %+v", l)
	}
}

func TestARActionFromExtraArgs(t *testing.T) {
	g := newGateway(t)
	h := newAR(t, g, "")
	h.send(fixtureInput(t, "006", []string{"releaseisolate"}, nil))
	h.checkKeys()
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d: %+v", code, h.lastLog())
	}
	if reqs := g.got(); len(reqs) != 1 || reqs[0].Body["action"] != "releaseisolate" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestARBlocksAlertUser(t *testing.T) {
	g := newGateway(t)
	h := newAR(t, g, "AzureADBlock")
	h.send(fixtureInput(t, "005", nil, map[string]any{"win": map[string]any{"eventdata": map[string]any{"targetUserName": "jdoe@example.com"}}}))
	if keys := h.checkKeys(); strings.Join(keys, ",") != "jdoe@example.com,AzureADBlock" {
		t.Errorf("keys = %q", keys)
	}
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d: %+v", code, h.lastLog())
	}
	reqs := g.got()
	if len(reqs) != 1 || reqs[0].Path != "/azuread/users" || reqs[0].Body["upn"] != "jdoe@example.com" || reqs[0].Body["agent_id"] != "" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestARAbortCallsNothing(t *testing.T) {
	g := newGateway(t)
	h := newAR(t, g, "isolate")
	h.send(fixtureInput(t, "005", nil, nil))
	h.checkKeys()
	h.reply("abort")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if reqs := g.got(); len(reqs) != 0 {
		t.Errorf("called the API after abort: %+v", reqs)
	}
}

func TestARRejectsBeforeKeyCheck(t *testing.T) {
	cases := []struct {
		name   string
		action string
		line   func(t *testing.T) string
		want   string
	}{
		{"manager agent", "isolate", func(t *testing.T) string { return fixtureInput(t, "000", nil, nil) }, "000"},
		{"agent id not numeric", "isolate", func(t *testing.T) string { return fixtureInput(t, "00a", nil, nil) }, "not a Wazuh agent id"},
		{"no action", "", func(t *testing.T) string { return fixtureInput(t, "005", nil, nil) }, "is not isolate"},
		{"unknown action", "wipe", func(t *testing.T) string { return fixtureInput(t, "005", nil, nil) }, "is not isolate"},
		{"user not a upn", "AzureADBlock", func(t *testing.T) string {
			return fixtureInput(t, "005", nil, map[string]any{"dstuser": "jdoe"})
		}, "not a user principal name"},
		{"no user", "AzureADUnblock", func(t *testing.T) string {
			return `{"version":1,"origin":{},"command":"add","parameters":{"alert":{"agent":{"id":"005"},"data":{}}}}`
		}, "names no user"},
		{"invalid input", "isolate", func(t *testing.T) string { return `{"version":"1"}` }, "invalid input format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t)
			h := newAR(t, g, tc.action)
			h.send(tc.line(t))
			if code := h.wait(); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if out, _ := io.ReadAll(h.stdout); len(out) != 0 {
				t.Errorf("wrote check_keys for a rejected request: %s", out)
			}
			if reqs := g.got(); len(reqs) != 0 {
				t.Errorf("called the API: %+v", reqs)
			}
			if l := h.lastLog(); l.Result != "failure" || !strings.Contains(l.Detail, tc.want) {
				t.Errorf("log = %+v, want a failure with %q", l, tc.want)
			}
		})
	}
}

func TestARRetries(t *testing.T) {
	cases := []struct {
		name      string
		script    []int
		wantCalls int
		wantExit  int
	}{
		{"server error then success", []int{503}, 2, 0},
		{"throttled with retry-after", []int{429}, 2, 0},
		{"bad request not retried", []int{400}, 1, 1},
		{"unauthorized not retried", []int{401}, 1, 1},
		{"server errors exhaust attempts", []int{500, 502, 503}, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.script...)
			h := newAR(t, g, "isolate")
			h.send(fixtureInput(t, "005", nil, nil))
			h.checkKeys()
			h.reply("continue")
			if code := h.wait(); code != tc.wantExit {
				t.Errorf("exit %d, want %d", code, tc.wantExit)
			}
			reqs := g.got()
			if len(reqs) != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", len(reqs), tc.wantCalls)
			}
			for _, r := range reqs[1:] {
				if r.IdempotencyKey != reqs[0].IdempotencyKey {
					t.Errorf("retry changed the Idempotency-Key: %s then %s", reqs[0].IdempotencyKey, r.IdempotencyKey)
				}
			}
		})
	}
}

func TestARUnreachableGateway(t *testing.T) {
	g := newGateway(t)
	h := newAR(t, g, "isolate")
	h.r.cfg.URL = "http://127.0.0.1:1" // nothing listens on port 1
	h.send(fixtureInput(t, "005", nil, nil))
	h.checkKeys()
	h.reply("continue")
	if code := h.wait(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if l := h.lastLog(); !strings.Contains(l.Detail, "failed after 3 attempts") || strings.Contains(l.Detail, "company-key-1") {
		t.Errorf("log = %+v", l)
	}
}

func TestIdempotencyKeyStable(t *testing.T) {
	a := wazuhintegration.IdempotencyKey("ar", "1612213124.6448363", "isolate", "005")
	if a != wazuhintegration.IdempotencyKey("ar", "1612213124.6448363", "isolate", "005") {
		t.Error("same alert and action gave different keys")
	}
	if a == wazuhintegration.IdempotencyKey("ar", "1612213124.6448363", "releaseisolate", "005") {
		t.Error("different actions gave the same key")
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := "url: https://smartpt.example.com/\ncompany_key: abc123\nrequester: soc@example.com\n"

	cfg, err := loadConfig(write("good.yaml", good, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "https://smartpt.example.com" || cfg.CompanyKey != "abc123" || cfg.Requester != "soc@example.com" {
		t.Errorf("config = %+v", cfg)
	}

	cases := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable by others", good, 0o644, "chmod 600"},
		{"readable by group", good, 0o640, "chmod 600"},
		{"unknown key", good + "proxy: x\n", 0o600, "not valid"},
		{"plain http", strings.Replace(good, "https://smartpt.example.com/", "http://smartpt.example.com", 1), 0o600, "plain HTTP"},
		{"missing key", "url: https://a.example\nrequester: soc@example.com\n", 0o600, "company_key"},
		{"bad requester", "url: https://a.example\ncompany_key: k\nrequester: soc\n", 0o600, "not an e-mail"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.content, tc.mode))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "abc123") {
				t.Errorf("error shows the company key: %v", err)
			}
		})
	}
	if _, err := loadConfig(filepath.Join(dir, "absent.yaml")); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
}

func TestDispatchUsage(t *testing.T) {
	if code := dispatch([]string{"/var/ossec/integrations/custom-smartpt"}); code != 2 {
		t.Errorf("integration without arguments: exit %d, want 2", code)
	}
	if code := dispatch([]string{"smartpt-wazuh", "bogus"}); code != 2 {
		t.Errorf("unknown mode: exit %d, want 2", code)
	}
}
