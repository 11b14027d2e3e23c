package defender_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/defender"
	"github.com/smartpt/smartpt/internal/vendors/defender/defendersim"
)

const shortDelay = 300 * time.Millisecond

func setup(t *testing.T, cfg defendersim.Config) (*defender.Client, *defendersim.Server) {
	t.Helper()
	return setupWithLogin(t, cfg, "")
}

// setupWithLogin is setup with the client's login_url set to loginURL, or
// to the simulator when loginURL is empty.
func setupWithLogin(t *testing.T, cfg defendersim.Config, loginURL string) (*defender.Client, *defendersim.Server) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Logger = logger
	if cfg.PendingDelay == 0 {
		cfg.PendingDelay = shortDelay
	}
	sim := defendersim.New(cfg)
	srv, err := simharness.Serve(sim, false)
	if err != nil {
		t.Fatalf("serve simulator: %v", err)
	}
	t.Cleanup(srv.Close)
	if loginURL == "" {
		loginURL = srv.URL
	}

	client, err := defender.New(vendor.Config{
		CompanyID: "acme", Service: vendor.ServiceDefender, Kind: vendor.KindDefender,
		Settings: map[string]string{
			"tenant_id": defendersim.TenantID, "client_id": defendersim.ClientID,
			"login_url": loginURL, "api_url": srv.URL,
		},
		Secrets: map[string]string{"client_secret": defendersim.ClientSecret},
	}, vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return client, sim
}

func endpoint(host string) vendor.Endpoint {
	return vendor.Endpoint{Vendor: vendor.KindDefender, AgentID: defendersim.MachineID(host)}
}

func wantVendorError(t *testing.T, err error, kind vendor.ErrorKind, code string) *vendor.Error {
	t.Helper()
	ve, ok := vendor.AsError(err)
	if !ok {
		t.Fatalf("error = %v (%T), want *vendor.Error of kind %s", err, err, kind)
	}
	if ve.Kind != kind {
		t.Errorf("error kind = %s, want %s (%v)", ve.Kind, kind, err)
	}
	if code != "" && ve.Code != code {
		t.Errorf("error code = %q, want %q", ve.Code, code)
	}
	return ve
}

// waitFinal polls Confirm until the action is final.
func waitFinal(t *testing.T, client *defender.Client, ep vendor.Endpoint, action vendor.ActionKind, ref string) vendor.Confirmation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conf, err := client.Confirm(context.Background(), ep, action, ref)
		if err != nil {
			t.Fatalf("Confirm: %v", err)
		}
		if conf.Final {
			return conf
		}
		if time.Now().After(deadline) {
			t.Fatalf("action %s still %s after 10s", ref, conf.Detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIsolateReleaseCycle(t *testing.T) {
	client, sim := setup(t, defendersim.Config{})
	ctx := context.Background()
	ep := endpoint("demo-host-01")

	out, err := client.Isolate(ctx, ep, vendor.Options{ActionID: "a1", Requester: "soc@demo.example"})
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	if !out.Pending || out.VendorRef == "" || out.Endpoint.Isolation != vendor.Isolating {
		t.Fatalf("isolate outcome = %+v, want pending isolating with a machine action id", out)
	}
	body := sim.ActionBodies()[0]
	if !strings.Contains(body, `"Comment":`) || !strings.Contains(body, `"IsolationType":"Full"`) {
		t.Errorf("isolate body = %s, want Comment and IsolationType Full", body)
	}

	first, err := client.Confirm(ctx, ep, vendor.ActionIsolate, out.VendorRef)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if first.Final || first.State != vendor.Isolating {
		t.Errorf("first confirmation = %+v, want not final, isolating", first)
	}
	conf := waitFinal(t, client, ep, vendor.ActionIsolate, out.VendorRef)
	if !conf.Succeeded || conf.State != vendor.Isolated || conf.Detail != "Succeeded" {
		t.Errorf("final confirmation = %+v, want Succeeded, isolated", conf)
	}

	status, err := client.Status(ctx, ep)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if status.Endpoint.Isolation != vendor.Isolated || status.Endpoint.Hostname != "demo-host-01.demo.example" || !status.Endpoint.Online {
		t.Errorf("status endpoint = %+v, want isolated online demo-host-01", status.Endpoint)
	}

	again, err := client.Isolate(ctx, ep, vendor.Options{})
	if err != nil {
		t.Fatalf("second Isolate: %v", err)
	}
	if !again.AlreadyInState {
		t.Errorf("second isolate = %+v, want AlreadyInState", again)
	}

	rel, err := client.Release(ctx, ep, vendor.Options{})
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !rel.Pending || rel.Endpoint.Isolation != vendor.Releasing {
		t.Errorf("release outcome = %+v, want pending releasing", rel)
	}
	conf = waitFinal(t, client, ep, vendor.ActionRelease, rel.VendorRef)
	if !conf.Succeeded || conf.State != vendor.NotIsolated {
		t.Errorf("release confirmation = %+v, want Succeeded, not_isolated", conf)
	}
	if got := sim.Requests("POST isolate"); got != 1 {
		t.Errorf("isolate POSTs = %d, want 1", got)
	}
}

func TestIsolateInactiveWarns(t *testing.T) {
	client, _ := setup(t, defendersim.Config{})

	out, err := client.Isolate(context.Background(), endpoint("demo-host-20"), vendor.Options{})

	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	if out.Endpoint.Online || len(out.Warnings) != 1 {
		t.Errorf("outcome = %+v, want an offline endpoint with one warning", out)
	}
}

func TestIsolateSelective(t *testing.T) {
	client, sim := setup(t, defendersim.Config{})

	if _, err := client.Isolate(context.Background(), endpoint("demo-host-02"), vendor.Options{IsolationType: "selective", Comment: "alert 1234"}); err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	if got, want := sim.ActionBodies()[0], `{"Comment":"alert 1234","IsolationType":"Selective"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestIsolateWhilePending(t *testing.T) {
	client, sim := setup(t, defendersim.Config{PendingDelay: 5 * time.Second})
	ctx := context.Background()
	ep := endpoint("demo-host-03")

	first, err := client.Isolate(ctx, ep, vendor.Options{})
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}

	t.Run("same action returns the pending one", func(t *testing.T) {
		again, err := client.Isolate(ctx, ep, vendor.Options{})
		if err != nil {
			t.Fatalf("second Isolate: %v", err)
		}
		if !again.Pending || again.VendorRef != first.VendorRef {
			t.Errorf("second isolate = %+v, want pending %s", again, first.VendorRef)
		}
		if got := sim.Requests("POST isolate"); got != 1 {
			t.Errorf("isolate POSTs = %d, want 1", got)
		}
	})

	t.Run("opposite action conflicts", func(t *testing.T) {
		_, err := client.Release(ctx, ep, vendor.Options{})
		wantVendorError(t, err, vendor.ErrConflict, "ActiveRequestAlreadyExists")
	})
}

func TestActiveRequestAlreadyExists(t *testing.T) {
	// The read before the POST sees no open action, but the POST meets one
	// that another client started in between: the client returns it.
	client, sim := setup(t, defendersim.Config{PendingDelay: 5 * time.Second})
	ctx := context.Background()
	ep := endpoint("demo-host-04")
	first, err := client.Isolate(ctx, ep, vendor.Options{})
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	sim.Inject(defendersim.Fault{Method: http.MethodGet, PathContains: "/machineactions", Status: http.StatusOK, Body: `{"value":[]}`, Count: 1})

	out, err := client.Isolate(ctx, ep, vendor.Options{})
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}

	if !out.Pending || out.VendorRef != first.VendorRef {
		t.Errorf("outcome = %+v, want pending %s", out, first.VendorRef)
	}
	if got := sim.Requests("POST isolate"); got != 2 {
		t.Errorf("isolate POSTs = %d, want 2 (the second answered 400)", got)
	}
}

func TestFinalFailure(t *testing.T) {
	for _, final := range []string{"Failed", "TimeOut", "Cancelled"} {
		t.Run(final, func(t *testing.T) {
			client, _ := setup(t, defendersim.Config{FinalStatus: final, PendingDelay: 100 * time.Millisecond})
			ep := endpoint("demo-host-05")
			out, err := client.Isolate(context.Background(), ep, vendor.Options{})
			if err != nil {
				t.Fatalf("Isolate: %v", err)
			}

			conf := waitFinal(t, client, ep, vendor.ActionIsolate, out.VendorRef)

			if conf.Succeeded || conf.Detail != final {
				t.Errorf("confirmation = %+v, want failed with %s", conf, final)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	client, sim := setup(t, defendersim.Config{})
	sim.AddMachine("demo-host-010.other.example", "10.30.0.1")
	sim.SetIP("demo-host-07", "10.99.0.7")
	sim.AddMachine("twin.a.example", "10.40.0.1")
	sim.AddMachine("twin.b.example", "10.40.0.2")

	cases := []struct {
		name   string
		target vendor.Target
		want   []string // host names
	}{
		{"by id", vendor.Target{Kind: vendor.TargetID, Value: defendersim.MachineID("demo-host-06")}, []string{"demo-host-06.demo.example"}},
		{"by upper-case id", vendor.Target{Kind: vendor.TargetID, Value: strings.ToUpper(defendersim.MachineID("demo-host-06"))}, []string{"demo-host-06.demo.example"}},
		{"unknown id", vendor.Target{Kind: vendor.TargetID, Value: strings.Repeat("ab", 20)}, nil},
		{"by fqdn", vendor.Target{Kind: vendor.TargetHostname, Value: "DEMO-HOST-01.demo.example"}, []string{"demo-host-01.demo.example"}},
		{"by short name", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-01"}, []string{"demo-host-01.demo.example"}},
		{"short name is not a prefix match", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-0"}, nil},
		{"short name in two domains", vendor.Target{Kind: vendor.TargetHostname, Value: "twin"}, []string{"twin.a.example", "twin.b.example"}},
		{"by last IP", vendor.Target{Kind: vendor.TargetIP, Value: "10.20.0.8"}, []string{"demo-host-08.demo.example"}},
		{"unknown IP", vendor.Target{Kind: vendor.TargetIP, Value: "10.20.9.9"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := client.Resolve(context.Background(), tc.target)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			var got []string
			for _, ep := range eps {
				got = append(got, ep.Hostname)
				if !defender.IsID(ep.AgentID) {
					t.Errorf("agent id %q is not a machine id", ep.AgentID)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("hosts = %q, want %q", got, tc.want)
			}
		})
	}

	if got := sim.Requests("GET findbyip"); got != 1 {
		t.Errorf("findbyip requests = %d, want 1 (only for the unknown IP)", got)
	}
}

func TestResolveInvalid(t *testing.T) {
	client, sim := setup(t, defendersim.Config{})
	cases := []vendor.Target{
		{Kind: vendor.TargetID, Value: "not-an-id"},
		{Kind: vendor.TargetHostname, Value: "bad'name"},
		{Kind: vendor.TargetHostname, Value: "a b"},
		{Kind: vendor.TargetIP, Value: "10.0.0.300"},
	}
	for _, target := range cases {
		_, err := client.Resolve(context.Background(), target)
		wantVendorError(t, err, vendor.ErrInvalid, "")
	}
	if got := sim.Requests("GET machines"); got != 0 {
		t.Errorf("list requests = %d, want 0 for invalid targets", got)
	}
}

func TestErrors(t *testing.T) {
	t.Run("unknown machine", func(t *testing.T) {
		client, _ := setup(t, defendersim.Config{})
		_, err := client.Status(context.Background(), vendor.Endpoint{AgentID: strings.Repeat("0", 40)})
		ve := wantVendorError(t, err, vendor.ErrNotFound, "ResourceNotFound")
		if !strings.Contains(ve.Detail, "was not found") {
			t.Errorf("detail = %q, want Defender's message", ve.Detail)
		}
	})

	t.Run("invalid isolation type", func(t *testing.T) {
		client, sim := setup(t, defendersim.Config{})
		_, err := client.Isolate(context.Background(), endpoint("demo-host-01"), vendor.Options{IsolationType: "Partial"})
		wantVendorError(t, err, vendor.ErrInvalid, "")
		if got := sim.Requests("POST isolate"); got != 0 {
			t.Errorf("isolate POSTs = %d, want 0", got)
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		client, sim := setup(t, defendersim.Config{})
		sim.Inject(defendersim.Fault{PathContains: "/isolate", Status: http.StatusForbidden, Code: "Forbidden", Message: "The application does not have the Machine.Isolate permission.", Count: 1})
		_, err := client.Isolate(context.Background(), endpoint("demo-host-01"), vendor.Options{})
		wantVendorError(t, err, vendor.ErrForbidden, "Forbidden")
	})

	t.Run("server error on isolate is not retried", func(t *testing.T) {
		client, sim := setup(t, defendersim.Config{})
		sim.Inject(defendersim.Fault{PathContains: "/isolate", Status: http.StatusInternalServerError, Count: 5})
		_, err := client.Isolate(context.Background(), endpoint("demo-host-01"), vendor.Options{})
		wantVendorError(t, err, vendor.ErrUnavailable, "InternalServerError")
		if got := sim.Requests("POST isolate"); got != 0 {
			t.Errorf("isolate requests past the fault = %d, want 0", got)
		}
	})

	t.Run("expired token renewed", func(t *testing.T) {
		client, sim := setup(t, defendersim.Config{})
		if _, err := client.Status(context.Background(), endpoint("demo-host-01")); err != nil {
			t.Fatalf("Status: %v", err)
		}
		sim.Issuer().ExpireAll()
		if _, err := client.Status(context.Background(), endpoint("demo-host-01")); err != nil {
			t.Fatalf("Status after expiry: %v", err)
		}
		if got := sim.Issuer().Requests(); got != 2 {
			t.Errorf("token requests = %d, want 2", got)
		}
	})

	t.Run("confirm with a bad reference", func(t *testing.T) {
		client, _ := setup(t, defendersim.Config{})
		_, err := client.Confirm(context.Background(), endpoint("demo-host-01"), vendor.ActionIsolate, "../machines")
		wantVendorError(t, err, vendor.ErrInvalid, "")
	})
}

func TestRateLimit(t *testing.T) {
	client, sim := setup(t, defendersim.Config{PerMinute: 3})
	ctx := context.Background()
	ep := endpoint("demo-host-01")

	// Status makes two calls; the third and fourth exceed 3 per minute.
	if _, err := client.Status(ctx, ep); err != nil {
		t.Fatalf("first Status: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := client.Status(ctx, ep)

	ve := wantVendorError(t, err, vendor.ErrThrottled, "TooManyRequests")
	if ve.RetryAfter < 50*time.Second || ve.RetryAfter > 61*time.Second {
		t.Errorf("RetryAfter = %v, want about a minute", ve.RetryAfter)
	}
	if got := sim.Requests("GET machineactions"); got != 1 {
		t.Errorf("list requests served = %d, want 1 before the limit", got)
	}
}

func TestPlan(t *testing.T) {
	client, _ := setup(t, defendersim.Config{})
	ep := endpoint("demo-host-01")

	calls := client.Plan(vendor.ActionIsolate, ep, vendor.Options{Comment: "c"})

	if len(calls) != 3 {
		t.Fatalf("calls = %d, want 3", len(calls))
	}
	last := calls[2]
	if last.Method != http.MethodPost || !strings.HasSuffix(last.URL, "/api/machines/"+ep.AgentID+"/isolate") {
		t.Errorf("isolate call = %s %s", last.Method, last.URL)
	}
	var body map[string]string
	if err := json.Unmarshal(last.Body, &body); err != nil || body["IsolationType"] != "Full" || body["Comment"] != "c" {
		t.Errorf("isolate body = %s, want Comment c and IsolationType Full", last.Body)
	}
}

func TestCheckThroughFactory(t *testing.T) {
	run, err := defendersim.Start(simharness.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	f, _ := vendor.Lookup(vendor.KindDefender)
	cfg := vendor.Config{CompanyID: "acme", Service: vendor.ServiceDefender, Kind: vendor.KindDefender, Settings: run.Settings, Secrets: run.Secrets}
	deps := vendor.Deps{HTTP: vendorhttp.NewPool(slog.New(slog.NewTextHandler(io.Discard, nil)))}

	if err := f.Check(cfg, deps); err != nil {
		t.Errorf("Check over TLS: %v", err)
	}

	bad := cfg
	bad.Settings = map[string]string{"tenant_id": defendersim.TenantID, "client_id": defendersim.ClientID, "region": "mars"}
	_, err = f.NewContainment(bad, deps)
	wantVendorError(t, err, vendor.ErrMisconfigure, "")
}

// TestWriteWithoutTokenNotSent: a token request can fail after it reached
// the login server (here the server drops the connection). The isolate
// request was then never sent, so the error sets NotSent, and the engine
// fails the action at once instead of holding it as possibly done.
func TestWriteWithoutTokenNotSent(t *testing.T) {
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(login.Close)
	client, sim := setupWithLogin(t, defendersim.Config{}, login.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Isolate(ctx, endpoint("demo-host-01"), vendor.Options{})
	ve, ok := vendor.AsError(err)
	if !ok {
		t.Fatalf("Isolate error = %v (%T), want *vendor.Error", err, err)
	}
	if !ve.NotSent {
		t.Errorf("NotSent = false, want true: %v", err)
	}
	if got := sim.Requests("POST isolate"); got != 0 {
		t.Errorf("isolate POSTs = %d, want 0", got)
	}
}
