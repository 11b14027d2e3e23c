package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// UnixNanos converts t to the column format of every time in the store:
// nanoseconds since the Unix epoch, UTC. The zero time.Time maps to 0.
func UnixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// TimeFromUnixNanos converts a time column back to a UTC time.Time. 0 maps
// to the zero time.Time.
func TimeFromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ForUpdate returns the row-locking clause to append to a SELECT: " FOR
// UPDATE" on PostgreSQL, where replicas write concurrently, and nothing on
// SQLite, whose transactions already hold the single write lock because
// they begin IMMEDIATE.
func (db *DB) ForUpdate() string {
	if db.Dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// ShortContext returns the context for one short statement outside a
// transaction: a lookup through an index that reads a few rows, such as
// the key check of a request. On SQLite that is ctx without its
// cancellation. Such a statement runs for microseconds, so stopping it
// halfway gains nothing, while a context that can end costs two
// goroutines for each statement: one of database/sql and one of the
// driver, which wait for ctx to end. On PostgreSQL it is ctx itself,
// because a statement there can wait on the network or on a lock.
// A ctx that has already ended is returned as it is, so that the
// statement fails at once with its error.
func (db *DB) ShortContext(ctx context.Context) context.Context {
	if db.Dialect != SQLite || ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// InTx runs fn in a transaction and commits it when fn returns nil;
// otherwise it rolls back fn's work and returns fn's error. A nil return
// means the work is committed.
//
// fn gets ctx without its cancellation and deadline, and its statements
// must use that context. On PostgreSQL the context has a deadline of
// MaxWriteTime instead. On SQLite with group commit it has none: its
// statements wait on no network, and the transaction already holds the
// write lock. Once fn has started, the end of ctx (a client that hung up,
// a request timeout) stops neither fn nor the commit. Only a database that
// does not respond within MaxWriteTime does. On PostgreSQL a statement
// cancelled mid-run would end the transaction, and the group's other calls
// with it, or break the committer's connection. A call whose ctx ends
// before fn starts returns ctx's error.
//
// With group commit (the default, see group), fn runs in a transaction
// shared with other callers, on the committer's goroutine. So fn must do
// database work only: no network call, no long wait, and no InTx of its
// own, which would wait for the group that fn holds open. A panic in fn is
// raised again in the caller. fn must not assume it runs once, because
// two cases run it again after rolling its work back. When another call
// of its group fails, fn runs a second time in a new transaction. When PostgreSQL ends fn's statements to break a deadlock
// with another process (see IsConflict), fn runs again, up to 3 times, in
// a later group.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if db.group != nil {
		return db.group.run(ctx, fn)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin %s transaction: %w", db.Dialect, err)
	}
	ctx, cancel := writeContext(ctx)
	defer cancel()
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin %s transaction: %w", db.Dialect, err)
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s transaction: %w", db.Dialect, err)
	}
	return nil
}

// IsConflict reports whether err is PostgreSQL ending a transaction to
// break a deadlock (40P01) or a serialization conflict (40001). Running the
// transaction again is the documented remedy for both.
func IsConflict(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40P01" || pgErr.Code == "40001"
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key
// constraint violation on either engine.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// GroupStats returns how many transactions group commit has run since Open
// and how many InTx calls they contained. calls / groups is the mean group
// size. Both are 0 when group commit is off.
func (db *DB) GroupStats() (groups, calls uint64) {
	if db.group == nil {
		return 0, 0
	}
	return db.group.groups.Load(), db.group.calls.Load()
}

// CommitterStatements returns how many statements the group committer has
// sent to PostgreSQL since Open, BEGIN and COMMIT included. Each is one
// round trip to the server on the committer's connection, plus one more
// the first time the connection sends a statement text, which pgx then
// prepares. It is 0 on SQLite.
func (db *DB) CommitterStatements() uint64 {
	if db.committerStatements == nil {
		return 0
	}
	return db.committerStatements.n.Load()
}

// statementCounter is a pgx tracer that counts the statements sent.
type statementCounter struct{ n atomic.Uint64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// ExecOne runs one write statement on its own and returns the number of
// rows it changed. One statement is atomic by itself, so it needs no
// transaction of its own. On SQLite it joins group commit, which saves a
// commit of the single writer. On PostgreSQL it runs at once on a pooled
// connection, beside the committer's group instead of behind it.
func (db *DB) ExecOne(ctx context.Context, query string, args ...any) (int64, error) {
	if db.Dialect == Postgres || db.group == nil {
		res, err := db.SQL.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	var n int64
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
