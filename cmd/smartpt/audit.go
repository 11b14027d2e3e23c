package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
)

func (c *cli) audit(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: list or verify")
	}
	switch args[0] {
	case "list":
		return c.auditList(ctx, args[1:])
	case "verify":
		return c.auditVerify(ctx, args[1:])
	}
	return usagef("unknown subcommand %q: use list or verify", args[0])
}

func (c *cli) auditList(ctx context.Context, args []string) error {
	var (
		actionID string
		since    time.Duration
		limit    int
		asJSON   bool
	)
	a, pos, err := c.openFor(ctx, "audit list COMPANY [--action-id ID] [--since DURATION] [--limit N] [--json]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&actionID, "action-id", "", "show only the events of this action `ID`")
		fs.DurationVar(&since, "since", 0, "show only events of the last `DURATION`, for example 24h; 0 shows all")
		fs.IntVar(&limit, "limit", 100, "maximum number of events shown")
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per line instead of a table")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 {
		return usagef("usage: smartpt audit list COMPANY")
	}

	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	f := audit.Filter{ActionID: actionID, Limit: limit}
	if since > 0 {
		f.Since = time.Now().Add(-since)
	}
	events, err := a.audit.List(ctx, company.ID, f)
	if err != nil {
		return err
	}

	if asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, ev := range events {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTION ID\tROUTE\tACTION\tTARGET\tREQUESTER\tRESULT")
	for _, ev := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ev.Time.UTC().Format(time.RFC3339), ev.Type,
			ev.ActionID, ev.Route, ev.Action, ev.Target, ev.Requester, ev.Result)
	}
	return tw.Flush()
}

// auditVerify checks the company's hash chain and fails naming the first
// edited, removed or reordered event.
func (c *cli) auditVerify(ctx context.Context, args []string) error {
	a, pos, err := c.openFor(ctx, "audit verify COMPANY [--data DIR | --database-url URL]", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 {
		return usagef("usage: smartpt audit verify COMPANY")
	}

	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	brk, err := a.audit.Verify(ctx, company.ID)
	if err != nil {
		return err
	}
	if brk != nil {
		return fmt.Errorf("audit trail of company %s is broken at event %d: %s", pos[0], brk.Seq, brk.Reason)
	}
	fmt.Fprintf(c.stdout, "Audit trail of company %s verified: every event is intact and in order.\n", pos[0])
	return nil
}
