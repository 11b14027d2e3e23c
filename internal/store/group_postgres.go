package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// runWithoutSavepoints runs batch on PostgreSQL in one transaction without
// savepoints, and so without subtransactions. After each call it reads the
// transaction status that the server sent with its last reply, which
// shows a statement failure that the function swallowed. So the first
// call that fails is known, and all calls before it succeeded. That call
// gets its error, the transaction is rolled back, and the other calls run
// again with savepoints. So each of them reads the same rows as in a group
// with savepoints, and runs at most twice (InTx warns that fn may run more
// than once).
func (g *group) runWithoutSavepoints(batch []*groupCall) (failed bool) {
	ctx := context.Background()
	open, err := g.begin(ctx)
	if err != nil {
		g.failAll(batch, err)
		return false
	}
	if pgTxStatus(open.conn) != pgInTx {
		// The status cannot be read (not the pgx driver): savepoints it is.
		open.rollback()
		if len(batch) == 1 {
			return g.runAlone(batch[0])
		}
		return g.runWithSavepoints(batch)
	}
	g.groups.Add(1)

	for i, call := range batch {
		if call.err = call.ctx.Err(); call.err != nil {
			continue
		}
		call.err = g.call(call, open.tx)
		if call.err == nil && pgTxStatus(open.conn) != pgInTx {
			call.err = fmt.Errorf("a statement failed in a %s transaction function that returned nil; its work is rolled back: return the statement's error", g.dialect)
		}
		if call.err == nil {
			continue
		}

		open.rollback()
		g.retryIfConflict(call)
		others := slices.Delete(slices.Clone(batch), i, i+1)
		switch len(others) {
		case 0:
		case 1:
			g.runAlone(others[0])
		default:
			g.runWithSavepoints(others)
		}
		return true
	}

	err = open.tx.Commit()
	open.conn.Close()
	if err != nil {
		g.failAll(batch, fmt.Errorf("commit %s transaction: %w", g.dialect, err))
	}
	return false
}

// connTx is a transaction on a connection of its own, whose transaction
// status pgTxStatus reads.
type connTx struct {
	conn *sql.Conn
	tx   *sql.Tx
}

// rollback ends the transaction and returns the connection to the pool.
func (c *connTx) rollback() {
	c.tx.Rollback()
	c.conn.Close()
}

// begin begins a transaction on a connection of its own.
func (g *group) begin(ctx context.Context) (*connTx, error) {
	conn, err := g.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin %s transaction: %w", g.dialect, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin %s transaction: %w", g.dialect, err)
	}
	return &connTx{conn: conn, tx: tx}, nil
}

// pgInTx is the transaction status of a PostgreSQL session inside a
// transaction block that has not failed.
const pgInTx = 'T'

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
