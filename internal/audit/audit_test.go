package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

// forEachDialect runs fn once per store dialect, on a fresh database.
func forEachDialect(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, storetest.Open(t, d))
		})
	}
}

func sampleEvent(company string, i int) audit.Event {
	return audit.Event{
		CompanyID:  company,
		Type:       "requested",
		ActionID:   fmt.Sprintf("act_%04d", i),
		Requester:  "analyst@example.com",
		ClientAddr: "192.0.2.10",
		RequestID:  fmt.Sprintf("req_%04d", i),
		Route:      "/defender/machines",
		Action:     "isolate",
		Target:     "host-17",
		Result:     "dispatched",
		VendorRef:  "d1b2c3",
		DurationMS: int64(i),
	}
}

// appendN appends n sample events for company and fails the test on error.
func appendN(t *testing.T, log *audit.Log, company string, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := 1; i <= n; i++ {
		ev, err := log.Append(context.Background(), sampleEvent(company, i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

func mustVerify(t *testing.T, log *audit.Log, company string) {
	t.Helper()
	brk, err := log.Verify(context.Background(), company)
	if err != nil {
		t.Fatalf("Verify(%s): %v", company, err)
	}
	if brk != nil {
		t.Fatalf("Verify(%s) = %v, want an intact chain", company, brk)
	}
}

func exec(t *testing.T, db *store.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.SQL.ExecContext(context.Background(), db.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestAppendChainsEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
		first := sampleEvent("cmp_a", 1)
		first.Time = at
		first.Seq, first.Hash, first.PrevHash = 99, "forged", "forged" // ignored by Append

		ev1, err := log.Append(context.Background(), first)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		ev2, err := log.Append(context.Background(), sampleEvent("cmp_a", 2))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}

		if ev1.Seq != 1 || ev2.Seq != 2 {
			t.Errorf("seqs = %d, %d; want 1, 2", ev1.Seq, ev2.Seq)
		}
		if ev1.PrevHash != "" {
			t.Errorf("first event prev_hash = %q, want empty", ev1.PrevHash)
		}
		if ev2.PrevHash != ev1.Hash {
			t.Errorf("second event prev_hash = %q, want first hash %q", ev2.PrevHash, ev1.Hash)
		}
		if len(ev1.Hash) != 64 {
			t.Errorf("hash %q is not 64 hex characters", ev1.Hash)
		}
		if !ev1.Time.Equal(at) || ev1.Time.Location() != time.UTC {
			t.Errorf("time = %v, want %v in UTC", ev1.Time, at)
		}
		if ev2.Time.IsZero() {
			t.Errorf("zero time was not set to now")
		}

		listed, err := log.List(context.Background(), "cmp_a", audit.Filter{})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(listed) != 2 {
			t.Fatalf("List returned %d events, want 2", len(listed))
		}
		if listed[0] != ev1 || listed[1] != ev2 {
			t.Errorf("List =\n%+v\nwant\n%+v", listed, []audit.Event{ev1, ev2})
		}
		mustVerify(t, log, "cmp_a")
	})
}

func TestAppendRejectsMissingFields(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		if _, err := log.Append(context.Background(), audit.Event{Type: "requested"}); err == nil {
			t.Errorf("Append without company succeeded")
		}
		if _, err := log.Append(context.Background(), audit.Event{CompanyID: "cmp_a"}); err == nil {
			t.Errorf("Append without type succeeded")
		}
	})
}

func TestAppendSanitizesText(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		ev := sampleEvent("cmp_a", 1)
		ev.Target = "host\x00-\xff-17"
		got, err := log.Append(context.Background(), ev)
		if err != nil {
			t.Fatalf("Append with NUL and invalid UTF-8: %v", err)
		}
		if want := "host\uFFFD-\uFFFD-17"; got.Target != want {
			t.Errorf("Target = %q, want %q", got.Target, want)
		}
		mustVerify(t, log, "cmp_a")
	})
}

func TestAppendTxRollback(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		appendN(t, log, "cmp_a", 2)

		tx, err := db.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.AppendTx(ctx, tx, sampleEvent("cmp_a", 3)); err != nil {
			t.Fatalf("AppendTx: %v", err)
		}
		tx.Rollback()
		mustVerify(t, log, "cmp_a")

		ev, err := log.Append(ctx, sampleEvent("cmp_a", 4))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != 3 {
			t.Errorf("seq after a rolled back append = %d, want 3", ev.Seq)
		}

		// A committed AppendTx commits with the caller's own rows.
		err = db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			_, err := log.AppendTx(ctx, tx, sampleEvent("cmp_a", 5))
			return err
		})
		if err != nil {
			t.Fatalf("AppendTx in InTx: %v", err)
		}
		mustVerify(t, log, "cmp_a")
	})
}

func TestListFilters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 1; i <= 5; i++ {
			ev := sampleEvent("cmp_a", i)
			ev.Time = base.Add(time.Duration(i) * time.Minute)
			if _, err := log.Append(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		appendN(t, log, "cmp_b", 3)

		cases := []struct {
			name     string
			company  string
			filter   audit.Filter
			wantSeqs []int64
		}{
			{"all of company a", "cmp_a", audit.Filter{}, []int64{1, 2, 3, 4, 5}},
			{"company b only", "cmp_b", audit.Filter{}, []int64{1, 2, 3}},
			{"unknown company", "cmp_x", audit.Filter{}, nil},
			{"action id", "cmp_a", audit.Filter{ActionID: "act_0003"}, []int64{3}},
			{"action id of other company", "cmp_b", audit.Filter{ActionID: "act_0005"}, nil},
			{"since", "cmp_a", audit.Filter{Since: base.Add(4 * time.Minute)}, []int64{4, 5}},
			{"after seq", "cmp_a", audit.Filter{AfterSeq: 3}, []int64{4, 5}},
			{"limit", "cmp_a", audit.Filter{Limit: 2}, []int64{1, 2}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				events, err := log.List(ctx, tc.company, tc.filter)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				var seqs []int64
				for _, ev := range events {
					if ev.CompanyID != tc.company {
						t.Errorf("List(%s) returned an event of %s", tc.company, ev.CompanyID)
					}
					seqs = append(seqs, ev.Seq)
				}
				if fmt.Sprint(seqs) != fmt.Sprint(tc.wantSeqs) {
					t.Errorf("seqs = %v, want %v", seqs, tc.wantSeqs)
				}
			})
		}

		if _, err := log.List(ctx, "cmp_a", audit.Filter{Limit: -1}); err == nil {
			t.Errorf("List with negative limit succeeded")
		}
	})
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name     string
		tamper   []string // statements; ? is the company id where present
		wantSeq  int64
		wantKind audit.BreakKind
	}{
		{"edited result", []string{"UPDATE audit_events SET result = 'success' WHERE company_id = ? AND seq = 3"}, 3, audit.BreakEdited},
		{"edited time", []string{"UPDATE audit_events SET time = time + 1 WHERE company_id = ? AND seq = 5"}, 5, audit.BreakEdited},
		{"edited requester of last", []string{"UPDATE audit_events SET requester = 'x@example.com' WHERE company_id = ? AND seq = 6"}, 6, audit.BreakEdited},
		{"edited prev hash", []string{"UPDATE audit_events SET prev_hash = 'abc' WHERE company_id = ? AND seq = 4"}, 4, audit.BreakEdited},
		{"removed middle", []string{"DELETE FROM audit_events WHERE company_id = ? AND seq = 3"}, 3, audit.BreakRemoved},
		{"removed first", []string{"DELETE FROM audit_events WHERE company_id = ? AND seq = 1"}, 1, audit.BreakRemoved},
		{"removed last", []string{"DELETE FROM audit_events WHERE company_id = ? AND seq = 6"}, 6, audit.BreakRemoved},
		{"removed last two", []string{"DELETE FROM audit_events WHERE company_id = ? AND seq >= 5"}, 5, audit.BreakRemoved},
		{"removed head", []string{"DELETE FROM audit_heads WHERE company_id = ?"}, 6, audit.BreakRemoved},
		{"swapped neighbours", []string{
			"UPDATE audit_events SET seq = -4 WHERE company_id = ? AND seq = 4",
			"UPDATE audit_events SET seq = 4 WHERE company_id = ? AND seq = 3",
			"UPDATE audit_events SET seq = 3 WHERE company_id = ? AND seq = -4",
		}, 3, audit.BreakReordered},
		{"moved to the end", []string{
			"UPDATE audit_events SET seq = 7 WHERE company_id = ? AND seq = 2",
			"UPDATE audit_events SET seq = 2 WHERE company_id = ? AND seq = 7",
			"UPDATE audit_events SET seq = 100 WHERE company_id = ? AND seq = 2",
		}, 2, audit.BreakReordered},
	}

	forEachDialect(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				company := fmt.Sprintf("cmp_tamper_%d", i)
				other := company + "_other"
				appendN(t, log, company, 6)
				appendN(t, log, other, 6)
				mustVerify(t, log, company)

				for _, stmt := range tc.tamper {
					exec(t, db, stmt, company)
				}

				brk, err := log.Verify(context.Background(), company)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if brk == nil {
					t.Fatalf("Verify found no break, want %s at event %d", tc.wantKind, tc.wantSeq)
				}
				t.Logf("break: %v", brk)
				if brk.Seq != tc.wantSeq {
					t.Errorf("break seq = %d, want %d (%v)", brk.Seq, tc.wantSeq, brk)
				}
				if brk.Kind != tc.wantKind {
					t.Errorf("break kind = %s, want %s (%v)", brk.Kind, tc.wantKind, brk)
				}
				if brk.Reason == "" {
					t.Errorf("break has no reason")
				}

				// Another company's chain is untouched.
				mustVerify(t, log, other)
			})
		}
	})
}

func TestVerifyEmptyChain(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		mustVerify(t, audit.New(db), "cmp_none")
	})
}

// TestConcurrentAppends appends from 8 goroutines to one company and checks
// that the chain has every seq once and verifies.
func TestConcurrentAppends(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		logs := []*audit.Log{audit.New(db)}
		if db.Dialect == store.Postgres {
			// A second pool on the same schema stands for a second replica.
			other, err := store.Open(context.Background(), store.Options{DatabaseURL: db.URL})
			if err != nil {
				t.Fatalf("open second PostgreSQL handle: %v", err)
			}
			t.Cleanup(func() { other.Close() })
			logs = append(logs, audit.New(other))
		}
		concurrentAppends(t, logs, db)
	})
}

func concurrentAppends(t *testing.T, logs []*audit.Log, db *store.DB) {
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			log := logs[w%len(logs)]
			for i := 0; i < perWriter; i++ {
				if _, err := log.Append(context.Background(), sampleEvent("cmp_busy", w*1000+i)); err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	mustVerify(t, logs[0], "cmp_busy")
	events, err := logs[0].List(context.Background(), "cmp_busy", audit.Filter{Limit: writers * perWriter * 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != writers*perWriter {
		t.Errorf("stored %d events, want %d", len(events), writers*perWriter)
	}
	for i, ev := range events {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, ev.Seq, i+1)
		}
	}
}

func TestAuthFailures(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		start := time.Now()

		if err := log.RecordAuthFailure(ctx, "192.0.2.1", "/wazuh/agents", "unknown key"); err != nil {
			t.Fatalf("RecordAuthFailure: %v", err)
		}
		if err := log.RecordAuthFailure(ctx, "192.0.2.2", "/"+strings.Repeat("a", 1000)+"\x00\xff", "malformed key"); err != nil {
			t.Fatalf("RecordAuthFailure with a long invalid route: %v", err)
		}
		if err := log.RecordAuthFailure(ctx, "192.0.2.1", "/cisco/computers", "revoked key"); err != nil {
			t.Fatal(err)
		}

		got, err := log.AuthFailures(ctx, start.Add(-time.Second), 0)
		if err != nil {
			t.Fatalf("AuthFailures: %v", err)
		}
		if len(got) != 3 {
			t.Fatalf("AuthFailures returned %d, want 3", len(got))
		}
		if got[0].Route != "/cisco/computers" || got[0].Reason != "revoked key" {
			t.Errorf("newest failure = %+v, want the /cisco/computers one", got[0])
		}
		if len(got[1].Route) > 256 {
			t.Errorf("stored route has %d bytes, want at most 256", len(got[1].Route))
		}

		n, err := log.CountAuthFailures(ctx, "192.0.2.1", start.Add(-time.Second))
		if err != nil || n != 2 {
			t.Errorf("CountAuthFailures = %d, %v; want 2", n, err)
		}
		if later, _ := log.AuthFailures(ctx, time.Now().Add(time.Hour), 0); len(later) != 0 {
			t.Errorf("AuthFailures in the future returned %d, want 0", len(later))
		}
		if limited, _ := log.AuthFailures(ctx, time.Time{}, 1); len(limited) != 1 {
			t.Errorf("AuthFailures with limit 1 returned %d", len(limited))
		}

		pruned, err := log.PruneAuthFailures(ctx, time.Now().Add(time.Second))
		if err != nil || pruned != 3 {
			t.Errorf("PruneAuthFailures = %d, %v; want 3", pruned, err)
		}
	})
}

// BenchmarkAppend measures one audited append per transaction.
func BenchmarkAppend(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			log := audit.New(storetest.Open(b, d))
			ev := sampleEvent("cmp_bench", 1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := log.Append(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAppendManyTxChainsWithAppend mixes single appends and batches, and
// checks that the seqs follow each other, that each event links to the one
// before it and that the chain verifies. A batch for two companies is
// refused and leaves both chains as they were.
func TestAppendManyTxChainsWithAppend(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)

		batches := []struct {
			name string
			size int // 0 means one Append
		}{
			{"first event of a chain, in a batch", 2},
			{"single append after a batch", 0},
			{"batch of one", 1},
			{"batch of three", 3},
			{"single append at the end", 0},
		}
		var all []audit.Event
		for i, b := range batches {
			if b.size == 0 {
				ev, err := log.Append(ctx, sampleEvent("cmp_many", i))
				if err != nil {
					t.Fatalf("%s: Append: %v", b.name, err)
				}
				all = append(all, ev)
				continue
			}
			evs := make([]audit.Event, b.size)
			for j := range evs {
				evs[j] = sampleEvent("cmp_many", 10*i+j)
			}
			err := db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error { return log.AppendManyTx(ctx, tx, evs) })
			if err != nil {
				t.Fatalf("%s: AppendManyTx: %v", b.name, err)
			}
			all = append(all, evs...)
		}

		for i, ev := range all {
			if ev.Seq != int64(i+1) {
				t.Errorf("event %d has seq %d, want %d", i+1, ev.Seq, i+1)
			}
			if i > 0 && ev.PrevHash != all[i-1].Hash {
				t.Errorf("event %d links to %q, want the hash of event %d, %q", i+1, ev.PrevHash, i, all[i-1].Hash)
			}
		}
		stored, err := log.List(ctx, "cmp_many", audit.Filter{Limit: 100})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(stored) != len(all) {
			t.Fatalf("List returned %d events, want %d", len(stored), len(all))
		}
		for i := range stored {
			if stored[i].Hash != all[i].Hash {
				t.Errorf("stored event %d has hash %q, want %q as returned", i+1, stored[i].Hash, all[i].Hash)
			}
		}
		mustVerify(t, log, "cmp_many")

		mixed := []audit.Event{sampleEvent("cmp_many", 90), sampleEvent("cmp_other", 91)}
		err = db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error { return log.AppendManyTx(ctx, tx, mixed) })
		if err == nil || !strings.Contains(err.Error(), "cmp_other") {
			t.Fatalf("AppendManyTx for two companies: error %v, want one that names cmp_other", err)
		}
		after, err := log.List(ctx, "cmp_many", audit.Filter{Limit: 100})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(after) != len(all) {
			t.Errorf("after a refused batch the chain has %d events, want %d", len(after), len(all))
		}
		mustVerify(t, log, "cmp_many")
	})
}

// openTwice returns two handles on one new database of the dialect, as
// two processes sharing it would hold.
func openTwice(t *testing.T, dialect store.Dialect) (*store.DB, *store.DB) {
	t.Helper()
	ctx := context.Background()
	var opts store.Options
	if dialect == store.SQLite {
		opts.DataDir = t.TempDir()
	} else {
		opts.DatabaseURL, _ = storetest.SchemaURL(t)
	}
	var handles [2]*store.DB
	for i := range handles {
		db, err := store.Open(ctx, opts)
		if err != nil {
			t.Fatalf("open %s handle %d: %v", dialect, i+1, err)
		}
		t.Cleanup(func() { db.Close() })
		handles[i] = db
	}
	return handles[0], handles[1]
}

// TestAppendAfterOtherProcess alternates appends of two processes to one
// chain. Each Log remembers the head that its last append left, which the
// other process's appends make stale; every append must still continue
// the chain.
func TestAppendAfterOtherProcess(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			first, second := openTwice(t, dialect)
			logs := []*audit.Log{audit.New(first), audit.New(second)}

			for i, w := range []int{0, 1, 0, 0, 1, 1, 0} {
				ev, err := logs[w].Append(context.Background(), sampleEvent("cmp_shared", i))
				if err != nil {
					t.Fatalf("append %d by process %d: %v", i+1, w, err)
				}
				if ev.Seq != int64(i+1) {
					t.Errorf("append %d by process %d got seq %d, want %d", i+1, w, ev.Seq, i+1)
				}
			}
			mustVerify(t, logs[0], "cmp_shared")
		})
	}
}

// TestAppendUpdatesHeadOnce checks that an append whose chain head this
// Log appended last writes the head row once: on PostgreSQL the
// single-statement append, on SQLite the conditional update before the
// insert. The fallback for a stale head writes it twice: the upsert that
// locks it, then the update of its hash.
func TestAppendUpdatesHeadOnce(t *testing.T) {
	// Each query returns a count of rows changed so far in the
	// transaction's session; the test takes the difference around the
	// append. On PostgreSQL the view counts updates of audit_heads only.
	// On SQLite total_changes counts every row the single write connection
	// inserted, updated or deleted, so one event adds its own row.
	counters := map[store.Dialect]struct {
		query string
		want  int64
	}{
		store.Postgres: {"SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE schemaname = current_schema() AND relname = 'audit_heads'", 1},
		store.SQLite:   {"SELECT total_changes()", 2},
	}
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		appendN(t, log, "cmp_a", 1)
		counter := counters[db.Dialect]

		var before, after int64
		err := db.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, counter.query).Scan(&before); err != nil {
				return err
			}
			if _, err := log.AppendTx(ctx, tx, sampleEvent("cmp_a", 2)); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, counter.query).Scan(&after)
		})
		if err != nil {
			t.Fatal(err)
		}
		if changes := after - before; changes != counter.want {
			t.Errorf("the append changed %d rows, want %d", changes, counter.want)
		}
		mustVerify(t, log, "cmp_a")
	})
}

// TestAppendManyWithTxRunsStatementsOnce appends with two statements of
// the caller's own while the Log remembers no chain head yet, remembers
// the current one, and remembers one that another Log made stale. Each
// statement must run exactly once, because a second run would break the
// primary key, and the chain must stay intact. On PostgreSQL an append
// whose head is current must take one statement besides BEGIN and COMMIT.
func TestAppendManyWithTxRunsStatementsOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE with_probe (id BIGINT PRIMARY KEY, note TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		log, other := audit.New(db), audit.New(db)

		steps := []struct {
			name      string
			staleHead bool
			wantSent  uint64 // on PostgreSQL; 0 skips the check
		}{
			{name: "head not known yet"},
			{name: "head known", wantSent: 3},
			{name: "head made stale by another log", staleHead: true},
			{name: "head known again", wantSent: 3},
		}
		var ids []int64
		for i, step := range steps {
			if step.staleHead {
				if _, err := other.Append(ctx, sampleEvent("cmp_with", 100+i)); err != nil {
					t.Fatalf("%s: other log: %v", step.name, err)
				}
			}
			first, second := int64(10*i+1), int64(10*i+2)
			stmts := []audit.Statement{
				{SQL: "INSERT INTO with_probe (id, note) VALUES (?, ?)", Args: []any{first, step.name}},
				{SQL: "INSERT INTO with_probe (id, note) VALUES (?, ?)", Args: []any{second, step.name}},
			}
			evs := []audit.Event{sampleEvent("cmp_with", 2*i), sampleEvent("cmp_with", 2*i+1)}

			before := db.CommitterStatements()
			err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return log.AppendManyWithTx(ctx, tx, stmts, evs) })
			if err != nil {
				t.Fatalf("%s: AppendManyWithTx: %v", step.name, err)
			}
			sent := db.CommitterStatements() - before
			ids = append(ids, first, second)

			if db.Dialect == store.Postgres && step.wantSent != 0 && sent != step.wantSent {
				t.Errorf("%s: sent %d statements, want %d", step.name, sent, step.wantSent)
			}
			if evs[1].Seq != evs[0].Seq+1 || evs[1].PrevHash != evs[0].Hash {
				t.Errorf("%s: events %d and %d are not chained", step.name, evs[0].Seq, evs[1].Seq)
			}
		}

		rows, err := db.SQL.QueryContext(ctx, "SELECT id FROM with_probe ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Errorf("statement rows %v, want %v", got, ids)
		}
		stored, err := log.List(ctx, "cmp_with", audit.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if want := 2*len(steps) + 1; len(stored) != want {
			t.Errorf("chain has %d events, want %d", len(stored), want)
		}
		mustVerify(t, log, "cmp_with")
	})
}
