package isolationar

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/isolation"
	"github.com/smartpt/smartpt/internal/wazuhar"
)

// harness runs Program.Run over pipes, playing wazuh-execd.
type harness struct {
	t       *testing.T
	dir     string
	p       *Program
	stdin   *io.PipeWriter
	stdout  *bufio.Reader
	exit    chan int
	record  string
	stderrs *bytes.Buffer
}

func newHarness(t *testing.T, ossecConf string) *harness {
	t.Helper()
	dir := t.TempDir()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &harness{t: t, dir: dir, stdin: inW, stdout: bufio.NewReader(outR), exit: make(chan int, 1),
		record: filepath.Join(dir, "record.jsonl"), stderrs: &bytes.Buffer{}}
	conf := filepath.Join(dir, "ossec.conf")
	if ossecConf != "" {
		if err := os.WriteFile(conf, []byte(ossecConf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h.p = &Program{
		In: bufio.NewReader(inR), Out: outW, ErrOut: h.stderrs,
		Backend: &isolation.Record{Path: h.record},
		LogPath: filepath.Join(dir, "active-responses.log"), StatePath: filepath.Join(dir, "state.json"),
		OssecConf: conf, AgentID: "003", ReplyWait: 2 * time.Second,
	}
	go func() {
		code := h.p.Run(context.Background())
		outW.Close()
		h.exit <- code
	}()
	t.Cleanup(func() { inW.Close() })
	return h
}

// send writes one stdin line without closing stdin, as execd does.
func (h *harness) send(line string) {
	h.t.Helper()
	go func() { _, _ = h.stdin.Write([]byte(line + "\n")) }()
}

// checkKeys reads the program's check_keys line.
func (h *harness) checkKeys() []string {
	h.t.Helper()
	line, err := wazuhar.ReadLine(h.stdout, wazuhar.MaxLineBytes)
	if err != nil {
		h.t.Fatalf("no check_keys line: %v", err)
	}
	ck, err := wazuhar.ParseCheckKeys(line)
	if err != nil {
		h.t.Fatalf("check_keys line %s: %v", line, err)
	}
	if ck.Origin.Name != "smartpt-isolation" || ck.Origin.Module != "active-response" {
		h.t.Errorf("check_keys origin = %+v", ck.Origin)
	}
	return ck.Keys
}

func (h *harness) reply(command string) {
	h.t.Helper()
	var buf bytes.Buffer
	_ = wazuhar.WriteControl(&buf, "node01", command)
	h.send(strings.TrimSuffix(buf.String(), "\n"))
}

func (h *harness) wait() int {
	h.t.Helper()
	select {
	case code := <-h.exit:
		return code
	case <-time.After(10 * time.Second):
		h.t.Fatal("program did not exit")
		return -1
	}
}

func (h *harness) logLines() []wazuhar.ResultLine {
	h.t.Helper()
	data, err := os.ReadFile(h.p.LogPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var out []wazuhar.ResultLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.HasPrefix(line, `{"program":"smartpt-isolation",`) {
			h.t.Errorf("log line does not start with the program field: %s", line)
		}
		var r wazuhar.ResultLine
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			h.t.Fatalf("log line %s: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func (h *harness) records() []isolation.RecordEntry {
	h.t.Helper()
	data, err := os.ReadFile(h.record)
	if os.IsNotExist(err) {
		return nil
	}
	var out []isolation.RecordEntry
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e isolation.RecordEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// inputLine builds an execd stdin line.
func inputLine(command string, extraArgs []string, alert string) string {
	var buf bytes.Buffer
	_ = wazuhar.WriteInput(&buf, wazuhar.Message{
		Origin:  wazuhar.Origin{Name: "node01", Module: "wazuh-execd"},
		Command: command,
		Parameters: wazuhar.Parameters{
			ExtraArgs: extraArgs, Alert: json.RawMessage(alert), Program: "/var/ossec/active-response/bin/smartpt-isolation",
		},
	})
	return strings.TrimSuffix(buf.String(), "\n")
}

const apiIsolateAlert = `{"data":{"action":"isolate","allow":["192.0.2.10","2001:db8::10"],"smartpt_action_id":"act-42"}}`

func TestIsolateFromGatewayMessage(t *testing.T) {
	h := newHarness(t, "")
	h.send(inputLine("add", []string{"isolate", "allow=192.0.2.10,2001:db8::10", "action_id=act-42"}, apiIsolateAlert))
	if keys := h.checkKeys(); len(keys) != 1 || keys[0] != "isolate" {
		t.Errorf("keys = %q, want [isolate]", keys)
	}
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, h.stderrs)
	}

	recs := h.records()
	if len(recs) != 1 || recs[0].Action != "isolate" || strings.Join(recs[0].Allow, ",") != "192.0.2.10,2001:db8::10" {
		t.Fatalf("records = %+v", recs)
	}
	lines := h.logLines()
	if len(lines) != 1 {
		t.Fatalf("log lines = %+v", lines)
	}
	l := lines[0]
	if l.Action != "isolate" || l.Result != "success" || l.Agent != "003" || l.ActionID != "act-42" || l.Backend != "record" || l.Command != "add" {
		t.Errorf("log line = %+v", l)
	}
	st, err := isolation.ReadState(h.p.StatePath)
	if err != nil || !st.Isolated || st.ActionID != "act-42" {
		t.Errorf("state = %+v, %v", st, err)
	}
}

func TestReleaseFromGatewayMessage(t *testing.T) {
	h := newHarness(t, "")
	h.send(inputLine("add", []string{"release", "action_id=act-43"}, `{"data":{"action":"release","smartpt_action_id":"act-43"}}`))
	if keys := h.checkKeys(); keys[0] != "releaseisolate" {
		t.Errorf("keys = %q", keys)
	}
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if recs := h.records(); len(recs) != 1 || recs[0].Action != "release" {
		t.Errorf("records = %+v", recs)
	}
	if l := h.logLines(); len(l) != 1 || l[0].Action != "releaseisolate" || l[0].Result != "success" {
		t.Errorf("log = %+v", l)
	}
}

func TestAbortChangesNothing(t *testing.T) {
	h := newHarness(t, "")
	h.send(inputLine("add", nil, apiIsolateAlert))
	h.checkKeys()
	h.reply("abort")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if recs := h.records(); len(recs) != 0 {
		t.Errorf("acted after abort: %+v", recs)
	}
	if l := h.logLines(); len(l) != 0 {
		t.Errorf("logged after abort: %+v", l)
	}
}

func TestNoReplyChangesNothing(t *testing.T) {
	h := newHarness(t, "")
	h.p.ReplyWait = 200 * time.Millisecond
	h.send(inputLine("add", nil, apiIsolateAlert))
	h.checkKeys()
	if code := h.wait(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if recs := h.records(); len(recs) != 0 {
		t.Errorf("acted without continue: %+v", recs)
	}
	if l := h.logLines(); len(l) != 1 || l[0].Result != "failure" || !strings.Contains(l[0].Detail, "no continue or abort") {
		t.Errorf("log = %+v", l)
	}
}

func TestStdinClosedBeforeReply(t *testing.T) {
	h := newHarness(t, "")
	h.send(inputLine("add", nil, apiIsolateAlert))
	h.checkKeys()
	h.stdin.Close()
	if code := h.wait(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if recs := h.records(); len(recs) != 0 {
		t.Errorf("acted without continue: %+v", recs)
	}
}

func TestDeleteOfTimedIsolationReleases(t *testing.T) {
	h := newHarness(t, "")
	h.send(inputLine("delete", []string{"isolate", "allow=192.0.2.10"}, `{}`))
	if keys := h.checkKeys(); keys[0] != "releaseisolate" {
		t.Errorf("keys = %q", keys)
	}
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if recs := h.records(); len(recs) != 1 || recs[0].Action != "release" {
		t.Errorf("records = %+v", recs)
	}
}

func TestRuleTriggeredIsolateReadsOssecConf(t *testing.T) {
	conf := `<ossec_config><client><server><address>192.0.2.20</address><port>1514</port></server>` +
		`<server><address>2001:db8::20</address></server></client></ossec_config>`
	h := newHarness(t, conf)
	h.send(inputLine("add", []string{"isolate"}, string(mustRead(t, "ar_stdin_add_firewall_drop_full_alert.json"))))
	h.checkKeys()
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d: %+v", code, h.logLines())
	}
	if recs := h.records(); len(recs) != 1 || strings.Join(recs[0].Allow, ",") != "192.0.2.20,2001:db8::20" {
		t.Errorf("records = %+v", recs)
	}
}

func TestWazuh5Message(t *testing.T) {
	h := newHarness(t, "")
	h.send(`{"wazuh":{"active_response":{"executable":"smartpt-isolation","extra_arguments":["isolate","allow=192.0.2.10"]}},"source":{"agent":{"id":"003"}},"command":"enable"}`)
	h.checkKeys()
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d: %+v", code, h.logLines())
	}
	if recs := h.records(); len(recs) != 1 || recs[0].Action != "isolate" {
		t.Errorf("records = %+v", recs)
	}
}

func TestLongLineAccepted(t *testing.T) {
	h := newHarness(t, "")
	long := strings.Repeat("A", 1<<20+100)
	alert := `{"full_log":"` + long + `","data":{"action":"isolate","allow":["192.0.2.10"]}}`
	h.send(inputLine("add", nil, alert))
	h.checkKeys()
	h.reply("continue")
	if code := h.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestRejectedInputs covers inputs refused before the key check: nothing
// is written to stdout, nothing is changed, and a failure line is logged.
func TestRejectedInputs(t *testing.T) {
	cases := []struct {
		name       string
		line       string
		wantDetail string
	}{
		{"not json", "hello", "invalid input format"},
		{"queue message", string(compact(t, "ar_execd_queue_msg_firewall_drop5.json")), "invalid input format"},
		{"alert without action", string(compact(t, "ar_stdin_add_firewall_drop_full_alert.json")), "no action given"},
		{"unknown action", inputLine("add", []string{"wipe"}, `{}`), "unknown action"},
		{"conflicting actions", inputLine("add", []string{"release"}, `{"data":{"action":"isolate"}}`), "asks for"},
		{"unknown argument", inputLine("add", []string{"isolate", "rm=-rf"}, `{}`), "unknown argument"},
		{"bad action id", inputLine("add", []string{"isolate", "action_id=a b"}, `{}`), "action id"},
		{"allow not strings", inputLine("add", nil, `{"data":{"action":"isolate","allow":[1]}}`), "expected a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.send(tc.line)
			if code := h.wait(); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if extra, _ := io.ReadAll(h.stdout); len(extra) != 0 {
				t.Errorf("wrote to stdout: %s", extra)
			}
			if recs := h.records(); len(recs) != 0 {
				t.Errorf("acted: %+v", recs)
			}
			l := h.logLines()
			if len(l) != 1 || l[0].Result != "failure" || !strings.Contains(l[0].Detail, tc.wantDetail) {
				t.Errorf("log = %+v, want a failure with %q", l, tc.wantDetail)
			}
		})
	}
}

// TestRefusedAfterContinue covers requests that pass the key check but
// cannot be carried out safely.
func TestRefusedAfterContinue(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantDetail string
	}{
		{"no allowed address", []string{"isolate"}, "no allowed address"},
		{"invalid allowed address", []string{"isolate", "allow=manager.example"}, "not a valid IPv4 or IPv6"},
		{"allow everything", []string{"isolate", "allow=0.0.0.0/0"}, "every address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.send(inputLine("add", tc.args, `{}`))
			h.checkKeys()
			h.reply("continue")
			if code := h.wait(); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if recs := h.records(); len(recs) != 0 {
				t.Errorf("acted: %+v", recs)
			}
			if l := h.logLines(); len(l) != 1 || !strings.Contains(l[0].Detail, tc.wantDetail) {
				t.Errorf("log = %+v, want %q", l, tc.wantDetail)
			}
		})
	}
}

func TestAgentIDFromClientKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.keys")
	_ = os.WriteFile(path, []byte("007 web-01 any 0123abcd\n"), 0o600)
	if got := AgentID(path); got != "007" {
		t.Errorf("agentID = %q, want 007", got)
	}
	_ = os.WriteFile(path, []byte("x y\n"), 0o600)
	if got := AgentID(path); got != "" {
		t.Errorf("agentID of a malformed file = %q", got)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal(compact(t, name), &v); err != nil {
		t.Fatal(err)
	}
	var params struct {
		Alert json.RawMessage `json:"alert"`
	}
	_ = json.Unmarshal(v["parameters"], &params)
	return params.Alert
}

func compact(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
