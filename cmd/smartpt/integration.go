package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/smartpt/smartpt/internal/vendors"
)

// mailSettings describes the ServiceMail integration (kind smtp): a
// company's own SMTP relay for its reports and notifications.
var mailSettings = []vendor.Setting{
	{Name: "host", Required: true, Help: "SMTP server host name"},
	{Name: "port", Help: "SMTP server TCP port; default 587 (465 with tls=implicit)"},
	{Name: "from", Required: true, Help: "sender address of the company's reports"},
	{Name: "tls", Help: "starttls (default), implicit, or none (only for a relay on loopback)"},
	{Name: "username", Help: "SMTP user name; empty sends without authentication"},
	{Name: "password", Secret: true, Help: "SMTP password, or a reference: env:NAME, file:PATH, aws-sm:ARN, vault:PATH#FIELD"},
}

// settingsFor returns the settings a kind accepts and whether it may serve svc.
func settingsFor(svc vendor.Service, kind vendor.Kind) ([]vendor.Setting, error) {
	if svc == vendor.ServiceMail {
		if kind != vendor.KindSMTP {
			return nil, fmt.Errorf("service mail takes kind smtp, not %q", kind)
		}
		return mailSettings, nil
	}

	kinds, ok := vendor.ServiceKinds[svc]
	if !ok {
		return nil, fmt.Errorf("unknown service %q; valid services: %s", svc, serviceList())
	}
	if !slices.Contains(kinds, kind) {
		return nil, fmt.Errorf("service %s is served by kind %s, not %q", svc, kindList(kinds), kind)
	}
	f, ok := vendor.Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("kind %q has no client in this build of smartpt", kind)
	}
	return f.Settings, nil
}

func serviceList() string {
	names := []string{string(vendor.ServiceMail)}
	for svc := range vendor.ServiceKinds {
		names = append(names, string(svc))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func kindList(kinds []vendor.Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, " or ")
}

// pairs collects repeated name=value flags.
type pairs map[string]string

func (p pairs) String() string { return fmt.Sprintf("%d values", len(p)) }

func (p pairs) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not name=value", s)
	}
	if _, dup := p[name]; dup {
		return fmt.Errorf("%s given twice", name)
	}
	p[name] = value
	return nil
}

// checkSettings rejects unknown names, secrets passed as settings and the
// reverse, and missing required values.
func checkSettings(defs []vendor.Setting, settings, secrets map[string]string) error {
	byName := map[string]vendor.Setting{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	for name := range settings {
		d, ok := byName[name]
		switch {
		case !ok:
			return fmt.Errorf("unknown setting %q; valid: %s", name, settingNames(defs))
		case d.Secret:
			return fmt.Errorf("%s is a credential: pass it with --secret %s=VALUE so that it is sealed", name, name)
		}
	}
	for name := range secrets {
		d, ok := byName[name]
		switch {
		case !ok:
			return fmt.Errorf("unknown secret %q; valid: %s", name, settingNames(defs))
		case !d.Secret:
			return fmt.Errorf("%s is not a credential: pass it with --setting %s=VALUE", name, name)
		}
	}
	for _, d := range defs {
		if !d.Required {
			continue
		}
		_, inSettings := settings[d.Name]
		_, inSecrets := secrets[d.Name]
		if !inSettings && !inSecrets {
			flagName := "--setting"
			if d.Secret {
				flagName = "--secret"
			}
			return fmt.Errorf("missing %s %s=VALUE: %s", flagName, d.Name, d.Help)
		}
	}
	return nil
}

func settingNames(defs []vendor.Setting) string {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

func (c *cli) integration(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: set, list or test")
	}
	sub, rest := args[0], args[1:]

	switch sub {
	case "set":
		return c.integrationSet(ctx, rest)
	case "list":
		return c.integrationList(ctx, rest)
	case "test":
		return c.integrationTest(ctx, rest)
	}
	return usagef("unknown subcommand %q: use set, list or test", sub)
}

func (c *cli) integrationSet(ctx context.Context, args []string) error {
	var service, kind string
	settings, secrets := pairs{}, pairs{}
	synopsis := "integration set COMPANY --service SERVICE --kind KIND [--setting NAME=VALUE]... [--secret NAME=VALUE]..."
	a, pos, err := c.openFor(ctx, synopsis, args, func(fs *flag.FlagSet) {
		fs.StringVar(&service, "service", "", "route family the integration serves: "+serviceList())
		fs.StringVar(&kind, "kind", "", "vendor product serving it: entra, defender, wazuh, cortex, panos, cisco, or smtp for service mail")
		fs.Var(settings, "setting", "`NAME=VALUE` of a setting such as a tenant id or base URL; repeat for each")
		fs.Var(secrets, "secret", "`NAME=VALUE` of a credential, sealed with the master key, or a reference: env:NAME, file:PATH, aws-sm:ARN, vault:PATH#FIELD; repeat for each")
	})
	if err != nil {
		return err
	}
	defer a.Close()

	if len(pos) != 1 || service == "" || kind == "" {
		return usagef("usage: smartpt %s", synopsis)
	}
	defs, err := settingsFor(vendor.Service(service), vendor.Kind(kind))
	if err != nil {
		return err
	}
	if err := checkSettings(defs, settings, secrets); err != nil {
		return err
	}
	if err := a.tenants.SetIntegration(ctx, pos[0], vendor.Service(service), vendor.Kind(kind), settings, secrets); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Integration %s (%s) of company %s saved with %d settings and %d credentials.\n", service, kind, pos[0], len(settings), len(secrets))
	return nil
}

func (c *cli) integrationList(ctx context.Context, args []string) error {
	a, pos, err := c.openFor(ctx, "integration list COMPANY [--data DIR | --database-url URL]", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 {
		return usagef("usage: smartpt integration list COMPANY")
	}

	list, err := a.tenants.Integrations(ctx, pos[0])
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tKIND\tSETTINGS\tCREDENTIALS\tUPDATED")
	for _, in := range list {
		var kv []string
		for k, v := range in.Settings {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Service, in.Kind, strings.Join(kv, " "), strings.Join(in.SecretNames, ","), in.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return tw.Flush()
}

// integrationTest builds the client of the company's integration and runs
// the vendor's cheapest authenticated read.
func (c *cli) integrationTest(ctx context.Context, args []string) error {
	var service string
	a, pos, err := c.openFor(ctx, "integration test COMPANY --service SERVICE", args, func(fs *flag.FlagSet) {
		fs.StringVar(&service, "service", "", "route family whose integration to test: "+serviceList())
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 || service == "" {
		return usagef("usage: smartpt integration test COMPANY --service SERVICE")
	}

	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	cfg, _, err := a.tenants.Integration(ctx, company.ID, vendor.Service(service))
	if err != nil {
		return fmt.Errorf("integration %s of company %s: %w", service, pos[0], err)
	}
	if cfg.Service == vendor.ServiceMail {
		return errors.New("the mail integration has no read to test; send a report with AzureADSreport to check it")
	}
	f, ok := vendor.Lookup(cfg.Kind)
	if !ok || f.Check == nil {
		return fmt.Errorf("kind %q has no check in this build of smartpt", cfg.Kind)
	}
	if err := f.Check(cfg, vendor.Deps{HTTP: a.pool, Logger: a.logger}); err != nil {
		return fmt.Errorf("integration %s (%s) of company %s failed its check: %w", service, cfg.Kind, pos[0], err)
	}
	fmt.Fprintf(c.stdout, "Integration %s (%s) of company %s works: the vendor accepted its credentials.\n", service, cfg.Kind, pos[0])
	return nil
}
