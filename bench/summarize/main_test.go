package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range cases {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRunComparesGatewayToFloors(t *testing.T) {
	lines := []string{
		`noise from another program`,
		`RESULT {"label":"direct/open500","protocol":"wazuh-native","throughput_per_s":500,"latency":{"p50_us":300,"p99_us":900}}`,
		`RESULT {"label":"direct/open500","protocol":"wazuh-native","throughput_per_s":500,"latency":{"p50_us":320,"p99_us":1100}}`,
		`RESULT {"label":"direct/open500","protocol":"wazuh-native","throughput_per_s":500,"latency":{"p50_us":310,"p99_us":1000}}`,
		`RESULT {"label":"gateway-sqlite/open500","protocol":"gateway","throughput_per_s":500,"latency":{"p50_us":1010,"p99_us":4000},"server":{"peak_rss_mib":40,"cpu_per_request_us":250}}`,
		`RESULT {"benchmark":"arstart","results":[]}`,
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	if err := run([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| direct/open500 | 3 | 500 | 310 |",
		"| gateway-sqlite/open500 | 1 | 500 | 1010 |",
		"| 40.0 | 250 |",
		"| gateway-sqlite/open500 | direct | 1.00 | 700 | 3000 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
