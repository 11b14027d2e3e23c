package cortex_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors/cortex"
)

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(data)
}

func addFixtureSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"reply":{"endpoints":[{"ip":"10.0.0.1"}]}}`))
	f.Add([]byte(`{"reply":{"action_id":12,"status":1}}`))
	f.Add([]byte(`{"err_code":401,"err_msg":"x","err_extra":{"a":1}}`))
	f.Add([]byte(`null`))
}

// FuzzParseReply checks that no reply body makes the parsers panic.
func FuzzParseReply(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var endpoints cortex.GetEndpointReply
		_, _ = cortex.ParseReply(body, &endpoints)
		for _, r := range endpoints.Endpoints {
			_ = cortex.MapIsolation(r.IsIsolated)
		}
		var action cortex.ActionReply
		_, _ = cortex.ParseReply(body, &action)
		var status cortex.ActionStatusReply
		_, _ = cortex.ParseReply(body, &status)
	})
}

// FuzzParseError checks that every error reply found renders a message.
func FuzzParseError(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if e, ok := cortex.ParseError(body); ok && e.Error() == "" {
			t.Fatalf("empty error text for %q", body)
		}
	})
}
