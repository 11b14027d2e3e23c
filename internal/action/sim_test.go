package action

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	_ "github.com/smartpt/smartpt/internal/simharness/all"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	vendor "github.com/smartpt/smartpt/internal/vendors"
	_ "github.com/smartpt/smartpt/internal/vendors/all"
)

// TestEngine_WithSimulators runs the real connectors against their
// simulators on loopback: isolate, status and release of a demo host, or
// block and unblock of a demo user.
func TestEngine_WithSimulators(t *testing.T) {
	kinds := simharness.Kinds()
	if len(kinds) == 0 {
		t.Skip("no simulator is registered in this build")
	}
	db := storetest.Open(t, store.SQLite)
	h := newHarness(t, db, nil)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			sim, _ := simharness.Lookup(kind)
			factory, ok := vendor.Lookup(kind)
			if !ok || len(factory.Services) == 0 {
				t.Skipf("no client registered for %s", kind)
			}
			run, err := sim.Start(simharness.Options{Logger: quiet, PendingDelay: 150 * time.Millisecond})
			if err != nil {
				t.Fatalf("start simulator: %v", err)
			}
			defer run.Close()

			svc := factory.Services[0]
			h.tenants.mu.Lock()
			if h.tenants.cfgs == nil {
				h.tenants.cfgs = map[string]vendor.Config{}
			}
			h.tenants.cfgs[company+"/"+string(svc)] = vendor.Config{CompanyID: company, Service: svc, Kind: kind, Settings: run.Settings, Secrets: run.Secrets}
			h.tenants.mu.Unlock()

			req := Request{CompanyID: company, Service: svc, Route: "/" + string(svc), Requester: "soc@example.com"}
			if factory.NewDirectory != nil {
				simUsers(t, h, req)
				return
			}
			simEndpoints(t, h, req, kind)
		})
	}
}

func simEndpoints(t *testing.T, h *harness, req Request, kind vendor.Kind) {
	ctx := context.Background()

	// PAN-OS quarantines IP addresses and keeps no host inventory.
	req.Action, req.Target = vendor.ActionIsolate, "demo-host-03"
	if kind == vendor.KindPANOS {
		req.Target = "10.20.0.3"
	}
	res, err := h.e.Execute(ctx, req)
	if err != nil {
		t.Fatalf("isolate: %v", err)
	}
	if res.Endpoint == nil || res.Endpoint.AgentID == "" {
		t.Fatalf("isolate result %+v: want the resolved endpoint", res)
	}
	settle(t, h, req, res.ActionID)

	req.Action = vendor.ActionStatus
	st, err := h.e.Execute(ctx, req)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if st.Endpoint.Isolation != vendor.Isolated {
		t.Errorf("status after isolate: %s, want isolated", st.Endpoint.Isolation)
	}

	// A read is stored once it has ended, with both history events.
	rec, err := h.e.Get(ctx, company, st.ActionID)
	if err != nil {
		t.Fatalf("get status action: %v", err)
	}
	var states []State
	for _, ev := range rec.History {
		states = append(states, ev.State)
	}
	if rec.State != Confirmed || len(states) != 2 || states[0] != Requested || states[1] != Confirmed {
		t.Errorf("status action stored as %s with history %v, want confirmed with [requested confirmed]", rec.State, states)
	}

	req.Action = vendor.ActionRelease
	rel, err := h.e.Execute(ctx, req)
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	settle(t, h, req, rel.ActionID)
	h.audit.verify(t)
}

// settle waits for an action to be confirmed. Wazuh cannot report whether
// an active response ran, so its confirmation arrives as an integration
// event, which the test sends.
func settle(t *testing.T, h *harness, req Request, id string) {
	t.Helper()
	if req.Service == vendor.ServiceWazuh {
		if _, err := h.e.ConfirmExternal(context.Background(), company, req.Service, agentOf(t, h, id), req.Action, true, "active response done"); err != nil {
			t.Fatalf("confirm from an integration event: %v", err)
		}
	}
	waitState(t, h.e, company, id, Confirmed)
}

func agentOf(t *testing.T, h *harness, id string) string {
	rec, err := h.e.Get(context.Background(), company, id)
	if err != nil || rec.Endpoint == nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return rec.Endpoint.AgentID
}

func simUsers(t *testing.T, h *harness, req Request) {
	ctx := context.Background()
	for _, act := range []vendor.ActionKind{vendor.ActionBlock, vendor.ActionUStatus, vendor.ActionUnblock} {
		req.Action, req.Target = act, "user05@demo.example"
		res, err := h.e.Execute(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", act, err)
		}
		if res.State != Confirmed || res.User == nil {
			t.Fatalf("%s: %+v, want confirmed with the user", act, res)
		}
		if act == vendor.ActionUStatus && res.User.AccountEnabled {
			t.Errorf("status after block: account enabled, want disabled")
		}
	}
}

// TestEngine_WazuhWaitsForEvent checks that the engine stops polling an
// action whose vendor cannot report its outcome (Wazuh) after the first
// look, instead of polling it every PollMax until the deadline, and that
// the integration event still confirms it.
func TestEngine_WazuhWaitsForEvent(t *testing.T) {
	sim, ok := simharness.Lookup(vendor.KindWazuh)
	if !ok {
		t.Skip("no Wazuh simulator in this build")
	}
	db := storetest.Open(t, store.SQLite)
	h := newHarness(t, db, nil)
	run, err := sim.Start(simharness.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	h.tenants.mu.Lock()
	if h.tenants.cfgs == nil {
		h.tenants.cfgs = map[string]vendor.Config{}
	}
	h.tenants.cfgs[company+"/wazuh"] = vendor.Config{CompanyID: company, Service: vendor.ServiceWazuh, Kind: vendor.KindWazuh, Settings: run.Settings, Secrets: run.Secrets}
	h.tenants.mu.Unlock()

	req := Request{CompanyID: company, Service: vendor.ServiceWazuh, Route: "/wazuh/agents", Requester: "soc@example.com", Action: vendor.ActionIsolate, Target: "demo-host-04"}
	res, err := h.e.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != Dispatched {
		t.Fatalf("isolate: state %s, want dispatched", res.State)
	}

	// With PollMin 20 ms and PollMax 80 ms, polling would look about ten
	// times in this wait.
	time.Sleep(800 * time.Millisecond)
	r, err := h.e.loadRow(context.Background(), db.Read, res.ActionID, false)
	if err != nil || r == nil {
		t.Fatalf("load action: %v", err)
	}
	if r.Polls > 2 {
		t.Errorf("action looked at %d times in 800 ms, want at most 2: Wazuh cannot be polled", r.Polls)
	}
	if r.NextCheckAt.Before(r.Deadline) {
		t.Errorf("next check at %s, before the deadline %s: want the next look at the deadline", r.NextCheckAt, r.Deadline)
	}

	settle(t, h, req, res.ActionID)
}
