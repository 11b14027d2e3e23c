package main

import (
	"context"
	"flag"
	"fmt"
	"os/user"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
)

// adminEventType is the audit event type of an administration command.
const adminEventType = "admin"

// adminClientAddr is the client address of administration events: they come
// from the command line, not from a network client.
const adminClientAddr = "cli"

// addByFlag adds --by, the operator recorded in admin audit events, with the
// default $USER, else the OS user.
func (c *cli) addByFlag(fs *flag.FlagSet, by *string) {
	fs.StringVar(by, "by", c.defaultOperator(), "operator `NAME` recorded in the company's audit trail")
}

func (c *cli) defaultOperator() string {
	if u := c.getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// recordAdmin appends an admin event to the company's audit trail. change
// names the command (for example "key rotate"), target what it acted on and
// detail what changed; none of them may hold a secret value.
func (c *cli) recordAdmin(ctx context.Context, a *app, companyID, by, change, target, detail string) error {
	_, err := a.audit.Append(ctx, audit.Event{
		CompanyID:  companyID,
		Time:       time.Now().UTC(),
		Type:       adminEventType,
		Requester:  by,
		ClientAddr: adminClientAddr,
		Action:     change,
		Target:     target,
		Result:     "done",
		Detail:     detail,
	})
	if err != nil {
		return fmt.Errorf("%s succeeded but its audit event was not recorded: %w", change, err)
	}
	return nil
}
