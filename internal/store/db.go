// Package store opens the database that holds companies, keys, integrations,
// actions and the audit trail. SQLite (pure Go, WAL mode) in a data folder is
// the default; a postgres:// URL selects PostgreSQL, which several replicas
// can share. The same SQL runs on both: queries are written with ? for
// parameters and rebound for PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options selects the database. DatabaseURL wins when set.
type Options struct {
	DataDir     string // folder for smartpt.db when SQLite is used
	DatabaseURL string // postgres:// or postgresql:// URL

	// PoolMaxConns bounds the pooled PostgreSQL connections, which serve
	// reads and single-statement writes. 0 means DefaultPoolMaxConns().
	// Group commit keeps one more connection of its own. SQLite ignores
	// it.
	PoolMaxConns int

	// SeparateCommits turns group commit off, so that every InTx call
	// commits on its own. It exists to measure group commit against its
	// absence; a server has no reason to set it.
	SeparateCommits bool
}

// DB is an open, migrated database.
type DB struct {
	// SQL is the pool for writes and for reads inside a transaction. On
	// SQLite it has one connection. On PostgreSQL, InTx runs its
	// transactions on a connection of its own instead (see group).
	SQL *sql.DB

	// Read is the pool for reads outside a transaction. On SQLite it holds
	// read-only connections of their own (WAL lets them read while the
	// writer writes, and each read sees every commit made before it
	// began); on PostgreSQL it is SQL.
	Read *sql.DB

	Dialect Dialect
	// URL is the PostgreSQL URL, or the SQLite file path.
	URL string

	group     *group  // nil when every transaction commits on its own
	committer *sql.DB // the group committer's one connection; PostgreSQL only

	committerStatements *statementCounter // PostgreSQL only
	checkpoints         *checkpointer     // SQLite only
	sqliteRollbacks     *atomic.Uint64    // rolled back transactions of SQL's connection; SQLite only
}

// DefaultPoolMaxConns returns the size of the PostgreSQL pool when
// Options.PoolMaxConns is 0: the number of CPUs, and at least 4, as
// pgxpool sizes its pools by default (pgxpool.ParseConfig, pgx v5).
func DefaultPoolMaxConns() int { return max(4, runtime.NumCPU()) }

// sqliteReaders is the number of read-only SQLite connections. Reads are
// short; a few connections keep both cores busy without holding many
// SQLite page caches in memory.
const sqliteReaders = 4

// migrations holds one goose migration set for both dialects: the SQL keeps
// to what SQLite and PostgreSQL both accept (TEXT, BIGINT, no SERIAL, times
// as Unix nanoseconds).
//
//go:embed migrations/*.sql
var migrations embed.FS

// Open opens and migrates the database that opts selects.
func Open(ctx context.Context, opts Options) (*DB, error) {
	var db *DB
	switch {
	case opts.DatabaseURL != "":
		if !strings.HasPrefix(opts.DatabaseURL, "postgres://") && !strings.HasPrefix(opts.DatabaseURL, "postgresql://") {
			return nil, errors.New("database URL must start with postgres:// or postgresql://; leave it empty to use SQLite in the data folder")
		}
		conn, err := sql.Open("pgx", opts.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		poolSize := opts.PoolMaxConns
		if poolSize <= 0 {
			poolSize = DefaultPoolMaxConns()
		}
		conn.SetMaxOpenConns(poolSize)
		conn.SetMaxIdleConns(poolSize)
		// The committer's connection, kept apart from the pool (see group),
		// with a tracer that counts its statements.
		ownConfig, err := pgx.ParseConfig(opts.DatabaseURL)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		counter := &statementCounter{}
		ownConfig.Tracer = counter
		own := stdlib.OpenDB(*ownConfig)
		own.SetMaxOpenConns(1)
		own.SetMaxIdleConns(1)
		db = &DB{SQL: conn, Read: conn, Dialect: Postgres, URL: opts.DatabaseURL, committer: own, committerStatements: counter}

	default:
		if opts.DataDir == "" {
			return nil, errors.New("no data folder: pass --data DIR, or --database-url for PostgreSQL")
		}
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data folder %s: %w", opts.DataDir, err)
		}
		path := filepath.Join(opts.DataDir, "smartpt.db")
		// One connection: SQLite has one writer, and River's SQLite driver
		// expects this setting. WAL lets readers of other processes proceed.
		//
		// The writer checkpoints only as a backstop, when the WAL reaches
		// walBackstopPages: the checkpointer below does it in the
		// background, so that no commit waits for a checkpoint's writes and
		// fsyncs (it did: a commit that ran the default checkpoint at 1,000
		// pages stalled every waiting action for tens of milliseconds).
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
			"&_pragma=wal_autocheckpoint(" + strconv.Itoa(walBackstopPages) + ")&_txlock=immediate"
		plain, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open SQLite %s: %w", path, err)
		}
		// The plain pool opens no connection; it only hands over the driver.
		writer := &stmtCacheConnector{dsn: dsn, driver: plain.Driver(), rollbacks: new(atomic.Uint64)}
		conn := sql.OpenDB(writer)
		plain.Close()
		conn.SetMaxOpenConns(1)

		// Readers never write, so query_only guards against a write sent
		// to the wrong pool. journal_mode is a property of the file, set by
		// the writer's connection.
		readDSN := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)"
		reader := sql.OpenDB(&stmtCacheConnector{dsn: readDSN, driver: conn.Driver()})
		reader.SetMaxOpenConns(sqliteReaders)
		reader.SetMaxIdleConns(sqliteReaders)
		db = &DB{SQL: conn, Read: reader, Dialect: SQLite, URL: path, sqliteRollbacks: writer.rollbacks}
		db.checkpoints = newCheckpointer(sql.OpenDB(&stmtCacheConnector{dsn: "file:" + path + "?_pragma=busy_timeout(10000)", driver: conn.Driver()}))
	}

	if err := db.SQL.PingContext(ctx); err != nil {
		db.closePools()
		return nil, fmt.Errorf("connect to %s database: %w", db.Dialect, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.closePools()
		return nil, err
	}
	if !opts.SeparateCommits {
		db.group = newGroup(db.SQL, db.Dialect, db.committer)
		db.group.rollbacks = db.sqliteRollbacks
	}
	return db, nil
}

// Close stops group commit, after the group it is running, and closes the
// connection pool. InTx returns ErrClosed afterwards.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	return db.closePools()
}

func (db *DB) closePools() error {
	if db.checkpoints != nil {
		db.checkpoints.close()
	}
	if db.Read != db.SQL {
		db.Read.Close()
	}
	if db.committer != nil {
		db.committer.Close()
	}
	return db.SQL.Close()
}

// Ping checks that the database responds, for /readyz.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("embedded migrations: %w", err)
	}
	gooseDialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		gooseDialect = goose.DialectPostgres
	}
	provider, err := goose.NewProvider(gooseDialect, db.SQL, sub)
	if err != nil {
		return fmt.Errorf("prepare %s migrations: %w", db.Dialect, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply %s migrations: %w", db.Dialect, err)
	}
	return nil
}

// Rebind rewrites the ? placeholders of query for the dialect: PostgreSQL
// takes $1, $2, ... Queries must not contain a literal question mark.
func (db *DB) Rebind(query string) string {
	if db.Dialect != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}
