package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

// TestGroupCommit runs many concurrent InTx calls, some failing, some
// panicking, some with an ended context, on both engines. Each call inserts
// one row into a table of its own, so the table shows exactly which calls
// committed: every successful call and no failed one.
func TestGroupCommit(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			ctx := context.Background()
			if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE group_probe (id BIGINT PRIMARY KEY, note TEXT NOT NULL)"); err != nil {
				t.Fatalf("create probe table: %v", err)
			}

			const calls = 400
			errFail := errors.New("this call fails on purpose")
			type outcome struct {
				err      error
				panicked any
			}
			results := make([]outcome, calls)
			var wg sync.WaitGroup
			for i := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { results[i].panicked = recover() }()

					callCtx := ctx
					if i%10 == 7 {
						c, cancel := context.WithCancel(ctx)
						cancel()
						callCtx = c
					}
					results[i].err = db.InTx(callCtx, func(_ context.Context, tx *sql.Tx) error {
						if _, err := tx.ExecContext(callCtx, db.Rebind("INSERT INTO group_probe (id, note) VALUES (?, ?)"), i, fmt.Sprint("call ", i)); err != nil {
							return err
						}
						switch i % 10 {
						case 3:
							return errFail // after its insert: the insert must be undone
						case 5:
							panic(fmt.Sprint("panic in call ", i))
						case 9:
							// A statement error inside the call, returned as is.
							_, err := tx.ExecContext(callCtx, db.Rebind("INSERT INTO group_probe (id, note) VALUES (?, ?)"), i, "duplicate")
							return err
						}
						return nil
					})
				}()
			}
			wg.Wait()

			var want []int
			for i, r := range results {
				switch i % 10 {
				case 3:
					if !errors.Is(r.err, errFail) {
						t.Errorf("call %d: err = %v, want its own error", i, r.err)
					}
				case 5:
					if r.panicked != fmt.Sprint("panic in call ", i) {
						t.Errorf("call %d: recovered %v, want its panic raised in its caller", i, r.panicked)
					}
				case 7:
					if !errors.Is(r.err, context.Canceled) {
						t.Errorf("call %d: err = %v, want context.Canceled", i, r.err)
					}
				case 9:
					if !store.IsUniqueViolation(r.err) {
						t.Errorf("call %d: err = %v, want a unique violation", i, r.err)
					}
				default:
					if r.err != nil || r.panicked != nil {
						t.Errorf("call %d: err = %v, panic = %v, want success", i, r.err, r.panicked)
					}
					want = append(want, i)
				}
			}

			rows, err := db.SQL.QueryContext(ctx, "SELECT id FROM group_probe ORDER BY id")
			if err != nil {
				t.Fatalf("read probe table: %v", err)
			}
			defer rows.Close()
			var got []int
			for rows.Next() {
				var id int
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				got = append(got, id)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("committed rows %v, want exactly the successful calls %v", got, want)
			}
		})
	}
}

// TestGroupCommitVisibleToReaders checks that a row committed by InTx is
// visible on the Read pool as soon as InTx returns.
func TestGroupCommitVisibleToReaders(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			ctx := context.Background()
			if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE group_seen (id BIGINT PRIMARY KEY)"); err != nil {
				t.Fatalf("create table: %v", err)
			}
			for i := range 50 {
				if err := db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO group_seen (id) VALUES (?)"), i)
					return err
				}); err != nil {
					t.Fatalf("insert %d: %v", i, err)
				}
				var n int
				if err := db.Read.QueryRowContext(ctx, db.Rebind("SELECT count(*) FROM group_seen WHERE id = ?"), i).Scan(&n); err != nil || n != 1 {
					t.Fatalf("row %d after InTx returned: count %d, err %v; want it visible to readers", i, n, err)
				}
			}
		})
	}
}

// TestReadPoolRefusesWrites checks that a write sent to the SQLite read
// pool by mistake fails instead of bypassing the single writer.
func TestReadPoolRefusesWrites(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	_, err := db.Read.ExecContext(context.Background(), "CREATE TABLE should_not_exist (id INTEGER)")
	if err == nil {
		t.Fatal("a write on the read pool succeeded; want it refused by query_only")
	}
}

// TestInTxAfterClose checks that InTx returns ErrClosed, and does not
// block, once the DB is closed.
func TestInTxAfterClose(t *testing.T) {
	db, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	done := make(chan error, 1)
	go func() { done <- db.InTx(context.Background(), func(context.Context, *sql.Tx) error { return nil }) }()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("InTx after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("InTx after Close blocked")
	}
}

// TestExecOne checks the rows-changed count of a single write on both
// engines, and that a failing statement returns its error.
func TestExecOne(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			ctx := context.Background()
			if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE exec_one (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := db.ExecOne(ctx, db.Rebind("INSERT INTO exec_one (id, n) VALUES (?, 0)"), i); err != nil {
					t.Fatal(err)
				}
			}

			cases := []struct {
				name  string
				query string
				want  int64
			}{
				{"all rows", "UPDATE exec_one SET n = n + 1", 3},
				{"one row", "UPDATE exec_one SET n = n + 1 WHERE id = 1", 1},
				{"no row", "UPDATE exec_one SET n = n + 1 WHERE id = 99", 0},
			}
			for _, c := range cases {
				n, err := db.ExecOne(ctx, c.query)
				if err != nil || n != c.want {
					t.Errorf("%s: %d rows, %v; want %d rows", c.name, n, err, c.want)
				}
			}

			if _, err := db.ExecOne(ctx, db.Rebind("INSERT INTO exec_one (id, n) VALUES (?, 0)"), 1); !store.IsUniqueViolation(err) {
				t.Errorf("duplicate insert: %v, want a unique violation", err)
			}
		})
	}
}

// TestGroupCommitRetriesDeadlock makes two processes' transactions take two
// rows in opposite orders, as two replicas' groups can with audit-chain
// heads. PostgreSQL ends one of them to break the deadlock; that call must
// run again and succeed, not fail its caller.
func TestGroupCommitRetriesDeadlock(t *testing.T) {
	url, _ := storetest.SchemaURL(t)
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
	if _, err := a.SQL.ExecContext(ctx, "CREATE TABLE deadlock_probe (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SQL.ExecContext(ctx, "INSERT INTO deadlock_probe (id, n) VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatal(err)
	}

	// Both first updates happen before either second update, once only:
	// a run that comes again finds the barrier open.
	var barrier sync.WaitGroup
	barrier.Add(2)
	var passed [2]sync.Once
	lockBoth := func(db *store.DB, side int, first, second int) error {
		return db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE deadlock_probe SET n = n + 1 WHERE id = $1", first); err != nil {
				return err
			}
			passed[side].Do(func() {
				barrier.Done()
				barrier.Wait()
			})
			_, err := tx.ExecContext(ctx, "UPDATE deadlock_probe SET n = n + 1 WHERE id = $1", second)
			return err
		})
	}

	errs := make(chan error, 2)
	go func() { errs <- lockBoth(a, 0, 1, 2) }()
	go func() { errs <- lockBoth(b, 1, 2, 1) }()
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("InTx: %v, want the deadlock victim run again and committed", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("InTx calls did not return within 30 s")
		}
	}

	var total int
	if err := a.SQL.QueryRowContext(ctx, "SELECT SUM(n) FROM deadlock_probe").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 4 {
		t.Errorf("sum of updates %d, want 4: each call's two updates committed once", total)
	}
}

// TestInTxCancelAfterStart cancels the caller's context while its call
// runs in a group, before a statement and during one. The call's work
// must still commit, and so must the work of the call grouped with it,
// because a client that hangs up must not roll back a write the gateway
// has begun. On PostgreSQL the committer must keep its connection.
func TestInTxCancelAfterStart(t *testing.T) {
	tests := []struct {
		name    string
		dialect store.Dialect
		// run cancels the caller's context at some point and then runs a
		// statement on ctx, the context that InTx passes to the call.
		run func(ctx context.Context, tx *sql.Tx, cancel context.CancelFunc) error
	}{
		{"sqlite before a statement", store.SQLite, cancelBeforeStatement},
		{"postgres before a statement", store.Postgres, cancelBeforeStatement},
		{"postgres during a statement", store.Postgres, func(ctx context.Context, tx *sql.Tx, cancel context.CancelFunc) error {
			// The sleep outlasts the timer by far; a cancelled statement
			// fails with "canceling statement due to user request".
			timer := time.AfterFunc(50*time.Millisecond, cancel)
			defer timer.Stop()
			_, err := tx.ExecContext(ctx, "SELECT pg_sleep(0.5)")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := storetest.Open(t, tt.dialect)
			probeTable(t, db, "cancel_probe")
			var pid int64
			if tt.dialect == store.Postgres {
				pid = committerPID(t, db)
			}

			h := holdCommitter(t, db)
			callCtx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.queueWithContext(callCtx, func(ctx context.Context, tx *sql.Tx) error {
				if err := tt.run(ctx, tx, cancel); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO cancel_probe (id) VALUES (?)"), 1)
				return err
			})
			h.queue(func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO cancel_probe (id) VALUES (?)"), 2)
				return err
			})

			results := h.run()
			if r := results[0]; r.err != nil || r.panicked != nil {
				t.Errorf("cancelled call: err %v, panic %v; want nil, because its work commits", r.err, r.panicked)
			}
			if r := results[1]; r.err != nil || r.panicked != nil {
				t.Errorf("call grouped with the cancelled one: err %v, panic %v", r.err, r.panicked)
			}
			if callCtx.Err() == nil {
				t.Error("the call never cancelled its context")
			}
			if got := probeIDs(t, db, "cancel_probe"); fmt.Sprint(got) != "[1 2]" {
				t.Errorf("committed ids %v, want [1 2]", got)
			}
			if tt.dialect == store.Postgres {
				if got := committerPID(t, db); got != pid {
					t.Errorf("committer on backend %d after the cancel, want %d", got, pid)
				}
			}
		})
	}
}

// cancelBeforeStatement cancels the caller's context before the call's
// first statement.
func cancelBeforeStatement(ctx context.Context, tx *sql.Tx, cancel context.CancelFunc) error {
	cancel()
	return nil
}

// TestInTxWriteDeadline checks the context that InTx passes to fn: the
// caller's cancellation does not reach it. Without group commit
// MaxWriteTime bounds it, so that a database that stops responding cannot
// hold a write for good. With group commit on SQLite it cannot end at all.
// So the driver starts no goroutine per statement to watch it, and the
// group's transaction keeps the bound.
func TestInTxWriteDeadline(t *testing.T) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("separate commits %t", separate), func(t *testing.T) {
			db, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), SeparateCommits: separate})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })

			callCtx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			start := time.Now()
			err = db.InTx(callCtx, func(ctx context.Context, tx *sql.Tx) error {
				cancel()
				if ctx.Err() != nil {
					t.Errorf("fn's context ended with its caller's: %v", ctx.Err())
				}
				// fn runs on the committer's goroutine, where t.Fatal
				// cannot stop the test.
				if !separate {
					if ctx.Done() != nil {
						t.Error("fn's context can end; on SQLite with group commit it must not")
					}
					return nil
				}
				deadline, ok := ctx.Deadline()
				if !ok {
					t.Error("fn's context has no deadline")
					return nil
				}
				if limit := time.Now().Add(store.MaxWriteTime); deadline.After(limit) {
					t.Errorf("fn's deadline %v is after now + MaxWriteTime %v", deadline, limit)
				}
				if early := start.Add(store.MaxWriteTime / 2); deadline.Before(early) {
					t.Errorf("fn's deadline %v is before start + MaxWriteTime/2 %v", deadline, early)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("InTx: %v", err)
			}
		})
	}
}
