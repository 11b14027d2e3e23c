package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhar"
	"github.com/smartpt/smartpt/internal/wazuhintegration"
)

// alertFromLine builds the alert the manager raises for a result line: the
// stock json decoder puts every key of the line under "data", and the
// manager sets agent, location and id.
func alertFromLine(t *testing.T, line []byte, agent, location string) []byte {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal(line, &data); err != nil {
		t.Fatal(err)
	}
	alert := map[string]any{
		"timestamp": "2026-12-04T20:31:08.000+0000",
		"rule":      map[string]any{"level": 10, "description": "SmartPT isolation: isolate succeeded", "id": "100711", "groups": []string{"smartpt", "smartpt_isolation", "active_response"}},
		"agent":     map[string]any{"id": agent, "name": "demo-host-03", "ip": "10.20.0.3"},
		"manager":   map[string]any{"name": "wazuh-manager"},
		"id":        "1733344268.4242",
		"full_log":  string(line),
		"decoder":   map[string]any{"name": "json"},
		"data":      data,
		"location":  location,
	}
	out, _ := json.Marshal(alert)
	return out
}

func resultLine(t *testing.T, r wazuhar.ResultLine) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "active-responses.log")
	if err := wazuhar.AppendResult(path, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(data)))
}

func writeAlert(t *testing.T, alert []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alert.json")
	if err := os.WriteFile(path, alert, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newIntegration(g *gateway, alertFile string) *wazuhintegration.Run {
	p := wazuhintegration.NewPoster()
	p.Sleep = func(context.Context, time.Duration) error { return nil }
	return &wazuhintegration.Run{AlertFile: alertFile, CompanyKey: "company-key-1", HookURL: g.srv.URL, Poster: p}
}

const agentLog = "/var/ossec/logs/active-responses.log"

func TestIntegrationForwardsResult(t *testing.T) {
	g := newGateway(t)
	line := resultLine(t, wazuhar.ResultLine{Action: "isolate", Agent: "003", Result: "success", Detail: "isolated; reachable: 192.0.2.10/32", ActionID: "act-1"})
	r := newIntegration(g, writeAlert(t, alertFromLine(t, line, "003", agentLog)))

	ev, err := r.Forward(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reqs := g.got()
	if len(reqs) != 1 || reqs[0].Path != "/v1/wazuh/events" || reqs[0].Key != "company-key-1" || reqs[0].IdempotencyKey == "" {
		t.Fatalf("requests = %+v", reqs)
	}
	want := map[string]string{"agent_id": "003", "action": "isolate", "result": "success", "detail": "isolated; reachable: 192.0.2.10/32", "alert_id": "1733344268.4242"}
	for k, v := range want {
		if reqs[0].Body[k] != v {
			t.Errorf("body[%s] = %q, want %q", k, reqs[0].Body[k], v)
		}
	}
	if len(reqs[0].Body) != len(want) {
		t.Errorf("body has extra fields: %v", reqs[0].Body)
	}
	if ev.AgentID != "003" {
		t.Errorf("event = %+v", ev)
	}
}

func TestIntegrationHookWithEventsPath(t *testing.T) {
	g := newGateway(t)
	line := resultLine(t, wazuhar.ResultLine{Action: "releaseisolate", Result: "failure", Detail: "release failed"})
	r := newIntegration(g, writeAlert(t, alertFromLine(t, line, "012", `C:\Program Files (x86)\ossec-agent\active-response\active-responses.log`)))
	r.HookURL = g.srv.URL + "/v1/wazuh/events/"
	if _, err := r.Forward(context.Background()); err != nil {
		t.Fatal(err)
	}
	if reqs := g.got(); len(reqs) != 1 || reqs[0].Path != "/v1/wazuh/events" || reqs[0].Body["result"] != "failure" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestIntegrationIgnoresOtherAlerts(t *testing.T) {
	g := newGateway(t)
	other, _ := os.ReadFile(filepath.Join("testdata", "ar_stdin_add_firewall_drop_full_alert.json"))
	var msg struct {
		Parameters struct {
			Alert json.RawMessage `json:"alert"`
		} `json:"parameters"`
	}
	_ = json.Unmarshal(other, &msg)
	r := newIntegration(g, writeAlert(t, msg.Parameters.Alert))
	if _, err := r.Forward(context.Background()); !errors.Is(err, wazuhintegration.ErrNotForUs) {
		t.Errorf("err = %v, want ErrNotForUs", err)
	}
	if len(g.got()) != 0 {
		t.Error("forwarded an unrelated alert")
	}
}

func TestIntegrationRejects(t *testing.T) {
	ok := wazuhar.ResultLine{Action: "isolate", Agent: "003", Result: "success"}
	cases := []struct {
		name     string
		line     wazuhar.ResultLine
		agent    string
		location string
		hook     string
		want     string
	}{
		{"line from another log", ok, "003", "/var/log/syslog", "", "not from active-responses.log"},
		{"line names another agent", ok, "004", agentLog, "", "names agent 003"},
		{"manager agent", wazuhar.ResultLine{Action: "isolate", Result: "success"}, "000", agentLog, "", "not an agent"},
		{"unknown action", wazuhar.ResultLine{Action: "wipe", Result: "success"}, "003", agentLog, "", "expected isolate or releaseisolate"},
		{"unknown result", wazuhar.ResultLine{Action: "isolate", Result: "maybe"}, "003", agentLog, "", "expected success or failure"},
		{"plain http hook", ok, "003", agentLog, "http://smartpt.example.com", "plain HTTP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t)
			r := newIntegration(g, writeAlert(t, alertFromLine(t, resultLine(t, tc.line), tc.agent, tc.location)))
			if tc.hook != "" {
				r.HookURL = tc.hook
			}
			_, err := r.Forward(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if len(g.got()) != 0 {
				t.Error("forwarded a rejected alert")
			}
		})
	}
}

func TestIntegrationGatewayRejects(t *testing.T) {
	g := newGateway(t, 401)
	line := resultLine(t, wazuhar.ResultLine{Action: "isolate", Agent: "003", Result: "success"})
	r := newIntegration(g, writeAlert(t, alertFromLine(t, line, "003", agentLog)))
	if _, err := r.Forward(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("err = %v, want the 401", err)
	}
}

// osRegex translates the OS_Regex subset the rules use (^, $, \s, the
// quantifiers * and +, and literal characters) to a Go regular expression.
func osRegex(t *testing.T, pattern string) *regexp.Regexp {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '^' && i == 0, c == '$' && i == len(pattern)-1, c == '*', c == '+':
			b.WriteByte(c)
		case c == '\\' && i+1 < len(pattern) && pattern[i+1] == 's':
			b.WriteString(`\s`)
			i++
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return regexp.MustCompile(b.String())
}

// TestDocumentedRulesMatchResultLines checks the rules in the Wazuh guide
// against lines the isolation program writes: the stock json decoder's
// prematch (^{\s*" in ruleset/decoders/0006-json_decoders.xml) claims
// the line, and the field patterns of the rules select it by result.
func TestDocumentedRulesMatchResultLines(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "integrations", "wazuh.md"))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) []*regexp.Regexp {
		var out []*regexp.Regexp
		re := regexp.MustCompile(`<field name="` + name + `">([^<]+)</field>`)
		for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
			out = append(out, osRegex(t, m[1]))
		}
		return out
	}
	programs, results := field("program"), field("result")
	if len(programs) != 1 || len(results) != 2 {
		t.Fatalf("the guide has %d program and %d result patterns, want 1 and 2", len(programs), len(results))
	}
	jsonPrematch := osRegex(t, `^{\s*"`)

	for _, result := range []string{"success", "failure"} {
		line := resultLine(t, wazuhar.ResultLine{Action: "isolate", Agent: "003", Result: result, Detail: `quote " and {brace}`})
		if !jsonPrematch.Match(line) {
			t.Errorf("json decoder prematch misses %s", line)
		}
		var data map[string]string
		if err := json.Unmarshal(line, &data); err != nil {
			t.Fatal(err)
		}
		if !programs[0].MatchString(data["program"]) {
			t.Errorf("program pattern %s misses %q", programs[0], data["program"])
		}
		matched := 0
		for _, re := range results {
			if re.MatchString(data["result"]) {
				matched++
			}
		}
		if matched != 1 {
			t.Errorf("%d result rules match %q, want exactly 1", matched, result)
		}
	}
	if programs[0].MatchString("smartpt-wazuh") {
		t.Error("the program pattern also matches smartpt-wazuh lines")
	}
}
