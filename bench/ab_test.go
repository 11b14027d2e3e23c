// Package bench contains the tests of the benchmark scripts. The Go
// programs of the benchmarks are in its subfolders.
package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestABScriptArguments runs bench/ab.sh with help requests and invalid
// arguments. Each case must end before the script builds anything: a
// fake go command first in PATH exits 99, so a case that got past the
// checks fails with exit 99 instead of starting a benchmark.
func TestABScriptArguments(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	notCheckout := t.TempDir()

	fakeBin := t.TempDir()
	if err := os.WriteFile(filepath.Join(fakeBin, "go"), []byte("#!/bin/sh\nexit 99\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		args       []string
		env        []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"--help"}, nil, 0, "Usage:", ""},
		{"short help", []string{"-h"}, nil, 0, "Usage:", ""},
		{"no arguments", nil, nil, 2, "", "expected 2 arguments, DIR_A and DIR_B, got 0"},
		{"one argument", []string{repo}, nil, 2, "", "got 1"},
		{"missing folder", []string{filepath.Join(notCheckout, "missing"), repo}, nil, 2, "", "is not a SmartPT checkout"},
		{"folder not a checkout", []string{repo, notCheckout}, nil, 2, "", notCheckout + " is not a SmartPT checkout"},
		{"rounds not a number", []string{repo, repo}, []string{"ROUNDS=abc"}, 2, "", "ROUNDS=abc is invalid"},
		{"rounds zero", []string{repo, repo}, []string{"ROUNDS=0"}, 2, "", "ROUNDS=0 is invalid"},
		{"rounds above limit", []string{repo, repo}, []string{"ROUNDS=21"}, 2, "", "ROUNDS=21 is invalid"},
		{"duration without unit", []string{repo, repo}, []string{"DURATION=3"}, 2, "", "DURATION=3 is not a Go duration"},
		{"warmup not a duration", []string{repo, repo}, []string{"WARMUP=2x"}, 2, "", "WARMUP=2x is not a Go duration"},
		{"workers zero", []string{repo, repo}, []string{"WORKERS=0"}, 2, "", "WORKERS=0 is invalid"},
		{"targets exponent", []string{repo, repo}, []string{"TARGETS=1e4"}, 2, "", "TARGETS=1e4 is invalid"},
		{"port base too high", []string{repo, repo}, []string{"PORT_BASE=65534"}, 2, "", "PORT_BASE=65534 is invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bash, append([]string{filepath.Join(repo, "bench", "ab.sh")}, tc.args...)...)
			cmd.Env = append([]string{"PATH=" + fakeBin + ":" + os.Getenv("PATH"), "OUT=" + t.TempDir()}, tc.env...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr

			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}

			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tc.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantStderr, stderr.String())
			}
		})
	}
}
