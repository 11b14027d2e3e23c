package loadgen

import "testing"

func TestMixAlternatesContainment(t *testing.T) {
	m, err := ParseMix("isolate=1", 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{ActionIsolate, 1}, {ActionIsolate, 2}, {ActionIsolate, 3},
		{ActionRelease, 1}, {ActionRelease, 2}, {ActionRelease, 3},
		{ActionIsolate, 1},
	}
	for i, w := range want {
		if got := m.Next(); got != w {
			t.Errorf("op %d = %+v, want %+v", i, got, w)
		}
	}
}

func TestMixShares(t *testing.T) {
	m, err := ParseMix("status=80, isolate=20", DemoTargets, 7)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	perTarget := map[int]int{}
	const n = 20_000
	for range n {
		op := m.Next()
		counts[op.Action]++
		perTarget[op.Target]++
	}

	status := float64(counts[ActionStatus]) / n
	if status < 0.78 || status > 0.82 {
		t.Errorf("status share = %.3f, want 0.80 ± 0.02", status)
	}
	if d := counts[ActionIsolate] - counts[ActionRelease]; d < 0 || d > DemoTargets {
		t.Errorf("isolates %d, releases %d: want releases to trail by at most one per target", counts[ActionIsolate], counts[ActionRelease])
	}
	for target := 1; target <= DemoTargets; target++ {
		if perTarget[target] != n/DemoTargets {
			t.Errorf("target %d got %d requests, want %d", target, perTarget[target], n/DemoTargets)
		}
	}
}

func TestParseMixErrors(t *testing.T) {
	cases := []struct {
		spec    string
		targets int
	}{
		{"", 20},
		{"status", 20},
		{"block=5", 20},
		{"status=-1", 20},
		{"status=x", 20},
		{"status=0,isolate=0", 20},
		{"status=1", 0},
		{"status=1", MaxTargets + 1},
	}
	for _, tc := range cases {
		if _, err := ParseMix(tc.spec, tc.targets, 1); err == nil {
			t.Errorf("ParseMix(%q, %d): no error, want one", tc.spec, tc.targets)
		}
	}
}

func TestTargetName(t *testing.T) {
	cases := []struct {
		service, form string
		n             int
		want          string
		ok            bool
	}{
		{"wazuh", "id", 7, "007", true},
		{"wazuh", "hostname", 12, "demo-host-12", true},
		{"defender", "ip", 20, "10.20.0.20", true},
		{"defender", "id", 1, "", false},
		{"wazuh", "mac", 1, "", false},
	}
	for _, tc := range cases {
		got, err := TargetName(tc.service, tc.form, tc.n)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("TargetName(%s, %s, %d) = %q, %v; want %q, ok=%v", tc.service, tc.form, tc.n, got, err, tc.want, tc.ok)
		}
	}
}
