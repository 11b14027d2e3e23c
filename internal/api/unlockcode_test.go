package api

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestUnlockCodeMatchesCiscoAndOpenAPI checks that the gateway accepts
// exactly the unlock codes the Cisco client sends, and that the OpenAPI
// document states the same rule.
func TestUnlockCodeMatchesCiscoAndOpenAPI(t *testing.T) {
	doc, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Pattern string `json:"pattern"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatal(err)
	}
	var pattern string
	for _, schema := range spec.Components.Schemas {
		if p := schema.Properties["unlock_code"].Pattern; p != "" {
			pattern = p
		}
	}
	if pattern == "" {
		t.Fatal("openapi.json has no pattern for unlock_code")
	}
	documented := regexp.MustCompile(pattern)

	tests := []struct {
		code string
		ok   bool
	}{
		{"ab-12", true},
		{"Open_42", true},
		{"abcd", true},
		{strings.Repeat("x", 64), true},
		{"a", false},
		{"abc", false},
		{strings.Repeat("x", 65), false},
		{"a b!", false},
		{"abcé", false},
		{"", false},
	}
	for _, tc := range tests {
		err := checkUnlockCode(tc.code)
		if (err == nil) != tc.ok {
			t.Errorf("checkUnlockCode(%q) = %v, want ok %v", tc.code, err, tc.ok)
		}
		if documented.MatchString(tc.code) != tc.ok {
			t.Errorf("openapi.json pattern %s on %q = %v, want %v", pattern, tc.code, !tc.ok, tc.ok)
		}
	}
}
