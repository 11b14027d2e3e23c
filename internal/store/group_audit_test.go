package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

// TestGroupRerunAuditChain checks the audit log's remembered chain head
// against a group whose calls before a failing one are rolled back and
// run again. The first run moves the remembered head past events that
// the rollback removes. The chain must still verify, with one event per
// successful call, and appends in later groups must continue it.
func TestGroupRerunAuditChain(t *testing.T) {
	for _, d := range storetest.Dialects {
		for _, failing := range []int{0, 2, 4} {
			t.Run(fmt.Sprintf("%s/call %d of 5 fails", d, failing), func(t *testing.T) {
				db := storetest.Open(t, d)
				log := audit.New(db)
				ctx := context.Background()
				const company = "co_audit"
				errFail := errors.New("this call fails on purpose")

				// One event before the group, so that the Log remembers a head.
				if _, err := log.Append(ctx, audit.Event{CompanyID: company, Type: "before"}); err != nil {
					t.Fatalf("append before the group: %v", err)
				}

				h := holdCommitter(t, db)
				for i := range 5 {
					h.queue(func(ctx context.Context, tx *sql.Tx) error {
						if _, err := log.AppendTx(ctx, tx, audit.Event{CompanyID: company, Type: fmt.Sprintf("call-%d", i)}); err != nil {
							return err
						}
						if i == failing {
							return errFail
						}
						return nil
					})
				}
				for i, r := range h.run() {
					if i == failing {
						if !errors.Is(r.err, errFail) {
							t.Errorf("failing call: err %v, want %v", r.err, errFail)
						}
						continue
					}
					if r.err != nil || r.panicked != nil {
						t.Errorf("call %d: err %v, panic %v; want success", i, r.err, r.panicked)
					}
				}

				if _, err := log.Append(ctx, audit.Event{CompanyID: company, Type: "after"}); err != nil {
					t.Fatalf("append after the group: %v", err)
				}
				brk, err := log.Verify(ctx, company)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if brk != nil {
					t.Errorf("chain broken: %s", brk)
				}
				evs, err := log.List(ctx, company, audit.Filter{})
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				var types []string
				for _, ev := range evs {
					types = append(types, ev.Type)
				}
				want := []string{"before"}
				for i := range 5 {
					if i != failing {
						want = append(want, fmt.Sprintf("call-%d", i))
					}
				}
				want = append(want, "after")
				if fmt.Sprint(types) != fmt.Sprint(want) {
					t.Errorf("events %v, want %v", types, want)
				}
			})
		}
	}
}
