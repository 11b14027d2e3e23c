package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Keys of the test companies: 64 lowercase hex characters, like real keys.
var (
	keyA        = strings.Repeat("a1", 32)
	keyB        = strings.Repeat("b2", 32)
	keyRevoked  = strings.Repeat("c3", 32)
	keyDisabled = strings.Repeat("d4", 32)
)

// fakeAuth accepts keyA (company A) and keyB (company B). The revoked and
// disabled keys fail as the tenant store fails them: with ErrUnauthorized.
type fakeAuth struct{}

func (fakeAuth) Authenticate(ctx context.Context, presented string) (tenant.Company, error) {
	switch presented {
	case keyA:
		return tenant.Company{ID: "company-a", Name: "a"}, nil
	case keyB:
		return tenant.Company{ID: "company-b", Name: "b"}, nil
	}
	return tenant.Company{}, tenant.ErrUnauthorized
}

// fakeRecorder keeps the recorded authentication failures.
type fakeRecorder struct {
	mu       sync.Mutex
	failures []string // client address, route and reason
}

func (f *fakeRecorder) RecordAuthFailure(ctx context.Context, clientAddr, route, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, clientAddr+" "+route+" "+reason)
	return nil
}

func (f *fakeRecorder) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.failures...)
}

// fakeExecutor replaces the engine in API-shape tests. It records each
// request, returns a canned result or err, and keeps action records per
// company.
type fakeExecutor struct {
	mu       sync.Mutex
	requests []action.Request
	confirms []string
	rejects  []string // "agent_id: error" of each Reject
	err      error
	panicMsg string
	records  map[string]*action.Record // key: action id
}

func newFakeExecutor() *fakeExecutor {
	return &fakeExecutor{records: map[string]*action.Record{}}
}

func (f *fakeExecutor) Reject(ctx context.Context, req action.Request, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejects = append(f.rejects, req.Target+": "+err.Error())
}

func (f *fakeExecutor) Execute(ctx context.Context, req action.Request) (*action.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if f.err != nil {
		return nil, f.err
	}

	id := fmt.Sprintf("act-%d", len(f.requests))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.records[id] = &action.Record{
		ID: id, CompanyID: req.CompanyID, Service: req.Service, Action: req.Action, Target: req.Target,
		Requester: req.Requester, State: action.Confirmed, CreatedAt: now, UpdatedAt: now,
		History: []action.Event{{Time: now, State: action.Requested}, {Time: now, State: action.Confirmed, Detail: "done"}},
	}

	res := &action.Result{ActionID: id, State: action.Confirmed, Warnings: nil}
	if req.DryRun {
		res.Plan = []vendor.Call{{Method: "POST", URL: "https://vendor.example/isolate", Body: json.RawMessage(`{"comment":"x"}`)}}
		return res, nil
	}
	if req.Service == vendor.ServiceAzureAD {
		res.User = &vendor.User{ID: "u-1", UserPrincipalName: req.Target, AccountEnabled: req.Action != vendor.ActionBlock}
		res.Steps = []vendor.Step{{Name: "disable account", Succeeded: true}}
		if req.Action == vendor.ActionReport {
			res.Report = json.RawMessage(`{"sign_ins":3}`)
		}
		return res, nil
	}
	res.Endpoint = &vendor.Endpoint{Vendor: vendor.KindWazuh, AgentID: "001", Hostname: "demo-host-01", IP: "10.20.0.1", Online: true, Isolation: vendor.Isolated}
	res.VendorResult = json.RawMessage(`{"data":{"total_affected_items":1},"error":0}`)
	if req.Service == vendor.ServiceCisco && req.Action == vendor.ActionIsolate {
		res.UnlockCode = "ABC123"
	}
	return res, nil
}

func (f *fakeExecutor) Get(ctx context.Context, companyID, actionID string) (*action.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.records[actionID]
	if !ok || rec.CompanyID != companyID {
		return nil, &action.Error{Status: http.StatusNotFound, Message: "Not Found: no action with that id"}
	}
	return rec, nil
}

func (f *fakeExecutor) ConfirmExternal(ctx context.Context, companyID string, svc vendor.Service, agentID string, act vendor.ActionKind, succeeded bool, detail string) (*action.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirms = append(f.confirms, fmt.Sprintf("%s %s %s %s %t %s", companyID, svc, agentID, act, succeeded, detail))
	for _, rec := range f.records {
		if rec.CompanyID == companyID && rec.Service == svc && rec.Target == agentID && rec.Action == act {
			rec.State = action.Confirmed
			return rec, nil
		}
	}
	return nil, &action.Error{Status: http.StatusNotFound, Message: "Not Found: no unfinished action on that agent"}
}

func (f *fakeExecutor) lastRequest(t *testing.T) action.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the executor received no request")
	}
	return f.requests[len(f.requests)-1]
}

// harness is an API served over real HTTP, with the OpenAPI document every
// response is checked against.
type harness struct {
	t        *testing.T
	srv      *httptest.Server
	api      *Server
	exec     action.Executor
	recorder *fakeRecorder
	doc      *openapi3.T
	router   routers.Router
}

type harnessOption func(*Config)

func newHarness(t *testing.T, exec action.Executor, opts ...harnessOption) *harness {
	t.Helper()
	rec := &fakeRecorder{}
	cfg := Config{
		Executor:     exec,
		Auth:         fakeAuth{},
		AuthFailures: rec,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		// A loopback proxy is trusted so that tests can vary the client
		// address with X-Forwarded-For.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		AuthLimit:      AuthLimit{DelayAfter: 100, BlockAfter: 200},
	}
	for _, o := range opts {
		o(&cfg)
	}
	api, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	doc, router := loadOpenAPI(t)
	return &harness{t: t, srv: srv, api: api, exec: exec, recorder: rec, doc: doc, router: router}
}

// loadOpenAPI loads and validates the served document, and builds a router
// that matches any host.
func loadOpenAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIDocument())
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("build OpenAPI router: %v", err)
	}
	return doc, router
}

type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// call sends one request and checks the response against the OpenAPI
// document: through the operation's declared responses for a known route and
// method, against the Error schema otherwise.
func (h *harness) call(method, path string, header map[string]string, body string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if _, set := header["Content-Type"]; !set && body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}

	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read response: %v", err)
	}

	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			h.t.Fatalf("%s %s: response is not a JSON object: %v\n%s", method, path, err, raw)
		}
		if got := out.Body["statusCode"]; path != "/openapi.json" && got != float64(resp.StatusCode) {
			h.t.Errorf("%s %s: statusCode = %v, want the HTTP status %d", method, path, got, resp.StatusCode)
		}
	}
	h.checkOpenAPI(req, body, out)
	return out
}

func (h *harness) checkOpenAPI(req *http.Request, body string, out response) {
	h.t.Helper()
	ctx := context.Background()

	// Rebuild the request: the sent one's body has been consumed.
	checked, _ := http.NewRequest(req.Method, req.URL.String(), strings.NewReader(body))
	checked.Header = req.Header.Clone()

	route, params, err := h.router.FindRoute(checked)
	var routeErr *routers.RouteError
	if errors.As(err, &routeErr) {
		// Unknown routes and methods respond with the Error schema.
		var value any
		if err := json.Unmarshal(out.Raw, &value); err != nil {
			h.t.Fatalf("decode error body: %v", err)
		}
		if err := h.doc.Components.Schemas["Error"].Value.VisitJSON(value, openapi3.EnableJSONSchema2020()); err != nil {
			h.t.Errorf("%s %s: body does not match the Error schema: %v\n%s", req.Method, req.URL.Path, err, out.Raw)
		}
		return
	}
	if err != nil {
		h.t.Fatalf("find OpenAPI route for %s %s: %v", req.Method, req.URL.Path, err)
	}

	input := &openapi3filter.RequestValidationInput{
		Request:    checked,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if out.Status < 300 {
		// Every request the API accepts is one the document accepts.
		if err := openapi3filter.ValidateRequest(ctx, input); err != nil {
			h.t.Errorf("%s %s: accepted request does not match the document: %v", req.Method, req.URL.Path, err)
		}
	}

	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 out.Status,
		Header:                 out.Header,
		Body:                   io.NopCloser(bytes.NewReader(out.Raw)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		h.t.Errorf("%s %s: %d response does not match the document: %v\n%s", req.Method, req.URL.Path, out.Status, err, out.Raw)
	}
}

// post sends body to path with company A's key.
func (h *harness) post(path, body string) response {
	h.t.Helper()
	return h.call(http.MethodPost, path, map[string]string{KeyHeader: keyA}, body)
}

func message(r response) string {
	s, _ := r.Body["message"].(string)
	return s
}

func inner(r response) map[string]any {
	b, _ := r.Body["body"].(map[string]any)
	return b
}
