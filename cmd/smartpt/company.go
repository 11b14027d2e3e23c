package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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

func (c *cli) company(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: create, list, disable or enable")
	}
	sub, rest := args[0], args[1:]
	synopsis := "company " + sub + " NAME [--data DIR | --database-url URL]"
	if sub == "list" {
		synopsis = "company list [--data DIR | --database-url URL]"
	}

	a, pos, err := c.openFor(ctx, synopsis, rest, nil)
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
		return nil

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

	case "disable", "enable":
		if len(pos) != 1 {
			return usagef("usage: smartpt %s", synopsis)
		}
		if err := a.tenants.SetDisabled(ctx, pos[0], sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Company %s %sd; its keys %s at once.\n", pos[0], sub, map[bool]string{true: "fail", false: "work"}[sub == "disable"])
		return nil
	}
	return usagef("unknown subcommand %q: use create, list, disable or enable", sub)
}

func (c *cli) key(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: rotate, revoke or list")
	}
	sub, rest := args[0], args[1:]
	synopsis := "key " + sub + " COMPANY [--data DIR | --database-url URL]"
	if sub == "revoke" {
		synopsis = "key revoke COMPANY KEY_ID [--data DIR | --database-url URL]"
	}

	a, pos, err := c.openFor(ctx, synopsis, rest, nil)
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
		return nil

	case "revoke":
		if len(pos) != 2 {
			return usagef("usage: smartpt %s", synopsis)
		}
		if err := a.tenants.RevokeKey(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Key %s of company %s revoked; it fails at once.\n", pos[1], pos[0])
		return nil

	case "list":
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
	return usagef("unknown subcommand %q: use rotate, revoke or list", sub)
}

// guard passes the arguments after the store flags to the engine's
// protect-list and hourly cap commands.
func (c *cli) guard(ctx context.Context, args []string) error {
	fs := c.newFlags("guard", "guard [--data DIR | --database-url URL] COMMAND ...")
	sf := c.addStoreFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	a, err := sf.open(ctx, c.getenv, c.adminLogger())
	if err != nil {
		return err
	}
	defer a.Close()
	return action.RunGuardCLI(ctx, a.db, a.tenants, fs.Args(), c.stdout)
}
