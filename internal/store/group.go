package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxGroup bounds the callers whose work shares one database transaction.
const maxGroup = 256

// ErrClosed is returned by InTx once the DB is closed.
var ErrClosed = errors.New("store is closed")

// group commits the transactions of concurrent InTx callers together.
//
// One goroutine, the committer, owns the write path. It takes the first
// waiting caller, then every other caller already waiting (up to maxGroup),
// and runs their functions one after another in one database transaction.
// A function that fails is rolled back, and only its caller gets the
// error. The others commit together, so the whole group costs one WAL
// write (SQLite) or one WAL flush (PostgreSQL). A caller returns only after
// its group has committed, so InTx keeps its contract: nil means durably
// stored.
//
// A group runs without savepoints as long as its functions succeed (see
// runWithoutSavepoints). When one fails, the transaction is rolled back
// and the group's other functions run again, each inside a savepoint of
// its own, so that a failed one is rolled back to it. On PostgreSQL a
// savepoint costs two round trips to the server and a subtransaction per
// call. On SQLite it costs two statements per call, and a copy of each
// page that a call changes first (the statement journal): in a status
// load, about 4 % of the gateway's CPU.
//
// The committer never waits to fill a group: a caller alone is run at once,
// and groups grow only while an earlier group is running. So an idle
// server pays nothing, and a busy one pays one commit per group instead of
// one per caller.
type group struct {
	sql     *sql.DB
	dialect Dialect

	// own is the committer's pool of one PostgreSQL connection (nil on
	// SQLite), and conn that connection, held from one group to the next
	// and taken again from own once it breaks. Only the committer uses
	// conn. A connection of its own spares each group the wait for a
	// pooled connection behind the readers, and the pool's session reset.
	own  *sql.DB
	conn *sql.Conn

	// rollbacks counts the transactions that SQLite rolled back on the
	// pool's one connection, also on its own after a failed statement
	// (SQLite only; see runWithoutSavepoints). Set before the first call.
	rollbacks *atomic.Uint64

	// Callers append to pending and signal wake; the committer takes the
	// whole list. A caller thus blocks once, on its call's done, instead
	// of also waiting for the committer to receive it.
	mu      sync.Mutex
	pending []*groupCall
	closed  bool
	wake    chan struct{} // buffered 1: a pending signal is never lost
	stopped chan struct{}

	groups, calls atomic.Uint64 // transactions run, and InTx calls in them

	// savepointGroups counts the transactions that ran each call in a
	// savepoint.
	savepointGroups atomic.Uint64

	// careful makes the next group run its calls in savepoints. It is set
	// after a group in which a call failed, so that a run of failing calls
	// does not make every group run twice. Only the committer uses it.
	careful bool
}

// groupCall is one InTx call waiting for, or running in, a group.
type groupCall struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}

	panicked   bool
	panicValue any

	retries int  // runs the database ended to break a deadlock
	requeue bool // run it again in the next group
}

// maxRetries bounds how often one call runs again after the database
// ended its run to break a deadlock or a serialization conflict.
const maxRetries = 3

// newGroup starts the committer. own is its pool of one connection on
// PostgreSQL, and nil on SQLite, where transactions begin on db.
func newGroup(db *sql.DB, dialect Dialect, own *sql.DB) *group {
	g := &group{
		sql:     db,
		dialect: dialect,
		own:     own,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go g.commitLoop()
	return g
}

// run hands fn to the committer and waits for its group to end.
func (g *group) run(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for a %s transaction: %w", g.dialect, err)
	}
	call := &groupCall{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.pending = append(g.pending, call)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}

	// fn may be running: wait for it even if ctx ends, because it uses the
	// caller's variables, and because its work commits with the group. A
	// call whose ctx has ended before its turn is skipped.
	<-call.done
	if call.panicked {
		panic(call.panicValue)
	}
	return call.err
}

// close stops the committer after the group it is running. Calls still
// waiting get ErrClosed.
func (g *group) close() {
	g.mu.Lock()
	already := g.closed
	g.closed = true
	g.mu.Unlock()
	if !already {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	<-g.stopped
}

// take removes up to maxGroup calls from pending, oldest first, into
// batch. It reports false when the group is closed; the calls left are
// then failed with ErrClosed.
func (g *group) take(batch []*groupCall) ([]*groupCall, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		for _, call := range g.pending {
			call.err = ErrClosed
			close(call.done)
		}
		g.pending = nil
		return batch, false
	}
	n := min(len(g.pending), maxGroup)
	batch = append(batch, g.pending[:n]...)
	rest := copy(g.pending, g.pending[n:])
	clear(g.pending[rest:])
	g.pending = g.pending[:rest]
	return batch, true
}

func (g *group) commitLoop() {
	defer close(g.stopped)
	defer g.closeConn()
	batch := make([]*groupCall, 0, maxGroup)
	for {
		var open bool
		batch, open = g.take(batch[:0])
		if !open {
			return
		}
		if len(batch) == 0 {
			<-g.wake
			continue
		}

		g.calls.Add(uint64(len(batch)))
		g.careful = g.runGroup(batch)
		g.dropBrokenConn()
		var again []*groupCall
		for i, call := range batch {
			if call.requeue {
				call.requeue = false
				again = append(again, call)
			} else {
				close(call.done)
			}
			batch[i] = nil
		}
		if len(again) > 0 {
			// First in the next group: the conflicting transaction of the
			// other process has gone on once this group's locks were freed.
			g.mu.Lock()
			g.pending = append(again, g.pending...)
			g.mu.Unlock()
		}
	}
}

// savepoint statements; one name suffices because each is released before
// the next call's savepoint is taken.
const (
	spTake     = "SAVEPOINT smartpt_call"
	spRelease  = "RELEASE SAVEPOINT smartpt_call"
	spRollback = "ROLLBACK TO SAVEPOINT smartpt_call"
)

// maxSavepointCalls bounds the calls of one PostgreSQL transaction that
// run in savepoints. Each call that writes gets a subtransaction id, and a
// backend caches 64 of them (PGPROC_MAX_CACHED_SUBXIDS in PostgreSQL's
// proc.h). Beyond that, every snapshot that other sessions take while the
// transaction runs has to look its subtransactions up in pg_subtrans.
const maxSavepointCalls = 64

// runGroup runs batch, in one transaction or (with savepoints on
// PostgreSQL) a few, and sets each call's err. It reports whether a call
// ran and failed; a call skipped because its context had ended does not
// count.
func (g *group) runGroup(batch []*groupCall) (failed bool) {
	if len(batch) == 1 && g.dialect == SQLite {
		return g.runAlone(batch[0])
	}
	if !g.careful {
		return g.runWithoutSavepoints(batch)
	}
	return g.runCarefully(batch)
}

// runCarefully runs batch with savepoints, or a single call in a
// transaction of its own, which needs none. An empty batch runs nothing.
func (g *group) runCarefully(batch []*groupCall) (failed bool) {
	switch len(batch) {
	case 0:
		return false
	case 1:
		return g.runAlone(batch[0])
	default:
		return g.runWithSavepoints(batch)
	}
}

// runWithoutSavepoints runs batch in one transaction without savepoints,
// and so on PostgreSQL without subtransactions. On PostgreSQL it reads,
// after each call, the transaction status that the server sent with its
// last reply, which shows a statement failure that the function
// swallowed. On SQLite a failed statement usually undoes only its own
// changes and leaves the transaction open, as a savepoint released after
// the function would. But after an OR ROLLBACK conflict, and after some
// SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY or SQLITE_NOMEM errors, SQLite
// rolls back the whole transaction, and every later statement commits on
// its own. g.rollbacks, counted by a rollback hook, shows that. So the
// first call that fails is known, and all calls before it succeeded.
// That call gets its error, the transaction is rolled back, and the other
// calls run again with savepoints. So each of them reads the
// same rows as in a group with savepoints, and runs at most twice (InTx
// warns that fn may run more than once).
func (g *group) runWithoutSavepoints(batch []*groupCall) (failed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), MaxWriteTime)
	defer cancel()
	tx, err := g.beginTx(ctx)
	if err != nil {
		g.failAll(batch, err)
		return false
	}
	if (g.dialect == Postgres && pgTxStatus(g.conn) != pgInTx) || (g.dialect == SQLite && g.rollbacks == nil) {
		// The status cannot be read (not the pgx driver), or SQLite's
		// rollbacks are not counted: savepoints it is.
		tx.Rollback()
		return g.runCarefully(batch)
	}
	g.groups.Add(1)
	var rollbacks uint64
	if g.dialect == SQLite {
		rollbacks = g.rollbacks.Load()
	}

	for i, call := range batch {
		if call.err = call.ctx.Err(); call.err != nil {
			continue
		}
		call.err = g.call(call, tx)
		if call.err == nil && g.dialect == Postgres && pgTxStatus(g.conn) != pgInTx {
			call.err = fmt.Errorf("a statement failed in a %s transaction function that returned nil; its work is rolled back: return the statement's error", g.dialect)
		}
		if call.err == nil && g.dialect == SQLite && g.rollbacks.Load() != rollbacks {
			// The statements run after such a rollback commit one by
			// one, so no later call may run in this transaction.
			call.err = fmt.Errorf("a statement failed in a %s transaction function that returned nil, and SQLite rolled back the whole transaction; its statements after that one were committed on their own: return the statement's error", g.dialect)
		}
		if call.err == nil {
			continue
		}

		tx.Rollback()
		g.retryIfConflict(call)
		g.runCarefully(slices.Delete(slices.Clone(batch), i, i+1))
		return true
	}

	if err := tx.Commit(); err != nil {
		g.failAll(batch, fmt.Errorf("commit %s transaction: %w", g.dialect, err))
	}
	return false
}

// runAlone runs a single call in a transaction of its own, which needs no
// savepoint.
func (g *group) runAlone(call *groupCall) (failed bool) {
	g.groups.Add(1)

	// The transaction is the committer's: a caller whose context ends must
	// not roll back the others' work.
	ctx, cancel := context.WithTimeout(context.Background(), MaxWriteTime)
	defer cancel()
	tx, err := g.beginTx(ctx)
	if err != nil {
		call.err = err
		return false
	}
	if call.err = call.ctx.Err(); call.err != nil {
		tx.Rollback()
		return false
	}

	call.err = g.call(call, tx)
	if call.err != nil {
		tx.Rollback()
		g.retryIfConflict(call)
		return true
	}
	if err := tx.Commit(); err != nil {
		call.err = fmt.Errorf("commit %s transaction: %w", g.dialect, err)
	}
	return false
}

// runWithSavepoints runs batch with each call in a savepoint of its own,
// in one transaction, or on PostgreSQL in one per maxSavepointCalls calls.
func (g *group) runWithSavepoints(batch []*groupCall) (failed bool) {
	chunk := max(len(batch), 1)
	if g.dialect == Postgres {
		chunk = maxSavepointCalls
	}
	for part := range slices.Chunk(batch, chunk) {
		if g.runSavepointTx(part) {
			failed = true
		}
	}
	return failed
}

// runSavepointTx runs batch in one transaction, each call inside a
// savepoint of its own. A function that fails is rolled back to its
// savepoint.
func (g *group) runSavepointTx(batch []*groupCall) (failed bool) {
	g.groups.Add(1)
	g.savepointGroups.Add(1)

	ctx, cancel := context.WithTimeout(context.Background(), MaxWriteTime)
	defer cancel()
	tx, err := g.beginTx(ctx)
	if err != nil {
		g.failAll(batch, err)
		return false
	}

	kept := 0
	for _, call := range batch {
		if err := call.ctx.Err(); err != nil {
			call.err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, spTake); err != nil {
			g.abandon(tx, batch, fmt.Errorf("take a %s savepoint: %w", g.dialect, err))
			return failed
		}

		call.err = g.call(call, tx)
		if call.err == nil {
			// RELEASE fails when the function swallowed a statement error
			// on PostgreSQL, which leaves the transaction aborted.
			if _, err := tx.ExecContext(ctx, spRelease); err != nil {
				call.err = fmt.Errorf("finish a %s transaction: %w", g.dialect, err)
			}
		}
		if call.err != nil {
			failed = true
			if _, err := tx.ExecContext(ctx, spRollback); err != nil {
				g.abandon(tx, batch, fmt.Errorf("roll back a %s savepoint: %w", g.dialect, err))
				return failed
			}
			if _, err := tx.ExecContext(ctx, spRelease); err != nil {
				g.abandon(tx, batch, fmt.Errorf("release a %s savepoint: %w", g.dialect, err))
				return failed
			}
			g.retryIfConflict(call)
			continue
		}
		kept++
	}

	if kept == 0 {
		tx.Rollback()
		return failed
	}
	if err := tx.Commit(); err != nil {
		g.failAll(batch, fmt.Errorf("commit %s transaction: %w", g.dialect, err))
	}
	return failed
}

// failAll gives err to every call of batch that has not failed on its own
// and is not to run again.
func (g *group) failAll(batch []*groupCall, err error) {
	for _, call := range batch {
		if call.err == nil && !call.requeue {
			call.err = err
		}
	}
}

// abandon rolls the whole transaction back after a savepoint statement
// failed, and gives err to every call that had not failed on its own.
func (g *group) abandon(tx *sql.Tx, batch []*groupCall, err error) {
	tx.Rollback()
	g.failAll(batch, err)
}

// retryIfConflict marks a failed call to run again in the next group when
// the database ended it to break a deadlock or a serialization conflict.
// Two replicas on one PostgreSQL database can deadlock: each group takes
// the audit-chain heads and action rows of several calls, in the order of
// its calls. The call runs again in the next group, not in this one,
// because this group still holds the lock for its other calls. Once this
// group commits, the other transaction can go on.
func (g *group) retryIfConflict(call *groupCall) {
	if call.retries >= maxRetries || !IsConflict(call.err) {
		return
	}
	call.retries++
	call.err = nil
	call.requeue = true
}

// call runs one function, turning a panic into a rollback of its work and
// a panic in its caller's goroutine.
func (g *group) call(call *groupCall, tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			call.panicked, call.panicValue = true, v
			err = fmt.Errorf("transaction function panicked: %v", v)
		}
	}()
	if g.dialect == SQLite {
		// SQLite's statements wait on neither a network nor a lock (the
		// transaction holds the write lock), so no deadline is needed,
		// and a context that cannot end spares a goroutine per statement
		// (see ShortContext). The group's transaction keeps its
		// MaxWriteTime.
		return call.fn(context.WithoutCancel(call.ctx), tx)
	}
	ctx, cancel := writeContext(call.ctx)
	defer cancel()
	return call.fn(ctx, tx)
}

// MaxWriteTime bounds a group transaction, and each write function in it,
// once the callers' contexts no longer do. A database that stops responding
// then fails the calls after this long, instead of holding the committer
// and every caller waiting behind it for good.
const MaxWriteTime = 30 * time.Second

// writeContext returns the context of a started write: ctx's values
// without its cancellation or deadline, so that a caller that goes away
// cannot end the write halfway, and MaxWriteTime from now as its deadline.
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), MaxWriteTime)
}
