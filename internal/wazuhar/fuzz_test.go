package wazuhar

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary lines to the stdin parser: it must never panic,
// every error must wrap ErrInvalidInput, and an accepted message must be
// written back in a form Parse accepts again.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"wazuh":{"active_response":{"extra_arguments":["isolate"]}},"source":{},"command":"enable"}`))
	f.Add([]byte(`{"version":1e400,"origin":{},"command":"add","parameters":{}}`))

	f.Fuzz(func(t *testing.T, line []byte) {
		msg, err := Parse(line)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error %v does not wrap ErrInvalidInput", err)
			}
			return
		}
		if msg.Command != CommandAdd && msg.Command != CommandDelete {
			t.Fatalf("accepted command %q", msg.Command)
		}
		_, _ = DecodeAlert(msg.Parameters.Alert)

		var buf bytes.Buffer
		if err := WriteInput(&buf, *msg); err != nil {
			t.Fatalf("WriteInput: %v", err)
		}
		again, err := ReadLine(bufio.NewReader(&buf), MaxLineBytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(again); err != nil && msg.Format == Format4 {
			t.Fatalf("rewritten message rejected: %v\n%s", err, again)
		}
	})
}

// FuzzParseControl checks that no reply line makes the reply parser panic
// or accept a command other than continue and abort.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte(`{"version":1,"origin":{"name":"n","module":"wazuh-execd"},"command":"continue","parameters":{}}`))
	f.Add([]byte(`{"command":"abort"}`))
	f.Add([]byte(`{"command":"check_keys","parameters":{"keys":["a"]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if c, err := ParseControl(line); err == nil && c.Command != CommandContinue && c.Command != CommandAbort {
			t.Fatalf("accepted reply %q", c.Command)
		}
		_, _ = ParseCheckKeys(line)
	})
}

// FuzzReadLine checks the line reader against the limit on any input.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("abc\ndef"), 4)
	f.Add([]byte("\r\n"), 0)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		line, err := ReadLine(bufio.NewReaderSize(bytes.NewReader(data), 16), max)
		if err == nil && len(line) > max {
			t.Fatalf("returned %d bytes over the %d limit", len(line), max)
		}
	})
}
