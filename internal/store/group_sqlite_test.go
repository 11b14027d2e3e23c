package store_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

// TestGroupSQLiteTransactionRollback checks a group on SQLite in which one
// function swallows the error of a statement after which SQLite rolled
// back the whole transaction, not only the statement. SQLite does that for
// an OR ROLLBACK conflict, as here, and may do it for SQLITE_FULL,
// SQLITE_IOERR, SQLITE_BUSY and SQLITE_NOMEM. The statements that the
// group's later functions run then each commit on their own. Every call
// must keep InTx's contract: its row is stored exactly when it returns
// nil.
func TestGroupSQLiteTransactionRollback(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		swallows int // the call that swallows the error
		size     int
	}{
		{"first of three", 0, 3},
		{"middle of three", 1, 3},
		{"last of three", 2, 3},
		{"middle of five", 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := storetest.Open(t, store.SQLite)
			probeTable(t, db, "rollback_probe")
			// A committed row for the OR ROLLBACK conflict.
			if _, err := db.SQL.ExecContext(ctx, "INSERT INTO rollback_probe (id) VALUES (-1)"); err != nil {
				t.Fatal(err)
			}

			h := holdCommitter(t, db)
			for i := range tt.size {
				h.queue(func(ctx context.Context, tx *sql.Tx) error {
					if i == tt.swallows {
						// Fails, and SQLite ends the transaction. The
						// function goes on as if it had not.
						tx.ExecContext(ctx, "INSERT OR ROLLBACK INTO rollback_probe (id) VALUES (-1)")
						return nil
					}
					_, err := tx.ExecContext(ctx, "INSERT INTO rollback_probe (id) VALUES (?)", i)
					return err
				})
			}
			results := h.run()

			stored := probeIDs(t, db, "rollback_probe")
			for i, r := range results {
				if r.panicked != nil {
					t.Fatalf("call %d panicked: %v", i, r.panicked)
				}
				if i == tt.swallows {
					if r.err == nil {
						t.Errorf("call %d, which swallowed the error: err nil, want the error of a rolled back transaction", i)
					}
					continue
				}
				has := slices.Contains(stored, int64(i))
				if (r.err == nil) != has {
					t.Errorf("call %d: err %v, row stored %t; want a stored row exactly when err is nil", i, r.err, has)
				}
				// The other calls run again, in savepoints, and commit.
				if r.err != nil {
					t.Errorf("call %d: err %v, want success", i, r.err)
				}
			}
		})
	}
}
