package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

// callResult is what one InTx call returned, or the panic it raised.
type callResult struct {
	err      error
	panicked any
}

// heldGroup builds one group of InTx calls in a known order. A first call
// holds the committer until run, and the calls queued meanwhile form the
// next group, in the order in which they were queued.
type heldGroup struct {
	t       *testing.T
	db      *store.DB
	release chan struct{}
	held    chan error
	results []chan callResult
}

// queueWait bounds the wait for a call to reach the committer's queue. It
// only guards against a hang; the calls normally arrive at once.
const queueWait = 30 * time.Second

// holdCommitter starts the call that holds the committer and returns when
// the committer runs it.
func holdCommitter(t *testing.T, db *store.DB) *heldGroup {
	t.Helper()
	h := &heldGroup{t: t, db: db, release: make(chan struct{}), held: make(chan error, 1)}
	entered := make(chan struct{})
	var once sync.Once
	go func() {
		h.held <- db.InTx(context.Background(), func(context.Context, *sql.Tx) error {
			once.Do(func() { close(entered) })
			<-h.release
			return nil
		})
	}()
	select {
	case <-entered:
	case <-time.After(queueWait):
		t.Fatal("the holding call did not start")
	}
	return h
}

// queue starts fn as an InTx call and waits until it is in the committer's
// queue, behind the calls queued before it.
func (h *heldGroup) queue(fn func(_ context.Context, tx *sql.Tx) error) {
	h.t.Helper()
	h.queueWithContext(context.Background(), fn)
}

// queueWithContext is queue with ctx as the context of the InTx call.
func (h *heldGroup) queueWithContext(ctx context.Context, fn func(_ context.Context, tx *sql.Tx) error) {
	h.t.Helper()
	out := make(chan callResult, 1)
	h.results = append(h.results, out)
	go func() {
		var r callResult
		defer func() {
			r.panicked = recover()
			out <- r
		}()
		r.err = h.db.InTx(ctx, fn)
	}()
	deadline := time.Now().Add(queueWait)
	for h.db.PendingCalls() < len(h.results) {
		if time.Now().After(deadline) {
			h.t.Fatalf("call %d did not reach the committer's queue", len(h.results))
		}
		time.Sleep(time.Millisecond)
	}
}

// run lets the committer go on and returns the queued calls' results.
func (h *heldGroup) run() []callResult {
	h.t.Helper()
	close(h.release)
	if err := <-h.held; err != nil {
		h.t.Fatalf("holding call: %v", err)
	}
	out := make([]callResult, len(h.results))
	for i, c := range h.results {
		out[i] = <-c
	}
	return out
}

// probeTable creates a table whose rows show which calls committed.
func probeTable(t *testing.T, db *store.DB, name string) {
	t.Helper()
	if _, err := db.SQL.ExecContext(context.Background(), "CREATE TABLE "+name+" (id BIGINT PRIMARY KEY)"); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
}

// probeIDs returns the ids in a probe table, in order.
func probeIDs(t *testing.T, db *store.DB, name string) []int64 {
	t.Helper()
	rows, err := db.SQL.QueryContext(context.Background(), "SELECT id FROM "+name+" ORDER BY id")
	if err != nil {
		t.Fatalf("read table %s: %v", name, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// insertProbe returns a call that inserts id into table and counts its runs.
func insertProbe(table string, id int64, runs *atomic.Int32) func(_ context.Context, tx *sql.Tx) error {
	return func(_ context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.ExecContext(context.Background(), "INSERT INTO "+table+" (id) VALUES ($1)", id)
		return err
	}
}

// TestGroupWithoutSavepointsSQLite checks that a group of several
// successful calls on SQLite commits every call's work without
// savepoints.
func TestGroupWithoutSavepointsSQLite(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	probeTable(t, db, "plain_probe")
	before := db.SavepointGroups()
	groupsBefore, _ := db.GroupStats()

	var runs atomic.Int32
	h := holdCommitter(t, db)
	for i := range 5 {
		h.queue(insertProbe("plain_probe", int64(i), &runs))
	}
	for i, r := range h.run() {
		if r.err != nil || r.panicked != nil {
			t.Errorf("call %d: err %v, panic %v; want success", i, r.err, r.panicked)
		}
	}

	if got := probeIDs(t, db, "plain_probe"); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("committed ids %v, want [0 1 2 3 4]", got)
	}
	if got := runs.Load(); got != 5 {
		t.Errorf("the calls ran %d times, want 5", got)
	}
	if got := db.SavepointGroups() - before; got != 0 {
		t.Errorf("%d transactions used savepoints, want 0", got)
	}
	// The holding call's group, then the five calls' group.
	if groups, _ := db.GroupStats(); groups-groupsBefore != 2 {
		t.Errorf("%d transactions, want 2", groups-groupsBefore)
	}
}

// TestGroupWithoutSavepoints checks that a group of several successful
// calls on PostgreSQL commits every call's work in one transaction that
// takes no savepoint.
func TestGroupWithoutSavepoints(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	probeTable(t, db, "plain_probe")
	before := db.SavepointGroups()

	h := holdCommitter(t, db)
	xids := make([]string, 5)
	for i := range xids {
		h.queue(func(_ context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(context.Background(), "SELECT pg_current_xact_id()::text").Scan(&xids[i]); err != nil {
				return err
			}
			_, err := tx.ExecContext(context.Background(), "INSERT INTO plain_probe (id) VALUES ($1)", i)
			return err
		})
	}
	for i, r := range h.run() {
		if r.err != nil || r.panicked != nil {
			t.Errorf("call %d: err %v, panic %v; want success", i, r.err, r.panicked)
		}
	}

	if got := probeIDs(t, db, "plain_probe"); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("committed ids %v, want [0 1 2 3 4]", got)
	}
	if n := len(slices.Compact(slices.Clone(xids))); n != 1 {
		t.Errorf("transaction ids %v, want one transaction for the group", xids)
	}
	if got := db.SavepointGroups() - before; got != 0 {
		t.Errorf("%d transactions used savepoints, want 0", got)
	}
}

// TestGroupWithoutSavepointsFailure fails one call of a group in each way a
// call can fail, at the start, middle and end of a group of five and alone,
// on both stores. The failing call must get its error and leave no row;
// every other call must commit exactly once. The calls before the failing
// one run twice, because the transaction is rolled back, and their second
// run uses savepoints. A statement error that the call swallows is a
// failure on PostgreSQL, whose transaction it aborts, and none on SQLite,
// where it undoes only its own statement.
func TestGroupWithoutSavepointsFailure(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { testGroupWithoutSavepointsFailure(t, d) })
	}
}

func testGroupWithoutSavepointsFailure(t *testing.T, d store.Dialect) {
	db := storetest.Open(t, d)
	ctx := context.Background()
	swallowedFails := d == store.Postgres
	errFail := errors.New("this call fails on purpose")

	failures := []struct {
		name  string
		fn    func(table string, id int64) func(_ context.Context, tx *sql.Tx) error
		check func(r callResult) error
	}{
		{
			name: "returned error",
			fn: func(table string, id int64) func(_ context.Context, tx *sql.Tx) error {
				return func(_ context.Context, tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", id); err != nil {
						return err
					}
					return errFail
				}
			},
			check: func(r callResult) error {
				if !errors.Is(r.err, errFail) {
					return fmt.Errorf("err %v, want its own error", r.err)
				}
				return nil
			},
		},
		{
			name: "statement error",
			fn: func(table string, id int64) func(_ context.Context, tx *sql.Tx) error {
				return func(_ context.Context, tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", id); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", id)
					return err
				}
			},
			check: func(r callResult) error {
				if !store.IsUniqueViolation(r.err) {
					return fmt.Errorf("err %v, want a unique violation", r.err)
				}
				return nil
			},
		},
		{
			name: "swallowed statement error",
			fn: func(table string, id int64) func(_ context.Context, tx *sql.Tx) error {
				return func(_ context.Context, tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", id); err != nil {
						return err
					}
					tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", id)
					return nil
				}
			},
			check: func(r callResult) error {
				if !swallowedFails {
					if r.err != nil {
						return fmt.Errorf("err %v, want success: the function returned nil", r.err)
					}
					return nil
				}
				if r.err == nil || !strings.Contains(r.err.Error(), "returned nil") {
					return fmt.Errorf("err %v, want the error for a swallowed statement failure", r.err)
				}
				return nil
			},
		},
		{
			name: "panic",
			fn: func(table string, id int64) func(_ context.Context, tx *sql.Tx) error {
				return func(_ context.Context, tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", id); err != nil {
						return err
					}
					panic(fmt.Sprint("panic in call ", id))
				}
			},
			check: func(r callResult) error {
				if r.panicked == nil {
					return fmt.Errorf("err %v, want its panic raised in its caller", r.err)
				}
				return nil
			},
		},
	}
	layouts := []struct {
		size, failing int
	}{
		{1, 0}, {5, 0}, {5, 2}, {5, 4},
	}

	n := 0
	for _, f := range failures {
		for _, l := range layouts {
			n++
			table := fmt.Sprintf("failure_probe_%d", n)
			t.Run(fmt.Sprintf("%s/call %d of %d", f.name, l.failing+1, l.size), func(t *testing.T) {
				probeTable(t, db, table)
				before := db.SavepointGroups()

				runs := make([]atomic.Int32, l.size)
				h := holdCommitter(t, db)
				for i := range l.size {
					if i == l.failing {
						h.queue(f.fn(table, int64(i)))
					} else {
						h.queue(insertProbe(table, int64(i), &runs[i]))
					}
				}
				results := h.run()

				var want []int64
				for i, r := range results {
					if i == l.failing {
						if err := f.check(r); err != nil {
							t.Errorf("failing call: %v", err)
						}
						if f.name == "swallowed statement error" && !swallowedFails {
							want = append(want, int64(i))
						}
						continue
					}
					if r.err != nil || r.panicked != nil {
						t.Errorf("call %d: err %v, panic %v; want success", i, r.err, r.panicked)
					}
					want = append(want, int64(i))

					wantRuns := int32(1)
					if i < l.failing && (f.name != "swallowed statement error" || swallowedFails) {
						wantRuns = 2
					}
					if got := runs[i].Load(); got != wantRuns {
						t.Errorf("call %d ran %d times, want %d", i, got, wantRuns)
					}
				}
				if got := probeIDs(t, db, table); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("committed ids %v, want %v", got, want)
				}

				wantSavepointGroups := uint64(0)
				if f.name == "swallowed statement error" && !swallowedFails {
					// Nothing failed: no rerun.
				} else if l.size > 2 {
					wantSavepointGroups = 1 // the other calls, run again
				}
				if got := db.SavepointGroups() - before; got != wantSavepointGroups {
					t.Errorf("%d transactions used savepoints, want %d", got, wantSavepointGroups)
				}
			})
		}
	}
}

// TestGroupAfterFailureUsesSavepoints checks that the group after one with
// a failing call runs with savepoints, so that a run of failing calls does
// not make every group run twice, and that the group after a clean one runs
// without.
func TestGroupAfterFailureUsesSavepoints(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	probeTable(t, db, "careful_probe")
	var runs atomic.Int32
	start := db.SavepointGroups()

	// Group 1: a failing call, then a call that holds the committer while
	// group 2 is queued. The held call runs in the savepoint transaction
	// that reruns the rest of group 1.
	h1 := holdCommitter(t, db)
	h1.queue(func(context.Context, *sql.Tx) error { return errors.New("this call fails on purpose") })
	h1.queue(insertProbe("careful_probe", 1, &runs))
	h2 := &heldGroup{t: t, db: db, release: make(chan struct{}), held: make(chan error, 1)}
	entered := make(chan struct{})
	var once sync.Once
	h1.queue(func(context.Context, *sql.Tx) error {
		once.Do(func() { close(entered) })
		<-h2.release
		return nil
	})
	group1 := make(chan []callResult, 1)
	go func() { group1 <- h1.run() }()
	<-entered
	h2.held <- nil
	h2.queue(insertProbe("careful_probe", 2, &runs))
	h2.queue(insertProbe("careful_probe", 3, &runs))
	for i, r := range h2.run() {
		if r.err != nil {
			t.Errorf("group 2, call %d: %v", i, r.err)
		}
	}
	r1 := <-group1
	if r1[0].err == nil {
		t.Error("group 1, failing call: no error")
	}
	for i, r := range r1[1:] {
		if r.err != nil {
			t.Errorf("group 1, call %d: %v", i+1, r.err)
		}
	}
	if got := db.SavepointGroups() - start; got != 2 {
		t.Errorf("%d transactions used savepoints, want 2: the rerun of group 1 and group 2", got)
	}

	// Group 2 was clean, so group 3 runs without savepoints.
	after := db.SavepointGroups()
	h3 := holdCommitter(t, db)
	h3.queue(insertProbe("careful_probe", 4, &runs))
	h3.queue(insertProbe("careful_probe", 5, &runs))
	for i, r := range h3.run() {
		if r.err != nil {
			t.Errorf("group 3, call %d: %v", i, r.err)
		}
	}
	if got := db.SavepointGroups() - after; got != 0 {
		t.Errorf("%d transactions of group 3 used savepoints, want 0", got)
	}
	if got := probeIDs(t, db, "careful_probe"); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("committed ids %v, want [1 2 3 4 5]", got)
	}
}

// TestGroupSavepointTransactionSize checks that a group run with savepoints
// on PostgreSQL puts at most 64 calls in one transaction, the
// subtransactions that a backend caches.
func TestGroupSavepointTransactionSize(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	probeTable(t, db, "size_probe")

	// A failing call makes the next group run with savepoints; the call
	// after it holds the committer while that group is queued.
	h1 := holdCommitter(t, db)
	h1.queue(func(context.Context, *sql.Tx) error { return errors.New("this call fails on purpose") })
	h2 := &heldGroup{t: t, db: db, release: make(chan struct{}), held: make(chan error, 1)}
	entered := make(chan struct{})
	var once sync.Once
	h1.queue(func(context.Context, *sql.Tx) error {
		once.Do(func() { close(entered) })
		<-h2.release
		return nil
	})
	go func() { h1.run() }()
	<-entered
	h2.held <- nil

	const calls = 100
	xids := make([]string, calls)
	for i := range calls {
		h2.queue(func(_ context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(context.Background(), "SELECT pg_current_xact_id()::text").Scan(&xids[i]); err != nil {
				return err
			}
			_, err := tx.ExecContext(context.Background(), "INSERT INTO size_probe (id) VALUES ($1)", i)
			return err
		})
	}
	for i, r := range h2.run() {
		if r.err != nil {
			t.Errorf("call %d: %v", i, r.err)
		}
	}

	perTx := map[string]int{}
	for _, x := range xids {
		perTx[x]++
	}
	if len(perTx) != 2 {
		t.Errorf("%d calls ran in %d transactions (%v), want 2", calls, len(perTx), perTx)
	}
	for x, n := range perTx {
		if n > 64 {
			t.Errorf("transaction %s ran %d calls in savepoints, want at most 64", x, n)
		}
	}
	if got := len(probeIDs(t, db, "size_probe")); got != calls {
		t.Errorf("committed %d rows, want %d", got, calls)
	}
}

// TestGroupWithoutSavepointsDeadlock makes the middle call of a group of
// three the victim of a deadlock with another process: both take two rows
// in opposite orders. The victim must run again in a later group and
// commit, and the group's other calls must commit once.
func TestGroupWithoutSavepointsDeadlock(t *testing.T) {
	url, schema := storetest.SchemaURL(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.Open(ctx, store.Options{DatabaseURL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	probeTable(t, a, "deadlock_rows_probe")
	if _, err := a.SQL.ExecContext(ctx, "CREATE TABLE deadlock_pair (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SQL.ExecContext(ctx, "INSERT INTO deadlock_pair (id, n) VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatal(err)
	}
	// The comment names the schema, so that the wait is found among the
	// server's other sessions.
	update := "UPDATE deadlock_pair SET n = n + 1 WHERE id = $1 /* " + schema + " */"

	// b locks row 2 and waits. a's victim locks row 1 and then waits for
	// row 2. Once the victim waits, b requests row 1. The victim waited
	// first, so PostgreSQL's deadlock check (deadlock_timeout after a wait
	// begins) runs in its session first and ends its transaction.
	bLocked, goB := make(chan struct{}), make(chan struct{})
	var bOnce sync.Once
	bDone := make(chan error, 1)
	go func() {
		bDone <- b.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, update, 2); err != nil {
				return err
			}
			bOnce.Do(func() {
				close(bLocked)
				<-goB
			})
			_, err := tx.ExecContext(ctx, update, 1)
			return err
		})
	}()
	<-bLocked

	var runsBefore, runsVictim, runsAfter atomic.Int32
	h := holdCommitter(t, a)
	h.queue(insertProbe("deadlock_rows_probe", 1, &runsBefore))
	h.queue(func(_ context.Context, tx *sql.Tx) error {
		runsVictim.Add(1)
		if _, err := tx.ExecContext(ctx, update, 1); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, update, 2)
		return err
	})
	h.queue(insertProbe("deadlock_rows_probe", 3, &runsAfter))
	results := make(chan []callResult, 1)
	go func() { results <- h.run() }()

	deadline := time.Now().Add(queueWait)
	for {
		var waiting int
		err := b.SQL.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
			"UPDATE deadlock_pair%"+schema+"%").Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the victim never waited for its second row")
		}
		time.Sleep(time.Millisecond)
	}
	close(goB)

	for i, r := range <-results {
		if r.err != nil || r.panicked != nil {
			t.Errorf("call %d of the group: err %v, panic %v; want success", i, r.err, r.panicked)
		}
	}
	if err := <-bDone; err != nil {
		t.Errorf("other process: %v", err)
	}

	if got := runsVictim.Load(); got != 2 {
		t.Errorf("victim ran %d times, want 2: ended by the deadlock, then run again", got)
	}
	if got := runsBefore.Load(); got != 2 {
		t.Errorf("call before the victim ran %d times, want 2", got)
	}
	if got := runsAfter.Load(); got != 1 {
		t.Errorf("call after the victim ran %d times, want 1", got)
	}
	if got := probeIDs(t, a, "deadlock_rows_probe"); fmt.Sprint(got) != "[1 3]" {
		t.Errorf("committed ids %v, want [1 3]", got)
	}
	var total int
	if err := a.SQL.QueryRowContext(ctx, "SELECT SUM(n) FROM deadlock_pair").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 4 {
		t.Errorf("sum of updates %d, want 4: each process's two updates committed once", total)
	}
}

// committerPID returns the server process id of the connection that runs
// InTx calls.
func committerPID(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var pid int64
	err := db.InTx(context.Background(), func(_ context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid)
	})
	if err != nil {
		t.Fatalf("read the committer's backend pid: %v", err)
	}
	return pid
}

// TestGroupKeepsItsConnection checks that group commit on PostgreSQL runs
// every group on one connection of its own, which readers holding every
// pooled connection do not take.
func TestGroupKeepsItsConnection(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	first := committerPID(t, db)

	// Hold as many pooled connections as there may be idle ones, so that
	// a committer drawing from the pool would have to open a new one.
	var held []*sql.Conn
	for range 4 {
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pid int64
		if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if pid == first {
			t.Errorf("pooled connection %d is the committer's (backend %d)", len(held)+1, pid)
		}
		held = append(held, conn)
	}
	defer func() {
		for _, conn := range held {
			conn.Close()
		}
	}()

	for i := range 3 {
		if got := committerPID(t, db); got != first {
			t.Errorf("group %d ran on backend %d, want the committer's %d", i+2, got, first)
		}
	}
}

// terminateBackend ends the server process pid, as a server restart or
// an administrator would, and waits until it has exited.
func terminateBackend(t *testing.T, db *store.DB, pid int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatalf("terminate backend %d: %v", pid, err)
	}
	deadline := time.Now().Add(queueWait)
	for {
		var n int
		if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still runs after pg_terminate_backend", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupReconnects checks that the committer replaces a connection
// that the server closed: while idle between groups, which costs no
// call an error, and during a call, which fails only that call.
func TestGroupReconnects(t *testing.T) {
	ctx := context.Background()

	t.Run("idle", func(t *testing.T) {
		db := storetest.Open(t, store.Postgres)
		first := committerPID(t, db)
		terminateBackend(t, db, first)

		probeTable(t, db, "reconnect_idle_probe")
		var runs atomic.Int32
		if err := db.InTx(ctx, insertProbe("reconnect_idle_probe", 1, &runs)); err != nil {
			t.Fatalf("first call after the connection closed: %v", err)
		}
		if got := probeIDs(t, db, "reconnect_idle_probe"); fmt.Sprint(got) != "[1]" {
			t.Errorf("committed ids %v, want [1]", got)
		}
		if got := committerPID(t, db); got == first {
			t.Errorf("committer still on backend %d, which was terminated", got)
		}
	})

	t.Run("during a call", func(t *testing.T) {
		db := storetest.Open(t, store.Postgres)
		first := committerPID(t, db)
		err := db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		})
		if err == nil {
			t.Fatal("the call whose session ended returned nil")
		}

		probeTable(t, db, "reconnect_call_probe")
		var runs atomic.Int32
		if err := db.InTx(ctx, insertProbe("reconnect_call_probe", 1, &runs)); err != nil {
			t.Fatalf("next call: %v", err)
		}
		if got := probeIDs(t, db, "reconnect_call_probe"); fmt.Sprint(got) != "[1]" {
			t.Errorf("committed ids %v, want [1]", got)
		}
		if got := committerPID(t, db); got == first {
			t.Errorf("committer still on backend %d, which was terminated", got)
		}
	})
}
