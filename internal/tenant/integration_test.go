package tenant_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/secret/secrettest"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

func TestSetIntegrationValidates(t *testing.T) {
	if !testKindRegistered {
		t.Skip("the real cisco factory is linked; this test relies on its own settings")
	}
	cases := []struct {
		name     string
		svc      vendor.Service
		kind     vendor.Kind
		settings map[string]string
		secrets  map[string]string
		wantErr  string // empty means success
	}{
		{"complete", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c"}, map[string]string{"api_key": "k"}, ""},
		{"with optional", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c", "region": "eu"}, map[string]string{"api_key": "k", "unlock_seed": "s"}, ""},
		{"unknown service", "nosuch", testKind, nil, nil, `unknown service "nosuch"`},
		{"kind for another service", vendor.ServiceDefender, testKind, nil, nil, `kind "cisco" cannot serve defender: use defender`},
		{"missing required setting", vendor.ServiceCisco, testKind, nil, map[string]string{"api_key": "k"}, `missing required setting "client_id"`},
		{"missing required secret", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c"}, nil, `missing required secret "api_key"`},
		{"unknown setting", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c", "colour": "red"}, map[string]string{"api_key": "k"}, `unknown setting "colour"`},
		{"unknown secret", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c"}, map[string]string{"api_key": "k", "pin": "1"}, `unknown secret "pin"`},
		{"secret given as setting", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c", "api_key": "k"}, nil, `"api_key" is a secret`},
		{"name given twice", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c", "api_key": "k"}, map[string]string{"api_key": "k"}, `"api_key" is given both`},
		{"secret only as setting", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c", "unlock_seed": "s"}, map[string]string{"api_key": "k"}, `"unlock_seed" is a secret`},
		{"setting given as secret", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c"}, map[string]string{"api_key": "k", "region": "eu"}, `"region" is a setting`},
		{"empty value", vendor.ServiceCisco, testKind, map[string]string{"client_id": ""}, map[string]string{"api_key": "k"}, `setting "client_id" has an empty`},
		{"bad reference", vendor.ServiceCisco, testKind, map[string]string{"client_id": "c"}, map[string]string{"api_key": "vault:nofield"}, "want vault:MOUNT/PATH#FIELD"},
		{"paloalto accepts panos", vendor.ServicePaloAlto, vendor.KindPANOS, map[string]string{"anything": "x"}, nil, ""},
		{"paloalto rejects wazuh", vendor.ServicePaloAlto, vendor.KindWazuh, nil, nil, "use cortex or panos"},
		{"mail accepts smtp", vendor.ServiceMail, vendor.KindSMTP, map[string]string{"host": "smtp.example.com"}, map[string]string{"password": "p"}, ""},
		{"mail rejects entra", vendor.ServiceMail, vendor.KindEntra, nil, nil, "use smtp"},
	}
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.create(t, "acme")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := f.svc.SetIntegration(context.Background(), "acme", tc.svc, tc.kind, tc.settings, tc.secrets)
				if tc.wantErr == "" {
					if err != nil {
						t.Fatalf("SetIntegration: %v", err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SetIntegration error = %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "acme") {
					t.Errorf("error %q does not name the company", err)
				}
			})
		}
		if err := f.svc.SetIntegration(context.Background(), "nobody", vendor.ServiceCisco, testKind, nil, nil); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("SetIntegration(nobody) error = %v, want ErrNotFound", err)
		}
	})
}

func TestIntegrationSealsPlainSecrets(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, _ := f.create(t, "acme")
		settings := map[string]string{"base_url": "https://wazuh.example.com:55000", "username": "smartpt"}
		if err := f.svc.SetIntegration(ctx, "acme", vendor.ServiceWazuh, vendor.KindWazuh, settings,
			map[string]string{"password": "Wazuh-P4ss!"}); err != nil {
			t.Fatalf("SetIntegration: %v", err)
		}

		var raw string
		if err := f.db.SQL.QueryRowContext(ctx, f.db.Rebind("SELECT secrets FROM integrations WHERE company_id = ?"), c.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "Wazuh-P4ss") || !strings.Contains(raw, secret.SealedPrefix) {
			t.Errorf("stored secrets %s are not sealed", raw)
		}

		cfg, updated, err := f.svc.Integration(ctx, c.ID, vendor.ServiceWazuh)
		if err != nil {
			t.Fatalf("Integration: %v", err)
		}
		if cfg.Secrets["password"] != "Wazuh-P4ss!" {
			t.Errorf("resolved password = %q, want the plain value", cfg.Secrets["password"])
		}
		if cfg.Kind != vendor.KindWazuh || cfg.Service != vendor.ServiceWazuh || cfg.Settings["username"] != "smartpt" {
			t.Errorf("Integration = %+v", cfg)
		}

		list, err := f.svc.Integrations(ctx, "acme")
		if err != nil || len(list) != 1 {
			t.Fatalf("Integrations = %+v, %v", list, err)
		}
		if strings.Join(list[0].SecretNames, ",") != "password" || list[0].Settings["base_url"] == "" {
			t.Errorf("Integrations[0] = %+v", list[0])
		}

		// Setting again replaces the configuration and moves UpdatedAt.
		time.Sleep(time.Millisecond)
		if err := f.svc.SetIntegration(ctx, c.ID, vendor.ServiceWazuh, vendor.KindWazuh, settings,
			map[string]string{"password": "rotated"}); err != nil {
			t.Fatal(err)
		}
		cfg, updated2, err := f.svc.Integration(ctx, c.ID, vendor.ServiceWazuh)
		if err != nil || cfg.Secrets["password"] != "rotated" {
			t.Fatalf("Integration after update = %v, %v", cfg.Secrets["password"] == "rotated", err)
		}
		if !updated2.After(updated) {
			t.Errorf("UpdatedAt did not advance: %v then %v", updated, updated2)
		}

		// A tampered sealed value fails to open with an error that names
		// the company, service and secret but not the value.
		exec(t, f.db, "UPDATE integrations SET secrets = ? WHERE company_id = ?",
			strings.Replace(raw, secret.SealedPrefix, secret.SealedPrefix+"AA", 1), c.ID)
		_, _, err = f.svc.Integration(ctx, c.ID, vendor.ServiceWazuh)
		if !errors.Is(err, secret.ErrOpen) || !strings.Contains(err.Error(), "password") {
			t.Errorf("tampered secret error = %v, want ErrOpen naming the secret", err)
		}

		if err := f.svc.DeleteIntegration(ctx, "acme", vendor.ServiceWazuh); err != nil {
			t.Fatalf("DeleteIntegration: %v", err)
		}
		if _, _, err := f.svc.Integration(ctx, c.ID, vendor.ServiceWazuh); !errors.Is(err, tenant.ErrNotConfigured) {
			t.Errorf("Integration after delete: error = %v, want ErrNotConfigured", err)
		}
		if err := f.svc.DeleteIntegration(ctx, "acme", vendor.ServiceWazuh); !errors.Is(err, tenant.ErrNotConfigured) {
			t.Errorf("second DeleteIntegration error = %v, want ErrNotConfigured", err)
		}
	})
}

func TestIntegrationResolvesReferences(t *testing.T) {
	aws := secrettest.NewAWSSecretsManager(t)
	arn := aws.PutString("smartpt/entra", `{"client_secret":"from-aws"}`)
	vault := secrettest.NewVault(t)
	vault.Put("secret", "smartpt/entra", map[string]any{"client_secret": "from-vault"})
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	refs := map[string]struct{ ref, want string }{
		"env":    {"env:ENTRA_SECRET", "from-env"},
		"file":   {"file:" + file, "from-file"},
		"aws-sm": {"aws-sm:" + arn + "#client_secret", "from-aws"},
		"vault":  {"vault:secret/smartpt/entra#client_secret", "from-vault"},
	}

	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.env["ENTRA_SECRET"] = "from-env"
		f.env["AWS_ACCESS_KEY_ID"] = secrettest.AWSAccessKeyID
		f.env["AWS_SECRET_ACCESS_KEY"] = secrettest.AWSSecretAccessKey
		f.env["VAULT_ADDR"] = vault.URL
		f.env["VAULT_TOKEN"] = secrettest.VaultToken
		f.resolver.AWSEndpoint = aws.URL
		c, _ := f.create(t, "acme")

		for kind, tc := range refs {
			t.Run(kind, func(t *testing.T) {
				f.resolver.Forget()
				if err := f.svc.SetIntegration(ctx, "acme", vendor.ServiceAzureAD, vendor.KindEntra,
					map[string]string{"tenant_id": "t"}, map[string]string{"client_secret": tc.ref}); err != nil {
					t.Fatalf("SetIntegration: %v", err)
				}

				var raw string
				if err := f.db.SQL.QueryRowContext(ctx, f.db.Rebind("SELECT secrets FROM integrations WHERE company_id = ?"), c.ID).Scan(&raw); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(raw, tc.ref) {
					t.Errorf("stored secrets %s do not keep the reference %s", raw, tc.ref)
				}

				cfg, _, err := f.svc.Integration(ctx, c.ID, vendor.ServiceAzureAD)
				if err != nil {
					t.Fatalf("Integration: %v", err)
				}
				if got := cfg.Secrets["client_secret"]; got != tc.want {
					t.Errorf("resolved %s = %q, want %q", tc.ref, got, tc.want)
				}
			})
		}

		// A reference that cannot be resolved names the service and secret.
		if err := f.svc.SetIntegration(ctx, "acme", vendor.ServiceAzureAD, vendor.KindEntra, nil,
			map[string]string{"client_secret": "env:NOT_SET_ANYWHERE"}); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.svc.Integration(ctx, c.ID, vendor.ServiceAzureAD)
		if err == nil || !strings.Contains(err.Error(), "NOT_SET_ANYWHERE") || !strings.Contains(err.Error(), "azuread") {
			t.Errorf("unresolvable reference error = %v, want it to name the reference and service", err)
		}
	})
}

func TestSetIntegrationWithoutSealer(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.create(t, "acme")
		svc := tenant.New(f.db, nil, f.resolver)
		err := svc.SetIntegration(ctx, "acme", vendor.ServiceWazuh, vendor.KindWazuh, nil, map[string]string{"password": "plain"})
		if err == nil || !strings.Contains(err.Error(), "no master key") {
			t.Errorf("plain secret without a sealer: error = %v, want a missing master key error", err)
		}
		if err := svc.SetIntegration(ctx, "acme", vendor.ServiceWazuh, vendor.KindWazuh, nil, map[string]string{"password": "env:X"}); err != nil {
			t.Errorf("reference without a sealer: %v", err)
		}
	})
}

// TestIntegrationVersion: the cheap check returns the kind and the time
// that Integration returns, a new time after each SetIntegration, and
// ErrNotConfigured for a service without an integration.
func TestIntegrationVersion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, _ := f.create(t, "acme")

		if _, _, err := f.svc.IntegrationVersion(ctx, c.ID, vendor.ServiceWazuh); !errors.Is(err, tenant.ErrNotConfigured) {
			t.Fatalf("IntegrationVersion before any integration: error %v, want ErrNotConfigured", err)
		}

		var times []time.Time
		for i, user := range []string{"first", "second"} {
			if i > 0 {
				time.Sleep(2 * time.Millisecond) // a distinct updated_at
			}
			err := f.svc.SetIntegration(ctx, "acme", vendor.ServiceWazuh, vendor.KindWazuh,
				map[string]string{"base_url": "https://wazuh.example.com:55000", "username": user},
				map[string]string{"password": "Wazuh-P4ss!"})
			if err != nil {
				t.Fatalf("SetIntegration %s: %v", user, err)
			}
			kind, at, err := f.svc.IntegrationVersion(ctx, c.ID, vendor.ServiceWazuh)
			if err != nil {
				t.Fatalf("IntegrationVersion after the %s set: %v", user, err)
			}
			_, full, err := f.svc.Integration(ctx, c.ID, vendor.ServiceWazuh)
			if err != nil {
				t.Fatalf("Integration after the %s set: %v", user, err)
			}
			if kind != vendor.KindWazuh || !at.Equal(full) {
				t.Errorf("after the %s set: IntegrationVersion = %s, %s; want wazuh and Integration's time %s", user, kind, at, full)
			}
			times = append(times, at)
		}
		if !times[1].After(times[0]) {
			t.Errorf("the second set has time %s, not after the first's %s", times[1], times[0])
		}
	})
}

func TestAuthenticateForReadsRevision(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		acme, acmeKey := f.create(t, "acme")
		other, otherKey := f.create(t, "other")
		err := f.svc.SetIntegration(ctx, "acme", vendor.ServiceWazuh, vendor.KindWazuh,
			map[string]string{"base_url": "https://wazuh.example.com:55000", "username": "wazuh-wui"},
			map[string]string{"password": "Wazuh-P4ss!"})
		if err != nil {
			t.Fatalf("SetIntegration: %v", err)
		}
		_, setAt, err := f.svc.IntegrationVersion(ctx, acme.ID, vendor.ServiceWazuh)
		if err != nil {
			t.Fatalf("IntegrationVersion: %v", err)
		}

		cases := []struct {
			name    string
			key     string
			svc     vendor.Service
			want    tenant.Company
			wantRev tenant.Revision
		}{
			{"configured service", acmeKey, vendor.ServiceWazuh, acme, tenant.Revision{Kind: vendor.KindWazuh, UpdatedAt: setAt}},
			{"other service", acmeKey, vendor.ServiceDefender, acme, tenant.Revision{}},
			{"no service", acmeKey, "", acme, tenant.Revision{}},
			{"company without integrations", otherKey, vendor.ServiceWazuh, other, tenant.Revision{}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, rev, err := f.svc.AuthenticateFor(ctx, tc.key, tc.svc)
				if err != nil {
					t.Fatalf("AuthenticateFor: %v", err)
				}
				if got.ID != tc.want.ID {
					t.Errorf("company %s, want %s", got.Name, tc.want.Name)
				}
				if rev.Kind != tc.wantRev.Kind || !rev.UpdatedAt.Equal(tc.wantRev.UpdatedAt) {
					t.Errorf("revision %+v, want %+v", rev, tc.wantRev)
				}
			})
		}

		unknown, _ := tenant.NewKey()
		if _, _, err := f.svc.AuthenticateFor(ctx, unknown, vendor.ServiceWazuh); !errors.Is(err, tenant.ErrUnauthorized) {
			t.Errorf("AuthenticateFor with an unknown key: error %v, want ErrUnauthorized", err)
		}
		if err := f.svc.SetDisabled(ctx, "acme", true); err != nil {
			t.Fatalf("SetDisabled: %v", err)
		}
		if _, _, err := f.svc.AuthenticateFor(ctx, acmeKey, vendor.ServiceWazuh); !errors.Is(err, tenant.ErrUnauthorized) {
			t.Errorf("AuthenticateFor with the key of a disabled company: error %v, want ErrUnauthorized", err)
		}
	})
}
