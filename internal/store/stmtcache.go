package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"modernc.org/sqlite"
)

// maxCachedStatements bounds the prepared statements kept per SQLite
// connection. The code base sends a few dozen distinct statements; the
// bound only matters if one of them is built with varying text.
const maxCachedStatements = 256

// stmtCacheConnector opens SQLite connections that keep their prepared
// statements. database/sql prepares the text of every ExecContext and
// QueryContext call afresh when the driver executes it directly, and
// SQLite's parser and planner were about a fifth of the gateway's CPU time
// per action. With one connection, every statement waits for that parse,
// so the cache also shortens the time the connection is held.
type stmtCacheConnector struct {
	dsn    string
	driver driver.Driver

	// rollbacks, when not nil, counts the transactions that SQLite rolled
	// back on the connections opened here, including those it rolled back
	// on its own after a failed statement (see group.runWithoutSavepoints).
	rollbacks *atomic.Uint64
}

// rollbackHooker is the part of modernc.org/sqlite's connection that
// registers a rollback hook (sqlite3_rollback_hook).
type rollbackHooker interface {
	RegisterRollbackHook(sqlite.RollbackHookFn)
}

func (c *stmtCacheConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if c.rollbacks != nil {
		hooker, ok := conn.(rollbackHooker)
		if !ok {
			conn.Close()
			return nil, errors.New("the SQLite driver's connection cannot register a rollback hook, which group commit needs: use modernc.org/sqlite")
		}
		rollbacks := c.rollbacks
		hooker.RegisterRollbackHook(func() { rollbacks.Add(1) })
	}
	return newStmtCacheConn(conn)
}

func (c *stmtCacheConnector) Driver() driver.Driver { return c.driver }

// driverConn is what the wrapper needs from the SQLite driver's connection.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// stmtCacheConn is one connection with its statement cache. database/sql
// calls a connection from one goroutine at a time, and closes Rows under
// the same lock, so the cache needs no locking of its own.
type stmtCacheConn struct {
	driverConn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool // a Rows of this statement is open
}

func newStmtCacheConn(conn driver.Conn) (driver.Conn, error) {
	dc, ok := conn.(driverConn)
	if !ok {
		conn.Close()
		return nil, errors.New("the SQLite driver's connection lacks context methods; the statement cache cannot wrap it")
	}
	return &stmtCacheConn{driverConn: dc, stmts: map[string]*cachedStmt{}}, nil
}

// cached returns the idle cached statement of query, preparing it when the
// cache has room, or nil when the caller must execute query uncached.
func (c *stmtCacheConn) cached(ctx context.Context, query string) *cachedStmt {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil
		}
		return cs
	}
	if len(c.stmts) >= maxCachedStatements {
		return nil
	}
	st, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil // the uncached call reports the error
	}
	full, ok := st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		st.Close()
		return nil
	}
	cs := &cachedStmt{stmt: full}
	c.stmts[query] = cs
	return cs
}

func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.cached(ctx, query)
	if cs == nil {
		return c.driverConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.cached(ctx, query)
	if cs == nil {
		return c.driverConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, stmt: cs}, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *stmtCacheConn) Close() error {
	for query, cs := range c.stmts {
		cs.stmt.Close()
		delete(c.stmts, query)
	}
	return c.driverConn.Close()
}

// ResetSession and IsValid pass the driver's answers on, so that
// database/sql still discards a broken connection.
func (c *stmtCacheConn) ResetSession(ctx context.Context) error {
	if r, ok := c.driverConn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *stmtCacheConn) IsValid() bool {
	if v, ok := c.driverConn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *stmtCacheConn) Ping(ctx context.Context) error {
	if p, ok := c.driverConn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// cachedRows marks its statement idle again when closed.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	return err
}
