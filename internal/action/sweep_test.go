package action

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/vendors"
)

const kindSlowEDR vendor.Kind = "fake-edr-slow-confirm"

var (
	slowMu sync.Mutex
	slows  = map[string]*slowEDR{} // instance name -> fake
)

func init() {
	vendor.Register(vendor.Factory{
		Kind: kindSlowEDR,
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
			slowMu.Lock()
			defer slowMu.Unlock()
			s, ok := slows[cfg.Settings["instance"]]
			if !ok {
				return nil, fmt.Errorf("no slow fake endpoint product %q", cfg.Settings["instance"])
			}
			return s, nil
		},
	})
}

// slowEDR is a fakeEDR whose confirmation reads each take ReadDelay, like a
// read that waits for the vendor's rate budget. It records the largest
// number of reads of one action that ran at the same time.
type slowEDR struct {
	*fakeEDR
	ReadDelay time.Duration

	running       sync.Map // vendor ref -> *atomic.Int64
	maxConcurrent atomic.Int64
}

func newSlowEDR(t testing.TB, hosts int, delay time.Duration) (*slowEDR, string) {
	f, name := newFakeEDR(t, hosts)
	s := &slowEDR{fakeEDR: f, ReadDelay: delay}
	slowMu.Lock()
	slows[name] = s
	slowMu.Unlock()
	return s, name
}

func (s *slowEDR) Confirm(ctx context.Context, ep vendor.Endpoint, act vendor.ActionKind, ref string) (vendor.Confirmation, error) {
	v, _ := s.running.LoadOrStore(ref, new(atomic.Int64))
	n := v.(*atomic.Int64)
	now := n.Add(1)
	defer n.Add(-1)
	for {
		seen := s.maxConcurrent.Load()
		if now <= seen || s.maxConcurrent.CompareAndSwap(seen, now) {
			break
		}
	}

	select {
	case <-time.After(s.ReadDelay):
	case <-ctx.Done():
		return vendor.Confirmation{}, ctx.Err()
	}
	return s.fakeEDR.Confirm(ctx, ep, act, ref)
}

// countConfirmJobs returns the number of confirmation jobs River stored for
// the action.
func countConfirmJobs(t *testing.T, db *store.DB, actionID string) int {
	t.Helper()
	query := "SELECT COUNT(*) FROM river_job WHERE kind = 'smartpt_action_confirm' AND json_extract(args, '$.action_id') = ?"
	if db.Dialect == store.Postgres {
		query = "SELECT COUNT(*) FROM river_job WHERE kind = 'smartpt_action_confirm' AND args->>'action_id' = $1"
	}
	var n int
	if err := db.SQL.QueryRowContext(context.Background(), query, actionID).Scan(&n); err != nil {
		t.Fatalf("count confirmation jobs: %v", err)
	}
	return n
}

// A confirmation read that runs longer than the sweep's slack belongs to a
// live job: the sweep must not give its action a second job, and no two
// reads of one action may run at the same time.
func TestSweep_SkipsActionWithRunningRead(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		// Each read takes three sweep slacks (300 ms in testConfig) and
		// stays within the dispatch timeout that bounds it (3 s).
		s, name := newSlowEDR(t, 1, 900*time.Millisecond)
		s.Pending, s.ConfirmAfter = true, 2
		h := newHarness(t, db, nil)
		h.tenants.set(company, vendor.ServiceWazuh, kindSlowEDR, name)

		res, err := h.e.Execute(context.Background(), isolateReq("001"))
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, h.e, company, res.ActionID, Confirmed)

		if n := s.maxConcurrent.Load(); n != 1 {
			t.Errorf("concurrent confirmation reads of one action: %d, want 1", n)
		}
		if n := countConfirmJobs(t, db, res.ActionID); n != 1 {
			t.Errorf("confirmation jobs of the action: %d, want 1", n)
		}
		if n := s.confirms.Load(); n != 2 {
			t.Errorf("confirmation reads: %d, want 2", n)
		}
	})
}

// A read that hangs past its bound ends with the dispatch timeout, so a
// stuck vendor holds neither the action nor the worker forever.
func TestSweep_BoundsHangingRead(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	s, name := newSlowEDR(t, 1, time.Hour)
	s.Pending, s.ConfirmAfter = true, 1
	h := newHarness(t, db, nil)
	h.tenants.set(company, vendor.ServiceWazuh, kindSlowEDR, name)

	res, err := h.e.Execute(context.Background(), isolateReq("001"))
	if err != nil {
		t.Fatal(err)
	}
	// testConfig: a 3 s read bound and a 5 s confirmation deadline.
	waitState(t, h.e, company, res.ActionID, Expired)
	if n := s.maxConcurrent.Load(); n != 1 {
		t.Errorf("concurrent confirmation reads of one action: %d, want 1", n)
	}
}
