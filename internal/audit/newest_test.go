package audit_test

import (
	"context"
	"testing"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
)

func TestListNewestAndCount(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		appendN(t, log, "co_a", 7)
		appendN(t, log, "co_b", 2)

		n, err := log.Count(ctx, "co_a", audit.Filter{Limit: 3, Newest: true})
		if err != nil {
			t.Fatal(err)
		}
		if n != 7 {
			t.Errorf("Count = %d, want 7 (Limit ignored)", n)
		}

		events, err := log.List(ctx, "co_a", audit.Filter{Limit: 3, Newest: true})
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, ev := range events {
			seqs = append(seqs, ev.Seq)
		}
		if len(seqs) != 3 || seqs[0] != 5 || seqs[1] != 6 || seqs[2] != 7 {
			t.Errorf("newest 3 seqs = %v, want [5 6 7]", seqs)
		}

		oldest, err := log.List(ctx, "co_a", audit.Filter{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(oldest) != 3 || oldest[0].Seq != 1 {
			t.Errorf("oldest 3 start at %v, want seq 1", oldest)
		}
	})
}

func TestCheckAnchor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		events := appendN(t, log, "co_a", 5)

		seq, hash, err := log.Head(ctx, "co_a")
		if err != nil || seq != 5 || hash != events[4].Hash {
			t.Fatalf("Head = %d %s %v, want 5 and event 5's hash", seq, hash, err)
		}
		if brk, err := log.CheckAnchor(ctx, "co_a", 3, events[2].Hash); err != nil || brk != nil {
			t.Errorf("CheckAnchor of an earlier event = %v, %v; want no break", brk, err)
		}
		if brk, _ := log.CheckAnchor(ctx, "co_a", 3, events[1].Hash); brk == nil || brk.Kind != audit.BreakEdited {
			t.Errorf("CheckAnchor with another hash = %v, want an edited break", brk)
		}

		// Cut the tail and rewrite the head row to match event 3.
		exec(t, db, "DELETE FROM audit_events WHERE company_id = ? AND seq > 3", "co_a")
		exec(t, db, "UPDATE audit_heads SET seq = 3, hash = ? WHERE company_id = ?", events[2].Hash, "co_a")
		mustVerify(t, log, "co_a")
		brk, err := log.CheckAnchor(ctx, "co_a", 5, events[4].Hash)
		if err != nil || brk == nil || brk.Kind != audit.BreakRemoved {
			t.Errorf("CheckAnchor after a cut tail = %v, %v; want a removed break", brk, err)
		}

		if seq, hash, err := log.Head(ctx, "co_none"); err != nil || seq != 0 || hash != "" {
			t.Errorf("Head of a company without events = %d %q %v, want 0", seq, hash, err)
		}
	})
}
