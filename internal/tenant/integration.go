package tenant

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

// SetIntegration stores a company's integration for a service, replacing
// any earlier one. Each secret value is either a reference (env:NAME,
// file:PATH, aws-sm:ARN, vault:PATH#FIELD), stored as given after a syntax
// check, or a plain value, sealed bound to the company, service and secret
// name. When the kind's factory is registered, the settings and secrets
// must be the ones it declares, with every required one present.
func (s *Service) SetIntegration(ctx context.Context, nameOrID string, svc vendor.Service, kind vendor.Kind, settings, secrets map[string]string) error {
	defer s.forgetKeyChecks()
	c, err := s.Company(ctx, nameOrID)
	if err != nil {
		return err
	}
	if err := validateIntegration(svc, kind, settings, secrets); err != nil {
		return fmt.Errorf("set %s integration of company %s: %w", svc, c.Name, err)
	}

	stored := make(map[string]string, len(secrets))
	for name, value := range secrets {
		if secret.IsReference(value) {
			if _, err := secret.ParseReference(value); err != nil {
				return fmt.Errorf("set %s integration of company %s: secret %s: %w", svc, c.Name, name, err)
			}
			stored[name] = value
			continue
		}
		if s.sealer == nil {
			return fmt.Errorf("set %s integration of company %s: secret %s is a plain value but no master key is configured: set SMARTPT_MASTER_KEY or use a secret reference", svc, c.Name, name)
		}
		sealed, err := s.sealer.SealFor(value, sealContext(c.ID, svc, name))
		if err != nil {
			return fmt.Errorf("set %s integration of company %s: seal secret %s: %w", svc, c.Name, name, err)
		}
		stored[name] = sealed
	}

	settingsJSON, err := json.Marshal(nonNil(settings))
	if err != nil {
		return fmt.Errorf("set %s integration of company %s: encode settings: %w", svc, c.Name, err)
	}
	secretsJSON, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("set %s integration of company %s: encode secrets: %w", svc, c.Name, err)
	}

	_, err = s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO integrations (company_id, service, kind, settings, secrets, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (company_id, service) DO UPDATE SET kind = excluded.kind, settings = excluded.settings,
			secrets = excluded.secrets, updated_at = excluded.updated_at`),
		c.ID, string(svc), string(kind), string(settingsJSON), string(secretsJSON), store.UnixNanos(time.Now()))
	if err != nil {
		return fmt.Errorf("set %s integration of company %s: %w", svc, c.Name, err)
	}
	return nil
}

// DeleteIntegration removes a company's integration for a service.
func (s *Service) DeleteIntegration(ctx context.Context, nameOrID string, svc vendor.Service) error {
	defer s.forgetKeyChecks()
	c, err := s.Company(ctx, nameOrID)
	if err != nil {
		return err
	}
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind("DELETE FROM integrations WHERE company_id = ? AND service = ?"), c.ID, string(svc))
	if err != nil {
		return fmt.Errorf("delete %s integration of company %s: %w", svc, c.Name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("company %s has no %s integration: %w", c.Name, svc, ErrNotConfigured)
	}
	return nil
}

// IntegrationVersion returns the kind of the company's integration for svc
// and when it was last set (the time Integration returns), or
// ErrNotConfigured. It reads two columns and opens no secret, so a caller
// can keep what it built from Integration until the time changes.
func (s *Service) IntegrationVersion(ctx context.Context, companyID string, svc vendor.Service) (vendor.Kind, time.Time, error) {
	var kind string
	var updated int64
	err := s.db.Read.QueryRowContext(s.db.ShortContext(ctx),
		s.db.Rebind("SELECT kind, updated_at FROM integrations WHERE company_id = ? AND service = ?"),
		companyID, string(svc)).Scan(&kind, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("company %s has no %s integration: %w; set one with \"smartpt integration set\"", companyID, svc, ErrNotConfigured)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read %s integration of company %s: %w", svc, companyID, err)
	}
	return vendor.Kind(kind), store.TimeFromUnixNanos(updated), nil
}

// Integration returns the configuration of the company's integration for
// svc with its secrets resolved, or ErrNotConfigured. companyID is the id,
// as returned by Authenticate. The time is when the integration was last
// set; it does not change when a referenced secret changes at its source.
func (s *Service) Integration(ctx context.Context, companyID string, svc vendor.Service) (vendor.Config, time.Time, error) {
	var kind, settingsJSON, secretsJSON string
	var updated int64
	err := s.db.Read.QueryRowContext(s.db.ShortContext(ctx),
		s.db.Rebind("SELECT kind, settings, secrets, updated_at FROM integrations WHERE company_id = ? AND service = ?"),
		companyID, string(svc)).Scan(&kind, &settingsJSON, &secretsJSON, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return vendor.Config{}, time.Time{}, fmt.Errorf("company %s has no %s integration: %w; set one with \"smartpt integration set\"", companyID, svc, ErrNotConfigured)
	}
	if err != nil {
		return vendor.Config{}, time.Time{}, fmt.Errorf("read %s integration of company %s: %w", svc, companyID, err)
	}

	cfg := vendor.Config{CompanyID: companyID, Service: svc, Kind: vendor.Kind(kind), Secrets: map[string]string{}}
	if err := json.Unmarshal([]byte(settingsJSON), &cfg.Settings); err != nil {
		return vendor.Config{}, time.Time{}, fmt.Errorf("read %s integration of company %s: decode settings: %w", svc, companyID, err)
	}
	cfg.Settings = nonNil(cfg.Settings)
	var stored map[string]string
	if err := json.Unmarshal([]byte(secretsJSON), &stored); err != nil {
		return vendor.Config{}, time.Time{}, fmt.Errorf("read %s integration of company %s: decode secrets: %w", svc, companyID, err)
	}

	for name, value := range stored {
		plain, err := s.openSecret(ctx, companyID, svc, name, value)
		if err != nil {
			return vendor.Config{}, time.Time{}, fmt.Errorf("%s integration of company %s: secret %s: %w", svc, companyID, name, err)
		}
		cfg.Secrets[name] = plain
	}
	return cfg, store.TimeFromUnixNanos(updated), nil
}

func (s *Service) openSecret(ctx context.Context, companyID string, svc vendor.Service, name, value string) (string, error) {
	switch {
	case secret.IsSealed(value):
		if s.sealer == nil {
			return "", errors.New("the value is sealed but no master key is configured: set SMARTPT_MASTER_KEY or the key file")
		}
		return s.sealer.OpenFor(value, sealContext(companyID, svc, name))
	case secret.IsReference(value):
		if s.resolver == nil {
			return "", fmt.Errorf("the value is the reference %s but no resolver is configured", value)
		}
		return s.resolver.Resolve(ctx, value)
	}
	return "", errors.New("the stored value is neither sealed nor a reference: set the integration again")
}

// Integrations lists a company's integrations without secret values,
// sorted by service.
func (s *Service) Integrations(ctx context.Context, nameOrID string) ([]Integration, error) {
	c, err := s.Company(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.SQL.QueryContext(ctx,
		s.db.Rebind("SELECT service, kind, settings, secrets, updated_at FROM integrations WHERE company_id = ? ORDER BY service"), c.ID)
	if err != nil {
		return nil, fmt.Errorf("list integrations of company %s: %w", c.Name, err)
	}
	defer rows.Close()

	var out []Integration
	for rows.Next() {
		var svc, kind, settingsJSON, secretsJSON string
		var updated int64
		if err := rows.Scan(&svc, &kind, &settingsJSON, &secretsJSON, &updated); err != nil {
			return nil, fmt.Errorf("list integrations of company %s: %w", c.Name, err)
		}
		in := Integration{CompanyID: c.ID, Service: vendor.Service(svc), Kind: vendor.Kind(kind), UpdatedAt: store.TimeFromUnixNanos(updated)}
		var stored map[string]string
		if err := json.Unmarshal([]byte(settingsJSON), &in.Settings); err != nil {
			return nil, fmt.Errorf("list integrations of company %s: decode %s settings: %w", c.Name, svc, err)
		}
		if err := json.Unmarshal([]byte(secretsJSON), &stored); err != nil {
			return nil, fmt.Errorf("list integrations of company %s: decode %s secrets: %w", c.Name, svc, err)
		}
		in.Settings = nonNil(in.Settings)
		for name := range stored {
			in.SecretNames = append(in.SecretNames, name)
		}
		sort.Strings(in.SecretNames)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list integrations of company %s: %w", c.Name, err)
	}
	return out, nil
}

// sealContext binds a sealed secret to one company, service and secret
// name, so that a sealed value copied to another row fails to open.
func sealContext(companyID string, svc vendor.Service, name string) string {
	return "integration\x00" + companyID + "\x00" + string(svc) + "\x00" + name
}

// validateIntegration checks that kind may serve svc and, when the kind's
// factory is registered, that settings and secrets match its declaration.
func validateIntegration(svc vendor.Service, kind vendor.Kind, settings, secrets map[string]string) error {
	allowed, known := vendor.ServiceKinds[svc]
	if svc == vendor.ServiceMail {
		allowed, known = []vendor.Kind{vendor.KindSMTP}, true
	}
	if !known {
		return fmt.Errorf("unknown service %q: use one of %s", svc, strings.Join(serviceNames(), ", "))
	}
	if !containsKind(allowed, kind) {
		return fmt.Errorf("kind %q cannot serve %s: use %s", kind, svc, joinKinds(allowed))
	}

	for name, value := range settings {
		if name == "" || value == "" {
			return fmt.Errorf("setting %q has an empty name or value: omit it or give a value", name)
		}
		if _, dup := secrets[name]; dup {
			return fmt.Errorf("%q is given both as a setting and as a secret", name)
		}
	}
	for name, value := range secrets {
		if name == "" || value == "" {
			return fmt.Errorf("secret %q has an empty name or value: omit it or give a value", name)
		}
	}

	f, ok := vendor.Lookup(kind)
	if !ok {
		// NOTE: kinds without a registered factory (smtp, or a vendor
		// package not linked into this binary) are stored unchecked.
		return nil
	}
	declared := map[string]vendor.Setting{}
	for _, st := range f.Settings {
		declared[st.Name] = st
	}
	var problems []string
	for _, st := range f.Settings {
		given := settings
		if st.Secret {
			given = secrets
		}
		if st.Required && given[st.Name] == "" {
			problems = append(problems, fmt.Sprintf("missing required %s %q (%s)", settingWord(st), st.Name, st.Help))
		}
	}
	for name := range settings {
		if st, ok := declared[name]; !ok {
			problems = append(problems, fmt.Sprintf("unknown setting %q", name))
		} else if st.Secret {
			problems = append(problems, fmt.Sprintf("%q is a secret: pass it as a secret, not a setting", name))
		}
	}
	for name := range secrets {
		if st, ok := declared[name]; !ok {
			problems = append(problems, fmt.Sprintf("unknown secret %q", name))
		} else if !st.Secret {
			problems = append(problems, fmt.Sprintf("%q is a setting, not a secret", name))
		}
	}
	if f.Validate != nil && len(problems) == 0 {
		if err := f.Validate(settings, secrets); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("invalid %s configuration: %s; %s takes %s", kind, strings.Join(problems, "; "), kind, describeSettings(f.Settings))
	}
	return nil
}

func settingWord(st vendor.Setting) string {
	if st.Secret {
		return "secret"
	}
	return "setting"
}

// describeSettings lists the declared names, marking secrets and required
// ones, for error messages.
func describeSettings(settings []vendor.Setting) string {
	var parts []string
	for _, st := range settings {
		p := st.Name
		if st.Secret {
			p += " (secret"
		} else {
			p += " (setting"
		}
		if st.Required {
			p += ", required"
		}
		parts = append(parts, p+")")
	}
	if len(parts) == 0 {
		return "no settings"
	}
	return strings.Join(parts, ", ")
}

func serviceNames() []string {
	names := []string{string(vendor.ServiceMail)}
	for svc := range vendor.ServiceKinds {
		names = append(names, string(svc))
	}
	sort.Strings(names)
	return names
}

func containsKind(kinds []vendor.Kind, k vendor.Kind) bool {
	for _, v := range kinds {
		if v == k {
			return true
		}
	}
	return false
}

func joinKinds(kinds []vendor.Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, " or ")
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
