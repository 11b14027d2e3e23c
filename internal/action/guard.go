package action

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
)

// Guardrails: a per-company protect-list that isolate and block refuse, and
// a per-company cap on isolations and blocks per rolling hour.

// checkProtected refuses with 403 when any of values (the raw agent_id or
// UPN, and the resolved endpoint's id, host name and IP address) matches an
// entry of the company's protect-list. A host name entry matches the short
// and the fully qualified form; a CIDR entry matches the addresses it holds.
func (e *Engine) checkProtected(ctx context.Context, companyID string, values ...string) error {
	entries, err := listProtected(ctx, e.db, companyID)
	if err != nil {
		return &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the protect-list", Err: err}
	}
	for _, entry := range entries {
		for _, v := range values {
			if v != "" && protects(entry, v) {
				return &Error{
					Status:  http.StatusForbidden,
					Message: fmt.Sprintf("Forbidden: %s is on this company's protect-list (entry %s)", quote(v), quote(entry)),
					Detail:  "remove the entry with 'smartpt guard protect remove' to act on this target",
				}
			}
		}
	}
	return nil
}

func protects(entry, value string) bool {
	value = strings.ToLower(strings.TrimSuffix(value, "."))
	if entry == value {
		return true
	}
	if prefix, err := netip.ParsePrefix(entry); err == nil {
		addr, err := netip.ParseAddr(value)
		return err == nil && prefix.Contains(addr.Unmap())
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		b, err := netip.ParseAddr(value)
		return err == nil && a.Unmap() == b.Unmap()
	}
	// Host names: "db01" protects "db01.corp.example" and the reverse.
	short := func(s string) string { h, _, _ := strings.Cut(s, "."); return h }
	if !strings.Contains(entry, "@") && !strings.Contains(value, "@") {
		if !strings.Contains(entry, ".") || !strings.Contains(value, ".") {
			return short(entry) == short(value)
		}
	}
	return false
}

func listProtected(ctx context.Context, db *store.DB, companyID string) ([]string, error) {
	rows, err := db.Read.QueryContext(ctx, db.Rebind("SELECT value FROM guard_protect WHERE company_id = ? ORDER BY value"), companyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// capCountQuery counts a company's isolations and blocks since a time,
// through the partial index actions_company_time.
const capCountQuery = `SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM actions
	WHERE company_id = ? AND action IN ('isolate', 'AzureADBlock') AND NOT dry_run AND state <> 'failed' AND created_at >= ?`

// checkCap refuses with 429 when the company reached its hourly cap of
// isolations and blocks. Inside a write transaction (lock true) it locks the
// company's cap row on PostgreSQL, so replicas count one at a time.
func (e *Engine) checkCap(ctx context.Context, q queryer, companyID string, lock bool) error {
	query := "SELECT per_hour FROM guard_caps WHERE company_id = ?"
	if lock {
		query += e.db.ForUpdate()
	}
	var perHour int64
	err := q.QueryRowContext(ctx, e.db.Rebind(query), companyID).Scan(&perHour)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && perHour <= 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the hourly cap: %w", err)
	}

	since := time.Now().Add(-time.Hour)
	var count, oldest int64
	err = q.QueryRowContext(ctx, e.db.Rebind(capCountQuery), companyID, store.UnixNanos(since)).Scan(&count, &oldest)
	if err != nil {
		return fmt.Errorf("count this hour's isolations and blocks: %w", err)
	}
	if count < perHour {
		return nil
	}
	wait := time.Until(store.TimeFromUnixNanos(oldest).Add(time.Hour)).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return &Error{
		Status:     http.StatusTooManyRequests,
		Message:    fmt.Sprintf("Too Many Requests: this company's cap of %d isolations and blocks per hour is reached", perHour),
		Detail:     fmt.Sprintf("the next one is allowed in %s; raise the cap with 'smartpt guard cap set'", wait),
		RetryAfter: wait,
	}
}

// normaliseProtected checks and normalises a protect-list entry: an IP
// address, a CIDR range, a host name, an agent id or a UPN.
func normaliseProtected(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return "", errors.New("the entry is empty")
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked().String(), nil
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap().String(), nil
	}
	if strings.ContainsAny(v, " ,*?/\\#&=%") {
		return "", fmt.Errorf("entry %s must be one host name, IP address, CIDR range, agent id or UPN", quote(v))
	}
	return strings.TrimSuffix(v, "."), nil
}

const guardUsage = `usage:
  smartpt guard protect add|remove --company NAME VALUE
  smartpt guard protect list --company NAME
  smartpt guard cap set --company NAME --per-hour N   (0 removes the cap)
  smartpt guard cap show --company NAME`

// RunGuardCLI runs "smartpt guard ARGS...": protect-lists and hourly caps.
func RunGuardCLI(ctx context.Context, db *store.DB, tenants *tenant.Service, args []string, stdout io.Writer) error {
	return runGuardAs(ctx, db, tenants.Company, "", args, stdout)
}

// RunGuardCLIAs runs RunGuardCLI and records each change (protect add or
// remove, cap set) as an "admin" audit event of the company with operator as
// its requester and "cli" as its client address.
func RunGuardCLIAs(ctx context.Context, db *store.DB, tenants *tenant.Service, operator string, args []string, stdout io.Writer) error {
	return runGuardAs(ctx, db, tenants.Company, operator, args, stdout)
}

func runGuard(ctx context.Context, db *store.DB, company func(context.Context, string) (tenant.Company, error), args []string, stdout io.Writer) error {
	return runGuardAs(ctx, db, company, "", args, stdout)
}

// recordGuardChange appends the admin audit event of a guard change.
func recordGuardChange(ctx context.Context, db *store.DB, companyID, operator, change, target string) error {
	_, err := audit.New(db).Append(ctx, audit.Event{
		CompanyID: companyID, Time: time.Now().UTC(), Type: "admin", Requester: operator, ClientAddr: "cli",
		Action: change, Target: target, Result: "done",
	})
	if err != nil {
		return fmt.Errorf("%s succeeded but its audit event was not recorded: %w", change, err)
	}
	return nil
}

func runGuardAs(ctx context.Context, db *store.DB, company func(context.Context, string) (tenant.Company, error), operator string, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New(guardUsage)
	}
	group, verb := args[0], args[1]
	fs := flag.NewFlagSet("guard "+group+" "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("company", "", "company name or id")
	perHour := fs.Int("per-hour", -1, "isolations and blocks allowed per rolling hour; 0 removes the cap")
	if err := fs.Parse(args[2:]); err != nil {
		return fmt.Errorf("%v\n%s", err, guardUsage)
	}
	if *name == "" {
		return errors.New("--company is required\n" + guardUsage)
	}
	co, err := company(ctx, *name)
	if err != nil {
		return fmt.Errorf("company %s: %w", quote(*name), err)
	}

	switch group + " " + verb {
	case "protect add", "protect remove":
		if fs.NArg() != 1 {
			return errors.New("give exactly one VALUE\n" + guardUsage)
		}
		v, err := normaliseProtected(fs.Arg(0))
		if err != nil {
			return err
		}
		if verb == "add" {
			_, err = db.SQL.ExecContext(ctx, db.Rebind("INSERT INTO guard_protect (company_id, value, created_at) VALUES (?, ?, ?)"), co.ID, v, store.UnixNanos(time.Now()))
			if store.IsUniqueViolation(err) {
				fmt.Fprintf(stdout, "%s is already protected for %s\n", v, co.Name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("add protect-list entry: %w", err)
			}
			fmt.Fprintf(stdout, "protected %s for %s\n", v, co.Name)
			return recordGuardChange(ctx, db, co.ID, operator, "guard protect add", v)
		}
		res, err := db.SQL.ExecContext(ctx, db.Rebind("DELETE FROM guard_protect WHERE company_id = ? AND value = ?"), co.ID, v)
		if err != nil {
			return fmt.Errorf("remove protect-list entry: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s is not on the protect-list of %s", quote(v), co.Name)
		}
		fmt.Fprintf(stdout, "removed %s from the protect-list of %s\n", v, co.Name)
		return recordGuardChange(ctx, db, co.ID, operator, "guard protect remove", v)

	case "protect list":
		entries, err := listProtected(ctx, db, co.ID)
		if err != nil {
			return fmt.Errorf("list protect-list: %w", err)
		}
		for _, v := range entries {
			fmt.Fprintln(stdout, v)
		}
		return nil

	case "cap set":
		if *perHour < 0 {
			return errors.New("--per-hour N is required (0 removes the cap)\n" + guardUsage)
		}
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, db.Rebind("DELETE FROM guard_caps WHERE company_id = ?"), co.ID); err != nil {
				return err
			}
			if *perHour == 0 {
				return nil
			}
			_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO guard_caps (company_id, per_hour) VALUES (?, ?)"), co.ID, *perHour)
			return err
		})
		if err != nil {
			return fmt.Errorf("set cap: %w", err)
		}
		if *perHour == 0 {
			fmt.Fprintf(stdout, "removed the hourly cap of %s\n", co.Name)
		} else {
			fmt.Fprintf(stdout, "%s may isolate or block %d targets per rolling hour\n", co.Name, *perHour)
		}
		return recordGuardChange(ctx, db, co.ID, operator, "guard cap set", strconv.Itoa(*perHour)+" per hour")

	case "cap show":
		var n int64
		err := db.SQL.QueryRowContext(ctx, db.Rebind("SELECT per_hour FROM guard_caps WHERE company_id = ?"), co.ID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			fmt.Fprintf(stdout, "%s has no hourly cap\n", co.Name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read cap: %w", err)
		}
		fmt.Fprintln(stdout, strconv.FormatInt(n, 10)+" per hour")
		return nil
	}
	return fmt.Errorf("unknown command 'guard %s %s'\n%s", group, verb, guardUsage)
}
