package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
)

func TestAuditVerifyNamesEditedEvent(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}

	// Append three events directly, then edit the second one in the table.
	db, err := store.Open(ctx, store.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	company, err := tenant.New(db, nil, nil).Company(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(db)
	for _, target := range []string{"001", "002", "003"} {
		if _, err := log.Append(ctx, audit.Event{CompanyID: company.ID, Type: "requested", Action: "isolate", Target: target}); err != nil {
			t.Fatalf("append: %v", err)
		}
	}

	if code, out, errOut := runCLI(t, nil, "audit", "list", "acme", "--data", data); code != 0 || strings.Count(out, "isolate") != 3 {
		t.Errorf("audit list: exit %d, stderr %s\n%s", code, errOut, out)
	}

	var seq int64
	if err := db.SQL.QueryRowContext(ctx, "SELECT seq FROM audit_events WHERE company_id = ? AND target = '002'", company.ID).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL.ExecContext(ctx, "UPDATE audit_events SET target = '999' WHERE company_id = ? AND seq = ?", company.ID, seq); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, _, errOut := runCLI(t, nil, "audit", "verify", "acme", "--data", data)
	if code != 1 {
		t.Errorf("audit verify of an edited trail: exit %d, want 1", code)
	}
	if want := "broken at event " + strconv.FormatInt(seq, 10); !strings.Contains(errOut, want) {
		t.Errorf("stderr = %q, want it to contain %q", errOut, want)
	}
}
