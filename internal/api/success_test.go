package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

func TestUserActionResponses(t *testing.T) {
	h := newHarness(t, newFakeExecutor())

	tests := []struct {
		action      string
		wantMessage string
		wantField   string
	}{
		{"AzureADBlock", "User user@domain.com was blocked successfully", "steps"},
		{"AzureADUnblock", "User user@domain.com was unblocked successfully", "steps"},
		{"AzureADStatus", "Status of user user@domain.com retrieved successfully", "user"},
		{"AzureADSreport", "Report for user user@domain.com was sent to analyst@example.com", "report"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			got := h.post("/azuread/users", `{"action":"`+tt.action+`","Email":"analyst@example.com","upn":"user@domain.com"}`)
			if got.Status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", got.Status, got.Raw)
			}
			if msg := message(got); msg != tt.wantMessage {
				t.Errorf("message = %q, want %q", msg, tt.wantMessage)
			}
			if _, ok := got.Body[tt.wantField]; !ok {
				t.Errorf("response has no %q field: %s", tt.wantField, got.Raw)
			}
			if id, _ := got.Body["action_id"].(string); id == "" {
				t.Errorf("response has no action_id: %s", got.Raw)
			}
		})
	}
}

func TestEndpointActionResponses(t *testing.T) {
	exec := newFakeExecutor()
	h := newHarness(t, exec)

	for _, route := range ActionRoutes() {
		if route.IsUser() {
			continue
		}
		for _, act := range route.Actions {
			t.Run(route.Path+" "+string(act), func(t *testing.T) {
				got := h.post(route.Path, `{"action":"`+string(act)+`","Email":"analyst@example.com","agent_id":"demo-host-01","comment":"ticket 42"}`)
				if got.Status != http.StatusOK {
					t.Fatalf("status = %d, want 200; body %s", got.Status, got.Raw)
				}
				body := inner(got)
				if body["message"] != "Action executed successfully" {
					t.Errorf("body.message = %v, want the published message", body["message"])
				}
				if _, ok := body["action_result"].(map[string]any); !ok {
					t.Errorf("body.action_result = %v, want the vendor's object", body["action_result"])
				}
				endpoint, _ := body["endpoint"].(map[string]any)
				if endpoint["isolation"] != "isolated" || endpoint["hostname"] != "demo-host-01" {
					t.Errorf("body.endpoint = %v", endpoint)
				}

				req := exec.lastRequest(t)
				if req.CompanyID != "company-a" || req.Service != route.Service || req.Action != act ||
					req.Target != "demo-host-01" || req.Requester != "analyst@example.com" || req.Comment != "ticket 42" ||
					req.Route != route.Path || req.RequestID == "" || req.ClientAddr != "127.0.0.1" {
					t.Errorf("engine request = %+v", req)
				}
			})
		}
	}
}

func TestOptionalFieldsReachEngine(t *testing.T) {
	exec := newFakeExecutor()
	h := newHarness(t, exec)

	got := h.call(http.MethodPost, "/defender/machines", map[string]string{KeyHeader: keyA, "Content-Type": "application/json; charset=UTF-8", "Idempotency-Key": "ticket-42"},
		`{"action":"isolate","Email":"analyst@example.com","agent_id":"demo-host-01","isolation_type":"Selective"}`)
	if got.Status != http.StatusOK {
		t.Fatalf("status = %d; body %s", got.Status, got.Raw)
	}
	if req := exec.lastRequest(t); req.IsolationType != "Selective" || req.IdempotencyKey != "ticket-42" {
		t.Errorf("engine request = %+v, want Selective and the idempotency key", req)
	}

	got = h.post("/cisco/computers", `{"action":"isolate","Email":"analyst@example.com","agent_id":"demo-host-01","unlock_code":"Open42"}`)
	if got.Status != http.StatusOK {
		t.Fatalf("status = %d; body %s", got.Status, got.Raw)
	}
	if req := exec.lastRequest(t); req.UnlockCode != "Open42" {
		t.Errorf("engine unlock code = %q, want Open42", req.UnlockCode)
	}
	if code := inner(got)["unlock_code"]; code != "ABC123" {
		t.Errorf("body.unlock_code = %v, want the engine's", code)
	}

	got = h.call(http.MethodPost, "/wazuh/agents", map[string]string{KeyHeader: keyA, "Idempotency-Key": strings.Repeat("k", 256)},
		`{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`)
	if got.Status != http.StatusBadRequest {
		t.Errorf("invalid Idempotency-Key: status = %d, want 400", got.Status)
	}
}

func TestDryRunReturnsPlan(t *testing.T) {
	exec := newFakeExecutor()
	h := newHarness(t, exec)

	got := h.post("/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"001","dry_run":true}`)
	if got.Status != http.StatusOK {
		t.Fatalf("status = %d; body %s", got.Status, got.Raw)
	}
	body := inner(got)
	if body["dry_run"] != true {
		t.Errorf("body.dry_run = %v, want true", body["dry_run"])
	}
	if plan, _ := body["plan"].([]any); len(plan) != 1 {
		t.Errorf("body.plan = %v, want one call", body["plan"])
	}
	if !exec.lastRequest(t).DryRun {
		t.Error("engine request has DryRun false")
	}

	got = h.post("/azuread/users", `{"action":"AzureADBlock","Email":"analyst@example.com","upn":"user@domain.com","dry_run":true}`)
	if got.Status != http.StatusOK || got.Body["dry_run"] != true {
		t.Errorf("user dry run: status %d, body %s", got.Status, got.Raw)
	}
}

func TestEngineErrorsAreRendered(t *testing.T) {
	candidates := []vendor.Endpoint{
		{Vendor: vendor.KindWazuh, AgentID: "001", Hostname: "web", IP: "10.0.0.1", Isolation: vendor.NotIsolated},
		{Vendor: vendor.KindWazuh, AgentID: "002", Hostname: "web", IP: "10.0.0.2", Isolation: vendor.NotIsolated},
	}
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantMessage string
		wantRetry   string
	}{
		{"vendor failure", &action.Error{Status: 500, Message: "Internal Server Error: Failed to block user", Detail: "Graph: Insufficient privileges", ActionID: "act-9"}, 500, "Internal Server Error: Failed to block user", ""},
		{"throttled", &action.Error{Status: 429, Message: "Too Many Requests: Wazuh is rate limiting", RetryAfter: 1500 * time.Millisecond}, 429, "Too Many Requests: Wazuh is rate limiting", "2"},
		{"ambiguous", &action.Error{Status: 409, Message: "Conflict: 'web' matches 2 endpoints", Candidates: candidates}, 409, "Conflict: 'web' matches 2 endpoints", ""},
		{"protected", &action.Error{Status: 403, Message: "Forbidden: web is on the protect-list"}, 403, "Forbidden: web is on the protect-list", ""},
		{"unreachable", &action.Error{Status: 502, Message: "Bad Gateway: Wazuh is unreachable"}, 502, "Bad Gateway: Wazuh is unreachable", ""},
		{"not configured", &action.Error{Status: 424, Message: "Failed Dependency: no Wazuh integration"}, 424, "Failed Dependency: no Wazuh integration", ""},
		{"unexpected", errors.New("database password=hunter2 refused"), 500, "Internal Server Error: the request failed; quote the request id when reporting it", ""},
		{"deadline", context.DeadlineExceeded, 504, "Gateway Timeout: the action did not finish within 1m0s; its record may still complete", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec := newFakeExecutor()
			exec.err = tt.err
			h := newHarness(t, exec)

			got := h.post("/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"web"}`)
			if got.Status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", got.Status, tt.wantStatus, got.Raw)
			}
			if msg := message(got); msg != tt.wantMessage {
				t.Errorf("message = %q, want %q", msg, tt.wantMessage)
			}
			if retry := got.Header.Get("Retry-After"); retry != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", retry, tt.wantRetry)
			}
			if strings.Contains(string(got.Raw), "hunter2") {
				t.Errorf("body leaks the error text: %s", got.Raw)
			}
			if tt.wantStatus == 500 && tt.name == "unexpected" && got.Body["request_id"] != got.Header.Get("X-Request-Id") {
				t.Errorf("request_id = %v, want the X-Request-Id header %q", got.Body["request_id"], got.Header.Get("X-Request-Id"))
			}
			if tt.name == "vendor failure" && got.Body["detail"] != "Graph: Insufficient privileges" {
				t.Errorf("detail = %v, want the vendor's reason", got.Body["detail"])
			}
			wantID := ""
			if ae, ok := tt.err.(*action.Error); ok {
				wantID = ae.ActionID
			}
			if id, _ := got.Body["action_id"].(string); id != wantID {
				t.Errorf("action_id = %v, want %q: the stored action the error ended, if any", got.Body["action_id"], wantID)
			}
			if tt.name == "ambiguous" {
				if list, _ := got.Body["candidates"].([]any); len(list) != 2 {
					t.Errorf("candidates = %v, want 2", got.Body["candidates"])
				}
			}
		})
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	exec := newFakeExecutor()
	exec.panicMsg = "boom with secret s3cr3t"
	h := newHarness(t, exec)

	got := h.post("/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`)
	if got.Status != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", got.Status)
	}
	if strings.Contains(string(got.Raw), "s3cr3t") || strings.Contains(string(got.Raw), "goroutine") {
		t.Errorf("body leaks the panic: %s", got.Raw)
	}
	if got.Body["request_id"] == "" {
		t.Error("500 body has no request_id")
	}
}

func TestRequestIDHeader(t *testing.T) {
	h := newHarness(t, newFakeExecutor())

	got := h.call(http.MethodGet, "/healthz", map[string]string{"X-Request-Id": "trace-123.A_b"}, "")
	if id := got.Header.Get("X-Request-Id"); id != "trace-123.A_b" {
		t.Errorf("X-Request-Id = %q, want the client's", id)
	}

	got = h.call(http.MethodGet, "/healthz", map[string]string{"X-Request-Id": "bad id\"<script>"}, "")
	if id := got.Header.Get("X-Request-Id"); len(id) != 32 || strings.ContainsAny(id, " \"<") {
		t.Errorf("X-Request-Id = %q, want a generated 32-character id", id)
	}
}

func TestActionRecordIsCompanyScoped(t *testing.T) {
	h := newHarness(t, newFakeExecutor())

	created := h.post("/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`)
	id, _ := inner(created)["action_id"].(string)
	if id == "" {
		t.Fatalf("no action_id in %s", created.Raw)
	}

	own := h.call(http.MethodGet, "/v1/actions/"+id, map[string]string{KeyHeader: keyA}, "")
	if own.Status != http.StatusOK || own.Body["action_id"] != id {
		t.Fatalf("owner: status %d, body %s", own.Status, own.Raw)
	}
	if hist, _ := own.Body["history"].([]any); len(hist) != 2 {
		t.Errorf("history = %v, want 2 events", own.Body["history"])
	}

	other := h.call(http.MethodGet, "/v1/actions/"+id, map[string]string{KeyHeader: keyB}, "")
	if other.Status != http.StatusNotFound {
		t.Errorf("other company: status = %d, want 404; body %s", other.Status, other.Raw)
	}
	if strings.Contains(string(other.Raw), "001") {
		t.Errorf("other company's answer reveals the target: %s", other.Raw)
	}

	anonymous := h.call(http.MethodGet, "/v1/actions/"+id, nil, "")
	if anonymous.Status != http.StatusUnauthorized {
		t.Errorf("no key: status = %d, want 401", anonymous.Status)
	}

	invalid := h.call(http.MethodGet, "/v1/actions/"+strings.Repeat("x", 65), map[string]string{KeyHeader: keyA}, "")
	if invalid.Status != http.StatusNotFound {
		t.Errorf("overlong id: status = %d, want 404", invalid.Status)
	}
}

func TestWazuhEventConfirmsAction(t *testing.T) {
	exec := newFakeExecutor()
	h := newHarness(t, exec)
	h.post("/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`)

	got := h.post("/v1/wazuh/events", `{"agent_id":"001","action":"isolate","result":"success","detail":"host firewall closed","alert_id":"1733300000.123"}`)
	if got.Status != http.StatusOK {
		t.Fatalf("status = %d; body %s", got.Status, got.Raw)
	}
	if got.Body["state"] != "confirmed" {
		t.Errorf("state = %v, want confirmed", got.Body["state"])
	}
	want := "company-a wazuh 001 isolate true host firewall closed (Wazuh alert 1733300000.123)"
	if len(exec.confirms) != 1 || exec.confirms[0] != want {
		t.Errorf("ConfirmExternal calls = %q, want [%q]", exec.confirms, want)
	}

	bad := []struct {
		body string
		want string
	}{
		{`{"agent_id":"001","action":"status","result":"success"}`, "Bad Request: Unknown action 'status'; valid actions: isolate, releaseisolate"},
		{`{"agent_id":"001","action":"isolate","result":"maybe"}`, "Bad Request: Invalid 'result' parameter 'maybe'; valid values: success, failure"},
		{`{"action":"isolate","result":"success"}`, "Bad Request: Missing 'agent_id' parameter"},
		{`{"agent_id":"001","action":"isolate"}`, "Bad Request: Missing 'result' parameter"},
		{`{"agent_id":"001","action":"isolate","result":"success","Email":"a@b.c"}`, "Bad Request: Unknown field 'Email' for /v1/wazuh/events; accepted fields: action, agent_id, alert_id, detail, result"},
	}
	for _, tt := range bad {
		got := h.post("/v1/wazuh/events", tt.body)
		if got.Status != http.StatusBadRequest || message(got) != tt.want {
			t.Errorf("%s: status %d message %q, want 400 %q", tt.body, got.Status, message(got), tt.want)
		}
	}

	missing := h.post("/v1/wazuh/events", `{"agent_id":"002","action":"releaseisolate","result":"failure"}`)
	if missing.Status != http.StatusNotFound {
		t.Errorf("no unfinished action: status = %d, want 404", missing.Status)
	}
}

func TestOperationalRoutes(t *testing.T) {
	ready := errors.New("connection refused")
	h := newHarness(t, newFakeExecutor(), func(c *Config) {
		c.Ready = func(ctx context.Context) error { return ready }
	})

	if got := h.call(http.MethodGet, "/healthz", nil, ""); got.Status != 200 || got.Body["status"] != "ok" {
		t.Errorf("healthz: %d %s", got.Status, got.Raw)
	}
	if got := h.call(http.MethodGet, "/readyz", nil, ""); got.Status != 503 {
		t.Errorf("readyz with the store down: status = %d, want 503", got.Status)
	}
	ready = nil
	if got := h.call(http.MethodGet, "/readyz", nil, ""); got.Status != 200 || got.Body["status"] != "ready" {
		t.Errorf("readyz: %d %s", got.Status, got.Raw)
	}

	doc := h.call(http.MethodGet, "/openapi.json", nil, "")
	if doc.Status != 200 || doc.Body["openapi"] != "3.1.0" {
		t.Errorf("openapi.json: status %d, openapi %v", doc.Status, doc.Body["openapi"])
	}

	h.post("/wazuh/agents", `{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`)
	metrics := h.call(http.MethodGet, "/metrics", nil, "")
	for _, want := range []string{
		`smartpt_http_requests_total{action="isolate",route="/wazuh/agents",status="200"} 1`,
		`smartpt_http_request_duration_seconds_bucket{action="isolate",route="/wazuh/agents",le="+Inf"} 1`,
		`smartpt_http_requests_total{action="",route="/readyz",status="503"} 1`,
	} {
		if !strings.Contains(string(metrics.Raw), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestOpenAPIDocumentsEveryRoute checks that every route the server
// registers is in the document, and the reverse.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	want := map[string]bool{"/v1/actions/{id}": true, "/v1/wazuh/events": true, "/healthz": true, "/readyz": true, "/openapi.json": true, "/metrics": true}
	for _, r := range ActionRoutes() {
		want[r.Path] = true
	}
	for path := range want {
		if doc.Paths.Find(path) == nil {
			t.Errorf("document lacks %s", path)
		}
	}
	for path := range doc.Paths.Map() {
		if !want[path] {
			t.Errorf("document has %s, which the server does not serve", path)
		}
	}
}

// TestOpenAPISchemasReject guards the response checks above: the document's
// schemas must reject bodies that break the published shapes.
func TestOpenAPISchemasReject(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	tests := []struct {
		schema string
		body   string
	}{
		{"Error", `{"statusCode":400,"message":"x","stack":"goroutine 1"}`},
		{"Error", `{"statusCode":200,"message":"x"}`},
		{"Error", `{"message":"x"}`},
		{"UserActionResponse", `{"statusCode":200,"message":"x","already_in_state":false,"deduplicated":false}`},
		{"EndpointActionResponse", `{"statusCode":200,"body":{"message":"x","already_in_state":false,"deduplicated":false,"warnings":[]}}`},
		{"EndpointActionResponse", `{"statusCode":201,"body":{"message":"x","action_result":{},"already_in_state":false,"deduplicated":false,"warnings":[]}}`},
		{"Endpoint", `{"vendor":"wazuh","agent_id":"001","hostname":"h","ip":"1.2.3.4","online":true,"isolation":"quarantined"}`},
	}
	for _, tt := range tests {
		var value any
		if err := json.Unmarshal([]byte(tt.body), &value); err != nil {
			t.Fatal(err)
		}
		if err := doc.Components.Schemas[tt.schema].Value.VisitJSON(value, openapi3.EnableJSONSchema2020()); err == nil {
			t.Errorf("schema %s accepts %s", tt.schema, tt.body)
		}
	}
}

// serviceAuth is fakeAuth with the revision read of tenant.Service: company
// A has a Defender integration set at a fixed time, and nothing else.
type serviceAuth struct{ fakeAuth }

var defenderRevision = tenant.Revision{Kind: vendor.KindDefender, UpdatedAt: time.Unix(1_700_000_000, 0)}

func (a serviceAuth) AuthenticateFor(ctx context.Context, presented string, svc vendor.Service) (tenant.Company, tenant.Revision, error) {
	company, err := a.Authenticate(ctx, presented)
	if err != nil || company.ID != "company-a" || svc != vendor.ServiceDefender {
		return company, tenant.Revision{}, err
	}
	return company, defenderRevision, nil
}

func TestIntegrationRevisionReachesEngine(t *testing.T) {
	exec := newFakeExecutor()
	h := newHarness(t, exec, func(cfg *Config) { cfg.Auth = serviceAuth{} })

	cases := []struct {
		name  string
		key   string
		route string
		want  tenant.Revision
	}{
		{"configured service", keyA, "/defender/machines", defenderRevision},
		{"service without integration", keyA, "/cisco/computers", tenant.Revision{}},
		{"other company", keyB, "/defender/machines", tenant.Revision{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := h.call(http.MethodPost, tc.route, map[string]string{KeyHeader: tc.key, "Content-Type": "application/json"},
				`{"action":"status","Email":"analyst@example.com","agent_id":"demo-host-01"}`)
			if got.Status != http.StatusOK {
				t.Fatalf("status = %d; body %s", got.Status, got.Raw)
			}
			req := exec.lastRequest(t)
			if req.Integration.Kind != tc.want.Kind || !req.Integration.UpdatedAt.Equal(tc.want.UpdatedAt) {
				t.Errorf("engine request revision %+v, want %+v", req.Integration, tc.want)
			}
		})
	}
}

// cachedAuth checks the key of company A from its cache only, and
// fails a check that reaches the store.
type cachedAuth struct{ serviceAuth }

func (a cachedAuth) CachedAuthenticateFor(presented string, svc vendor.Service) (tenant.Company, tenant.Revision, bool) {
	if presented != keyA {
		return tenant.Company{}, tenant.Revision{}, false
	}
	return tenant.Company{ID: "company-a", Name: "a"}, defenderRevision, true
}

func (a cachedAuth) AuthenticateFor(ctx context.Context, presented string, svc vendor.Service) (tenant.Company, tenant.Revision, error) {
	if presented == keyA {
		return tenant.Company{}, tenant.Revision{}, errors.New("a cached key reached the store")
	}
	return a.serviceAuth.AuthenticateFor(ctx, presented, svc)
}

// TestCachedKeyCheck checks that a key whose check is cached is accepted
// without a check against the store, with the cached revision, and that
// another key is still checked against the store.
func TestCachedKeyCheck(t *testing.T) {
	exec := newFakeExecutor()
	h := newHarness(t, exec, func(cfg *Config) { cfg.Auth = cachedAuth{} })
	body := `{"action":"status","Email":"analyst@example.com","agent_id":"demo-host-01"}`

	got := h.call(http.MethodPost, "/defender/machines", map[string]string{KeyHeader: keyA, "Content-Type": "application/json"}, body)
	if got.Status != http.StatusOK {
		t.Fatalf("cached key: status = %d; body %s", got.Status, got.Raw)
	}
	if req := exec.lastRequest(t); req.CompanyID != "company-a" || req.Integration != defenderRevision {
		t.Errorf("engine request company %s, revision %+v; want company-a, %+v", req.CompanyID, req.Integration, defenderRevision)
	}

	got = h.call(http.MethodPost, "/defender/machines", map[string]string{KeyHeader: keyB, "Content-Type": "application/json"}, body)
	if got.Status != http.StatusOK {
		t.Fatalf("key checked against the store: status = %d; body %s", got.Status, got.Raw)
	}
}
