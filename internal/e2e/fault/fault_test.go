package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/faultproxy"
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

// defaultActions is the CI-sized count of actions.
const defaultActions = 600

// actionCount returns SMARTPT_FAULT_ACTIONS, or defaultActions.
func actionCount(t *testing.T) int {
	v := os.Getenv("SMARTPT_FAULT_ACTIONS")
	if v == "" {
		return defaultActions
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("SMARTPT_FAULT_ACTIONS=%q is not a positive number", v)
	}
	return n
}

// workload builds n requests spread over every company, vendor and demo
// host: 40% isolate, 35% release, 25% status.
func workload(h *harness, n int, seed uint64) []request {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	hosts := simharness.DemoHosts()
	reqs := make([]request, n)
	for i := range reqs {
		in := h.integrations[rng.IntN(len(h.integrations))]
		act := vendor.ActionStatus
		switch p := rng.IntN(100); {
		case p < 40:
			act = vendor.ActionIsolate
		case p < 75:
			act = vendor.ActionRelease
		}
		reqs[i] = request{
			id:      fmt.Sprintf("fault-%06d", i),
			company: in.company,
			profile: in.profile,
			action:  act,
			host:    hosts[rng.IntN(len(hosts))].Hostname,
		}
	}
	return reqs
}

// run sends reqs with the given number of concurrent clients.
func (h *harness) run(ctx context.Context, reqs []request, clients int) []response {
	resps := make([]response, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resps[i] = h.send(ctx, reqs[i])
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	return resps
}

func TestFaultsLoseAndDoubleNothing(t *testing.T) {
	n := actionCount(t)
	dialect := store.SQLite
	if os.Getenv("SMARTPT_FAULT_DIALECT") == string(store.Postgres) {
		dialect = store.Postgres
	}
	// One company per 40 actions keeps each company's Defender traffic,
	// about 6 calls an action, within the documented 100 calls a minute
	// that the client enforces, so that the run does not wait on it.
	companies := max(3, (n+39)/40)

	h := newHarness(t, options{
		dialect:      dialect,
		companies:    companies,
		rate:         0.2,
		seed:         20261204,
		pendingDelay: 300 * time.Millisecond,
		stallMax:     5 * time.Second,
		agentDelay:   200 * time.Millisecond,
	})
	ctx := context.Background()

	start := time.Now()
	reqs := workload(h, n, 42)
	resps := h.run(ctx, reqs, 32)
	sent := time.Since(start)

	// Stop injecting and let the confirmations finish.
	h.setRate(0)
	open := h.waitFinal(ctx, 60*time.Second)
	settled := time.Since(start)
	t.Logf("%d actions, %d companies, %d integrations: requests done in %s, all settled in %s; %s",
		n, companies, len(h.integrations), sent.Round(time.Millisecond), settled.Round(time.Millisecond), h.summary(resps))

	for _, a := range open {
		t.Errorf("action %s (%s %s on %s) is still %s after the wait: %s", a.id, a.service, a.action, a.agentID, a.state, a.detail)
	}

	actions := h.loadActions(ctx)
	checkResponses(t, reqs, resps)
	h.checkNoneLost(ctx, reqs, resps, actions)
	h.checkAuditTrail(ctx, actions)
	accepted := h.checkSideEffects(actions)
	if accepted == 0 {
		t.Errorf("no vendor write was accepted: the workload exercised nothing")
	}
}

// TestFaultKinds runs a small workload with one fault kind at a time at a
// high rate, so that a failure names the fault that caused it. Three
// companies share the work, so that Defender's 100 calls a minute per
// company hold no action back.
func TestFaultKinds(t *testing.T) {
	if testing.Short() {
		t.Skip("runs one workload per fault kind")
	}
	for _, f := range faultproxy.AllFaults {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{
				dialect:      store.SQLite,
				companies:    3,
				rate:         0.5,
				seed:         uint64(len(f)) * 977,
				faults:       []faultproxy.Fault{f},
				pendingDelay: 200 * time.Millisecond,
				stallMax:     5 * time.Second,
				agentDelay:   200 * time.Millisecond,
			})
			ctx := context.Background()
			reqs := workload(h, 30, uint64(len(f)))
			resps := h.run(ctx, reqs, 8)
			h.setRate(0)
			open := h.waitFinal(ctx, 45*time.Second)
			t.Logf("%s", h.summary(resps))
			for _, a := range open {
				t.Errorf("action %s (%s %s on %s) is still %s after the wait: %s", a.id, a.service, a.action, a.agentID, a.state, a.detail)
			}
			actions := h.loadActions(ctx)
			checkResponses(t, reqs, resps)
			h.checkNoneLost(ctx, reqs, resps, actions)
			h.checkAuditTrail(ctx, actions)
			h.checkSideEffects(actions)
		})
	}
}
