package store_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/store"
)

// TestCheckpointerCopiesWAL checks that committed pages reach the database
// file in the background while the WAL is far below the writer's own
// checkpoint threshold: without the checkpointer they would stay in the WAL
// until a commit ran the checkpoint itself.
func TestCheckpointerCopiesWAL(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE ckpt_probe (id INTEGER PRIMARY KEY, blob TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}

	size := func() int64 {
		fi, err := os.Stat(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()

	// About 300 pages of 4 KiB, far below the writer's backstop.
	payload := strings.Repeat("x", 4000)
	for i := range 300 {
		if err := db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO ckpt_probe (id, blob) VALUES (?, ?)", i, payload)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for size() < before+1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes, was %d before 1.2 MB of commits: the WAL was not checkpointed in the background", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
