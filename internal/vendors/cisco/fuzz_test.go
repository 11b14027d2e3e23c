package cisco_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors/cisco"
)

func addFixtureSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"data":{"status":"isolated","unlock_code":"x"}}`))
	f.Add([]byte(`{"errors":[{"error_code":"429","details":null}]}`))
}

// FuzzParseEnvelope checks that no body makes the parsers panic.
func FuzzParseEnvelope(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var comps []cisco.Computer
		if env, err := cisco.ParseEnvelope(body, &comps); err == nil {
			_ = env.ErrorText()
		}
		var comp cisco.Computer
		_, _ = cisco.ParseEnvelope(body, &comp)
		var iso cisco.Isolation
		if _, err := cisco.ParseEnvelope(body, &iso); err == nil {
			_ = cisco.MapIsolation(iso.Status)
		}
	})
}

// FuzzRawWithoutUnlockCode checks that the action_result of an isolation
// response never carries data.unlock_code.
func FuzzRawWithoutUnlockCode(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		raw := cisco.RawWithoutUnlockCode(body)
		if raw == nil {
			return
		}
		var iso cisco.Isolation
		if _, err := cisco.ParseEnvelope(raw, &iso); err == nil && iso.UnlockCode != "" {
			t.Fatalf("unlock code %q survived in %s", iso.UnlockCode, raw)
		}
	})
}
