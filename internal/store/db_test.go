package store_test

import (
	"context"
	"testing"

	"github.com/smartpt/smartpt/internal/store/storetest"
)

func TestOpenMigrates(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			var n int
			if err := db.SQL.QueryRowContext(context.Background(), db.Rebind("SELECT count(*) FROM schema_info WHERE name <> ?"), "x").Scan(&n); err != nil {
				t.Fatalf("query migrated table: %v", err)
			}
		})
	}
}
