package main

import "testing"

// TestRealMainRejectsBadFlags covers the errors found before stdin is read:
// they exit 2 and change nothing.
func TestRealMainRejectsBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"unknown backend", []string{"--backend=pf"}},
		{"record backend without a file", []string{"--backend=record"}},
		{"unknown flag", []string{"--wipe"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code := realMain(tc.args); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}
