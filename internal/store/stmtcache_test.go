package store

import (
	"context"
	"strings"
	"testing"
)

// The statement cache must behave like uncached execution: the same query
// run again, run while a Rows of it is still open, failing on a constraint
// and then succeeding, and inside a transaction that rolls back.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	const insert = "INSERT INTO kv (k, v) VALUES (?, ?)"
	for i := 1; i <= 3; i++ {
		if _, err := db.SQL.ExecContext(ctx, insert, i, "v"); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	// A constraint failure leaves the cached statement usable.
	if _, err := db.SQL.ExecContext(ctx, insert, 1, "dup"); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("duplicate key: err = %v, want a UNIQUE constraint error", err)
	}
	if _, err := db.SQL.ExecContext(ctx, insert, 4, "v"); err != nil {
		t.Fatalf("insert after a failure: %v", err)
	}

	// The same query while a Rows of it is open: the second runs uncached.
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const list = "SELECT k FROM kv WHERE k >= ? ORDER BY k"
	outer, err := tx.QueryContext(ctx, list, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var k int
		if err := outer.Scan(&k); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, list, k)
		if err != nil {
			t.Fatalf("nested query at %d: %v", k, err)
		}
		n := 0
		for inner.Next() {
			n++
		}
		inner.Close()
		pairs = append(pairs, strings.Repeat("x", n))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if got := strings.Join(pairs, ","); got != "xxxx,xxx,xx,x" {
		t.Errorf("nested counts = %q, want xxxx,xxx,xx,x", got)
	}
	if _, err := tx.ExecContext(ctx, insert, 5, "rolled back"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	var n int
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("rows after rollback = %d, want 4", n)
	}
	// The query cached above still runs after the rollback.
	if err := db.SQL.QueryRowContext(ctx, list, 4).Scan(&n); err != nil || n != 4 {
		t.Errorf("cached query after rollback: k = %d, err = %v; want 4, nil", n, err)
	}
}
