package main

import (
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/vendors"
)

// TestIntegrationTestAgainstSimulator stores an integration that points at
// a vendor simulator and runs the vendor's check through the command line,
// with the right and then with a wrong credential.
func TestIntegrationTestAgainstSimulator(t *testing.T) {
	if len(simharness.Kinds()) == 0 {
		t.Skip("no simulator is registered in this build")
	}
	for _, kind := range simharness.Kinds() {
		t.Run(string(kind), func(t *testing.T) { checkIntegrationAgainstSimulator(t, kind) })
	}
}

func checkIntegrationAgainstSimulator(t *testing.T, kind vendor.Kind) {
	svc, ok := demoServices[kind]
	if !ok {
		t.Fatalf("simulator kind %s has no demo service", kind)
	}
	if _, ok := vendor.Lookup(kind); !ok {
		t.Skipf("kind %s has no client in this build", kind)
	}

	sim, _ := simharness.Lookup(kind)
	running, err := sim.Start(simharness.Options{})
	if err != nil {
		t.Fatalf("start %s simulator: %v", kind, err)
	}
	t.Cleanup(running.Close)

	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}
	set := func(secrets map[string]string) {
		t.Helper()
		args := []string{"integration", "set", "acme", "--data", data, "--service", string(svc), "--kind", string(kind)}
		for k, v := range running.Settings {
			args = append(args, "--setting", k+"="+v)
		}
		for k, v := range secrets {
			args = append(args, "--secret", k+"="+v)
		}
		if code, _, errOut := runCLI(t, nil, args...); code != 0 {
			t.Fatalf("integration set: exit %d, stderr %s", code, errOut)
		}
	}

	set(running.Secrets)
	code, out, errOut := runCLI(t, nil, "integration", "test", "acme", "--service", string(svc), "--data", data)
	if code != 0 || !strings.Contains(out, "works") {
		t.Fatalf("integration test with valid credentials: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	wrong := map[string]string{}
	for k := range running.Secrets {
		wrong[k] = "wrong-" + k
	}
	set(wrong)
	code, _, errOut = runCLI(t, nil, "integration", "test", "acme", "--service", string(svc), "--data", data)
	// The vendor's rejection is shown in plain words, without the HTTP
	// layer's wrapping.
	if strings.Contains(errOut, "authorize:") || strings.Contains(errOut, "[REDACTED]") {
		t.Errorf("integration test with wrong credentials: stderr %q wraps the vendor's rejection", errOut)
	}
	if code != 1 || !strings.Contains(errOut, "failed its check") {
		t.Errorf("integration test with wrong credentials: exit %d, stderr %q; want exit 1 and a failed check", code, errOut)
	}
	for _, v := range wrong {
		if strings.Contains(errOut, v) {
			t.Errorf("error output shows a credential: %s", errOut)
		}
	}
}

// TestCompanyCommandsOnPostgres runs the administration commands against a
// fresh PostgreSQL schema; PostgreSQL replicas share the master key through
// SMARTPT_MASTER_KEY.
func TestCompanyCommandsOnPostgres(t *testing.T) {
	url, _ := storetest.SchemaURL(t)
	env := map[string]string{"SMARTPT_MASTER_KEY": strings.Repeat("ab", 32), "SMARTPT_DATABASE_URL": url}

	code, out, errOut := runCLI(t, env, "company", "create", "acme")
	if code != 0 || !keyPattern.MatchString(out) {
		t.Fatalf("company create: exit %d, stderr %s\n%s", code, errOut, out)
	}
	code, out, _ = runCLI(t, env, "company", "list")
	if code != 0 || !strings.Contains(out, "acme") {
		t.Errorf("company list: exit %d\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, env, "audit", "verify", "acme"); code != 0 {
		t.Errorf("audit verify: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
}
