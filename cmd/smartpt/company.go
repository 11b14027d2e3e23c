package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartpt/smartpt/internal/action"
)

// adminLogger logs warnings and errors of administration commands to stderr.
func (c *cli) adminLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openFor parses a subcommand's flags, opens the store and returns the
// positional arguments.
func (c *cli) openFor(ctx context.Context, synopsis string, args []string, extra func(*flag.FlagSet)) (*app, []string, error) {
	fs := c.newFlags(synopsis, synopsis)
	sf := c.addStoreFlags(fs)
	if extra != nil {
		extra(fs)
	}
	positional, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	a, err := sf.open(ctx, c.getenv, c.adminLogger())
	if err != nil {
		return nil, nil, err
	}
	return a, positional, nil
}

const companyUsage = `Usage:
  smartpt company create NAME [--by OPERATOR]    create a company and print its first key
  smartpt company list                           list the companies
  smartpt company disable NAME [--by OPERATOR]   make the company's keys fail
  smartpt company enable NAME [--by OPERATOR]    make its keys work again

Every subcommand takes --data DIR or --database-url URL. A running server
keeps a successful key check for its key_cache_ttl (default 1s), so a
disabled company's keys fail on it within that time.
Run "smartpt company SUBCOMMAND -h" for its flags.
`

func (c *cli) company(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: create, list, disable or enable\n\n%s", companyUsage)
	}
	sub, rest := args[0], args[1:]
	switch {
	case isHelp(sub):
		return c.printHelp(companyUsage)
	case sub != "create" && sub != "list" && sub != "disable" && sub != "enable":
		return usagef("unknown subcommand %q: use create, list, disable or enable", sub)
	}
	synopsis := "company " + sub + " NAME [--by OPERATOR] [--data DIR | --database-url URL]"
	if sub == "list" {
		synopsis = "company list [--data DIR | --database-url URL]"
	}

	var by string
	a, pos, err := c.openFor(ctx, synopsis, rest, func(fs *flag.FlagSet) {
		if sub != "list" {
			c.addByFlag(fs, &by)
		}
	})
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "create":
		if len(pos) != 1 {
			return usagef("usage: smartpt %s", synopsis)
		}
		company, key, err := a.tenants.CreateCompany(ctx, pos[0], "")
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Created company %s (id %s).\nCompany key (shown once; only its SHA-256 digest is stored):\n%s\n", company.Name, company.ID, key)
		return c.recordAdmin(ctx, a, company.ID, by, "company create", company.Name, "")

	case "list":
		companies, err := a.tenants.ListCompanies(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tSTATUS\tCREATED")
		for _, co := range companies {
			status := "enabled"
			if co.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", co.Name, co.ID, status, co.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()

	default: // disable, enable
		if len(pos) != 1 {
			return usagef("usage: smartpt %s", synopsis)
		}
		if err := a.tenants.SetDisabled(ctx, pos[0], sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, companyStatusMessage(pos[0], sub == "disable"))
		company, err := a.tenants.Company(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.recordAdmin(ctx, a, company.ID, by, "company "+sub, company.Name, "")
	}
}

// companyStatusMessage returns the output of company disable and enable. A
// running server rejects a disabled company's keys within its
// key_cache_ttl, because it keeps successful key checks that long. It
// accepts an enabled company's keys at once, because it keeps no failed
// check.
func companyStatusMessage(name string, disabled bool) string {
	if disabled {
		return fmt.Sprintf("Company %s disabled. Running servers reject its keys within their key_cache_ttl (default 1s).", name)
	}
	return fmt.Sprintf("Company %s enabled; its keys work at once.", name)
}

const keyUsage = `Usage:
  smartpt key rotate COMPANY [--by OPERATOR]          add a key; the previous one stays valid
  smartpt key revoke COMPANY KEY_ID [--by OPERATOR]   make one key fail
  smartpt key list COMPANY                            list the keys (ids, never the keys)

Every subcommand takes --data DIR or --database-url URL. A running server
keeps a successful key check for its key_cache_ttl (default 1s), so a
revoked key fails on it within that time.
Run "smartpt key SUBCOMMAND -h" for its flags.
`

func (c *cli) key(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: rotate, revoke or list\n\n%s", keyUsage)
	}
	sub, rest := args[0], args[1:]
	switch {
	case isHelp(sub):
		return c.printHelp(keyUsage)
	case sub != "rotate" && sub != "revoke" && sub != "list":
		return usagef("unknown subcommand %q: use rotate, revoke or list", sub)
	}
	synopsis := "key " + sub + " COMPANY [--data DIR | --database-url URL]"
	switch sub {
	case "rotate":
		synopsis = "key rotate COMPANY [--by OPERATOR] [--data DIR | --database-url URL]"
	case "revoke":
		synopsis = "key revoke COMPANY KEY_ID [--by OPERATOR] [--data DIR | --database-url URL]"
	}

	var by string
	a, pos, err := c.openFor(ctx, synopsis, rest, func(fs *flag.FlagSet) {
		if sub != "list" {
			c.addByFlag(fs, &by)
		}
	})
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "rotate":
		if len(pos) != 1 {
			return usagef("usage: smartpt %s", synopsis)
		}
		k, secretKey, err := a.tenants.RotateKey(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "New key %s for company %s. The previous key stays valid until you revoke it; a third rotation revokes the oldest.\nCompany key (shown once):\n%s\n", k.ID, pos[0], secretKey)
		company, err := a.tenants.Company(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.recordAdmin(ctx, a, company.ID, by, "key rotate", k.ID, "")

	case "revoke":
		if len(pos) != 2 {
			return usagef("usage: smartpt %s", synopsis)
		}
		if err := a.tenants.RevokeKey(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Key %s of company %s revoked. Running servers reject it within their key_cache_ttl (default 1s).\n", pos[1], pos[0])
		company, err := a.tenants.Company(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.recordAdmin(ctx, a, company.ID, by, "key revoke", pos[1], "")

	default: // list
		if len(pos) != 1 {
			return usagef("usage: smartpt %s", synopsis)
		}
		keys, err := a.tenants.Keys(ctx, pos[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY ID\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	}
}

const guardUsage = `Usage:
  smartpt guard [--by OPERATOR] protect add|remove --company NAME VALUE
  smartpt guard protect list --company NAME
  smartpt guard [--by OPERATOR] cap set --company NAME --per-hour N   (0 removes the cap)
  smartpt guard cap show --company NAME

A protect-list entry (host name, IP address, CIDR range, agent id or UPN)
makes isolate and block reject that target; the cap limits isolations and
blocks per rolling hour. The store flags and --by come before protect or cap.

Flags:
`

// guard passes the arguments after the store flags to the engine's
// protect-list and hourly cap commands.
func (c *cli) guard(ctx context.Context, args []string) error {
	var by string
	fs := c.newFlags("guard", "guard [--data DIR | --database-url URL] [--by OPERATOR] protect|cap ...")
	sf := c.addStoreFlags(fs)
	c.addByFlag(fs, &by)
	if len(args) == 0 || isHelp(args[0]) {
		var help strings.Builder
		help.WriteString(guardUsage)
		fs.SetOutput(&help)
		fs.PrintDefaults()
		if len(args) == 0 {
			return usageError{"missing command: protect or cap\n\n" + help.String()}
		}
		return c.printHelp(help.String())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 || isHelp(fs.Arg(0)) {
		return c.guard(ctx, []string{"-h"})
	}
	a, err := sf.open(ctx, c.getenv, c.adminLogger())
	if err != nil {
		return err
	}
	defer a.Close()
	return action.RunGuardCLIAs(ctx, a.db, a.tenants, by, fs.Args(), c.stdout)
}
