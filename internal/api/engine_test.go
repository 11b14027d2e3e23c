package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// stubWazuh is a Containment test double registered as kind wazuh in this
// test binary, which links no vendor client. It resolves only agent 001
// (demo-host-01) and leaves each isolation pending, as Wazuh's active
// response does until the agent reports back.
type stubWazuh struct{}

var stubEndpoint = vendor.Endpoint{Vendor: vendor.KindWazuh, AgentID: "001", Hostname: "demo-host-01", IP: "10.20.0.1", Online: true, Isolation: vendor.NotIsolated}

func (stubWazuh) IsID(s string) bool { return len(s) >= 3 && strings.Trim(s, "0123456789") == "" }

func (stubWazuh) Resolve(ctx context.Context, t vendor.Target) ([]vendor.Endpoint, error) {
	if t.Value == "001" || t.Value == "demo-host-01" || t.Value == "10.20.0.1" {
		return []vendor.Endpoint{stubEndpoint}, nil
	}
	return nil, nil
}

func (stubWazuh) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	ep.Isolation = vendor.Isolating
	return vendor.Outcome{Endpoint: ep, Pending: true, Raw: json.RawMessage(`{"data":{"total_affected_items":1},"error":0}`)}, nil
}

func (stubWazuh) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	ep.Isolation = vendor.Releasing
	return vendor.Outcome{Endpoint: ep, Pending: true, Raw: json.RawMessage(`{"error":0}`)}, nil
}

func (stubWazuh) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	return vendor.Outcome{Endpoint: ep, Raw: json.RawMessage(`{"data":{"affected_items":[{"id":"001","status":"active"}]}}`)}, nil
}

func (stubWazuh) Confirm(ctx context.Context, ep vendor.Endpoint, act vendor.ActionKind, ref string) (vendor.Confirmation, error) {
	return vendor.Confirmation{State: vendor.Isolating}, nil
}

func (stubWazuh) Plan(act vendor.ActionKind, ep vendor.Endpoint, opts vendor.Options) []vendor.Call {
	return []vendor.Call{{Method: "PUT", URL: "https://wazuh.example:55000/active-response?agents_list=" + ep.AgentID}}
}

var registerStub sync.Once

// engineHarness serves the API over the real engine, tenant store and audit
// trail on a fresh database of the dialect.
type engineHarness struct {
	*harness
	tenants *tenant.Service
	audit   *audit.Log
	keyA    string
	keyB    string
}

func newEngineHarness(t *testing.T, dialect store.Dialect) *engineHarness {
	t.Helper()
	registerStub.Do(func() {
		vendor.Register(vendor.Factory{
			Kind:     vendor.KindWazuh,
			Services: []vendor.Service{vendor.ServiceWazuh},
			Settings: []vendor.Setting{{Name: "url", Required: true, Help: "base URL of the Wazuh server API"}},
			NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
				return stubWazuh{}, nil
			},
		})
	})

	ctx := context.Background()
	db := storetest.Open(t, dialect)
	sealer, err := secret.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tenants := tenant.New(db, sealer, &secret.Resolver{})
	log := audit.New(db)

	engine, err := action.New(action.Config{DB: db, Tenants: tenants, Audit: log, Sealer: sealer, HTTP: vendorhttp.NewPool(logger), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		engine.Stop(stopCtx)
	})

	_, keyA, err := tenants.CreateCompany(ctx, "alpha", "")
	if err != nil {
		t.Fatalf("create company: %v", err)
	}
	_, keyB, err := tenants.CreateCompany(ctx, "bravo", "")
	if err != nil {
		t.Fatalf("create company: %v", err)
	}
	for _, name := range []string{"alpha", "bravo"} {
		if err := tenants.SetIntegration(ctx, name, vendor.ServiceWazuh, vendor.KindWazuh, map[string]string{"url": "https://wazuh.example:55000"}, nil); err != nil {
			t.Fatalf("set integration: %v", err)
		}
	}

	h := newHarness(t, engine, func(c *Config) {
		c.Auth = tenants
		c.AuthFailures = log
		c.Ready = db.Ping
	})
	return &engineHarness{harness: h, tenants: tenants, audit: log, keyA: keyA, keyB: keyB}
}

func forEachDialect(t *testing.T, fn func(t *testing.T, dialect store.Dialect)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

func TestEngineIsolateConfirmAndIsolation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect store.Dialect) {
		h := newEngineHarness(t, dialect)
		isolate := `{"action":"isolate","Email":"analyst@example.com","agent_id":"demo-host-01","comment":"ticket 42"}`

		got := h.call(http.MethodPost, "/wazuh/agents", map[string]string{KeyHeader: h.keyA}, isolate)
		if got.Status != http.StatusOK {
			t.Fatalf("isolate: status %d, body %s", got.Status, got.Raw)
		}
		body := inner(got)
		id, _ := body["action_id"].(string)
		endpoint, _ := body["endpoint"].(map[string]any)
		if id == "" || endpoint["agent_id"] != "001" {
			t.Fatalf("isolate answer lacks the action id or the resolved endpoint: %s", got.Raw)
		}

		// An identical request while the first is pending makes no new action.
		again := h.call(http.MethodPost, "/wazuh/agents", map[string]string{KeyHeader: h.keyA}, isolate)
		if again.Status != http.StatusOK || inner(again)["action_id"] != id || inner(again)["deduplicated"] != true {
			t.Errorf("repeat: status %d, body %s; want action %s deduplicated", again.Status, again.Raw, id)
		}

		// Company B can neither read A's action nor confirm it.
		if other := h.call(http.MethodGet, "/v1/actions/"+id, map[string]string{KeyHeader: h.keyB}, ""); other.Status != http.StatusNotFound {
			t.Errorf("company B reads A's action: status %d, want 404", other.Status)
		}
		event := `{"agent_id":"001","action":"isolate","result":"success","detail":"isolated","alert_id":"1733300000.1"}`
		if other := h.call(http.MethodPost, "/v1/wazuh/events", map[string]string{KeyHeader: h.keyB}, event); other.Status != http.StatusNotFound {
			t.Errorf("company B confirms A's action: status %d, want 404; body %s", other.Status, other.Raw)
		}

		confirmed := h.call(http.MethodPost, "/v1/wazuh/events", map[string]string{KeyHeader: h.keyA}, event)
		if confirmed.Status != http.StatusOK || confirmed.Body["state"] != "confirmed" || confirmed.Body["action_id"] != id {
			t.Fatalf("confirm: status %d, body %s", confirmed.Status, confirmed.Raw)
		}

		record := h.call(http.MethodGet, "/v1/actions/"+id, map[string]string{KeyHeader: h.keyA}, "")
		if record.Status != http.StatusOK || record.Body["state"] != "confirmed" {
			t.Errorf("record: status %d, body %s", record.Status, record.Raw)
		}
		if hist, _ := record.Body["history"].([]any); len(hist) < 3 {
			t.Errorf("history has %d events, want requested, dispatched and confirmed: %s", len(hist), record.Raw)
		}

		company, _ := h.tenants.Company(context.Background(), "alpha")
		events, err := h.audit.List(context.Background(), company.ID, audit.Filter{ActionID: id})
		if err != nil || len(events) < 3 {
			t.Errorf("audit events of the action: %d, err %v; want at least 3", len(events), err)
		}
	})
}

func TestEngineErrorsThroughAPI(t *testing.T) {
	h := newEngineHarness(t, store.SQLite)

	tests := []struct {
		name       string
		path       string
		body       string
		wantStatus int
		wantPrefix string
	}{
		{"unknown target", "/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"demo-host-99"}`, 404, "Not Found"},
		{"integration not configured", "/defender/machines", `{"action":"status","Email":"analyst@example.com","agent_id":"demo-host-01"}`, 424, "Failed Dependency"},
		{"no action to confirm", "/v1/wazuh/events", `{"agent_id":"001","action":"releaseisolate","result":"success"}`, 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.call(http.MethodPost, tt.path, map[string]string{KeyHeader: h.keyA}, tt.body)
			if got.Status != tt.wantStatus || !strings.HasPrefix(message(got), tt.wantPrefix) {
				t.Errorf("status %d message %q, want %d %q...", got.Status, message(got), tt.wantStatus, tt.wantPrefix)
			}
		})
	}

	dry := h.call(http.MethodPost, "/wazuh/agents", map[string]string{KeyHeader: h.keyA}, `{"action":"isolate","Email":"analyst@example.com","agent_id":"001","dry_run":true}`)
	if plan, _ := inner(dry)["plan"].([]any); dry.Status != http.StatusOK || len(plan) != 1 {
		t.Errorf("dry run: status %d, body %s", dry.Status, dry.Raw)
	}
}

func TestTenantAuthThroughAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect store.Dialect) {
		h := newEngineHarness(t, dialect)
		ctx := context.Background()
		status := `{"action":"status","Email":"analyst@example.com","agent_id":"001"}`
		statusWith := func(key string) int {
			return h.call(http.MethodPost, "/wazuh/agents", map[string]string{KeyHeader: key}, status).Status
		}

		if got := statusWith(h.keyA); got != http.StatusOK {
			t.Fatalf("valid key: status %d, want 200", got)
		}

		// Rotation: both keys work until the old one is revoked.
		newKey, newSecret, err := h.tenants.RotateKey(ctx, "alpha")
		if err != nil {
			t.Fatal(err)
		}
		if statusWith(h.keyA) != http.StatusOK || statusWith(newSecret) != http.StatusOK {
			t.Errorf("during rotation both keys must work")
		}
		keys, _ := h.tenants.Keys(ctx, "alpha")
		for _, k := range keys {
			if k.ID != newKey.ID {
				if err := h.tenants.RevokeKey(ctx, "alpha", k.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := statusWith(h.keyA); got != http.StatusUnauthorized {
			t.Errorf("revoked key: status %d, want 401", got)
		}

		if err := h.tenants.SetDisabled(ctx, "alpha", true); err != nil {
			t.Fatal(err)
		}
		if got := statusWith(newSecret); got != http.StatusUnauthorized {
			t.Errorf("disabled company: status %d, want 401", got)
		}

		failures, err := h.audit.AuthFailures(ctx, time.Now().Add(-time.Hour), 10)
		if err != nil || len(failures) != 2 {
			t.Errorf("recorded auth failures = %d, err %v; want 2", len(failures), err)
		}
	})
}
