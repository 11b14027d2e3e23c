package wazuhar

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureLine returns a testdata message compacted to one line, as execd
// writes it.
func fixtureLine(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("compact %s: %v", name, err)
	}
	return buf.Bytes()
}

func TestParseFixtureAddMessage(t *testing.T) {
	msg, err := Parse(fixtureLine(t, "ar_stdin_add_firewall_drop_full_alert.json"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if msg.Format != Format4 || msg.Version != 1 || msg.Command != CommandAdd {
		t.Errorf("got format %s version %d command %q, want wazuh-4 1 add", msg.Format, msg.Version, msg.Command)
	}
	if msg.Origin.Module != "wazuh-execd" || msg.Origin.Name != "worker01" {
		t.Errorf("origin = %+v", msg.Origin)
	}
	if msg.Parameters.Program != "/var/ossec/active-response/bin/firewall-drop" {
		t.Errorf("program = %q", msg.Parameters.Program)
	}

	alert, err := DecodeAlert(msg.Parameters.Alert)
	if err != nil {
		t.Fatal(err)
	}
	if alert.ID != "1612213124.6448363" || alert.Agent.ID != "000" {
		t.Errorf("alert id %q agent %q", alert.ID, alert.Agent.ID)
	}
	if got := alert.DataField("srcip"); got != "192.168.0.223" {
		t.Errorf("data.srcip = %q, want 192.168.0.223", got)
	}
	if got := alert.DataField("missing", "path"); got != "" {
		t.Errorf("missing path = %q, want empty", got)
	}
}

func TestParseRejectsInvalidInput(t *testing.T) {
	cases := []struct {
		name string
		line string
	}{
		{"queue message command", string(fixtureLine(t, "ar_execd_queue_msg_firewall_drop5.json"))},
		{"api queue message command", string(fixtureLine(t, "ar_api_queue_msg_custom_RECONSTRUCTED.json"))},
		{"control reply", string(fixtureLine(t, "ar_stdin_continue.json"))},
		{"not json", `hello`},
		{"array", `[1,2]`},
		{"empty", ``},
		{"version missing", `{"origin":{},"command":"add","parameters":{}}`},
		{"version string", `{"version":"1","origin":{},"command":"add","parameters":{}}`},
		{"version fraction", `{"version":1.5,"origin":{},"command":"add","parameters":{}}`},
		{"version zero", `{"version":0,"origin":{},"command":"add","parameters":{}}`},
		{"origin string", `{"version":1,"origin":"x","command":"add","parameters":{}}`},
		{"origin missing", `{"version":1,"command":"add","parameters":{}}`},
		{"command number", `{"version":1,"origin":{},"command":1,"parameters":{}}`},
		{"command unknown", `{"version":1,"origin":{},"command":"run","parameters":{}}`},
		{"parameters array", `{"version":1,"origin":{},"command":"add","parameters":[]}`},
		{"parameters missing", `{"version":1,"origin":{},"command":"add"}`},
		{"extra_args object", `{"version":1,"origin":{},"command":"add","parameters":{"extra_args":{}}}`},
		{"extra_args numbers", `{"version":1,"origin":{},"command":"add","parameters":{"extra_args":[1]}}`},
		{"alert string", `{"version":1,"origin":{},"command":"add","parameters":{"alert":"x"}}`},
		{"program number", `{"version":1,"origin":{},"command":"add","parameters":{"program":5}}`},
		{"wazuh5 no active_response", `{"wazuh":{},"command":"enable"}`},
		{"wazuh5 bad command", `{"wazuh":{"active_response":{}},"command":"start"}`},
		{"wazuh5 source array", `{"wazuh":{"active_response":{}},"command":"enable","source":[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := Parse([]byte(tc.line))
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", tc.line, msg)
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error %v does not wrap ErrInvalidInput", err)
			}
		})
	}
}

func TestParseAcceptsVariants(t *testing.T) {
	cases := []struct {
		name        string
		line        string
		wantFormat  Format
		wantCommand string
		wantArgs    []string
		wantProgram string
	}{
		{"delete with null alert", `{"version":1,"origin":{"name":null,"module":"wazuh-execd"},"command":"delete","parameters":{"extra_args":["isolate"],"alert":null,"program":"/p"}}`, Format4, CommandDelete, []string{"isolate"}, "/p"},
		{"no extra_args", `{"version":1,"origin":{},"command":"add","parameters":{}}`, Format4, CommandAdd, nil, ""},
		{"crlf ending tolerated by ReadLine caller", `{"version":1,"origin":{},"command":"add","parameters":{"extra_args":[]}}`, Format4, CommandAdd, []string{}, ""},
		{"wazuh5 enable", `{"wazuh":{"active_response":{"executable":"smartpt-isolation","extra_arguments":["isolate","allow=10.0.0.1"]}},"source":{"data":{"action":"isolate"}},"command":"enable"}`, Format5, CommandAdd, []string{"isolate", "allow=10.0.0.1"}, "smartpt-isolation"},
		{"wazuh5 disable 4.x keys", `{"wazuh":{"active_response":{"name":"x","extra_args":["release"]}},"command":"disable"}`, Format5, CommandDelete, []string{"release"}, "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := Parse([]byte(tc.line))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if msg.Format != tc.wantFormat || msg.Command != tc.wantCommand || msg.Parameters.Program != tc.wantProgram {
				t.Errorf("got %s %q %q, want %s %q %q", msg.Format, msg.Command, msg.Parameters.Program, tc.wantFormat, tc.wantCommand, tc.wantProgram)
			}
			if strings.Join(msg.Parameters.ExtraArgs, " ") != strings.Join(tc.wantArgs, " ") {
				t.Errorf("extra_args = %q, want %q", msg.Parameters.ExtraArgs, tc.wantArgs)
			}
		})
	}
}

func TestParseWazuh5SourceIsAlert(t *testing.T) {
	msg, err := Parse([]byte(`{"wazuh":{"active_response":{}},"source":{"id":"7","agent":{"id":"004"},"data":{"action":"release"}},"command":"enable"}`))
	if err != nil {
		t.Fatal(err)
	}
	alert, err := DecodeAlert(msg.Parameters.Alert)
	if err != nil {
		t.Fatal(err)
	}
	if alert.Agent.ID != "004" || alert.DataField("action") != "release" {
		t.Errorf("alert = %+v, data.action %q", alert, alert.DataField("action"))
	}
}

func TestParseControlFixtures(t *testing.T) {
	for file, want := range map[string]string{"ar_stdin_continue.json": CommandContinue, "ar_stdin_abort.json": CommandAbort} {
		c, err := ParseControl(fixtureLine(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if c.Command != want || c.Origin.Module != "wazuh-execd" {
			t.Errorf("%s: got %+v, want command %s", file, c, want)
		}
	}
	for _, bad := range []string{`{"command":"add"}`, `{}`, `x`, `{"command":3}`} {
		if _, err := ParseControl([]byte(bad)); err == nil {
			t.Errorf("ParseControl(%s) accepted", bad)
		}
	}
}

func TestCheckKeysMatchesFixture(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCheckKeys(&buf, "firewall-drop", []string{"10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) || bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("check_keys is not exactly one line: %q", buf.String())
	}
	want := fixtureLine(t, "ar_stdout_check_keys.json")
	if got := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !jsonEqual(t, got, want) {
		t.Errorf("check_keys\n got %s\nwant %s", got, want)
	}

	ck, err := ParseCheckKeys(want)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Origin.Name != "firewall-drop" || len(ck.Keys) != 1 || ck.Keys[0] != "10.0.0.1" {
		t.Errorf("ParseCheckKeys = %+v", ck)
	}
}

func TestWriteControlMatchesFixture(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteControl(&buf, "node01", CommandContinue); err != nil {
		t.Fatal(err)
	}
	if got, want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")), fixtureLine(t, "ar_stdin_continue.json"); !jsonEqual(t, got, want) {
		t.Errorf("continue\n got %s\nwant %s", got, want)
	}
}

func TestWriteInputRoundTrip(t *testing.T) {
	in, err := Parse(fixtureLine(t, "ar_stdin_add_firewall_drop_full_alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteInput(&buf, *in); err != nil {
		t.Fatal(err)
	}
	line, err := ReadLine(bufio.NewReader(&buf), MaxLineBytes)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(line)
	if err != nil {
		t.Fatalf("Parse(WriteInput): %v", err)
	}
	if !jsonEqual(t, in.Parameters.Alert, out.Parameters.Alert) || in.Parameters.Program != out.Parameters.Program {
		t.Errorf("round trip changed the message")
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func TestReadLine(t *testing.T) {
	big := strings.Repeat("a", 1<<20+10)
	cases := []struct {
		name    string
		input   string
		max     int
		want    string
		wantErr error
	}{
		{"one line", "abc\nrest", 100, "abc", nil},
		{"crlf", "abc\r\n", 100, "abc", nil},
		{"last line without newline", "abc", 100, "abc", nil},
		{"empty input", "", 100, "", io.EOF},
		{"line over 1 MiB accepted", big + "\n", MaxLineBytes, big, nil},
		{"too long", "abcdef\n", 5, "", ErrLineTooLong},
		{"too long without newline", "abcdef", 5, "", ErrLineTooLong},
		{"exactly max", "abcde\n", 5, "abcde", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadLine(bufio.NewReaderSize(strings.NewReader(tc.input), 16), tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

// TestReadLineDoesNotWaitForEOF checks that a line is returned while the
// writer keeps its end open, as wazuh-execd does during the handshake.
func TestReadLineDoesNotWaitForEOF(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	go func() { _, _ = w.Write([]byte(`{"a":1}` + "\n")) }()

	done := make(chan []byte, 1)
	go func() {
		line, _ := ReadLine(bufio.NewReader(r), MaxLineBytes)
		done <- line
	}()
	select {
	case line := <-done:
		if string(line) != `{"a":1}` {
			t.Errorf("line = %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLine waited for end of file")
	}
}

func TestAlertDataStrings(t *testing.T) {
	alert := Alert{Data: json.RawMessage(`{"allow":["10.0.0.1","::1"],"one":"x","bad":[1],"num":3}`)}
	if got, err := alert.DataStrings("allow"); err != nil || len(got) != 2 {
		t.Errorf("allow = %v, %v", got, err)
	}
	if got, err := alert.DataStrings("one"); err != nil || len(got) != 1 || got[0] != "x" {
		t.Errorf("one = %v, %v", got, err)
	}
	if got, err := alert.DataStrings("absent"); err != nil || got != nil {
		t.Errorf("absent = %v, %v", got, err)
	}
	if _, err := alert.DataStrings("bad"); err == nil {
		t.Error("list of numbers accepted")
	}
	if _, err := alert.DataStrings("num"); err == nil {
		t.Error("number accepted")
	}
}
