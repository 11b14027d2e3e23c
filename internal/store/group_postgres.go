package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// beginTx begins a transaction: on PostgreSQL on the committer's own
// connection, on SQLite on the pool's one connection.
func (g *group) beginTx(ctx context.Context) (*sql.Tx, error) {
	if g.own == nil {
		tx, err := g.sql.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("begin %s transaction: %w", g.dialect, err)
		}
		return tx, nil
	}

	// A connection that broke while idle (the server restarted, or ended
	// the session) fails its BEGIN. One new connection gets a second try,
	// so that the calls of the group do not fail for it.
	for attempt := 1; ; attempt++ {
		if g.conn == nil {
			conn, err := g.own.Conn(ctx)
			if err != nil {
				return nil, fmt.Errorf("connect the %s committer: %w", g.dialect, err)
			}
			g.conn = conn
		}
		tx, err := g.conn.BeginTx(ctx, nil)
		if err == nil {
			return tx, nil
		}
		if !g.dropBrokenConn() || attempt == 2 {
			return nil, fmt.Errorf("begin %s transaction: %w", g.dialect, err)
		}
	}
}

// dropBrokenConn closes the committer's connection when it is closed or
// still inside a transaction, so that the next group takes a new one from
// g.own. It reports whether it dropped the connection.
func (g *group) dropBrokenConn() bool {
	if g.conn == nil {
		return false
	}
	err := g.conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(interface{ Conn() *pgx.Conn })
		if !ok {
			return nil
		}
		if c.Conn().IsClosed() || c.Conn().PgConn().TxStatus() != pgIdle {
			// Closed here, because the pool would hand a connection
			// still inside a transaction out again.
			c.Conn().Close(context.Background())
			return driver.ErrBadConn
		}
		return nil
	})
	if err == nil {
		return false
	}
	g.closeConn()
	return true
}

// closeConn hands the committer's connection back to g.own, which keeps it
// unless pgx reports it closed.
func (g *group) closeConn() {
	if g.conn != nil {
		g.conn.Close()
		g.conn = nil
	}
}

// Transaction statuses of a PostgreSQL session: pgIdle outside a
// transaction block, pgInTx inside one that has not failed.
const (
	pgIdle = 'I'
	pgInTx = 'T'
)

// pgTxStatus returns the transaction status in the server's last
// ReadyForQuery message on conn: 'I' idle, 'T' in a transaction, 'E' in a
// failed transaction. It returns 0 when conn is not a pgx connection.
func pgTxStatus(conn *sql.Conn) byte {
	var status byte
	conn.Raw(func(driverConn any) error {
		if c, ok := driverConn.(interface{ Conn() *pgx.Conn }); ok {
			status = c.Conn().PgConn().TxStatus()
		}
		return nil
	})
	return status
}
