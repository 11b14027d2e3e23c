package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
)

const auditUsage = `Usage:
  smartpt audit list COMPANY [--action-id ID] [--since DURATION] [--limit N] [--json]
      print the newest events, oldest first
  smartpt audit verify COMPANY [--expect-head SEQ:HASH]
      check the hash chain and print its head

Every subcommand takes --data DIR or --database-url URL.
Run "smartpt audit SUBCOMMAND -h" for its flags.
`

func (c *cli) audit(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: list or verify\n\n%s", auditUsage)
	}
	switch args[0] {
	case "list":
		return c.auditList(ctx, args[1:])
	case "verify":
		return c.auditVerify(ctx, args[1:])
	}
	if isHelp(args[0]) {
		return c.printHelp(auditUsage)
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
		fs.IntVar(&limit, "limit", audit.DefaultLimit, "show the newest `N` events that match; 0 shows all")
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per line instead of a table")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 {
		return usagef("usage: smartpt audit list COMPANY")
	}
	if limit < 0 {
		return usagef("--limit %d is negative: give a number of events, or 0 for all", limit)
	}

	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	f := audit.Filter{ActionID: actionID, Newest: true}
	if since > 0 {
		f.Since = time.Now().Add(-since)
	}
	total, err := a.audit.Count(ctx, company.ID, f)
	if err != nil {
		return err
	}
	f.Limit = limit
	if limit == 0 || limit > total {
		f.Limit = total
	}
	var events []audit.Event
	if f.Limit > 0 {
		events, err = a.audit.List(ctx, company.ID, f)
		if err != nil {
			return err
		}
	}

	if asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, ev := range events {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTION ID\tROUTE\tACTION\tTARGET\tREQUESTER\tRESULT")
		for _, ev := range events {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ev.Time.UTC().Format(time.RFC3339), ev.Type,
				ev.ActionID, ev.Route, ev.Action, ev.Target, ev.Requester, ev.Result)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	// The note goes to stderr, so that --json output stays one object a line.
	if len(events) < total {
		fmt.Fprintf(c.stderr, "showing %d of %d events; use --limit or --since\n", len(events), total)
	}
	return nil
}

// auditVerify checks the company's hash chain and fails naming the first
// edited, removed or reordered event. On success it prints the chain head,
// which an operator can keep outside the database and pass back later as
// --expect-head to detect events cut off the end.
func (c *cli) auditVerify(ctx context.Context, args []string) error {
	var expectHead string
	a, pos, err := c.openFor(ctx, "audit verify COMPANY [--expect-head SEQ:HASH]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&expectHead, "expect-head", "", "head `SEQ:HASH` printed by an earlier verify; fail unless the chain still holds that event with that hash")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(pos) != 1 {
		return usagef("usage: smartpt audit verify COMPANY")
	}
	var anchorSeq int64
	var anchorHash string
	if expectHead != "" {
		anchorSeq, anchorHash, err = parseHead(expectHead)
		if err != nil {
			return err
		}
	}

	company, err := a.tenants.Company(ctx, pos[0])
	if err != nil {
		return err
	}
	brk, err := a.audit.Verify(ctx, company.ID)
	if err != nil {
		return err
	}
	if brk == nil && expectHead != "" {
		brk, err = a.audit.CheckAnchor(ctx, company.ID, anchorSeq, anchorHash)
		if err != nil {
			return err
		}
	}
	if brk != nil {
		return fmt.Errorf("audit trail of company %s is broken at event %d: %s", pos[0], brk.Seq, brk.Reason)
	}

	seq, hash, err := a.audit.Head(ctx, company.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Audit trail of company %s verified: every event is intact and in order.\n", pos[0])
	if expectHead != "" {
		fmt.Fprintf(c.stdout, "It extends the expected head %d:%s.\n", anchorSeq, anchorHash)
	}
	fmt.Fprintf(c.stdout, "Head: %d:%s\n", seq, hash)
	fmt.Fprintf(c.stdout, "Keep this head outside the database and pass it to --expect-head in the next verify.\n")
	return nil
}

// parseHead parses SEQ:HASH as printed by audit verify.
func parseHead(s string) (int64, string, error) {
	seqText, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return 0, "", usagef("--expect-head %q is invalid: give SEQ:HASH as printed by audit verify (a seq from 1 and 64 lowercase hex characters)", s)
	}
	return seq, hash, nil
}
