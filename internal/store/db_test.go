package store_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/smartpt/smartpt/internal/store"
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

// TestPoolMaxConns checks the size of the PostgreSQL pool: the CPU count
// and at least 4 by default, else the size that Options sets.
func TestPoolMaxConns(t *testing.T) {
	tests := []struct {
		name string
		set  int
		want int
	}{
		{"default", 0, max(4, runtime.NumCPU())},
		{"one", 1, 1},
		{"set", 9, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := storetest.SchemaURL(t)
			db, err := store.Open(context.Background(), store.Options{DatabaseURL: url, PoolMaxConns: tt.set})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.SQL.Stats().MaxOpenConnections; got != tt.want {
				t.Errorf("pool of %d connections, want %d", got, tt.want)
			}
			if got := db.Read.Stats().MaxOpenConnections; got != tt.want {
				t.Errorf("read pool of %d connections, want %d", got, tt.want)
			}
		})
	}
}
