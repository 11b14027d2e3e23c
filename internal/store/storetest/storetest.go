// Package storetest opens throwaway databases for tests: SQLite in a
// temporary folder, and PostgreSQL in a fresh schema of the local server.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"

	"github.com/smartpt/smartpt/internal/store"
)

// DefaultPostgresURL is the local test server; SMARTPT_TEST_DATABASE_URL
// overrides it.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the URL of the PostgreSQL server used by tests.
func PostgresURL() string {
	if u := os.Getenv("SMARTPT_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Dialects lists the dialects every conformance test runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Open returns a migrated, empty database of the dialect. For PostgreSQL it
// creates a schema of its own, dropped at the end of the test. When the
// server is unreachable the test is skipped, except under CI (CI=true),
// where it fails.
func Open(tb testing.TB, dialect store.Dialect) *store.DB {
	tb.Helper()
	ctx := context.Background()

	if dialect == store.SQLite {
		db, err := store.Open(ctx, store.Options{DataDir: tb.TempDir()})
		if err != nil {
			tb.Fatalf("open SQLite: %v", err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	}

	url, schema := SchemaURL(tb)
	db, err := store.Open(ctx, store.Options{DatabaseURL: url})
	if err != nil {
		tb.Fatalf("open PostgreSQL schema %s: %v", schema, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// SchemaURL creates a fresh PostgreSQL schema and returns a URL whose
// connections use it, so that several processes can share it.
func SchemaURL(tb testing.TB) (url, schema string) {
	tb.Helper()
	ctx := context.Background()

	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at %s is required under CI: %v", PostgresURL(), err)
		}
		tb.Skipf("PostgreSQL at %s is not reachable (%v); set SMARTPT_TEST_DATABASE_URL to run these tests", PostgresURL(), err)
	}

	var raw [6]byte
	rand.Read(raw[:])
	schema = "t_" + hex.EncodeToString(raw[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})

	sep := "?"
	if containsQuery(PostgresURL()) {
		sep = "&"
	}
	return PostgresURL() + sep + "search_path=" + schema, schema
}

func containsQuery(u string) bool {
	for i := 0; i < len(u); i++ {
		if u[i] == '?' {
			return true
		}
	}
	return false
}
