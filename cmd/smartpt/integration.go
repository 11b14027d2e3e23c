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

const integrationUsage = `Usage:
  smartpt integration set COMPANY --service SERVICE --kind KIND [--setting NAME=VALUE]... [--secret NAME=VALUE]... [--by OPERATOR]
      store or replace the integration that serves a route family
  smartpt integration delete COMPANY --service SERVICE [--by OPERATOR]
      remove it, so that its route answers "not configured"
  smartpt integration list COMPANY
      list the integrations (credential names, never their values)
  smartpt integration test COMPANY --service SERVICE
      run the vendor's cheapest authenticated read

Every subcommand takes --data DIR or --database-url URL.
Run "smartpt integration SUBCOMMAND -h" for its flags.
`

func (c *cli) integration(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: set, delete, list or test\n\n%s", integrationUsage)
	}
	sub, rest := args[0], args[1:]

	switch sub {
	case "set":
		return c.integrationSet(ctx, rest)
	case "delete":
		return c.integrationDelete(ctx, rest)
	case "list":
		return c.integrationList(ctx, rest)
	case "test":
		return c.integrationTest(ctx, rest)
	}
	if isHelp(sub) {
		return c.printHelp(integrationUsage)
	}
	return usagef("unknown subcommand %q: use set, delete, list or test", sub)
}

func (c *cli) integrationSet(ctx context.Context, args []string) error {
	var service, kind, by string
	settings, secrets := pairs{}, pairs{}
	synopsis := "integration set COMPANY --service SERVICE --kind KIND [--setting NAME=VALUE]... [--secret NAME=VALUE]... [--by OPERATOR]"
	a, pos, err := c.openFor(ctx, synopsis, args, func(fs *flag.FlagSet) {
		fs.StringVar(&service, "service", "", "route family the integration serves: "+serviceList())
		fs.StringVar(&kind, "kind", "", "vendor product serving it: entra, defender, wazuh, cortex, panos, cisco, or smtp for service mail")
		fs.Var(settings, "setting", "`NAME=VALUE` of a setting such as a tenant id or base URL; repeat for each")
		fs.Var(secrets, "secret", "`NAME=VALUE` of a credential, sealed with the master key, or a reference: env:NAME, file:PATH, aws-sm:ARN, vault:PATH#FIELD; repeat for each")
		c.addByFlag(fs, &by)
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

	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	// Only the names go on record: setting values may be long PEM blocks
	// and credential values are secrets.
	detail := fmt.Sprintf("kind %s; settings: %s; credentials: %s", kind, sortedNames(settings), sortedNames(secrets))
	return c.recordAdmin(ctx, a, company.ID, by, "integration set", service, detail)
}

func (c *cli) integrationDelete(ctx context.Context, args []string) error {
	var service, by string
	synopsis := "integration delete COMPANY --service SERVICE [--by OPERATOR]"
	a, pos, err := c.openFor(ctx, synopsis, args, func(fs *flag.FlagSet) {
		fs.StringVar(&service, "service", "", "route family whose integration to remove: "+serviceList())
		c.addByFlag(fs, &by)
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 || service == "" {
		return usagef("usage: smartpt %s", synopsis)
	}

	if err := a.tenants.DeleteIntegration(ctx, pos[0], vendor.Service(service)); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Integration %s of company %s deleted.\n", service, pos[0])
	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.recordAdmin(ctx, a, company.ID, by, "integration delete", service, "")
}

// sortedNames returns the names of p, sorted and comma-separated, or "none".
func sortedNames(p pairs) string {
	if len(p) == 0 {
		return "none"
	}
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
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
			kv = append(kv, k+"="+tableValue(v))
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

// tableValue shortens a setting value for the one-line table: a PEM block
// becomes "(PEM, N bytes)", and other line breaks are escaped.
func tableValue(v string) string {
	if strings.Contains(v, "-----BEGIN ") {
		return fmt.Sprintf("(PEM, %d bytes)", len(v))
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(v)
}
