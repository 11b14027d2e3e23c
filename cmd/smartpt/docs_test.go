package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/api"
)

// TestDocsMatchBehaviour checks the statements of docs/API.md and the
// OpenAPI document that describe status codes and the unlock code rule
// against what the gateway does.
func TestDocsMatchBehaviour(t *testing.T) {
	apiMD := readDoc(t, "../../docs/API.md")
	rows := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d{3}(?:, \d{3})?) \|(.*)$`).FindAllStringSubmatch(apiMD, -1) {
		rows[m[1]] += m[2]
	}
	checks := []struct {
		status, want string
	}{
		{"429", "hourly cap"},
		{"422", "Idempotency-Key"},
		{"400", "host name"},
	}
	for _, c := range checks {
		if !strings.Contains(rows[c.status], c.want) {
			t.Errorf("API.md error table: row %s = %q, want it to mention %q", c.status, rows[c.status], c.want)
		}
	}
	if strings.Contains(rows["403"], "cap") {
		t.Errorf("API.md error table: row 403 mentions the cap, which answers 429: %q", rows["403"])
	}

	const unlockRule = "4 to 64 letters, digits, `-` or `_`"
	if !strings.Contains(apiMD, unlockRule) {
		t.Errorf("API.md does not state the unlock code rule %q", unlockRule)
	}
	if cisco := readDoc(t, "../../docs/integrations/cisco.md"); !strings.Contains(cisco, "4 to 64 letters, digits, `-` or `_`") {
		t.Errorf("cisco.md does not state the unlock code rule %q", unlockRule)
	}

	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range demoRoutes() {
		responses := doc.Paths[path]["post"].Responses
		for _, status := range []string{"422", "429", "501"} {
			if _, ok := responses[status]; !ok {
				t.Errorf("openapi.json: POST %s lists no %s response", path, status)
			}
		}
	}
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
