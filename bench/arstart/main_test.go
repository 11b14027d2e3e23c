package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{[]float64{1}, 1},
		{[]float64{1, 2, 9}, 2},
		{[]float64{1, 2, 3, 9}, 2.5},
	}
	for _, tc := range cases {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestExpandConfigPlaceholder(t *testing.T) {
	got := expand("ar --config {config} --log {log} isolate", "/tmp/x.yaml", "/tmp/ar.log")
	want := []string{"ar", "--config", "/tmp/x.yaml", "--log", "/tmp/ar.log", "isolate"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("expand = %q, want %q", got, want)
	}
}

func TestCheckKeysMessage(t *testing.T) {
	if err := checkKeysMessage(`{"version":1,"command":"check_keys","parameters":{"keys":["001"]}}` + "\n"); err != nil {
		t.Errorf("valid check_keys: %v", err)
	}
	for _, line := range []string{"", "not json", `{"command":"continue"}`} {
		if err := checkKeysMessage(line); err == nil {
			t.Errorf("checkKeysMessage(%q): no error, want one", line)
		}
	}
}

// The Python baseline goes through the whole protocol against the harness's
// API server, which checks both the harness and the baseline.
func TestMeasurePythonBaseline(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	api, err := startAPI()
	if err != nil {
		t.Fatal(err)
	}
	defer api.close()
	config, err := writeConfig(t.TempDir(), api.url)
	if err != nil {
		t.Fatal(err)
	}

	res, err := measure("baseline", python, []string{"baseline.py", "--config", config, "--log", filepath.Join(t.TempDir(), "ar.log"), "isolate"}, 2, 20*time.Second, api)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "/wazuh/agents" {
		t.Errorf("request path = %q, want /wazuh/agents", res.Path)
	}
	for _, want := range []string{`"action": "isolate"`, `"agent_id": "001"`, `"Email": "bench@demo.example"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("request body %s lacks %s", res.Body, want)
		}
	}
	if len(res.Samples) != 2 || res.Min <= 0 || res.Median < res.Min || res.Max < res.Median {
		t.Errorf("samples %v, min %v, median %v, max %v: want 2 positive, ordered", res.Samples, res.Min, res.Median, res.Max)
	}
}
