package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for a command writing while a test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCLI runs one smartpt command in-process with the given environment and
// returns its exit code, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	c := &cli{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	code := c.run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

var keyPattern = regexp.MustCompile(`(?m)^[0-9a-f]{64}$`)

func TestAdminCommands(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{}

	code, out, errOut := runCLI(t, env, "company", "create", "acme", "--data", data)
	if code != 0 {
		t.Fatalf("company create: exit %d, stderr %s", code, errOut)
	}
	if !keyPattern.MatchString(out) {
		t.Fatalf("company create printed no 64-hex key:\n%s", out)
	}

	code, out, _ = runCLI(t, env, "company", "list", "--data", data)
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "enabled") {
		t.Errorf("company list: exit %d\n%s", code, out)
	}

	// A running server keeps successful key checks for key_cache_ttl, so
	// disable and revoke must not promise that the key fails at once.
	code, out, errOut = runCLI(t, env, "company", "disable", "acme", "--data", data)
	if code != 0 {
		t.Errorf("company disable: exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "within their key_cache_ttl") {
		t.Errorf("company disable output does not name key_cache_ttl:\n%s", out)
	}
	if strings.Contains(out, "at once") {
		t.Errorf("company disable output promises at once:\n%s", out)
	}
	if _, out, _ := runCLI(t, env, "company", "list", "--data", data); !strings.Contains(out, "disabled") {
		t.Errorf("company list after disable:\n%s", out)
	}
	if code, _, _ := runCLI(t, env, "company", "enable", "acme", "--data", data); code != 0 {
		t.Errorf("company enable: exit %d", code)
	}

	code, out, errOut = runCLI(t, env, "key", "rotate", "acme", "--data", data)
	if code != 0 || !keyPattern.MatchString(out) {
		t.Fatalf("key rotate: exit %d, stderr %s\n%s", code, errOut, out)
	}
	code, out, _ = runCLI(t, env, "key", "list", "acme", "--data", data)
	if lines := strings.Count(strings.TrimSpace(out), "\n"); code != 0 || lines != 2 {
		t.Fatalf("key list: exit %d, want a header and 2 keys:\n%s", code, out)
	}
	keyID := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[2])[0]
	code, out, errOut = runCLI(t, env, "key", "revoke", "acme", keyID, "--data", data)
	if code != 0 {
		t.Errorf("key revoke: exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "within their key_cache_ttl") {
		t.Errorf("key revoke output does not name key_cache_ttl:\n%s", out)
	}
	if strings.Contains(out, "at once") {
		t.Errorf("key revoke output promises at once:\n%s", out)
	}

	code, out, errOut = runCLI(t, env, "integration", "set", "acme", "--service", "mail", "--kind", "smtp",
		"--setting", "host=mail.example.com", "--setting", "from=soc@example.com", "--secret", "password=hunter2", "--data", data)
	if code != 0 {
		t.Fatalf("integration set: exit %d, stderr %s", code, errOut)
	}
	code, out, _ = runCLI(t, env, "integration", "list", "acme", "--data", data)
	if code != 0 || !strings.Contains(out, "host=mail.example.com") || !strings.Contains(out, "password") {
		t.Errorf("integration list: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("integration list shows a credential:\n%s", out)
	}

	if code, out, errOut := runCLI(t, env, "audit", "verify", "acme", "--data", data); code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("audit verify: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, env, "audit", "list", "acme", "--data", data, "--json"); code != 0 {
		t.Errorf("audit list: exit %d, stderr %s", code, errOut)
	}
}

func TestIntegrationSetRejectsBadSettings(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown service", []string{"--service", "okta", "--kind", "smtp"}, `unknown service "okta"`},
		{"kind of another service", []string{"--service", "mail", "--kind", "wazuh"}, "service mail takes kind smtp"},
		{"wrong kind for route", []string{"--service", "cisco", "--kind", "wazuh"}, "service cisco is served by kind cisco"},
		{"credential as setting", []string{"--service", "mail", "--kind", "smtp", "--setting", "host=h", "--setting", "from=f@example.com", "--setting", "password=x"}, "--secret password=VALUE"},
		{"unknown setting", []string{"--service", "mail", "--kind", "smtp", "--setting", "hostname=h"}, `unknown setting "hostname"`},
		{"missing required", []string{"--service", "mail", "--kind", "smtp", "--setting", "host=h"}, "missing --setting from=VALUE"},
		{"not name=value", []string{"--service", "mail", "--kind", "smtp", "--setting", "host"}, "not name=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"integration", "set", "acme", "--data", data}, tt.args...)
			code, _, errOut := runCLI(t, nil, args...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q, want a failure naming %q", code, errOut, tt.want)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no command", nil, 2, "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"no store", []string{"company", "list"}, 2, "no store"},
		{"unknown subcommand", []string{"company", "delete", "x", "--data", "DIR"}, 2, `unknown subcommand "delete"`},
		{"unknown flag", []string{"company", "list", "--dta", "x"}, 2, "flag provided but not defined"},
		{"postgres without master key", []string{"company", "list", "--database-url", "postgres://127.0.0.1:1/x"}, 1, "SMARTPT_MASTER_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			for i, a := range args {
				if a == "DIR" {
					args[i] = t.TempDir()
				}
			}
			code, _, errOut := runCLI(t, nil, args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.wantCode, tt.want)
			}
		})
	}

	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "smartpt ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}
