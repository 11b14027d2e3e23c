package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

func TestUnixNanosRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 4, 21, 30, 1, 123456789, time.FixedZone("CET", 3600))
	got := store.TimeFromUnixNanos(store.UnixNanos(at))
	if !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("round trip = %v, want %v in UTC", got, at)
	}
	if store.UnixNanos(time.Time{}) != 0 {
		t.Errorf("UnixNanos(zero) = %d, want 0", store.UnixNanos(time.Time{}))
	}
	if !store.TimeFromUnixNanos(0).IsZero() {
		t.Errorf("TimeFromUnixNanos(0) is not the zero time")
	}
}

func TestInTxAndUniqueViolation(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d)
			insert := db.Rebind("INSERT INTO schema_info (name, value) VALUES (?, ?)")

			// A failing function rolls back.
			errBoom := errors.New("boom")
			err := db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, insert, "rolled-back", "x"); err != nil {
					return err
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("InTx error = %v, want the function's error", err)
			}

			// A succeeding function commits.
			err = db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, insert, "kept", "x")
				return err
			})
			if err != nil {
				t.Fatalf("InTx: %v", err)
			}

			var n int
			db.SQL.QueryRowContext(ctx, db.Rebind("SELECT count(*) FROM schema_info WHERE name IN (?, ?)"), "rolled-back", "kept").Scan(&n)
			if n != 1 {
				t.Errorf("rows after one rollback and one commit = %d, want 1", n)
			}

			_, err = db.SQL.ExecContext(ctx, insert, "kept", "again")
			if !store.IsUniqueViolation(err) {
				t.Errorf("IsUniqueViolation(%v) = false, want true", err)
			}
			if store.IsUniqueViolation(errBoom) || store.IsUniqueViolation(nil) {
				t.Errorf("IsUniqueViolation is true for an unrelated error")
			}

			// The locking clause is valid SQL on the dialect.
			var v string
			if err := db.SQL.QueryRowContext(ctx, db.Rebind("SELECT value FROM schema_info WHERE name = ?"+db.ForUpdate()), "kept").Scan(&v); err != nil {
				t.Errorf("SELECT with ForUpdate: %v", err)
			}
		})
	}
}

// ctxKey is a context key of this test file.
type ctxKey struct{}

// TestShortContext checks the context of a short statement. On SQLite it
// keeps ctx's values but cannot end, so neither database/sql nor the
// driver starts a goroutine to watch it. An ended ctx, and every context
// on PostgreSQL, stay as they are.
func TestShortContext(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "request-1"))
			defer cancel()

			short := db.ShortContext(ctx)
			if got := short.Value(ctxKey{}); got != "request-1" {
				t.Errorf("value = %v, want request-1", got)
			}
			if d == store.SQLite && short.Done() != nil {
				t.Error("on SQLite the short context can end; it must not")
			}
			if d == store.Postgres && short != ctx {
				t.Error("on PostgreSQL the short context is not the caller's")
			}

			// The statement still runs, and reads the row.
			var n int
			if err := db.Read.QueryRowContext(short, "SELECT count(*) FROM schema_info").Scan(&n); err != nil {
				t.Fatalf("query with the short context: %v", err)
			}

			cancel()
			if ended := db.ShortContext(ctx); ended.Err() == nil {
				t.Error("an ended context became one that has not ended")
			}
		})
	}
}
