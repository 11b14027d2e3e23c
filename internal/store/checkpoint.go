package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// walBackstopPages is the WAL size, in pages of 4 KiB, at which the SQLite
// writer runs a checkpoint itself. The checkpointer keeps the WAL far below
// it; the backstop bounds the WAL if the checkpointer cannot run.
const walBackstopPages = 16384

// checkpointInterval is how often the checkpointer copies committed pages
// from the WAL into the database file.
const checkpointInterval = 200 * time.Millisecond

// checkpointer runs SQLite's PASSIVE checkpoint on a connection of its own.
// A PASSIVE checkpoint takes no lock that the writer or the readers wait
// for: it copies the WAL frames that no reader still needs and stops
// there. Once it has copied them all, the next write transaction starts the
// WAL over from its beginning, so the file stops growing.
type checkpointer struct {
	conn *sql.DB
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newCheckpointer(conn *sql.DB) *checkpointer {
	conn.SetMaxOpenConns(1)
	c := &checkpointer{conn: conn, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

func (c *checkpointer) loop() {
	defer close(c.done)
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		// An error (the database is busy, or the file is gone at shutdown)
		// leaves the frames in the WAL for the next tick, or for the
		// writer's backstop.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		cancel()
	}
}

// close stops the loop and closes its connection.
func (c *checkpointer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	c.conn.Close()
}
